"""Demonstration-regularised off-policy RL: TD3 whose actor is pulled towards the BC policy.

After TD3+BC (Fujimoto & Gu, *A Minimalist Approach to Offline RL*, 2021), used online with the
demo/online half-batches of the shared loop, as in demo-augmented actor-critic methods (e.g.
Nair et al. 2018, Rajeswaran et al. 2018). The actor is deterministic, so the regulariser is the
squared error to the BC policy's action (the KL between two deterministic policies is undefined;
for Gaussian policies the squared error is the KL up to scale at a fixed std):

    actor:  min  -λ · mean_e Q_e(s, π(s))  +  w(t) · mean_d (π(s) - a_b(s))²_d,   λ = 1 / mean|Q| (detached)
    w(t) = reg_weight                                        while t < reg_decay_start
           linear to reg_weight_final over reg_decay_updates  afterwards (t = actor updates)

``a_b(s)`` is the base action cached in the replay buffer (demo transitions: relabelled by
replaying the base), so the BC policy is never re-run in an update. During the critic warm-up the
actor learns the regulariser alone (it is distilled from the BC policy) while the base, with
exploration noise, keeps acting; the actor takes over once the critic is warm. The deployed policy
is the actor alone: the base is not needed at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.finetune.common import TD3Config, critic_ensemble, require
from honing.finetune.fused import Metrics
from honing.finetune.td3 import ActorFn, Batch, TD3Learner
from honing.policies.actor import Actor, ActorConfig, ActorPolicy
from honing.policies.base import Policy


def _deterministic_actor() -> ActorConfig:
    return ActorConfig(gaussian=False)


@dataclass
class DemoRegConfig(TD3Config):
    """TD3 with a behaviour-cloning regulariser towards the frozen base (TD3+BC, Fujimoto & Gu 2021)."""

    actor: ActorConfig = field(default_factory=_deterministic_actor)
    """RL actor architecture (deterministic, TD3)."""
    reg_weight: float = 0.4
    """w: weight of the squared error to the BC action against the normalised Q term; 0.4 is TD3+BC's
    α = 2.5 (their loss is -α·Q/mean|Q| + MSE). Larger keeps the actor closer to the BC policy."""
    reg_weight_final: float = 0.0
    """Weight reached at the end of the decay (used only when ``reg_decay_updates`` > 0)."""
    reg_decay_start: int = 0
    """Actor updates (after the critic warm-up) before the weight starts to decay."""
    reg_decay_updates: int = 0
    """Actor updates over which the weight decays linearly to ``reg_weight_final`` (0: constant weight)."""
    normalize_q: bool = True
    """Scale the Q term by 1 / mean|Q| (TD3+BC), so ``reg_weight`` means the same for any reward scale."""

    def validate(self) -> None:
        super().validate()
        self.actor.validate()
        if self.actor.gaussian:
            raise ConfigError("demo-reg's actor is TD3's: set actor.gaussian = false")
        require(self, ("reg_weight", "reg_weight_final", "reg_decay_start", "reg_decay_updates"), positive=False)


class DemoReg(TD3Learner):
    """The learner: a from-scratch TD3 actor regularised towards the cached base actions."""

    def __init__(
        self, config: DemoRegConfig, obs_dim: int, act_dim: int, normalizer: Normalizer, device: torch.device
    ) -> None:
        actor = Actor(config.actor, obs_dim, act_dim, normalizer).to(device)
        critic = critic_ensemble(config, obs_dim + act_dim).to(device)
        super().__init__(config, actor, critic, device)
        self.config: DemoRegConfig = config
        self.actor: Actor = actor

    def honed_policy(self, base: Policy) -> ActorPolicy:
        return ActorPolicy(self.actor, self.device)

    @property
    def acting(self) -> bool:
        """The actor acts once the critic warm-up is over (until then it is only being distilled)."""
        return self.critic_updates > self.config.critic_warmup

    def reg_weight(self) -> float:
        """w(t): constant, then a linear decay over ``reg_decay_updates`` actor updates."""
        cfg = self.config
        if cfg.reg_decay_updates == 0:
            return cfg.reg_weight
        progress = min(max(self.actor_updates - cfg.reg_decay_start, 0) / cfg.reg_decay_updates, 1.0)
        return cfg.reg_weight + progress * (cfg.reg_weight_final - cfg.reg_weight)

    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray:
        """Actor (base during the critic warm-up) plus Gaussian exploration noise, clipped."""
        action = self.actor.act_one(obs) if self.acting else base_action
        noise = self.config.explore_noise * self.noise_rng.standard_normal(action.shape)
        return np.clip(action + noise, -1.0, 1.0).astype(np.float32)

    def actor_phase(self) -> str | None:
        """TD3's actor steps once the critic is warm; before that, ``"distil"`` steps on the same delay."""
        if not self.acting and self.critic_updates % self.config.actor_delay == 0:
            return "distil"
        return super().actor_phase()

    def actor_target_tau(self, phase: str) -> float:
        return 1.0 if phase == "distil" else self.config.tau  # while distilling, the target is the actor

    def draws(self, batch: Batch, phase: str | None) -> dict[str, torch.Tensor]:
        # the weight as a tensor: a Python float that decays would recompile a compiled update every step
        return {**super().draws(batch, phase), "reg_weight": torch.tensor(self.reg_weight(), device=self.device)}

    def target(self, batch: Batch, draws: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
        next_action = (self.actor_target(batch["next_obs"]) + draws["smoothing"]).clamp(-1.0, 1.0)
        q_min = self.critic_target(batch["next_obs"], next_action)[draws["heads"]].min(dim=0).values
        return batch["reward"] + batch["discount"] * q_min, {}

    def actor_loss(
        self, batch: Batch, draws: dict[str, torch.Tensor], actor: ActorFn, phase: str
    ) -> tuple[torch.Tensor, Metrics]:
        action = actor(batch["obs"])
        bc = (action - batch["base_action"]).pow(2).mean()
        if phase == "distil":  # critic still warming up: distil the BC policy only
            return bc, {"reg_mse": bc}
        q = self.critic(batch["obs"], action).mean(dim=0)
        scale = 1.0 / q.abs().mean().detach().clamp_min(1e-6) if self.config.normalize_q else 1.0
        weight = draws["reg_weight"]
        return -scale * q.mean() + weight * bc, {"reg_mse": bc, "reg_weight": weight}
