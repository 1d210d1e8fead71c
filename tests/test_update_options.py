"""``compile``: the update through torch.compile keeps the maths and the run's guarantees."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from honing.data import Normalizer
from honing.errors import ConfigError
from honing.finetune import ResidualTD3, ResidualTD3Config, finetune, method_config
from honing.finetune.rlpd import RLPD, RLPDConfig
from honing.policies import load_policy
from honing.policies.actor import ActorConfig
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
