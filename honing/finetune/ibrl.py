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

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.finetune.common import TD3Config
from honing.finetune.updates import adam, frozen, polyak, random_heads
from honing.policies.actor import ActorConfig
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


class IBRL:
    """The learner: RL actor and critic ensemble (as one IBRLNetworks), their targets, optimisers."""

    snapshot_modules = ("networks", "actor_target", "critic_target")
    snapshot_optimizers = ("actor_optim", "critic_optim")

    def __init__(
        self, config: IBRLConfig, obs_dim: int, act_dim: int, normalizer: Normalizer, device: torch.device
    ) -> None:
        self.config, self.device = config, device
        self.uses_base = True
        critic = CriticConfig(config.critic_hidden_dims, config.num_critics)
        self.networks = IBRLNetworks(config.actor, critic, obs_dim, act_dim, normalizer).to(device)
        self.actor, self.critic = self.networks.actor, self.networks.critic
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optim = adam(self.actor.parameters(), config.actor_lr)
        self.critic_optim = adam(self.critic.parameters(), config.critic_lr)
        self.actor_params = list(self.actor.parameters())
        self.critic_params = list(self.critic.parameters())
        self.actor_target_params = list(self.actor_target.parameters())
        self.critic_target_params = list(self.critic_target.parameters())
        self.generator = torch.Generator().manual_seed(config.seed)
        self.noise_rng = np.random.default_rng(config.seed + 1)
        self.critic_updates = 0
        self.actor_updates = 0

    def honed_policy(self, base: Policy) -> IBRLPolicy:
        return IBRLPolicy(base, self.networks, self.device)

    @torch.no_grad()
    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray:
        """The better of the base action and the noisy RL action, by the current critic."""
        obs_t = self.actor.normalize_obs(torch.as_tensor(obs[None], dtype=torch.float32, device=self.device))
        rl = self.actor(obs_t)[0].cpu().numpy()
        rl = np.clip(rl + self.config.explore_noise * self.noise_rng.standard_normal(rl.shape), -1.0, 1.0)
        rl_t = torch.as_tensor(rl[None], dtype=torch.float32, device=self.device)
        base_t = torch.as_tensor(base_action[None], dtype=torch.float32, device=self.device)
        return self.networks.choose(obs_t, base_t, rl_t)[0].cpu().numpy().astype(np.float32)

    def _target(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        with torch.no_grad():
            rl = self.actor_target(batch["next_obs"])
            noise = torch.randn(rl.shape, generator=self.generator).to(self.device) * cfg.target_noise
            rl = (rl + noise.clamp(-cfg.target_noise_clip, cfg.target_noise_clip)).clamp(-1.0, 1.0)
            heads = random_heads(cfg, self.generator, self.device)
            q_rl = self.critic_target(batch["next_obs"], rl)[heads].min(dim=0).values
            q_base = self.critic_target(batch["next_obs"], batch["next_base_action"])[heads].min(dim=0).values
            return batch["reward"] + batch["discount"] * torch.maximum(q_rl, q_base), (q_rl > q_base).float()

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.config
        target, rl_wins = self._target(batch)
        q = self.critic(batch["obs"], batch["action"])
        critic_loss = (q - target).pow(2).mean(dim=1).sum()
        self.critic_optim.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optim.step()
        self.critic_updates += 1
        metrics = {"critic_loss": critic_loss.item(), "q_mean": q.mean().item(), "target_mean": target.mean().item(),
                   "rl_bootstrap_share": rl_wins.mean().item()}  # fmt: skip

        if self.critic_updates > cfg.critic_warmup and self.critic_updates % cfg.actor_delay == 0:
            with frozen(self.critic_params):
                actor_loss = -self.critic(batch["obs"], self.actor(batch["obs"])).mean()
            self.actor_optim.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_optim.step()
            self.actor_updates += 1
            polyak(self.actor_target_params, self.actor_params, cfg.tau)
            metrics["actor_loss"] = actor_loss.item()
        polyak(self.critic_target_params, self.critic_params, cfg.tau)
        return metrics

    def state(self) -> dict[str, Any]:
        return {"critic_updates": self.critic_updates, "actor_updates": self.actor_updates}
