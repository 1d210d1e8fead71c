"""A frozen base policy plus a small learned residual correction (ResFiT).

The residual actor sees the normalised observation and the action the base executes now, and
outputs ``action_scale * tanh(...)``. Its last layer starts at zero, so before any update the
honed policy acts exactly like the base. Executed action: ``clip(a_base + residual, -1, 1)``.
The base is treated as a black box (any Policy; for chunked bases, the residual corrects the
action the base executes at this step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.policies.base import Policy
from honing.policies.networks import ObsNormalized, mlp
from honing.policies.numpy_forward import numpy_forward


@dataclass
class ResidualActorConfig:
    """Architecture of the residual actor."""

    hidden_dims: tuple[int, ...] = (256, 256)
    """Widths of the LayerNorm MLP."""
    action_scale: float = 0.2
    """Largest residual per action dimension (tanh output times this); ResFiT uses 0.1-0.2.
    Measured on pick-place (one seed, 100k steps, BENCHMARKS.md): 0.2 dips to 40% at 20k steps
    but ends at 100%; 0.1 barely dips but ends at 88%. Use 0.1 for short budgets."""

    def validate(self) -> None:
        if not self.hidden_dims or min(self.hidden_dims) <= 0:
            raise ConfigError(f"actor.hidden_dims must be positive widths, got {self.hidden_dims}")
        if not 0.0 < self.action_scale <= 2.0:
            raise ConfigError(f"actor.action_scale must be in (0, 2], got {self.action_scale}")


class ResidualActor(ObsNormalized):
    """[normalised obs, base action] -> residual in [-action_scale, action_scale]."""

    def __init__(self, config: ResidualActorConfig, obs_dim: int, act_dim: int, normalizer: Normalizer) -> None:
        super().__init__()
        self.config, self.obs_dim, self.act_dim = config, obs_dim, act_dim
        self.body = mlp(obs_dim + act_dim, act_dim, config.hidden_dims, layer_norm=True)
        last = self.body[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.register_normalizer(normalizer)

    def forward(self, norm_obs: torch.Tensor, base_action: torch.Tensor) -> torch.Tensor:
        return self.config.action_scale * torch.tanh(self.body(torch.cat([norm_obs, base_action], dim=-1)).float())

    def residual_one(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray:
        """One raw observation's residual for acting (never for training): in NumPy on the CPU
        (:mod:`honing.policies.numpy_forward`), through torch elsewhere."""
        forward = numpy_forward(self)
        if forward is None:
            device = self.obs_mean.device
            obs_t = torch.as_tensor(obs[None], dtype=torch.float32, device=device)
            base_t = torch.as_tensor(base_action[None], dtype=torch.float32, device=device)
            with torch.no_grad():
                return self(self.normalize_obs(obs_t), base_t)[0].cpu().numpy()
        inputs = np.concatenate([forward.normalize_obs(obs), np.asarray(base_action, dtype=np.float32)])
        return self.config.action_scale * np.tanh(forward.body(inputs))


class ResidualPolicy:
    """Base policy + residual actor behind the Policy protocol (deterministic: no exploration noise)."""

    def __init__(self, base: Policy, actor: ResidualActor, device: torch.device | None = None) -> None:
        self.base, self.actor = base, actor.eval()
        self.device = device or next(actor.parameters()).device
        self.obs_dim, self.act_dim = base.obs_dim, base.act_dim

    def reset(self, env_ids: Sequence[int] | None = None) -> None:
        self.base.reset(env_ids)

    @torch.no_grad()
    def residual(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        base_t = torch.as_tensor(np.asarray(base_action, dtype=np.float32), device=self.device)
        return self.actor(self.actor.normalize_obs(obs_t), base_t).cpu().numpy()

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.atleast_2d(np.asarray(obs, dtype=np.float32))
        base_action = self.base.act(obs)
        return np.clip(base_action + self.residual(obs, base_action), -1.0, 1.0).astype(np.float32)
