"""DSRL-NA: the steered diffusion policy, its identity at zero noise, chunk transitions, base checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from honing.data import Normalizer, load_dataset
from honing.errors import ConfigError, HoningError
from honing.finetune import DSRLConfig, finetune, method_config
from honing.finetune.dsrl import DSRL, chunk_transitions
from honing.policies import Actor, ActorConfig, BCPolicy, load_policy, save_policy
from honing.policies.dsrl_policy import DSRLPolicy
from honing.tasks import get_task
from tests.test_diffusion import small_network

SMALL = {"learning_starts": 200, "batch_size": 32, "critic_hidden_dims": [32], "noise_critic_hidden_dims": [32],
         "actor": {"hidden_dims": [32]}, "eval_episodes": 5, "final_eval_episodes": 10, "device": "cpu"}  # fmt: skip


def test_an_actor_that_outputs_zeros_reproduces_the_base_exactly(tmp_path: Path) -> None:
    network = small_network()
    actor = Actor(ActorConfig(hidden_dims=(16,)), 3, 8, Normalizer.identity(3, 2))
    with torch.no_grad():
        actor.body[-1].weight.zero_()
        actor.body[-1].bias.zero_()
    steered = DSRLPolicy(network, actor, magnitude=1.5)
    base = BCPolicy(network)  # sample_noise = 0: DDIM from zero noise
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(steered.steer(obs), np.zeros((4, 4, 2), np.float32))
    for _ in range(5):  # queued chunks included
        np.testing.assert_array_equal(steered.act(obs), base.act(obs))
    noise = np.random.default_rng(1).normal(size=(4, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(steered.predict_chunk(obs, noise), base.predict_chunk(obs, noise))

    torch.manual_seed(3)
    moved = DSRLPolicy(network, Actor(ActorConfig(hidden_dims=(16,)), 3, 8, Normalizer.identity(3, 2)), 1.5)
    assert np.abs(moved.steer(obs)).max() <= 1.5
    loaded = load_policy(save_policy(moved, tmp_path / "dsrl"))
    assert isinstance(loaded, DSRLPolicy)
    np.testing.assert_allclose(loaded.predict_chunk(obs), moved.predict_chunk(obs), atol=1e-6)
    assert (tmp_path / "dsrl" / "base" / "model.safetensors").is_file()


def test_chunk_transitions_sum_discounted_rewards_and_stop_at_success() -> None:
    obs = np.arange(6, dtype=np.float32)[:, None]  # 5 steps, success on the last one
    actions = np.arange(5, dtype=np.float32)[:, None]
    rewards = np.array([0, 0, 0, 0, 1], np.float32)
    out = chunk_transitions(obs, actions, rewards, terminated=True, k=2, gamma=0.9)
    assert len(out) == 5
    assert out[0].action.tolist() == [0, 1] and out[0].discount == pytest.approx(0.81) and out[0].next_obs[0] == 2
    assert out[3].reward == pytest.approx(0.9) and out[3].discount == 0.0  # success inside the chunk: no bootstrap
    assert out[4].action.tolist() == [4, 4] and out[4].reward == 1.0 and out[4].discount == 0.0
    cut = chunk_transitions(obs, actions, np.zeros(5, np.float32), terminated=False, k=2, gamma=0.9)
    assert cut[4].discount == pytest.approx(0.9) and cut[4].next_obs[0] == 5  # time limit: bootstraps


def test_dsrl_at_step_zero_is_the_diffusion_base(diffusion_base: tuple[Path, Path]) -> None:
    base_dir, demos = diffusion_base
    config = method_config("dsrl", SMALL)
    method = DSRL(load_policy(base_dir), get_task("toy/reach"), load_dataset(demos), config, torch.device("cpu"),
                  None, None)  # fmt: skip
    honed, base = method.honed_policy(load_policy(base_dir)), load_policy(base_dir)
    obs = np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32)
    for _ in range(6):
        np.testing.assert_array_equal(honed.act(obs), base.act(obs))


def test_dsrl_refuses_a_base_that_is_not_a_diffusion_policy(weak_base: tuple[Path, Path]) -> None:
    base_dir, demos = weak_base
    with pytest.raises(HoningError, match=r"dsrl steers a diffusion policy.*of kind 'mlp'.*--policy diffusion"):
        finetune(base_dir, "toy/reach", demos, method="dsrl", config=method_config("dsrl", SMALL))
    with pytest.raises(ConfigError, match="n_step must be 1"):
        DSRLConfig(n_step=3).validate()


def test_dsrl_improves_a_weak_diffusion_base_on_toy_reach(diffusion_base: tuple[Path, Path]) -> None:
    base_dir, demos = diffusion_base
    values = {"steps": 20_000, "learning_starts": 1000, "batch_size": 64, "critic_hidden_dims": [64, 64],
              "noise_critic_hidden_dims": [64, 64], "actor": {"hidden_dims": [64, 64]}, "action_magnitude": 0.75,
              "eval_every": 5000, "eval_episodes": 20, "final_eval_episodes": 100, "device": "cpu"}  # fmt: skip
    result = finetune(base_dir, "toy/reach", demos, method="dsrl", config=method_config("dsrl", values))
    # Measured: 53% -> 75% on the same 100 episodes. DSRL is touchy here: target entropy -16 gave 73%,
    # UTD 2 49%, magnitude 1.5 42% (one seed each)
    assert result.honed_eval.success_rate >= result.base_eval.success_rate + 0.10
