"""The TD3 learner that residual-td3 and ibrl share: targets, optimisers, delayed actor, Polyak.

A method supplies its actor and critic and two pieces of maths: the TD target and the actor
loss. Everything else (critic step, critic-only warm-up, actor delay, target networks, the cached
parameter lists, RNGs, counters, what a snapshot saves) is here once.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from honing.finetune.common import TD3Config
from honing.finetune.updates import CompiledUpdate, adam, frozen, polyak
from honing.policies.ensemble import CriticEnsemble


class TD3Learner(CompiledUpdate):
    """Deterministic actor + critic ensemble with targets; subclasses define `target` and `actor_loss`."""

    snapshot_modules = ("actor", "critic", "actor_target", "critic_target")
    snapshot_optimizers = ("actor_optim", "critic_optim")
    acting_modules: tuple[str, ...] = ("actor",)
    """What exploration reads: the weights an actor process receives after every env step's updates."""
    uses_base = True

    def __init__(self, config: TD3Config, actor: nn.Module, critic: CriticEnsemble, device: torch.device) -> None:
        self.config, self.device = config, device
        self.actor, self.critic = actor, critic
        self.actor_target = copy.deepcopy(actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(critic).requires_grad_(False)
        self.actor_optim = adam(actor.parameters(), config.actor_lr)
        self.critic_optim = adam(critic.parameters(), config.critic_lr)
        # parameter lists cached once: walking module trees in every update costs more than the maths
        self.actor_params = list(actor.parameters())
        self.critic_params = list(critic.parameters())
        self.actor_target_params = list(self.actor_target.parameters())
        self.critic_target_params = list(self.critic_target.parameters())
        self.compile_update(("actor", "critic", "actor_target", "critic_target"), config, device)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.noise_rng = np.random.default_rng(config.seed + 1)
        self.critic_updates = 0
        self.actor_updates = 0

    def smoothing_noise(self, like: torch.Tensor) -> torch.Tensor:
        """TD3 target policy smoothing: N(0, target_noise^2) clipped to ±target_noise_clip."""
        cfg = self.config
        noise = torch.randn(like.shape, generator=self.generator).to(self.device) * cfg.target_noise
        return noise.clamp(-cfg.target_noise_clip, cfg.target_noise_clip)

    def target(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The TD target y for every transition (no gradients), and metrics about it."""
        raise NotImplementedError

    def actor_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss the actor minimises (the critic is frozen while it is computed), and metrics."""
        raise NotImplementedError

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One critic update, plus an actor update when the warm-up and delay allow."""
        cfg = self.config
        with torch.no_grad():
            target, metrics = self.target(batch)
        q = self.fast("critic")(batch["obs"], batch["action"])
        critic_loss = (q - target).pow(2).mean(dim=1).sum()
        self.critic_optim.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optim.step()
        self.critic_updates += 1
        metrics.update(critic_loss=critic_loss.item(), q_mean=q.mean().item(), target_mean=target.mean().item())

        if self.critic_updates > cfg.critic_warmup and self.critic_updates % cfg.actor_delay == 0:
            with frozen(self.critic_params):
                actor_loss, actor_metrics = self.actor_loss(batch)
            self.actor_optim.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_optim.step()
            self.actor_updates += 1
            polyak(self.actor_target_params, self.actor_params, cfg.tau)
            metrics.update(actor_loss=actor_loss.item(), **actor_metrics)
        polyak(self.critic_target_params, self.critic_params, cfg.tau)
        return metrics
