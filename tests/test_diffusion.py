"""Diffusion BC policy: DDPM schedule, DDIM maths, the exposed initial noise, and success on toy/reach."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from honing.data import Normalizer
from honing.errors import ConfigError
from honing.eval import evaluate
from honing.policies import BCConfig, BCPolicy, PolicyConfig, load_policy, save_policy, train_bc
from honing.policies.diffusion import DiffusionNetwork, cosine_alpha_bars


def small_network(sample_steps: int = 10) -> DiffusionNetwork:
    torch.manual_seed(0)
    config = PolicyConfig(kind="diffusion", hidden_dims=(32,), chunk_horizon=4, chunk_execute=2,
                          sample_steps=sample_steps)  # fmt: skip
    stats = Normalizer(np.zeros(3, np.float32), np.ones(3, np.float32), np.full(2, 0.1, np.float32),
                       np.full(2, 0.5, np.float32))  # fmt: skip
    return DiffusionNetwork(config, 3, 2, stats).eval()


def test_schedule_and_ddim_timesteps() -> None:
    alpha_bars = cosine_alpha_bars(100)
    assert alpha_bars.shape == (100,) and (alpha_bars.diff() < 0).all()
    assert 0.99 < alpha_bars[0] < 1.0 and 0.0 < alpha_bars[-1] < 1e-3  # clean at t=0, almost pure noise at T-1
    network = small_network(sample_steps=10)
    steps = network.sample_timesteps()
    assert len(steps) == 10 and steps[0] == 99 and steps[-1] == 0 and steps == sorted(steps, reverse=True)


def test_ddim_with_an_oracle_denoiser_returns_the_clean_chunk_from_any_noise() -> None:
    """If ε_θ is the true noise of a fixed clean chunk x0, every DDIM step predicts x0: the sampler ends there."""
    network = small_network()
    x0 = torch.tensor([[0.3, -0.2, 0.5, 0.1, -0.4, 0.0, 0.2, 0.6]])

    def oracle(norm_obs: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = network.alpha_bars[t][:, None]
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    network.denoise = oracle  # type: ignore[method-assign]
    for seed in range(3):
        noise = torch.randn(1, 4, 2, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(network.sample(torch.zeros(1, 3), noise).reshape(1, -1), x0, atol=1e-5, rtol=0)


def test_the_initial_noise_is_an_input_and_the_policy_is_reproducible() -> None:
    policy = BCPolicy(small_network(), torch.device("cpu"))
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    noise = np.random.default_rng(1).normal(size=(5, 4, 2)).astype(np.float32)
    chunk = policy.predict_chunk(obs, noise)
    assert chunk.shape == (5, 4, 2) and np.abs(chunk).max() <= 1.0
    np.testing.assert_array_equal(policy.predict_chunk(obs, noise), chunk)  # deterministic given the noise
    assert not np.allclose(policy.predict_chunk(obs, -noise), chunk)  # and the noise steers it
    first = [policy.act(obs) for _ in range(4)]
    policy.reset()
    np.testing.assert_array_equal(np.stack([policy.act(obs) for _ in range(4)]), np.stack(first))
    with pytest.raises(ConfigError, match="sample_steps must be in"):
        PolicyConfig(kind="diffusion", sample_steps=0).validate()


def test_diffusion_bc_reaches_high_success_on_toy_reach(reach_demos: Path, tmp_path: Path) -> None:
    config = BCConfig(policy=PolicyConfig(kind="diffusion"), steps=3000, seed=0)
    result = train_bc(reach_demos, config, out=tmp_path / "run")
    # Measured: 100% on 50 episodes (initial noise sampled, and also from zeros)
    assert evaluate(result.policy, "toy/reach", episodes=100, seed=0).success_rate >= 0.9
    loaded = load_policy(save_policy(result.policy, tmp_path / "copy"))
    obs = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    noise = np.zeros((3, 8, 2), np.float32)
    assert isinstance(loaded, BCPolicy)
    np.testing.assert_allclose(loaded.predict_chunk(obs, noise), result.policy.predict_chunk(obs, noise), atol=1e-6)
