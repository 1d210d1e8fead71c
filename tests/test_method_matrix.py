"""Every fine-tuning method with every base kind it supports (README's table), and clear refusals for the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from honing.errors import HoningError
from honing.finetune import METHODS, finetune, method_config
from honing.policies import BCConfig, PolicyConfig, load_policy, train_bc

TINY = {"steps": 300, "eval_every": 300, "eval_episodes": 2, "final_eval_episodes": 2, "device": "cpu"}
OFF_POLICY = {**TINY, "learning_starts": 100, "batch_size": 16, "critic_hidden_dims": [16]}
VALUES: dict[str, dict] = {
    "residual-td3": {**OFF_POLICY, "critic_warmup": 50, "actor": {"hidden_dims": [16]}},
    "rlpd": {**OFF_POLICY, "actor": {"hidden_dims": [16]}},
    "ibrl": {**OFF_POLICY, "critic_warmup": 50, "actor": {"hidden_dims": [16], "gaussian": False}},
    "demo-reg": {**OFF_POLICY, "critic_warmup": 50, "actor": {"hidden_dims": [16], "gaussian": False}},
    "dsrl": {**OFF_POLICY, "noise_critic_hidden_dims": [16], "actor": {"hidden_dims": [16]}},
    "filtered-bc": {**TINY, "round_steps": 150, "bc": {"steps": 20}},
    "residual-ppo": {**TINY, "num_envs": 2, "asynchronous": False, "rollout_steps": 50, "minibatch_size": 50,
                     "update_epochs": 1, "actor": {"hidden_dims": [16]}, "value_hidden_dims": [16]},
}  # fmt: skip
SUPPORTED = {method: ("mlp", "chunked", "diffusion") for method in VALUES} | {"dsrl": ("diffusion",)}


@pytest.fixture(scope="module")
def bases(weak_base: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _, demos = weak_base
    root = tmp_path_factory.mktemp("bases")
    for kind in ("mlp", "chunked", "diffusion"):
        train_bc(demos, BCConfig(steps=30, seed=0, policy=PolicyConfig(kind=kind, hidden_dims=(16,))), out=root / kind)  # type: ignore[arg-type]
    return {kind: root / kind for kind in ("mlp", "chunked", "diffusion")}


def test_the_matrix_covers_every_registered_method() -> None:
    assert set(VALUES) == set(METHODS)


@pytest.mark.parametrize("kind", ["mlp", "chunked", "diffusion"])
@pytest.mark.parametrize("method", sorted(VALUES))
def test_method_with_base(method: str, kind: str, bases: dict[str, Path], weak_base: tuple[Path, Path],
                          tmp_path: Path) -> None:  # fmt: skip
    _, demos = weak_base
    config = method_config(method, VALUES[method])
    if kind not in SUPPORTED[method]:
        with pytest.raises(HoningError, match="--policy diffusion"):
            finetune(bases[kind], "toy/reach", demos, method=method, config=config, out=tmp_path / "run")
        assert not (tmp_path / "run").exists()  # refused before any run directory is made
        return
    result = finetune(bases[kind], "toy/reach", demos, method=method, config=config, out=tmp_path / "run")
    assert result.curve[-1].env_steps == 300
    honed = load_policy(tmp_path / "run" / "checkpoints" / "last")
    obs = np.random.default_rng(0).normal(size=(2, 6)).astype(np.float32)
    result.policy.reset()  # chunked policies keep a queue from the final evaluation
    np.testing.assert_allclose(honed.act(obs), result.policy.act(obs), atol=1e-5)
