"""IBRL's policy: the frozen BC policy and an RL actor both propose, the critic picks.

*Imitation Bootstrapped Reinforcement Learning* (Hu et al., 2023): at every step the BC action and
the RL actor's action are scored by the Q-ensemble (mean over heads) and the higher one is
executed. The critic is therefore part of the deployed policy, and is saved with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.policies.actor import Actor, ActorConfig
from honing.policies.base import Policy
from honing.policies.ensemble import CriticEnsemble


@dataclass
class CriticConfig:
    """Shape of a Q-ensemble (stored so a saved IBRL policy can rebuild its critic)."""

    hidden_dims: tuple[int, ...] = (256, 256)
    """Widths of each head."""
    num_critics: int = 2
    """Ensemble size."""
    layer_norm: bool = True
    """LayerNorm after every hidden layer (absent from policies saved before it existed: true)."""

    def validate(self) -> None:
        if not self.hidden_dims or min(self.hidden_dims) <= 0 or self.num_critics <= 0:
            raise ConfigError(f"critic widths and ensemble size must be positive, got {self}")


class IBRLNetworks(nn.Module):
    """The RL actor and the Q-ensemble that arbitrates, as one saveable module."""

    def __init__(
        self, actor: ActorConfig, critic: CriticConfig, obs_dim: int, act_dim: int, normalizer: Normalizer
    ) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.critic_config = obs_dim, act_dim, critic
        self.actor = Actor(actor, obs_dim, act_dim, normalizer)
        self.critic = CriticEnsemble(obs_dim + act_dim, critic.hidden_dims, critic.num_critics, critic.layer_norm)

    def choose(self, norm_obs: torch.Tensor, base_action: torch.Tensor, rl_action: torch.Tensor) -> torch.Tensor:
        """Per row, whichever of the two proposals has the higher mean Q."""
        q_base = self.critic(norm_obs, base_action).mean(0)
        q_rl = self.critic(norm_obs, rl_action).mean(0)
        return torch.where((q_rl > q_base)[:, None], rl_action, base_action)


class IBRLPolicy:
    """Base + RL actor + critic behind the Policy protocol (greedy choice, no exploration noise)."""

    def __init__(self, base: Policy, networks: IBRLNetworks, device: torch.device | None = None) -> None:
        if (base.obs_dim, base.act_dim) != (networks.obs_dim, networks.act_dim):
            raise ConfigError(
                f"IBRL networks expect observation/action dims ({networks.obs_dim}, {networks.act_dim}), "
                f"the base has ({base.obs_dim}, {base.act_dim})"
            )
        self.base, self.networks = base, networks.eval()
        self.device = device or next(networks.parameters()).device
        self.obs_dim, self.act_dim = base.obs_dim, base.act_dim

    def reset(self, env_ids: Sequence[int] | None = None) -> None:
        self.base.reset(env_ids)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.atleast_2d(np.asarray(obs, dtype=np.float32))
        base_action = torch.as_tensor(self.base.act(obs), device=self.device)
        norm_obs = self.networks.actor.normalize_obs(torch.as_tensor(obs, device=self.device))
        rl_action = self.networks.actor(norm_obs)
        return self.networks.choose(norm_obs, base_action, rl_action).cpu().numpy().astype(np.float32)
