from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from honing.data import Dataset, Episode, Normalizer
from honing.errors import ConfigError, HoningError
from honing.finetune import ResidualTD3, ResidualTD3Config, finetune, get_method
from honing.finetune.replay import (
    NStepAccumulator,
    NStepTransition,
    ReplayBuffer,
    demo_transitions,
    sample_mixed,
    sparse_demo_view,
)
from honing.policies import ResidualActorConfig, load_policy
from honing.policies.ensemble import CriticEnsemble, EnsembleLayerNorm, EnsembleLinear
from tests.test_policies import make_policy

GAMMA = 0.9


def push_episode(acc: NStepAccumulator, rewards: list[float], terminated: bool) -> list:
    out = []
    for t, reward in enumerate(rewards):
        last = t == len(rewards) - 1
        obs, next_obs = np.array([t], np.float32), np.array([t + 1], np.float32)
        out += acc.push(obs, np.zeros(1), np.zeros(1), reward, next_obs, np.full(1, t + 1.0),
                        terminated=terminated and last, truncated=(not terminated) and last)  # fmt: skip
    return out


def test_n_step_returns_with_success_termination() -> None:
    transitions = push_episode(NStepAccumulator(3, GAMMA), [0.0, 0.0, 0.0, 0.0, 1.0], terminated=True)
    assert [int(t.obs[0]) for t in transitions] == [0, 1, 2, 3, 4]
    expected = [  # (return, discount, next obs) for each start step
        (0.0, GAMMA**3, 3), (0.0, GAMMA**3, 4), (GAMMA**2, 0.0, 5), (GAMMA, 0.0, 5), (1.0, 0.0, 5),
    ]  # fmt: skip
    for transition, (ret, discount, next_obs) in zip(transitions, expected, strict=True):
        assert transition.reward == pytest.approx(ret)
        assert transition.discount == pytest.approx(discount)
        assert int(transition.next_obs[0]) == next_obs
        assert transition.next_base_action[0] == next_obs  # cached base action at the bootstrap state


def test_n_step_truncation_still_bootstraps() -> None:
    transitions = push_episode(NStepAccumulator(3, GAMMA), [0.0, 0.5, 0.0, 0.0], terminated=False)
    last_three = transitions[-3:]
    assert [t.discount for t in last_three] == pytest.approx([GAMMA**3, GAMMA**2, GAMMA])  # never 0 on truncation
    assert all(int(t.next_obs[0]) == 4 for t in last_three)
    assert transitions[0].reward == pytest.approx(GAMMA * 0.5)
    assert transitions[1].reward == pytest.approx(0.5)


def test_td_target_stops_bootstrapping_only_at_termination() -> None:
    agent = ResidualTD3(ResidualTD3Config(critic_hidden_dims=(8,), actor=ResidualActorConfig(hidden_dims=(8,))),
                        3, 2, Normalizer.identity(3, 2), torch.device("cpu"))  # fmt: skip
    batch = {
        "next_obs": torch.randn(4, 3), "next_base_action": torch.zeros(4, 2), "action": torch.zeros(4, 2),
        "reward": torch.tensor([1.0, 0.0, 0.5, 0.0]), "discount": torch.tensor([0.0, 0.0, 0.9, 0.81]),
    }  # fmt: skip
    target, _ = agent.target(batch, agent.draws(batch, None))
    assert target[0] == 1.0 and target[1] == 0.0  # terminal: exactly the n-step return
    assert target[2] != 0.5 and target[3] != 0.0  # otherwise bootstrapped from the target critics


def test_symmetric_sampling_draws_half_from_each_buffer() -> None:
    device = torch.device("cpu")
    demo, online = ReplayBuffer(50, 1, 1, device), ReplayBuffer(500, 1, 1, device)
    for buffer, marker, count in ((demo, 1.0, 50), (online, 2.0, 400)):
        push = NStepAccumulator(1, GAMMA)
        for _ in range(count):
            buffer.add(
                push.push(np.full(1, marker), np.zeros(1), np.zeros(1), 0.0, np.zeros(1), np.zeros(1), False, False)
            )
    batch = sample_mixed(demo, online, 256, 0.5, torch.Generator().manual_seed(0))
    assert int((batch["obs"] == 1.0).sum()) == 128 and int((batch["obs"] == 2.0).sum()) == 128


