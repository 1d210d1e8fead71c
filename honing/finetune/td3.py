"""The TD3 learner that residual-td3, ibrl and demo-reg share: targets, optimisers, delayed actor, Polyak.

A method supplies its actor and critic and two pieces of maths: the TD target and the actor
loss. Everything else (critic step, critic-only warm-up, actor delay, target networks, random
draws, RNGs, counters, what a snapshot saves) is here once, as one fused update (``fused.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from honing.finetune.common import TD3Config
from honing.finetune.fused import FusedUpdate, Metrics, Trained
from honing.finetune.updates import adam, polyak, random_heads
from honing.policies.ensemble import CriticEnsemble

Batch = dict[str, torch.Tensor]
ActorFn = Callable[..., torch.Tensor]
"""The actor as the actor loss must call it: with the weights being differentiated."""


class TD3Learner(FusedUpdate):
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
        self.trained_actor = Trained(actor, self.actor_optim)
        self.trained_critic = Trained(critic, self.critic_optim)
        # parameter lists cached once: walking module trees in every update costs more than the maths
        self.actor_params = list(actor.parameters())
        self.critic_params = list(critic.parameters())
        self.actor_target_params = list(self.actor_target.parameters())
        self.critic_target_params = list(self.critic_target.parameters())
        self.prepare_update(config, device)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.noise_rng = np.random.default_rng(config.seed + 1)
        self.critic_updates = 0
        self.actor_updates = 0

    def actor_phase(self) -> str | None:
        """What the actor does in this update: ``"rl"`` (its TD3 step) or nothing (None).

        TD3's delay: every ``actor_delay`` critic updates, once ``critic_warmup`` are done.
        """
        cfg = self.config
        due = self.critic_updates % cfg.actor_delay == 0
        return "rl" if due and self.critic_updates > cfg.critic_warmup else None

    def actor_target_tau(self, phase: str) -> float:
        """Polyak rate of the actor's target after an actor step of `phase`."""
        return self.config.tau

    def draws(self, batch: Batch, phase: str | None) -> dict[str, torch.Tensor]:
        """Everything random (or changing) the update reads, made outside the fused step.

        TD3 target smoothing noise N(0, target_noise^2) clipped to ±target_noise_clip, then the
        `num_target_critics` heads whose minimum forms the target (REDQ).
        """
        cfg = self.config
        noise = torch.randn(batch["action"].shape, generator=self.generator).to(self.device) * cfg.target_noise
        heads = random_heads(cfg, self.generator, self.device)
        return {"smoothing": noise.clamp(-cfg.target_noise_clip, cfg.target_noise_clip), "heads": heads}

    def target(self, batch: Batch, draws: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
        """The TD target y for every transition (no gradients), and metrics about it."""
        raise NotImplementedError

    def actor_loss(
        self, batch: Batch, draws: dict[str, torch.Tensor], actor: ActorFn, phase: str
    ) -> tuple[torch.Tensor, Metrics]:
        """The loss `actor` minimises in `phase` (the critic, called directly, is a constant), and metrics."""
        raise NotImplementedError

    def update(self, batch: Batch) -> dict[str, float]:
        """One critic update, plus an actor update when the warm-up and delay allow."""
        self.critic_updates += 1
        phase = self.actor_phase()
        draws = self.draws(batch, phase)
        actor_state = self.trained_actor.adam_tensors() if phase else None
        metrics = self.run_step(batch, draws, phase, self.trained_critic.adam_tensors(), actor_state)
        if phase == "rl":
            self.actor_updates += 1
        return metrics

    def fused_step(self, batch: Batch, draws: dict[str, torch.Tensor], phase: str | None,
                   critic_state: tuple, actor_state: tuple | None) -> Metrics:  # fmt: skip
        target, metrics = self.target(batch, draws)

        def critic_loss(critic: Callable[..., torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
            q = critic(batch["obs"], batch["action"])
            return (q - target).pow(2).mean(dim=1).sum(), {"q_mean": q.mean()}

        loss, critic_metrics = self.trained_critic.step(critic_loss, critic_state)
        metrics.update(critic_loss=loss, **critic_metrics, target_mean=target.mean())
        if phase is not None and actor_state is not None:
            loss, actor_metrics = self.trained_actor.step(
                lambda actor: self.actor_loss(batch, draws, actor, phase), actor_state
            )
            if phase == "rl":
                metrics["actor_loss"] = loss
            metrics.update(actor_metrics)
            polyak(self.actor_target_params, self.actor_params, self.actor_target_tau(phase))
        polyak(self.critic_target_params, self.critic_params, self.config.tau)
        return metrics
