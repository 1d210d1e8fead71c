"""The baselines: RLPD (SAC from scratch), IBRL (BC + RL proposals) and filtered BC."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from honing.data import Normalizer
from honing.errors import ConfigError, HoningError
from honing.finetune import METHODS, FilteredBCConfig, IBRLConfig, RLPDConfig, finetune, method_config
from honing.finetune.ibrl import IBRL
from honing.finetune.rlpd import RLPD
from honing.policies import Actor, ActorConfig, ActorPolicy, IBRLPolicy, load_policy, save_policy
from honing.policies.ibrl_policy import CriticConfig, IBRLNetworks
from tests.test_policies import make_policy

CPU = torch.device("cpu")


class ActionSum(nn.Module):
    """A fake critic ensemble: every head says Q(s, a) = sum(a)."""

    def __init__(self, heads: int) -> None:
        super().__init__()
        self.heads = heads

    def forward(self, norm_obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return action.sum(-1).expand(self.heads, -1)


def test_gaussian_actor_log_prob_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    actor = Actor(ActorConfig(hidden_dims=(16,)), 3, 2, Normalizer.identity(3, 2))
    obs = torch.randn(5, 3)
    action, log_prob = actor.sample(obs, torch.Generator().manual_seed(1))
    mean, log_std = actor._heads(obs)
    assert log_std is not None
    dist = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform()])
    expected = dist.log_prob(action.clamp(-1 + 1e-6, 1 - 1e-6)).sum(-1)
    torch.testing.assert_close(log_prob, expected, atol=1e-3, rtol=1e-4)
    assert (action.abs() < 1).all()
    torch.testing.assert_close(actor(obs), torch.tanh(mean))  # deterministic action = tanh(mean)


def test_rlpd_target_is_soft_and_stops_only_at_termination() -> None:
    config = RLPDConfig(critic_hidden_dims=(8,), actor=ActorConfig(hidden_dims=(8,)), num_critics=3)
    agent = RLPD(config, 3, 2, Normalizer.identity(3, 2), CPU)
    agent.critic_target = ActionSum(3)  # type: ignore[assignment]
    batch = {"next_obs": torch.randn(4, 3), "reward": torch.tensor([1.0, 0.0, 0.5, 0.0]),
             "discount": torch.tensor([0.0, 0.0, 0.9, 0.81])}  # fmt: skip
    alpha = torch.tensor(0.5)
    draws = {"next_eps": torch.randn(4, 2), "heads": torch.tensor([2, 0])}
    target = agent.target(batch, draws, alpha, agent.actor)
    action, log_prob = agent.actor.sample(batch["next_obs"], eps=draws["next_eps"])
    soft_q = action.sum(-1) - alpha * log_prob
    torch.testing.assert_close(target, batch["reward"] + batch["discount"] * soft_q)
    assert target[0] == 1.0 and target[1] == 0.0  # terminated: no bootstrap at all


@pytest.mark.parametrize("every", [False, True])
def test_rlpd_moves_its_actor_once_per_env_step_or_with_every_critic_update(every: bool) -> None:
    config = RLPDConfig(critic_hidden_dims=(8,), actor=ActorConfig(hidden_dims=(8,)), utd=3, batch_size=4,
                        actor_every_update=every)  # fmt: skip
    agent = RLPD(config, 3, 2, Normalizer.identity(3, 2), CPU)
    generator = torch.Generator().manual_seed(0)
    batch = {"obs": torch.randn(4, 3, generator=generator), "action": torch.rand(4, 2, generator=generator) * 2 - 1,
             "reward": torch.tensor([1.0, 0.0, 0.0, 1.0]), "discount": torch.full((4,), 0.9),
             "next_obs": torch.randn(4, 3, generator=generator)}  # fmt: skip
    moved = []
    for _ in range(6):
        before = [p.clone() for p in (*agent.actor.parameters(), agent.log_alpha)]
        metrics = agent.update(batch)
        moved.append(any(not torch.equal(a, b) for a, b in zip(before, (*agent.actor.parameters(), agent.log_alpha),
                                                                strict=True)))  # fmt: skip
        assert ("actor_loss" in metrics) == moved[-1]
    # UTD 3: RLPD's recipe moves the actor and α after every third critic update, SAC's schedule after each
    assert moved == ([True] * 6 if every else [False, False, True] * 2)
    assert (agent.critic_updates, agent.actor_updates) == (6, 6 if every else 2)


def small_rlpd(**options: Any) -> RLPD:
    config = RLPDConfig(critic_hidden_dims=(16, 16), actor=ActorConfig(hidden_dims=(16, 16)), batch_size=8, seed=3,
                        **options)  # fmt: skip
    torch.manual_seed(0)
    return RLPD(config, 3, 2, Normalizer.identity(3, 2), CPU)


def small_batches(count: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [{"obs": torch.randn(8, 3, generator=generator), "action": torch.rand(8, 2, generator=generator) * 2 - 1,
             "reward": (torch.rand(8, generator=generator) > 0.5).float(), "discount": torch.full((8,), 0.9),
             "next_obs": torch.randn(8, 3, generator=generator)} for _ in range(count)]  # fmt: skip


def same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_rlpd_parallel_update_steps_the_actor_against_the_critic_before_its_step(torch_threads: None) -> None:
    torch.set_num_threads(1)  # every learner's arithmetic on one thread, as the parallel one's
    batch = small_batches(1)[0]
    simultaneous, alternating, frozen_critic = small_rlpd(parallel_update=True), small_rlpd(), small_rlpd()
    frozen_critic.trained_critic.lr = 0.0  # its actor's step reads the critic as it was before the update
    for agent in (simultaneous, alternating, frozen_critic):
        metrics = {**agent.update(batch), **agent.settle()}  # the critic's step may still run after update()
        assert set(metrics) == {"critic_loss", "q_mean", "target_mean", "actor_loss", "entropy", "alpha"}
    assert same(simultaneous.critic, alternating.critic)  # the critic's step is SAC's, from the same π and α
    assert same(simultaneous.critic_target, alternating.critic_target)
    assert same(simultaneous.actor, frozen_critic.actor) and not same(simultaneous.actor, alternating.actor)
    assert torch.equal(simultaneous.log_alpha, frozen_critic.log_alpha)
    # the next update's actor step reads the critic as this update left it, not the first one's
    simultaneous.update(batch)
    frozen_critic.update(batch)
    simultaneous.settle()
    assert not same(simultaneous.actor, frozen_critic.actor)


def test_rlpd_parallel_update_compiled_runs_both_graphs_directly_and_matches_eager(torch_threads: None) -> None:
    batches = small_batches(4)
    eager, compiled = small_rlpd(parallel_update=True), small_rlpd(parallel_update=True, compile=True)
    for batch in batches:
        expected = {**eager.update(batch), **eager.settle()}
        metrics = {**compiled.update(batch), **compiled.settle()}
        assert metrics == pytest.approx(expected, rel=1e-4, abs=1e-5)
    for module in ("actor", "critic", "critic_target"):
        for a, b in zip(getattr(eager, module).parameters(), getattr(compiled, module).parameters(), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    # after the first (compiling) call, both steps ran as graphs without dynamo: on two threads
    assert all(len(part._graphs) == 1 and not part._unverified for part in compiled._parts)
    assert torch.get_num_threads() == 1


def test_rlpd_parallel_update_and_async_actor_exclude_each_other() -> None:
    with pytest.raises(ConfigError, match="parallel_update and async_actor"):
        RLPDConfig(parallel_update=True, async_actor=True).validate()


def test_rlpd_parallel_update_warns_where_rlpds_recipe_leaves_nothing_to_overlap(torch_threads: None) -> None:
    with pytest.warns(RuntimeWarning, match="only 1 update in 4 has an actor step"):
        small_rlpd(parallel_update=True, utd=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SAC's schedule, or UTD 1: an actor step in every update
        small_rlpd(parallel_update=True, utd=4, actor_every_update=True)
        small_rlpd(parallel_update=True)


def test_without_layer_norm_the_networks_are_sb3s_plain_mlps() -> None:
    """``critic_layer_norm = false`` and ``actor.layer_norm = false``: each critic head and the actor are
    Linear-ReLU stacks with SB3's SAC widths and nothing else, and compute exactly that."""
    options = {"critic_layer_norm": False, "actor": {"layer_norm": False, "hidden_dims": [16, 16]},
               "critic_hidden_dims": [16, 16], "num_critics": 2}  # fmt: skip
    agent = RLPD(method_config("rlpd", options), 3, 2, Normalizer.identity(3, 2), CPU)
    for network in (agent.critic, agent.actor):
        kinds = {type(module).__name__ for module in network.body}
        assert "LayerNorm" not in str(kinds) and "ReLU" in kinds
    # SB3's SAC: per critic head 5->16->16->1, actor 3->16->16->(mean, log-std) = 4 outputs
    assert sum(p.numel() for p in agent.critic.parameters()) == 2 * (5 * 16 + 16 + 16 * 16 + 16 + 16 + 1)
    assert sum(p.numel() for p in agent.actor.parameters()) == 3 * 16 + 16 + 16 * 16 + 16 + 16 * 4 + 4
    obs, action = torch.randn(6, 3), torch.rand(6, 2) * 2 - 1
    first, _, second, _, head = agent.critic.body
    for e in range(2):
        hidden = torch.relu(torch.cat([obs, action], -1) @ first.weight[e] + first.bias[e])
        hidden = torch.relu(hidden @ second.weight[e] + second.bias[e])
        torch.testing.assert_close(agent.critic(obs, action)[e], (hidden @ head.weight[e] + head.bias[e]).squeeze(-1))
    assert agent.update(small_batches(1)[0])["critic_loss"] >= 0.0
    with_norm = RLPD(method_config("rlpd", {}), 3, 2, Normalizer.identity(3, 2), CPU)  # the default: RLPD's
    assert any("LayerNorm" in type(m).__name__ for net in (with_norm.critic, with_norm.actor) for m in net.body)


