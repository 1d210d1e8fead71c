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
    actor:   min  α log π(a|s) - mean_e Q_e(s, a),  a ~ π(s)   (once per env step, after the UTD critic updates)
    α:       min  -α (log π(a|s) + H_target)

The sparse-reward, n-step harness is the one every method shares (``OffPolicyConfig``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.finetune.common import OffPolicyConfig, require
from honing.finetune.updates import CompiledUpdate, adam, frozen, polyak, random_heads, sac_policy_step
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

    def validate(self) -> None:
        super().validate()
        self.actor.validate()
        if not self.actor.gaussian:
            raise ConfigError("rlpd is SAC: it needs a Gaussian actor (actor.gaussian = true)")
        require(self, ("actor_lr", "temperature_lr", "init_temperature"), positive=True)


class RLPD(CompiledUpdate):
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
        self.compile_update(("policy_sample", "critic", "critic_target"), config, device)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.critic_updates = 0
        self.actor_updates = 0

    def honed_policy(self, base: Policy) -> ActorPolicy:
        """The deterministic actor (tanh of the mean); the base plays no part."""
        return ActorPolicy(self.actor, self.device)

    @torch.no_grad()
    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray:
        """A sample from the stochastic actor."""
        obs_t = torch.as_tensor(obs[None], dtype=torch.float32, device=self.device)
        action, _ = self.actor.sample(self.actor.normalize_obs(obs_t), self.generator)
        return action[0].cpu().numpy().astype(np.float32)

    def policy_sample(self, norm_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """An action from the stochastic actor and its log-probability, drawn with the learner's generator."""
        return self.actor.sample(norm_obs, self.generator)

    def _target(self, batch: dict[str, torch.Tensor], alpha: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            next_action, next_log_prob = self.fast("policy_sample")(batch["next_obs"])
            q_next = self.fast("critic_target")(batch["next_obs"], next_action)
            q_min = q_next[random_heads(self.config, self.generator, self.device)].min(dim=0).values
            if self.config.backup_entropy:
                q_min = q_min - alpha * next_log_prob
            return batch["reward"] + batch["discount"] * q_min

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One critic update; the actor and α move once per env step (every `utd` critic updates)."""
        cfg = self.config
        alpha = self.log_alpha.exp().detach()
        target = self._target(batch, alpha)
        q = self.fast("critic")(batch["obs"], batch["action"])
        critic_loss = (q - target).pow(2).mean(dim=1).sum()
        self.critic_optim.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optim.step()
        polyak(self.critic_target_params, self.critic_params, cfg.tau)
        self.critic_updates += 1
        metrics = {"critic_loss": critic_loss.item(), "q_mean": q.mean().item(), "target_mean": target.mean().item()}

        if self.critic_updates % cfg.utd == 0:
            action, log_prob = self.fast("policy_sample")(batch["obs"])
            with frozen(self.critic_params):
                actor_loss = (alpha * log_prob - self.fast("critic")(batch["obs"], action).mean(dim=0)).mean()
            sac_policy_step(
                actor_loss, log_prob, self.log_alpha, self.target_entropy, self.actor_optim, self.alpha_optim
            )
            self.actor_updates += 1
            metrics.update(actor_loss=actor_loss.item(), alpha=alpha.item(), entropy=-log_prob.mean().item())
        return metrics
