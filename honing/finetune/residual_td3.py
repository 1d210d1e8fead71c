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

from dataclasses import dataclass, field

import numpy as np
import torch

from honing.data.normalization import Normalizer
from honing.finetune.common import TD3Config, critic_ensemble
from honing.finetune.fused import Metrics
from honing.finetune.td3 import ActorFn, Batch, TD3Learner
from honing.policies.base import Policy
from honing.policies.residual_policy import ResidualActor, ResidualActorConfig, ResidualPolicy


@dataclass
class ResidualTD3Config(TD3Config):
    """Residual TD3 (ResFiT, Ankile et al. 2025) on a frozen base policy."""

    actor: ResidualActorConfig = field(default_factory=ResidualActorConfig)
    """Residual actor architecture and ``action_scale``."""

    def validate(self) -> None:
        super().validate()
        self.actor.validate()


class ResidualTD3(TD3Learner):
    """The learner: residual actor and critic ensemble, with the shared TD3 machinery."""

    def __init__(
        self, config: ResidualTD3Config, obs_dim: int, act_dim: int, normalizer: Normalizer, device: torch.device
    ) -> None:
        actor = ResidualActor(config.actor, obs_dim, act_dim, normalizer).to(device)
        critic = critic_ensemble(config, obs_dim + act_dim).to(device)
        super().__init__(config, actor, critic, device)
        self.config: ResidualTD3Config = config
        self.actor: ResidualActor = actor

    def honed_policy(self, base: Policy) -> ResidualPolicy:
        """The current deterministic honed policy (shares the actor's weights)."""
        return ResidualPolicy(base, self.actor, self.device)

    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray:
        """Executed action for one env step: base + residual + exploration noise, clipped."""
        residual = self.actor.residual_one(obs, base_action)
        noise = self.config.explore_noise * self.noise_rng.standard_normal(residual.shape)
        return np.clip(base_action + residual + noise, -1.0, 1.0).astype(np.float32)

    def target(self, batch: Batch, draws: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
        residual = self.actor_target(batch["next_obs"], batch["next_base_action"])
        next_action = (batch["next_base_action"] + residual + draws["smoothing"]).clamp(-1.0, 1.0)
        q_min = self.critic_target(batch["next_obs"], next_action)[draws["heads"]].min(dim=0).values
        return batch["reward"] + batch["discount"] * q_min, {}

    def actor_loss(
        self, batch: Batch, draws: dict[str, torch.Tensor], actor: ActorFn, phase: str
    ) -> tuple[torch.Tensor, Metrics]:
        residual = actor(batch["obs"], batch["base_action"])
        action = (batch["base_action"] + residual).clamp(-1.0, 1.0)
        return -self.critic(batch["obs"], action).mean(), {"residual_abs": residual.abs().mean()}
