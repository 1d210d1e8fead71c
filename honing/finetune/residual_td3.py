"""Residual off-policy RL on a frozen BC policy (ResFiT).

Follows *Residual Off-Policy RL for Finetuning Behavior Cloning Policies* (Ankile et al., 2025):
TD3 learns a small residual ``r = π(s, a_b)`` on top of the frozen base action ``a_b``; the robot
executes ``clip(a_b + r, -1, 1)``.

    critic:  min over heads  Σ_e (Q_e(s, a) - y)^2,
             y = R^(n) + γ^k (1 - done) · min_{e ∈ E'} Q'_e(s', clip(a_b' + π'(s', a_b') + ε, -1, 1)),
             ε ~ clip(N(0, σ_target), ±c), E' = `num_target_critics` heads drawn at random (REDQ)
    actor:   max  mean_e Q_e(s, clip(a_b + π(s, a_b), -1, 1)),  every `actor_delay` critic updates,
             only after `critic_warmup` critic-only updates

Batches are half demos (demonstrated action as the executed action, base action relabelled by
replaying the base) and half online data; rewards are the sparse success signal.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.finetune.common import OffPolicyConfig
from honing.finetune.networks import CriticEnsemble
from honing.policies.base import Policy
from honing.policies.residual_policy import ResidualActor, ResidualActorConfig, ResidualPolicy


@dataclass
class ResidualTD3Config(OffPolicyConfig):
    """Residual TD3 (ResFiT, Ankile et al. 2025) on a frozen base policy."""

    actor: ResidualActorConfig = field(default_factory=ResidualActorConfig)
    """Residual actor architecture and ``action_scale``."""
    actor_lr: float = 1e-4
    """Actor learning rate (Adam); a slow actor protects the base early on."""
    actor_delay: int = 2
    """Critic updates per actor update (TD3 delay; 2-4)."""
    critic_warmup: int = 10_000
    """Critic-only updates before the actor first moves: a residual trained on an untrained critic
    destroys a good base (measured: 500-1 000 warm-up steps collapsed pick-place to 0%)."""
    explore_noise: float = 0.1
    """Std of the Gaussian exploration noise on the residual."""
    target_noise: float = 0.2
    """Std of the target policy smoothing noise."""
    target_noise_clip: float = 0.3
    """Clip of the target policy smoothing noise."""

    def validate(self) -> None:
        super().validate()
        self.actor.validate()
        if self.actor_delay <= 0:
            raise ConfigError(f"actor_delay must be positive, got {self.actor_delay}")
        if self.critic_warmup < 0:
            raise ConfigError(f"critic_warmup must be >= 0, got {self.critic_warmup}")
        for name in ("explore_noise", "target_noise", "target_noise_clip", "actor_lr"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")


def adam(params: Any, lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel (measured ~10% faster updates on CPU than the default)."""
    return torch.optim.Adam(params, lr=lr, fused=True)


def polyak(target: list[torch.Tensor], source: list[torch.Tensor], tau: float) -> None:
    """target <- (1 - tau) target + tau source, one fused call for the whole parameter list."""
    with torch.no_grad():
        torch._foreach_lerp_(target, source, tau)


class ResidualTD3:
    """The learner: residual actor, critic ensemble, their targets and optimisers."""

    def __init__(
        self, config: ResidualTD3Config, obs_dim: int, act_dim: int, normalizer: Normalizer, device: torch.device
    ) -> None:
        self.config, self.device = config, device
        self.actor = ResidualActor(config.actor, obs_dim, act_dim, normalizer).to(device)
        self.critic = CriticEnsemble(obs_dim + act_dim, config.critic_hidden_dims, config.num_critics).to(device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optim = adam(self.actor.parameters(), config.actor_lr)
        self.critic_optim = adam(self.critic.parameters(), config.critic_lr)
        # parameter lists cached once: walking module trees in every update costs more than the maths
        self.actor_params = list(self.actor.parameters())
        self.critic_params = list(self.critic.parameters())
        self.actor_target_params = list(self.actor_target.parameters())
        self.critic_target_params = list(self.critic_target.parameters())
        self.generator = torch.Generator().manual_seed(config.seed)
        self.noise_rng = np.random.default_rng(config.seed + 1)
        self.critic_updates = 0
        self.actor_updates = 0

    def honed_policy(self, base: Policy) -> ResidualPolicy:
        """The current deterministic honed policy (shares the actor's weights)."""
        return ResidualPolicy(base, self.actor, self.device)

    @torch.no_grad()
    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray:
        """Executed action for one env step: base + residual + exploration noise, clipped."""
        obs_t = torch.as_tensor(obs[None], dtype=torch.float32, device=self.device)
        base_t = torch.as_tensor(base_action[None], dtype=torch.float32, device=self.device)
        residual = self.actor(self.actor.normalize_obs(obs_t), base_t)[0].cpu().numpy()
        noise = self.config.explore_noise * self.noise_rng.standard_normal(residual.shape)
        return np.clip(base_action + residual + noise, -1.0, 1.0).astype(np.float32)

    def _target(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        cfg = self.config
        with torch.no_grad():
            residual = self.actor_target(batch["next_obs"], batch["next_base_action"])
            noise = torch.randn(residual.shape, generator=self.generator).to(self.device) * cfg.target_noise
            noise = noise.clamp(-cfg.target_noise_clip, cfg.target_noise_clip)
            next_action = (batch["next_base_action"] + residual + noise).clamp(-1.0, 1.0)
            q_next = self.critic_target(batch["next_obs"], next_action)
            heads = torch.randperm(cfg.num_critics, generator=self.generator)[: cfg.num_target_critics]
            q_min = q_next[heads.to(self.device)].min(dim=0).values
            return batch["reward"] + batch["discount"] * q_min

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One critic update, plus an actor update when the warm-up and delay allow."""
        cfg = self.config
        target = self._target(batch)
        q = self.critic(batch["obs"], batch["action"])
        critic_loss = (q - target).pow(2).mean(dim=1).sum()
        self.critic_optim.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optim.step()
        self.critic_updates += 1
        metrics = {"critic_loss": critic_loss.item(), "q_mean": q.mean().item(), "target_mean": target.mean().item()}

        if self.critic_updates > cfg.critic_warmup and self.critic_updates % cfg.actor_delay == 0:
            residual = self.actor(batch["obs"], batch["base_action"])
            action = (batch["base_action"] + residual).clamp(-1.0, 1.0)
            for param in self.critic_params:  # no critic gradients from the actor loss
                param.requires_grad_(False)
            actor_loss = -self.critic(batch["obs"], action).mean()
            for param in self.critic_params:
                param.requires_grad_(True)
            self.actor_optim.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_optim.step()
            self.actor_updates += 1
            polyak(self.actor_target_params, self.actor_params, cfg.tau)
            metrics.update(actor_loss=actor_loss.item(), residual_abs=residual.abs().mean().item())
        polyak(self.critic_target_params, self.critic_params, cfg.tau)
        return metrics

    def state(self) -> dict[str, Any]:
        return {"critic_updates": self.critic_updates, "actor_updates": self.actor_updates}
