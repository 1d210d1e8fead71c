"""Residual PPO (ResiP): GAE, the step-0 identity, improvement on toy/reach, exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.kill_resume import comparable
from honing.data import load_dataset
from honing.errors import ConfigError
from honing.finetune import ResidualPPOConfig, finetune, method_config
from honing.finetune.residual_ppo import ResidualPPO, gae
from honing.policies import ResidualPolicy, load_policy
from honing.runs.snapshot import load_latest_snapshot
from honing.tasks import get_task

SMALL = {"num_envs": 2, "asynchronous": False, "rollout_steps": 64, "minibatch_size": 64, "update_epochs": 2,
         "actor": {"hidden_dims": [32], "action_scale": 0.3}, "value_hidden_dims": [32], "eval_episodes": 5,
         "final_eval_episodes": 10, "device": "cpu"}  # fmt: skip


def test_gae_stops_at_episode_ends_and_bootstraps_from_the_last_value() -> None:
    gamma, lam = 0.9, 0.8
    rewards = torch.tensor([[0.0, 0.0], [1.0, 0.5], [0.0, 0.0]])  # env 0 succeeds at t=1; env 1 truncated at t=1
    values = torch.tensor([[0.2, 0.3], [0.4, 0.1], [0.6, 0.7]])  # (env 1's reward carries γ·V(final obs) already)
    ended = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    last = torch.tensor([0.5, 0.9])
    advantages, returns = gae(rewards, values, ended, last, gamma, lam)
    expected = torch.zeros(3, 2)
    for env in range(2):
        running, next_value = last[env], last[env]
        running = torch.tensor(0.0)
        for t in (2, 1, 0):
            alive = 1 - ended[t, env]
            delta = rewards[t, env] + gamma * next_value * alive - values[t, env]
            running = delta + gamma * lam * alive * running
            expected[t, env], next_value = running, values[t, env]
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(advantages[1], rewards[1] - values[1])  # nothing flows back across an end
    torch.testing.assert_close(advantages[2], 0.9 * last - values[2])
    torch.testing.assert_close(returns, advantages + values)
    with pytest.raises(ConfigError, match="gae_lambda must be in"):
        ResidualPPOConfig(gae_lambda=1.5).validate()


def test_residual_ppo_at_step_zero_is_the_base(weak_base: tuple[Path, Path]) -> None:
    base_dir, demos = weak_base
    config = method_config("residual-ppo", SMALL)
    base = load_policy(base_dir, device="cpu")
    method = ResidualPPO(base, get_task("toy/reach"), load_dataset(demos), config, torch.device("cpu"), None, None)
    try:
        honed = method.honed_policy(load_policy(base_dir, device="cpu"))
        assert isinstance(honed, ResidualPolicy)
        obs = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
        np.testing.assert_array_equal(honed.act(obs), base.act(obs))
    finally:
        method.rollout.close()


def test_residual_ppo_improves_a_weak_base_on_toy_reach(weak_base: tuple[Path, Path]) -> None:
    base_dir, demos = weak_base
    values = {
        "steps": 100_000,
        "eval_every": 25_000,
        "eval_episodes": 20,
        "final_eval_episodes": 100,
        "actor": {"action_scale": 0.3},
        "asynchronous": False,  # same transitions as the default async envs (test below), without the IPC
        "device": "cpu",
    }  # fmt: skip
    result = finetune(base_dir, "toy/reach", demos, method="residual-ppo", config=method_config("residual-ppo", values))
    # Measured: 66% -> 99% with this config at 1 torch thread; at 60k steps and 2 threads only 80%, hence 100k
    # (ResiP's action_scale 0.1 gave 68% in 100k)
    assert result.honed_eval.success_rate >= result.base_eval.success_rate + 0.15


def test_async_and_sync_vector_envs_give_the_same_run(weak_base: tuple[Path, Path]) -> None:
    """honing seeds and resets every env itself, so subprocess envs change nothing but the speed."""
    base_dir, demos = weak_base
    curves = []
    for asynchronous in (True, False):
        values = {**SMALL, "steps": 1000, "eval_every": 500, "asynchronous": asynchronous}
        result = finetune(
            base_dir, "toy/reach", demos, method="residual-ppo", config=method_config("residual-ppo", values)
        )
        curves.append([(p.env_steps, p.success, p.updates) for p in result.curve] + [result.honed_eval.success_rate])
    assert curves[0] == curves[1]


class Killed(Exception):
    pass


def test_a_resumed_residual_ppo_run_matches_an_uninterrupted_one(
    weak_base: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, demos = weak_base
    values = {**SMALL, "steps": 1500, "eval_every": 500, "snapshot_every": 500}
    whole = finetune(base, "toy/reach", demos, method="residual-ppo", config=method_config("residual-ppo", values),
                     out=tmp_path / "whole")  # fmt: skip
    original = ResidualPPO.learn

    def dying_learn(self: ResidualPPO, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        if self.step > 900:  # after the snapshot at 512 steps, with episodes in progress
            raise Killed
        return original(self, batch)

    monkeypatch.setattr(ResidualPPO, "learn", dying_learn)
    with pytest.raises(Killed):
        finetune(base, "toy/reach", demos, method="residual-ppo", config=method_config("residual-ppo", values),
                 out=tmp_path / "cut")  # fmt: skip
    monkeypatch.setattr(ResidualPPO, "learn", original)
    latest = load_latest_snapshot(tmp_path / "cut" / "state")
    assert latest is not None and latest.step == 512
    assert any(latest.meta["episodes"]["lengths"])  # episodes in progress get replayed on resume
    resumed = finetune(base, "toy/reach", demos, method="residual-ppo", out=tmp_path / "cut", resume=True)
    assert [(p.env_steps, p.success, p.updates) for p in resumed.curve] == [
        (p.env_steps, p.success, p.updates) for p in whole.curve
    ]
    assert [e.length for e in resumed.honed_eval.episodes] == [e.length for e in whole.honed_eval.episodes]
    assert comparable(tmp_path / "cut") == comparable(tmp_path / "whole")
