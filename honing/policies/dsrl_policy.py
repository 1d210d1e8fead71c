"""A diffusion policy steered through its initial noise (DSRL): the deployed form of ``--method dsrl``.

The frozen diffusion base decodes every chunk by deterministic DDIM from an initial noise; here
that noise comes from a learned noise-space actor, ``w = action_magnitude * tanh(mean(s))``, instead
of N(0, I). The base weights never change, and an actor that outputs zeros gives exactly the
base's chunks for zero noise.
"""

from __future__ import annotations

import numpy as np
import torch

from honing.policies.actor import Actor
from honing.policies.bc_policy import BCPolicy
from honing.policies.diffusion import DiffusionNetwork


class DSRLPolicy(BCPolicy):
    """Queued chunks like any BC policy; only the initial noise of each chunk differs."""

    def __init__(
        self, network: DiffusionNetwork, actor: Actor, magnitude: float, device: torch.device | None = None
    ) -> None:
        super().__init__(network, device)
        self.actor, self.magnitude = actor.eval().to(self.device), magnitude
        self.noise_shape = network.noise_shape

    @torch.no_grad()
    def steer(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic noise the actor picks for each observation: (B, H, act_dim)."""
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        noise = self.magnitude * self.actor(self.actor.normalize_obs(obs_t))
        return noise.view(len(obs_t), *self.noise_shape).cpu().numpy()

    def predict_chunk(self, obs: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        return super().predict_chunk(obs, self.steer(obs) if noise is None else noise)