def test_an_ibrl_policy_keeps_its_critics_layer_norm_setting_and_older_ones_load_with_it(tmp_path: Path) -> None:
    normalizer = Normalizer.identity(6, 2)
    obs = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    torch.manual_seed(0)
    plain = IBRLNetworks(ActorConfig(hidden_dims=(16,), gaussian=False, layer_norm=False),
                         CriticConfig((16,), 2, layer_norm=False), 6, 2, normalizer)  # fmt: skip
    loaded = load_policy(save_policy(IBRLPolicy(make_policy(obs_dim=6), plain), tmp_path / "plain"))
    assert isinstance(loaded, IBRLPolicy) and len(loaded.networks.critic.body) == len(plain.critic.body) == 3
    np.testing.assert_allclose(loaded.act(obs), IBRLPolicy(make_policy(obs_dim=6), plain).act(obs), atol=1e-6)
    # a policy saved before the option existed has no layer_norm keys: it was built with LayerNorm
    normed = IBRLNetworks(ActorConfig(hidden_dims=(16,), gaussian=False), CriticConfig((16,), 2), 6, 2, normalizer)
    saved = save_policy(IBRLPolicy(make_policy(obs_dim=6), normed), tmp_path / "older")
    config_path = next(saved.glob("config.json"))
    config = json.loads(config_path.read_text())
    assert config["actor"].pop("layer_norm") is True and config["critic"].pop("layer_norm") is True
    config_path.write_text(json.dumps(config))
    older = load_policy(saved)
    assert isinstance(older, IBRLPolicy) and len(older.networks.critic.body) == 4
    np.testing.assert_allclose(older.act(obs), IBRLPolicy(make_policy(obs_dim=6), normed).act(obs), atol=1e-6)


