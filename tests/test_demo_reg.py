"""Demonstration-regularised TD3 (demo-reg): the regulariser, its decay, and what it does on toy/reach."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from honing.data import Normalizer, load_dataset
from honing.errors import ConfigError
from honing.finetune import DemoRegConfig, finetune, method_config
from honing.finetune.demo_reg import DemoReg
from honing.policies import ActorConfig, ActorPolicy, load_policy
from tests.test_baselines import ActionSum

SMALL = {"learning_starts": 500, "batch_size": 64, "critic_hidden_dims": [64, 64], "device": "cpu",
         "actor": {"hidden_dims": [64, 64], "gaussian": False}, "final_eval_episodes": 100}  # fmt: skip


def test_actor_loss_is_normalised_q_plus_weighted_squared_error_with_a_linear_decay() -> None:
    config = DemoRegConfig(critic_hidden_dims=(8,), actor=ActorConfig(hidden_dims=(8,), gaussian=False),
                           critic_warmup=0, reg_weight=2.0, reg_weight_final=0.5, reg_decay_start=10,
                           reg_decay_updates=100)  # fmt: skip
    agent = DemoReg(config, 3, 2, Normalizer.identity(3, 2), torch.device("cpu"))
    agent.critic = ActionSum(2)  # type: ignore[assignment]
    agent.critic_updates = 1  # past the (zero) warm-up: the actor acts and the full loss applies
    batch = {"obs": torch.randn(5, 3), "base_action": torch.rand(5, 2) * 2 - 1, "action": torch.zeros(5, 2)}
    action = agent.actor(batch["obs"])
    q = action.sum(-1)
    for updates, weight in ((0, 2.0), (10, 2.0), (60, 1.25), (110, 0.5), (500, 0.5)):
        agent.actor_updates = updates
        loss, metrics = agent.actor_loss(batch, agent.draws(batch, "rl"), agent.actor, "rl")
        expected = -q.mean() / q.abs().mean() + weight * (action - batch["base_action"]).pow(2).mean()
        torch.testing.assert_close(loss, expected)
        assert metrics["reg_weight"] == pytest.approx(weight)
    agent.critic_updates = 2
    assert agent.actor_phase() == "rl" and agent.actor_target_tau("rl") == config.tau
    config.critic_warmup = 5  # warming up: the actor is only distilled towards the base, on TD3's delay
    assert agent.actor_phase() == "distil" and agent.actor_target_tau("distil") == 1.0
    agent.critic_updates = 3
    assert agent.actor_phase() is None
    loss, metrics = agent.actor_loss(batch, agent.draws(batch, "distil"), agent.actor, "distil")
    torch.testing.assert_close(loss, (action - batch["base_action"]).pow(2).mean())
    with pytest.raises(ConfigError, match=r"actor\.gaussian = false"):
        DemoRegConfig(actor=ActorConfig(gaussian=True)).validate()
    with pytest.raises(ConfigError, match="reg_weight must be >= 0"):
        DemoRegConfig(reg_weight=-1.0).validate()


def test_a_huge_weight_keeps_demo_reg_at_the_bc_policys_actions(weak_base: tuple[Path, Path]) -> None:
    base_dir, demos = weak_base
    values = {**SMALL, "steps": 4000, "critic_warmup": 1000, "reg_weight": 1e6, "eval_every": 2000,
              "eval_episodes": 20}  # fmt: skip
    result = finetune(base_dir, "toy/reach", demos, method="demo-reg", config=method_config("demo-reg", values))
    assert isinstance(result.policy, ActorPolicy)  # deployed alone, without the base
    obs = np.concatenate([episode.observations for episode in load_dataset(demos).episodes])
    gap = np.abs(result.policy.act(obs) - load_policy(base_dir).act(obs))
    # Measured: mean |π(s) - a_b(s)| = 0.04 on the demo states (a random actor is ~0.5 off); success 66% -> 71%
    assert gap.mean() < 0.08
    assert abs(result.honed_eval.success_rate - result.base_eval.success_rate) <= 0.15


def test_demo_reg_improves_a_weak_base_on_toy_reach(weak_base: tuple[Path, Path]) -> None:
    base_dir, demos = weak_base
    values = {**SMALL, "steps": 20_000, "learning_starts": 1000, "critic_warmup": 2000, "reg_decay_updates": 6000,
              "reg_weight_final": 0.05, "eval_every": 4000, "eval_episodes": 20}  # fmt: skip
    result = finetune(base_dir, "toy/reach", demos, method="demo-reg", config=method_config("demo-reg", values))
    # Measured: base 66% -> 85% on the same 100 episodes (a constant weight of 0.4: 80%)
    assert result.honed_eval.success_rate >= result.base_eval.success_rate + 0.10
