"""IBRL (baseline): the frozen BC policy and a TD3 actor both propose; the critic picks.

After *Imitation Bootstrapped Reinforcement Learning* (Hu et al., 2023). The RL actor is learned
from scratch; the BC base is frozen. Acting and bootstrapping both take the better proposal:

    act:     a = argmax_{a ∈ {a_b(s), π(s) + ε}} mean_e Q_e(s, a)
    critic:  y = R^(n) + γ^k (1 - done) · max_{a' ∈ {a_b(s'), π'(s') + ε'}} min_{e ∈ E'} Q'_e(s', a')
    actor:   max  mean_e Q_e(s, π(s)),  every `actor_delay` critic updates after `critic_warmup`

The base action at s' is the one cached in the replay buffer, so the base is never re-run in an
update. The deployed policy keeps the critic to arbitrate (greedy, no noise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.finetune.common import TD3Config
from honing.finetune.fused import Metrics
from honing.finetune.td3 import ActorFn, Batch, TD3Learner
from honing.policies.actor import Actor, ActorConfig
from honing.policies.base import Policy
from honing.policies.ibrl_policy import CriticConfig, IBRLNetworks, IBRLPolicy


def _deterministic_actor() -> ActorConfig:
    return ActorConfig(gaussian=False)


@dataclass
class IBRLConfig(TD3Config):
    """IBRL: TD3 actor from scratch, BC proposals in acting and in the TD target."""

    actor: ActorConfig = field(default_factory=_deterministic_actor)
    """RL actor architecture (deterministic, TD3)."""

    def validate(self) -> None:
        super().validate()
        self.actor.validate()
        if self.actor.gaussian:
            raise ConfigError("ibrl's RL actor is TD3's: set actor.gaussian = false")


class IBRL(TD3Learner):
    """The learner: RL actor and critic ensemble (as one IBRLNetworks), with the shared TD3 machinery."""

    acting_modules = ("networks",)  # the critic arbitrates while acting

    def __init__(
        self, config: IBRLConfig, obs_dim: int, act_dim: int, normalizer: Normalizer, device: torch.device
    ) -> None:
        critic = CriticConfig(config.critic_hidden_dims, config.num_critics, config.critic_layer_norm)
        self.networks = IBRLNetworks(config.actor, critic, obs_dim, act_dim, normalizer).to(device)
        super().__init__(config, self.networks.actor, self.networks.critic, device)
        self.config: IBRLConfig = config
        self.actor: Actor = self.networks.actor

    def honed_policy(self, base: Policy) -> IBRLPolicy:
        return IBRLPolicy(base, self.networks, self.device)

    @torch.no_grad()
    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray:
        """The better of the base action and the noisy RL action, by the current critic."""
        actor = self.networks.actor
        rl = actor.act_one(obs)
        obs_t = actor.normalize_obs(torch.as_tensor(obs[None], dtype=torch.float32, device=self.device))
        rl = np.clip(rl + self.config.explore_noise * self.noise_rng.standard_normal(rl.shape), -1.0, 1.0)
        rl_t = torch.as_tensor(rl[None], dtype=torch.float32, device=self.device)
        base_t = torch.as_tensor(base_action[None], dtype=torch.float32, device=self.device)
        return self.networks.choose(obs_t, base_t, rl_t)[0].cpu().numpy().astype(np.float32)

    def target(self, batch: Batch, draws: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
        rl = (self.actor_target(batch["next_obs"]) + draws["smoothing"]).clamp(-1.0, 1.0)
        heads = draws["heads"]
        q_rl = self.critic_target(batch["next_obs"], rl)[heads].min(dim=0).values
        q_base = self.critic_target(batch["next_obs"], batch["next_base_action"])[heads].min(dim=0).values
        share = (q_rl > q_base).float().mean()
        return batch["reward"] + batch["discount"] * torch.maximum(q_rl, q_base), {"rl_bootstrap_share": share}

    def actor_loss(
        self, batch: Batch, draws: dict[str, torch.Tensor], actor: ActorFn, phase: str
    ) -> tuple[torch.Tensor, Metrics]:
        return -self.critic(batch["obs"], actor(batch["obs"])).mean(), {}