def test_ibrl_acts_and_bootstraps_with_the_higher_q_proposal() -> None:
    config = IBRLConfig(critic_hidden_dims=(8,), actor=ActorConfig(hidden_dims=(8,), gaussian=False), target_noise=0.0)
    agent = IBRL(config, 3, 2, Normalizer.identity(3, 2), CPU)
    agent.critic_target = ActionSum(2)  # type: ignore[assignment]
    next_obs = torch.randn(4, 3)
    rl = agent.actor_target(next_obs)
    next_base = torch.stack([rl[0] + 1, rl[1] - 1, rl[2] + 0.5, rl[3] - 0.5]).clamp(-1, 1)
    batch = {"next_obs": next_obs, "next_base_action": next_base, "reward": torch.zeros(4),
             "discount": torch.full((4,), 0.9), "action": torch.zeros(4, 2)}  # fmt: skip
    target, metrics = agent.target(batch, agent.draws(batch, None))
    best = torch.maximum(rl.sum(-1), next_base.sum(-1))
    torch.testing.assert_close(target, 0.9 * best)
    assert metrics["rl_bootstrap_share"] == pytest.approx((rl.sum(-1) > next_base.sum(-1)).float().mean().item())

    networks = agent.networks
    networks.critic = ActionSum(2)  # type: ignore[assignment]
    obs = torch.randn(3, 3)
    base_action = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [0.0, 0.0]])
    rl_action = torch.zeros(3, 2)
    chosen = networks.choose(obs, base_action, rl_action)
    torch.testing.assert_close(chosen, torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]))  # ties keep the base


