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
from honing.finetune.common import TD3Config
from honing.finetune.updates import adam, frozen, polyak, random_heads
from honing.policies.base import Policy
from honing.policies.ensemble import CriticEnsemble
from honing.policies.residual_policy import ResidualActor, ResidualActorConfig, ResidualPolicy


@dataclass
class ResidualTD3Config(TD3Config):
    """Residual TD3 (ResFiT, Ankile et al. 2025) on a frozen base policy."""

    actor: ResidualActorConfig = field(default_factory=ResidualActorConfig)
    """Residual actor architecture and ``action_scale``."""

    def validate(self) -> None:
        super().validate()
        self.actor.validate()


class ResidualTD3:
    """The learner: residual actor, critic ensemble, their targets and optimisers."""

    snapshot_modules = ("actor", "critic", "actor_target", "critic_target")
    snapshot_optimizers = ("actor_optim", "critic_optim")

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
        self.uses_base = True

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
            q_min = q_next[random_heads(cfg, self.generator, self.device)].min(dim=0).values
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
            with frozen(self.critic_params):
                actor_loss = -self.critic(batch["obs"], action).mean()
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