def test_a_sampled_batch_keeps_each_transitions_fields_together() -> None:
    """The fields are column views of one tensor, gathered once: row i of every field is one transition."""
    device = torch.device("cpu")
    demo, online = ReplayBuffer(30, 3, 2, device), ReplayBuffer(300, 3, 2, device)
    for buffer, offset, count in ((demo, 0, 30), (online, 1000, 250)):
        for i in range(offset, offset + count):
            buffer.add([NStepTransition(np.full(3, i), np.full(2, i + 0.25), np.full(2, i + 0.5), i + 0.75, 0.97,
                                        np.full(3, -i), np.full(2, -i - 0.5))])  # fmt: skip
    batch = sample_mixed(demo, online, 64, 0.5, torch.Generator().manual_seed(0))
    ids = batch["obs"][:, 0]
    assert {name: tuple(t.shape) for name, t in batch.items()} == {
        "obs": (64, 3), "next_obs": (64, 3), "action": (64, 2), "base_action": (64, 2),
        "next_base_action": (64, 2), "reward": (64,), "discount": (64,)}  # fmt: skip
    assert bool((ids[:32] < 30).all()) and bool((ids[32:] >= 1000).all())
    torch.testing.assert_close(batch["obs"], ids[:, None].expand(-1, 3))
    torch.testing.assert_close(batch["next_obs"], -ids[:, None].expand(-1, 3))
    torch.testing.assert_close(batch["action"], ids[:, None].expand(-1, 2) + 0.25)
    torch.testing.assert_close(batch["next_base_action"], -ids[:, None].expand(-1, 2) - 0.5)
    torch.testing.assert_close(batch["reward"], ids + 0.75)
    assert bool((batch["discount"] == torch.tensor(0.97)).all())
    assert online.data["obs"].data_ptr() == online.storage.data_ptr()  # views, not copies: add() writes storage


def test_replay_refuses_what_does_not_fit_its_layout() -> None:
    device = torch.device("cpu")
    with pytest.raises(ValueError, match="same field widths"):
        sample_mixed(ReplayBuffer(5, 3, 2, device), ReplayBuffer(5, 4, 2, device), 8, 0.5, torch.Generator())
    no_base = ReplayBuffer(5, 3, 2, device, base_dim=0)
    with pytest.raises(ValueError, match="do not fit this buffer's layout"):
        no_base.add([NStepTransition(np.zeros(3), np.zeros(2), np.zeros(2), 0.0, 1.0, np.zeros(3), np.zeros(2))])
    assert len(no_base) == 0


def test_critic_ensemble_is_one_batched_pass_equal_to_separate_heads() -> None:
    torch.manual_seed(0)
    critic = CriticEnsemble(5, (16, 16), ensemble=4)
    obs, action = torch.randn(7, 3), torch.randn(7, 2)
    batched = critic(obs, action)
    assert batched.shape == (4, 7)
    x = torch.cat([obs, action], dim=-1)
    for head in range(4):
        h = x
        for layer in critic.body:
            if isinstance(layer, EnsembleLinear):
                h = h @ layer.weight[head] + layer.bias[head]
            elif isinstance(layer, EnsembleLayerNorm):
                h = torch.nn.functional.layer_norm(h, h.shape[-1:]) * layer.weight[head] + layer.bias[head]
            else:
                h = layer(h)
        torch.testing.assert_close(batched[head], h.squeeze(-1))


@pytest.mark.parametrize("kind", ["mlp", "chunked"])
def test_honed_policy_equals_base_at_step_zero(kind: str) -> None:
    base = make_policy(kind=kind, obs_dim=6, act_dim=2)
    reference = copy.deepcopy(base)
    agent = ResidualTD3(ResidualTD3Config(), 6, 2, Normalizer.identity(6, 2), torch.device("cpu"))
    honed = agent.honed_policy(base)
    obs = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    for _ in range(7):  # across chunk boundaries too
        np.testing.assert_array_equal(honed.act(obs), reference.act(obs))


