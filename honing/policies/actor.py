"""A from-scratch RL actor (no base policy): tanh-squashed, deterministic or Gaussian.

Used by the baselines that learn a whole policy rather than a residual: SAC in RLPD (Gaussian:
mean and log-std heads, actions ``tanh(mean + std * eps)``) and the RL half of IBRL (deterministic:
``tanh(mean)``). Observations are normalised with the demo statistics kept as buffers, so a saved
actor is a complete policy. At evaluation the actor is deterministic: ``tanh(mean)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.policies.networks import ObsNormalized, mlp
from honing.policies.numpy_forward import numpy_forward


@dataclass
class ActorConfig:
    """Architecture of a from-scratch actor."""

    hidden_dims: tuple[int, ...] = (256, 256)
    """Widths of the MLP."""
    layer_norm: bool = True
    """LayerNorm after every hidden layer; false gives the plain ReLU MLP of SAC's and TD3's actors
    as Stable-Baselines3 builds them."""
    gaussian: bool = True
    """Gaussian (SAC) or deterministic (TD3) actor."""
    log_std_min: float = -5.0
    """Lower bound of the Gaussian log-std (keeps the entropy finite)."""
    log_std_max: float = 2.0
    """Upper bound of the Gaussian log-std."""

    def validate(self) -> None:
        if not self.hidden_dims or min(self.hidden_dims) <= 0:
            raise ConfigError(f"actor.hidden_dims must be positive widths, got {self.hidden_dims}")
        if self.log_std_min >= self.log_std_max:
            raise ConfigError(f"actor.log_std_min must be below log_std_max, got {self.log_std_min}")


class Actor(ObsNormalized):
    """Normalised observation -> action in [-1, 1] (and, when Gaussian, its log-probability)."""

    def __init__(self, config: ActorConfig, obs_dim: int, act_dim: int, normalizer: Normalizer) -> None:
        super().__init__()
        self.config, self.obs_dim, self.act_dim = config, obs_dim, act_dim
        outputs = 2 * act_dim if config.gaussian else act_dim
        self.body = mlp(obs_dim, outputs, config.hidden_dims, layer_norm=config.layer_norm)
        self.register_normalizer(normalizer)

    def _heads(self, norm_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.body(norm_obs).float()  # the distribution maths stays float32 under autocast
        if not self.config.gaussian:
            return out, None
        mean, log_std = out.chunk(2, dim=-1)
        return mean, self._log_std(torch.tanh(log_std))

    def _log_std(self, tanh_raw: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """The log-std head's tanh mapped onto [log_std_min, log_std_max] (torch or NumPy alike)."""
        low, high = self.config.log_std_min, self.config.log_std_max
        return low + 0.5 * (high - low) * (tanh_raw + 1.0)

    def forward(self, norm_obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action ``tanh(mean)``."""
        return torch.tanh(self._heads(norm_obs)[0])

    def sample(
        self, norm_obs: torch.Tensor, generator: torch.Generator | None = None, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample of the squashed Gaussian and its log-probability (per row)."""
        mean, log_std = self._heads(norm_obs)
        if log_std is None:
            raise ConfigError("sample() needs a Gaussian actor (actor.gaussian = true)")
        if eps is None:
            eps = torch.randn(mean.shape, generator=generator).to(mean.device)
        pre = mean + log_std.exp() * eps
        action = torch.tanh(pre)
        # log N(pre; mean, std) minus log|d tanh/d pre|, the latter in a numerically stable form
        log_prob = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - (2.0 * (math.log(2.0) - pre - nn.functional.softplus(-2.0 * pre))).sum(-1)
        return action, log_prob

    def act_one(self, obs: np.ndarray, eps: torch.Tensor | None = None) -> np.ndarray:
        """One raw observation's action for acting (never for training): ``tanh(mean + std * eps)``
        with `eps` (a Gaussian actor's exploration draw, shape (1, act_dim)), ``tanh(mean)`` without.

        In NumPy on the CPU (:mod:`honing.policies.numpy_forward`: several times cheaper per step),
        through torch elsewhere; the two agree to float32 rounding.
        """
        forward = numpy_forward(self)
        if forward is None:
            with torch.no_grad():
                norm_obs = self.normalize_obs(torch.as_tensor(obs[None], dtype=torch.float32,
                                                              device=self.obs_mean.device))  # fmt: skip
                if eps is None:
                    return self(norm_obs)[0].cpu().numpy()
                return self.sample(norm_obs, eps=eps.to(norm_obs.device))[0][0].cpu().numpy()
        out = forward.body(forward.normalize_obs(obs))
        if not self.config.gaussian:
            return np.tanh(out)
        mean = out[: self.act_dim]
        if eps is None:
            return np.tanh(mean)
        return np.tanh(mean + np.exp(self._log_std(np.tanh(out[self.act_dim :]))) * eps.numpy()[0])


class ActorPolicy:
    """A from-scratch actor behind the Policy protocol (deterministic; no base, no queue)."""

    def __init__(self, actor: Actor, device: torch.device | None = None) -> None:
        self.actor = actor.eval()
        self.device = device or next(actor.parameters()).device
        self.obs_dim, self.act_dim = actor.obs_dim, actor.act_dim

    def reset(self, env_ids: Sequence[int] | None = None) -> None:
        """Stateless: nothing to forget between episodes."""

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(np.atleast_2d(np.asarray(obs, dtype=np.float32)), device=self.device)
        return self.actor(self.actor.normalize_obs(obs_t)).cpu().numpy().astype(np.float32)
