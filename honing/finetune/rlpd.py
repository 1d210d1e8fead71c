"""RLPD-style RL with demos (baseline): SAC from scratch, no base policy.

After *Efficient Online Reinforcement Learning with Offline Data* (Ball et al., 2023): a SAC
agent whose every batch is half demos, half online data (symmetric sampling), with a LayerNorm
critic ensemble and REDQ-style targets (min over a random subset of heads). The BC base is not
used to act or to learn; it only serves as the reference in the final base-vs-honed evaluation.
The ensemble defaults to the one every method shares (2 heads, ``num_critics``); RLPD's own 10
heads and UTD 20 are one ``--set`` away but cost far more per update on a CPU core (measured,
2x256, batch 256, one thread: 10 heads 92 ms, 2 heads 27 ms).

    critic:  Σ_e (Q_e(s, a) - y)^2,  y = R^(n) + γ^k (1 - done) · (min_{e ∈ E'} Q'_e(s', a') - α log π(a'|s')),
             a' ~ π(s')
    actor:   min  α log π(a|s) - mean_e Q_e(s, a),  a ~ π(s)   (once per env step, after the UTD critic updates;
             after every critic update with ``actor_every_update``)
    α:       min  -α (log π(a|s) + H_target)

The sparse-reward, n-step harness is the one every method shares (``OffPolicyConfig``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.finetune.common import OffPolicyConfig, require
from honing.finetune.fused import AdamTensors, Bound, FusedUpdate, Metrics, Trained, adam_, adam_tensors
from honing.finetune.updates import adam, polyak, random_heads
from honing.policies.actor import Actor, ActorConfig, ActorPolicy
from honing.policies.base import Policy
from honing.policies.ensemble import CriticEnsemble


@dataclass
class RLPDConfig(OffPolicyConfig):
    """SAC with symmetric demo sampling and a LayerNorm critic ensemble (RLPD)."""

    actor: ActorConfig = field(default_factory=ActorConfig)
    """Gaussian actor architecture."""
    learning_starts: int = 5_000
    """Env steps of uniformly random actions before any update (there is no base to act)."""
    actor_lr: float = 3e-4
    """Actor learning rate (Adam)."""
    temperature_lr: float = 3e-4
    """Learning rate of the entropy temperature α."""
    init_temperature: float = 0.05
    """Initial α. RLPD starts at 1.0 but decays it over UTD 20; at UTD 1 the entropy bonus then
    swamps a sparse reward (measured on toy/reach, 20k steps: 1.0 ends at 0%, 0.05 reaches 100% at 16k)."""
    target_entropy: float | None = None
    """Entropy target H_target; None means -act_dim / 2 (as in RLPD)."""
    backup_entropy: bool = True
    """Include the -α log π term in the TD target (soft backup)."""
    actor_every_update: bool = False
    """Move the actor and α with every critic update, as SAC's original schedule and Stable-Baselines3's
    ``gradient_steps`` do, instead of once per env step after the `utd` critic updates (RLPD's recipe).
    The same at UTD 1; at UTD > 1 it costs `utd` actor steps per env step, the work SB3's SAC does."""

    def validate(self) -> None:
        super().validate()
        self.actor.validate()
        if not self.actor.gaussian:
            raise ConfigError("rlpd is SAC: it needs a Gaussian actor (actor.gaussian = true)")
        require(self, ("actor_lr", "temperature_lr", "init_temperature"), positive=True)


class RLPD(FusedUpdate):
    """The learner: Gaussian actor, critic ensemble with targets, and the entropy temperature."""

    snapshot_modules = ("actor", "critic", "critic_target", "log_alpha")
    acting_modules = ("actor",)
    snapshot_optimizers = ("actor_optim", "critic_optim", "alpha_optim")

    def __init__(
        self, config: RLPDConfig, obs_dim: int, act_dim: int, normalizer: Normalizer, device: torch.device
    ) -> None:
        self.config, self.device = config, device
        self.uses_base = False
        self.actor = Actor(config.actor, obs_dim, act_dim, normalizer).to(device)
        self.critic = CriticEnsemble(obs_dim + act_dim, config.critic_hidden_dims, config.num_critics).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(float(np.log(config.init_temperature)), device=device, requires_grad=True)
        self.target_entropy = config.target_entropy if config.target_entropy is not None else -act_dim / 2
        self.actor_optim = adam(self.actor.parameters(), config.actor_lr)
        self.critic_optim = adam(self.critic.parameters(), config.critic_lr)
        self.alpha_optim = adam([self.log_alpha], config.temperature_lr)
        self.critic_params = list(self.critic.parameters())
        self.critic_target_params = list(self.critic_target.parameters())
        self.trained_actor = Trained(Bound(self.actor, "sample"), self.actor_optim)
        self.trained_critic = Trained(self.critic, self.critic_optim)
        self.prepare_update(config, device)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.critic_updates = 0
        self.actor_updates = 0

    def honed_policy(self, base: Policy) -> ActorPolicy:
        """The deterministic actor (tanh of the mean); the base plays no part."""
        return ActorPolicy(self.actor, self.device)

    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray:
        """A sample from the stochastic actor."""
        eps = torch.randn((1, self.actor.act_dim), generator=self.generator)
        return self.actor.act_one(obs, eps).astype(np.float32)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One critic update; the actor and α move once per env step (every `utd` critic updates), or with
        every critic update (``actor_every_update``)."""
        self.critic_updates += 1
        actor_step = self.config.actor_every_update or self.critic_updates % self.config.utd == 0
        shape = batch["action"].shape
        # drawn in the order the steps read them: next actions, REDQ heads, current actions
        draws = {"next_eps": self._normal(shape), "heads": random_heads(self.config, self.generator, self.device)}
        states = [self.trained_critic.adam_tensors()]
        if actor_step:
            draws["eps"] = self._normal(shape)
            states += [self.trained_actor.adam_tensors(), adam_tensors(self.alpha_optim)]
        metrics = self.run_step(batch, draws, *states)
        self.actor_updates += actor_step
        return metrics

    def _normal(self, shape: torch.Size) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator).to(self.device)

    def target(
        self, batch: dict[str, torch.Tensor], draws: dict[str, torch.Tensor], alpha: torch.Tensor
    ) -> torch.Tensor:
        """The soft TD target: REDQ min over the drawn heads at a' ~ π(s'), minus α log π(a'|s')."""
        next_action, next_log_prob = self.actor.sample(batch["next_obs"], eps=draws["next_eps"])
        q_min = self.critic_target(batch["next_obs"], next_action)[draws["heads"]].min(dim=0).values
        if self.config.backup_entropy:
            q_min = q_min - alpha * next_log_prob
        return batch["reward"] + batch["discount"] * q_min

    def fused_step(
        self, batch: dict[str, torch.Tensor], draws: dict[str, torch.Tensor], critic_state: AdamTensors,
        actor_state: AdamTensors | None = None, alpha_state: AdamTensors | None = None,
    ) -> Metrics:  # fmt: skip
        cfg = self.config
        alpha = self.log_alpha.exp()
        target = self.target(batch, draws, alpha)

        def critic_loss(critic: Callable[..., torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
            q = critic(batch["obs"], batch["action"])
            return (q - target).pow(2).mean(dim=1).sum(), {"q_mean": q.mean()}

        loss, metrics = self.trained_critic.step(critic_loss, critic_state)
        metrics = {"critic_loss": loss, **metrics, "target_mean": target.mean()}
        polyak(self.critic_target_params, self.critic_params, cfg.tau)
        if actor_state is None or alpha_state is None:
            return metrics

        def actor_loss(sample: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, Metrics]:
            action, log_prob = sample(batch["obs"], eps=draws["eps"])
            loss = (alpha * log_prob - self.critic(batch["obs"], action).mean(dim=0)).mean()
            return loss, {"log_prob": log_prob.detach()}

        loss, out = self.trained_actor.step(actor_loss, actor_state)
        log_prob = out["log_prob"]
        # α's loss -(log α (log π + H)).mean() has the gradient -(log π + H).mean() in log α
        alpha_grad = -(log_prob + self.target_entropy).mean()
        group = self.alpha_optim.param_groups[0]
        adam_(alpha_state, [alpha_grad], float(group["lr"]), tuple(group["betas"]), float(group["eps"]))
        return {**metrics, "actor_loss": loss, "alpha": alpha, "entropy": -log_prob.mean()}