def test_actor_and_ibrl_policies_round_trip_through_checkpoints(tmp_path: Path) -> None:
    torch.manual_seed(0)
    normalizer = Normalizer.identity(6, 2)
    obs = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    actor = ActorPolicy(Actor(ActorConfig(hidden_dims=(16, 16)), 6, 2, normalizer))
    loaded = load_policy(save_policy(actor, tmp_path / "actor"))
    assert isinstance(loaded, ActorPolicy)
    np.testing.assert_allclose(loaded.act(obs), actor.act(obs), atol=1e-6)

    networks = IBRLNetworks(ActorConfig(hidden_dims=(16,), gaussian=False), CriticConfig((16,), 3), 6, 2, normalizer)
    ibrl = IBRLPolicy(make_policy(obs_dim=6), networks)
    loaded_ibrl = load_policy(save_policy(ibrl, tmp_path / "ibrl"))
    assert isinstance(loaded_ibrl, IBRLPolicy)
    np.testing.assert_allclose(loaded_ibrl.act(obs), ibrl.act(obs), atol=1e-6)
    assert (tmp_path / "ibrl" / "base" / "model.safetensors").is_file()


def test_baseline_configs_reject_the_wrong_actor() -> None:
    with pytest.raises(ConfigError, match="Gaussian actor"):
        RLPDConfig(actor=ActorConfig(gaussian=False)).validate()
    with pytest.raises(ConfigError, match=r"actor\.gaussian = false"):
        IBRLConfig(actor=ActorConfig(gaussian=True)).validate()
    with pytest.raises(ConfigError, match="round_steps must be positive"):
        FilteredBCConfig(round_steps=0).validate()
    assert set(METHODS) >= {"residual-td3", "rlpd", "ibrl", "filtered-bc"}


def test_filtered_bc_needs_a_bc_base(weak_base: tuple[Path, Path], tmp_path: Path) -> None:
    _, demos = weak_base
    honed = load_policy(save_policy(ActorPolicy(Actor(ActorConfig(), 6, 2, Normalizer.identity(6, 2))), tmp_path / "a"))
    with pytest.raises(HoningError, match="filtered-bc retrains a BC policy"):
        finetune(honed, "toy/reach", demos, method="filtered-bc", config=FilteredBCConfig(steps=10))


def test_filtered_bc_spends_the_exact_budget_and_keeps_only_successes(
    weak_base: tuple[Path, Path], tmp_path: Path
) -> None:
    base_dir, demos = weak_base
    values = {"steps": 1500, "round_steps": 600, "eval_every": 600, "eval_episodes": 10, "final_eval_episodes": 20,
              "bc": {"steps": 300}, "device": "cpu"}  # fmt: skip
    config = method_config("filtered-bc", values)
    result = finetune(base_dir, "toy/reach", demos, method="filtered-bc", config=config, out=tmp_path / "run")
    assert [p.env_steps for p in result.curve] == [0, 600, 1200, 1500]
    rounds = [m for m in _metrics(tmp_path / "run") if m["kind"] == "train"]
    assert [m["env_steps"] for m in rounds] == [600, 1200, 1500]
    assert all(0 <= m["round_successes"] <= m["round_episodes"] for m in rounds)
    assert rounds[-1]["kept_episodes"] == sum(m["round_successes"] for m in rounds)
    assert load_policy(tmp_path / "run" / "checkpoints" / "last").act(np.zeros((1, 6), np.float32)).shape == (1, 2)


def _metrics(run: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_rlpd_learns_without_the_base(weak_base: tuple[Path, Path], tmp_path: Path) -> None:
    """RLPD never calls the base: its demo and online base actions are zeros, its policy has no base."""
    base_dir, demos = weak_base
    config = method_config("rlpd", {"steps": 600, "learning_starts": 300, "batch_size": 32, "num_critics": 2,
                                    "critic_hidden_dims": [16], "actor": {"hidden_dims": [16]}, "eval_every": 300,
                                    "eval_episodes": 5, "final_eval_episodes": 5, "device": "cpu"})  # fmt: skip
    result = finetune(base_dir, "toy/reach", demos, method="rlpd", config=config)
    assert isinstance(result.policy, ActorPolicy)
    assert math.isfinite(result.honed_eval.success_rate)
