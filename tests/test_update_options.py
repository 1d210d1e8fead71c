"""``compile`` and ``precision``: a faster update keeps the maths and the run's guarantees."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from honing.data import Normalizer
from honing.errors import ConfigError
from honing.finetune import ResidualTD3, ResidualTD3Config, finetune, method_config, updates
from honing.finetune.rlpd import RLPD, RLPDConfig
from honing.policies import load_policy
from honing.policies.actor import ActorConfig
from honing.policies.ensemble import EnsembleLinear
from honing.policies.residual_policy import ResidualActorConfig
from tests.test_method_matrix import VALUES

OBS, ACT, BATCH = 5, 2, 32


def learner(method: str, **options: object) -> ResidualTD3 | RLPD:
    """A small learner whose actor moves from the first update (both TD3 graph variants are used)."""
    torch.manual_seed(0)
    if method == "residual-td3":
        config = ResidualTD3Config(critic_hidden_dims=(32, 32), critic_warmup=0, actor_delay=2, **options)  # type: ignore[arg-type]
        config.actor = ResidualActorConfig(hidden_dims=(32, 32))
        return ResidualTD3(config, OBS, ACT, Normalizer.identity(OBS, ACT), torch.device("cpu"))
    rlpd = RLPDConfig(critic_hidden_dims=(32, 32), actor=ActorConfig(hidden_dims=(32, 32)), **options)  # type: ignore[arg-type]
    return RLPD(rlpd, OBS, ACT, Normalizer.identity(OBS, ACT), torch.device("cpu"))


def batches(count: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    out = []
    for _ in range(count):
        fields = ("obs", OBS), ("next_obs", OBS), ("action", ACT), ("base_action", ACT), ("next_base_action", ACT)
        batch = {name: torch.rand(BATCH, dim, generator=generator) * 2 - 1 for name, dim in fields}
        batch["reward"] = (torch.rand(BATCH, generator=generator) < 0.2).float()
        batch["discount"] = torch.where(batch["reward"] > 0, 0.0, 0.97)
        out.append(batch)
    return out


def parameters(agent: ResidualTD3 | RLPD) -> list[torch.Tensor]:
    modules = (agent.actor, agent.critic, agent.critic_target)
    return [p.detach().clone() for module in modules for p in module.parameters()]


@pytest.mark.parametrize("method", ["residual-td3", "rlpd"])
def test_compiled_updates_follow_the_eager_ones(method: str) -> None:
    eager, fast = learner(method), learner(method, compile=True)
    for before_eager, before_fast in zip(parameters(eager), parameters(fast), strict=True):
        assert torch.equal(before_eager, before_fast)
    for batch in batches(6):
        expected, got = eager.update(batch), fast.update(batch)
        assert set(expected) == set(got)
        for key in expected:
            assert got[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-5), key
    assert eager.actor_updates == fast.actor_updates > 0
    for after_eager, after_fast in zip(parameters(eager), parameters(fast), strict=True):
        torch.testing.assert_close(after_fast, after_eager, rtol=1e-4, atol=1e-5)
    untrained = parameters(learner(method))
    assert not any(p.equal(q) for p, q in zip(parameters(fast), untrained, strict=True) if p.numel() > 1)


def test_compile_without_a_cpu_compiler_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="needs a C\\+\\+ compiler"):
        learner("residual-td3", compile=True)


@pytest.mark.parametrize("method", ["residual-td3", "dsrl"])
def test_a_compiled_run_checkpoints_and_reloads(
    method: str, weak_base: tuple[Path, Path], diffusion_base: tuple[Path, Path], tmp_path: Path
) -> None:
    base, demos = diffusion_base if method == "dsrl" else weak_base
    config = method_config(method, {**VALUES[method], "compile": True})
    result = finetune(base, "toy/reach", demos, method=method, config=config, out=tmp_path / "run")
    assert result.curve[-1].env_steps == 300
    honed = load_policy(tmp_path / "run" / "checkpoints" / "last")
    obs = np.random.default_rng(0).normal(size=(2, 6)).astype(np.float32)
    result.policy.reset()  # the diffusion base keeps a chunk queue from the final evaluation
    np.testing.assert_allclose(honed.act(obs), result.policy.act(obs), atol=1e-5)


@pytest.mark.parametrize("method", ["residual-td3", "rlpd"])
@pytest.mark.parametrize("compile", [False, True])
def test_bfloat16_updates_track_the_float32_ones(method: str, compile: bool) -> None:
    exact, mixed = learner(method), learner(method, precision="bfloat16", compile=compile)
    for batch in batches(6):
        expected, got = exact.update(batch), mixed.update(batch)
        for key in ("critic_loss", "q_mean", "target_mean"):
            assert got[key] == pytest.approx(expected[key], rel=0.05, abs=0.01), key
    assert exact.actor_updates == mixed.actor_updates > 0
    drift = [(a - b).abs().max().item() for a, b in zip(parameters(mixed), parameters(exact), strict=True)]
    assert 0.0 < max(drift) < 0.01  # rounded differently (autocast is on), yet the same update
    # what persists stays float32: weights, optimiser moments; the critic's output too
    assert all(p.dtype == torch.float32 for p in parameters(mixed))
    moments = [v for state in mixed.critic_optim.state.values() for v in state.values() if v.numel() > 1]
    assert moments and all(v.dtype == torch.float32 for v in moments)
    batch = batches(1)[0]
    with mixed.update_precision():
        assert mixed.critic(batch["obs"], batch["action"]).dtype == torch.float32


def test_bfloat16_matmuls_do_run_in_bfloat16() -> None:
    agent = learner("residual-td3", precision="bfloat16")
    batch = batches(1)[0]
    seen: list[torch.dtype] = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.dtype)) for m in agent.critic.body
             if isinstance(m, EnsembleLinear)]  # fmt: skip
    agent.update(batch)  # no actor step yet (actor_delay = 2): the critic runs once, for its loss
    agent.critic(batch["obs"], batch["action"])  # outside the update: float32, as acting is
    for hook in hooks:
        hook.remove()
    assert seen == [torch.bfloat16, torch.bfloat16, torch.float32] + [torch.float32] * 3  # the output layer: float32


@pytest.mark.parametrize("fast", [False, True])
def test_bfloat16_without_native_matmuls_is_warned_about(monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    monkeypatch.setattr(updates, "bfloat16_is_fast", lambda device: fast)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        learner("rlpd", precision="bfloat16")
        learner("rlpd")  # float32 is never warned about
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if fast:
        assert messages == []
    else:
        assert len(messages) == 1 and "no native bfloat16 matmuls" in messages[0]
        assert "set precision = float32" in messages[0]


def test_precision_is_checked_by_name() -> None:
    with pytest.raises(ConfigError, match="precision must be one of float32, bfloat16, got 'float16'"):
        method_config("residual-td3", {"precision": "float16"})
    with pytest.raises(ConfigError, match="set precision = float32"):
        method_config("dsrl", {**VALUES["dsrl"], "precision": "bfloat16"})


def test_a_bfloat16_run_checkpoints_and_reloads(weak_base: tuple[Path, Path], tmp_path: Path) -> None:
    base, demos = weak_base
    config = method_config("residual-td3", {**VALUES["residual-td3"], "precision": "bfloat16"})
    result = finetune(base, "toy/reach", demos, method="residual-td3", config=config, out=tmp_path / "run")
    assert result.curve[-1].env_steps == 300
    honed = load_policy(tmp_path / "run" / "checkpoints" / "last")
    obs = np.random.default_rng(0).normal(size=(2, 6)).astype(np.float32)
    np.testing.assert_allclose(honed.act(obs), result.policy.act(obs), atol=1e-6)
