"""Shared fixtures: small datasets and policies on toy/reach, built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from honing.data import collect_demos
from honing.policies import BCConfig, PolicyConfig, train_bc


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test``: one worker per core) each worker, and every process it starts,
    runs torch on one thread, so the workers do not fight over the cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def reach_demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 toy/reach demos at noise 0.1 (measured: BC on these reaches ~100% success)."""
    path = tmp_path_factory.mktemp("data") / "reach"
    collect_demos("toy/reach", episodes=50, noise=0.1, seed=0, out=path)
    return path


@pytest.fixture(scope="session")
def reach_bc_run(reach_demos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "bc-mlp"
    train_bc(reach_demos, BCConfig(policy=PolicyConfig(kind="mlp"), steps=3000, seed=0), out=out)
    return out


@pytest.fixture(scope="session")
def weak_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """BC on 10 noisy demos: measured 66% [56%, 75%] success on 100 episodes (a deliberately weak base)."""
    root = tmp_path_factory.mktemp("weak")
    collect_demos("toy/reach", episodes=10, noise=0.3, seed=0, out=root / "demos")
    train_bc(root / "demos", BCConfig(steps=3000, seed=0, policy=PolicyConfig(hidden_dims=(64, 64))), out=root / "bc")
    return root / "bc", root / "demos"


@pytest.fixture(scope="session")
def diffusion_base(weak_base: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Diffusion BC on the weak base's 10 noisy demos, stopped at 300 updates: measured 53% on 100 episodes."""
    _, demos = weak_base
    out = tmp_path_factory.mktemp("diffusion") / "bc"
    policy = PolicyConfig(kind="diffusion", hidden_dims=(64, 64))
    train_bc(demos, BCConfig(steps=300, patience=0, seed=0, policy=policy), out=out)
    return out, demos


@pytest.fixture
def torch_threads() -> Iterator[None]:
    """Put torch's intra-op thread count back after a test that changes it (rlpd's ``parallel_update`` does)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