def test_demo_base_actions_are_relabelled_from_each_episode_start() -> None:
    base = make_policy(kind="chunked", horizon=4, execute=3, obs_dim=6, act_dim=2)
    rng = np.random.default_rng(0)
    episodes = [
        Episode(rng.normal(size=(t + 1, 6)), rng.uniform(-1, 1, (t, 2)), np.zeros(t), np.zeros(t), np.zeros(t),
                np.zeros(t))
        for t in (5, 4)
    ]  # fmt: skip
    transitions = demo_transitions(episodes, copy.deepcopy(base), Normalizer.identity(6, 2), n_step=1, gamma=GAMMA)
    second = transitions[5:]
    fresh = copy.deepcopy(base)
    fresh.reset()
    expected = [fresh.act(o[None])[0] for o in episodes[1].observations]
    for t, transition in enumerate(second):
        np.testing.assert_allclose(transition.base_action, expected[t], atol=1e-6)
        np.testing.assert_array_equal(transition.action, episodes[1].actions[t])  # demonstrated action kept


def test_demo_rewards_are_sparse_and_cut_at_first_success() -> None:
    successes = np.array([False, True, True, False])
    episode = Episode(np.zeros((5, 2)), np.zeros((4, 1)), np.full(4, -3.0), np.zeros(4), np.zeros(4), successes)
    observations, actions, rewards, terminated = sparse_demo_view(episode)
    assert len(actions) == 2 and len(observations) == 3
    assert rewards.tolist() == [0.0, 1.0] and terminated


def test_config_validation_and_unknown_method() -> None:
    with pytest.raises(ConfigError, match="num_target_critics must be in"):
        ResidualTD3Config(num_critics=2, num_target_critics=3).validate()
    with pytest.raises(ConfigError, match="action_scale"):
        ResidualTD3Config(actor=ResidualActorConfig(action_scale=0.0)).validate()
    with pytest.raises(ConfigError, match="eval_workers must be >= 0, got -1"):
        ResidualTD3Config(eval_workers=-1).validate()
    with pytest.raises(HoningError, match=r"unknown method 'residual-td4' \(did you mean 'residual-td3'"):
        get_method("residual-td4")


FAST = dict(learning_starts=1000, critic_warmup=2000, utd=1, batch_size=64, critic_hidden_dims=(64, 64),
            eval_every=4000, eval_episodes=20, final_eval_episodes=100, device="cpu")  # fmt: skip


def test_residual_td3_improves_a_weak_base_on_toy_reach(weak_base: tuple[Path, Path], tmp_path: Path) -> None:
    base_dir, demos = weak_base
    config = ResidualTD3Config(steps=20_000, actor=ResidualActorConfig(hidden_dims=(64, 64), action_scale=0.3), **FAST)
    result = finetune(base_dir, "toy/reach", demos, config=config, out=tmp_path / "run")
    # Measured: base 66% -> honed 95% [89%, 98%] on the same 100 evaluation episodes.
    assert result.base_eval.success_rate < 0.75
    assert result.honed_eval.success_rate >= result.base_eval.success_rate + 0.15
    assert [e.seed for e in result.base_eval.episodes] == [e.seed for e in result.honed_eval.episodes]
    assert [p.env_steps for p in result.curve] == [0, 4000, 8000, 12000, 16000, 20000]
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.jsonl", "finetune.json", "eval/final_base.json", "eval/final_honed.json"):
        assert (run / name).is_file()
    honed = load_policy(run / "checkpoints" / "last")
    obs = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    np.testing.assert_allclose(honed.act(obs), result.policy.act(obs), atol=1e-6)
    assert (run / "checkpoints" / "best" / "base" / "model.safetensors").is_file()  # self-contained


def test_finetune_rejects_mismatched_inputs(weak_base: tuple[Path, Path], tmp_path: Path) -> None:
    base_dir, demos = weak_base
    with pytest.raises(HoningError, match="base policy has observation/action dims"):
        finetune(base_dir, "metaworld/push", demos, config=ResidualTD3Config(steps=10))
    with pytest.raises(HoningError, match="recorded on task 'toy/reach'"):
        finetune(make_policy(obs_dim=39, act_dim=4), "metaworld/push", demos, config=ResidualTD3Config(steps=10))
    dataset = Dataset([], {"honing_task": "toy/reach"})
    with pytest.raises(HoningError, match="holds no episodes"):
        finetune(base_dir, "toy/reach", dataset, config=ResidualTD3Config(steps=10))
