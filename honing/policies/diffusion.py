"""Diffusion policy: DDPM training on normalised action chunks, deterministic few-step DDIM sampling.

After *Diffusion Policy* (Chi et al., 2023), with an MLP denoiser for state observations: the
network predicts the noise ε in ``x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε`` from
[normalised obs, x_t, sinusoidal embedding of t], trained with the squared error on ε (DDPM, Ho et
al. 2020) under the squared-cosine schedule (Nichol & Dhariwal 2021). Sampling runs DDIM with
η = 0 (Song et al. 2021) over ``sample_steps`` ≤ ``diffusion_steps`` steps, so a chunk is a
deterministic function of the observation and the *initial noise* ``w``: that noise is an explicit
input (:meth:`DiffusionNetwork.sample`), which is what DSRL steers. The predicted clean chunk is
clipped to the normalised image of [-1, 1] at every step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from honing.data.normalization import Normalizer
from honing.policies.networks import ObsNormalized, mlp
from honing.policies.policy_config import PolicyConfig


def cosine_alpha_bars(steps: int, offset: float = 0.008) -> torch.Tensor:
    """ᾱ_t for t = 0..steps-1 under the squared-cosine schedule (betas capped at 0.999)."""
    x = torch.linspace(0, steps, steps + 1, dtype=torch.float64)
    f = torch.cos(((x / steps) + offset) / (1 + offset) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0).float()


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class DiffusionNetwork(ObsNormalized):
    """ε-prediction denoiser over action chunks, with the dataset statistics as buffers.

    Shares the BC network interface: ``loss`` for training, ``predict`` for raw chunks.
    """

    alpha_bars: torch.Tensor

    def __init__(self, config: PolicyConfig, obs_dim: int, act_dim: int, normalizer: Normalizer) -> None:
        super().__init__()
        self.config, self.obs_dim, self.act_dim = config, obs_dim, act_dim
        self.chunk_dim = config.horizon * act_dim
        self.body = mlp(obs_dim + self.chunk_dim + config.time_embed_dim, self.chunk_dim, config.hidden_dims,
                        config.layer_norm, config.dropout)  # fmt: skip
        self.register_normalizer(normalizer)
        self.register_buffer("alpha_bars", cosine_alpha_bars(config.diffusion_steps), persistent=False)

    @property
    def noise_shape(self) -> tuple[int, int]:
        """Shape of one initial noise ``w``: (H, act_dim)."""
        return self.config.horizon, self.act_dim

    def denoise(self, norm_obs: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted ε for flattened noisy chunks x_t (B, H*A) at integer steps t (B,)."""
        emb = time_embedding(t, self.config.time_embed_dim)
        return self.body(torch.cat([norm_obs, x_t, emb], dim=-1))

    def loss(self, norm_obs: torch.Tensor, norm_chunks: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """DDPM's simple loss: E_{t, ε} |ε - ε_θ(s, x_t, t)|² on normalised chunks (B, H, A)."""
        x0 = norm_chunks.reshape(len(norm_chunks), -1)
        t = torch.randint(0, self.config.diffusion_steps, (len(x0),), generator=generator).to(x0.device)
        eps = torch.randn(x0.shape, generator=generator).to(x0.device)
        a = self.alpha_bars[t][:, None]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        return nn.functional.mse_loss(self.denoise(norm_obs, x_t, t), eps)

    def sample_timesteps(self) -> list[int]:
        """The DDIM schedule: ``sample_steps`` timesteps spread evenly from T-1 down to 0."""
        steps, total = self.config.sample_steps, self.config.diffusion_steps
        return sorted({round(i * (total - 1) / max(steps - 1, 1)) for i in range(steps)}, reverse=True)

    def sample(self, norm_obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Deterministic DDIM (η = 0) from the initial noise (B, H, A) -> normalised chunks (B, H, A)."""
        low = ((-1.0 - self.act_mean) / self.act_std).repeat(self.config.horizon)
        high = ((1.0 - self.act_mean) / self.act_std).repeat(self.config.horizon)
        x = noise.reshape(len(noise), -1)
        timesteps = self.sample_timesteps()
        for i, t in enumerate(timesteps):
            a = self.alpha_bars[t]
            a_prev = self.alpha_bars[timesteps[i + 1]] if i + 1 < len(timesteps) else torch.ones_like(a)
            eps = self.denoise(norm_obs, x, torch.full((len(x),), t, device=x.device))
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(low, high)
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()  # consistent with the clipped x0
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        return x.view(-1, *self.noise_shape)

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Raw observations (and initial noise; zeros when None) -> raw action chunks in [-1, 1]."""
        if noise is None:
            noise = torch.zeros(len(obs), *self.noise_shape, device=obs.device)
        chunks = self.sample(self.normalize_obs(obs), noise) * self.act_std + self.act_mean
        return chunks.clamp(-1.0, 1.0)
