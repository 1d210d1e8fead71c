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
import warnings
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field

import numpy as np
import torch

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.finetune.common import OffPolicyConfig, critic_ensemble, require
from honing.finetune.direct_call import DirectCompiled
from honing.finetune.fused import AdamTensors, Bound, FusedUpdate, Metrics, Trained, adam_, adam_tensors, to_floats
from honing.finetune.side_thread import SideThread, one_thread
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
    parallel_update: bool = False
    """Take the critic's and the actor's steps of an update at the same time, on two threads (a core
    each, one intra-op thread each): the actor's step then reads the critic as it was before this
    update's critic step (simultaneous instead of alternating actor-critic steps; everything else,
    the targets' π and α included, as before). The same work per update; deterministic for a seed.
    Torch is set to one intra-op thread for the process. Compiled, each step is its own graph, run
    without Python's lock; eager, the two threads contend for the lock between torch's ops, and the
    update takes about as long as an alternating one on two intra-op threads.
    Not with ``async_actor``, which takes the second core for the env. At UTD > 1 it pays only with
    ``actor_every_update``: with RLPD's recipe the updates without an actor step have nothing to
    overlap and take the critic's step on one thread (a warning says so)."""

    def validate(self) -> None:
        super().validate()
        self.actor.validate()
        if not self.actor.gaussian:
            raise ConfigError("rlpd is SAC: it needs a Gaussian actor (actor.gaussian = true)")
        require(self, ("actor_lr", "temperature_lr", "init_temperature"), positive=True)
        if self.parallel_update and self.async_actor:
            raise ConfigError("parallel_update and async_actor both want the second core (for the actor's step, "
                              "for the env): set one of them to false")  # fmt: skip


def warn_nothing_to_overlap(config: RLPDConfig) -> None:
    """Say so when ``parallel_update`` would slow the run: a warning, as the maths is unaffected.

    With RLPD's recipe at UTD n only one update in n has an actor step to overlap with the critic's;
    the others take the critic's step alone, on the one intra-op thread the parallel update keeps,
    where the alternating update has two (measured at UTD 4, metaworld/pick-place: 49.9 env steps/s
    against 71.4; BENCHMARKS.md, learner throughput on the second machine).
    """
    if config.utd > 1 and not config.actor_every_update:
        warnings.warn(f"parallel_update at utd = {config.utd} without actor_every_update: only 1 update in "
                      f"{config.utd} has an actor step to overlap, the others run the critic's step on one thread, "
                      "slower than the alternating update on two; set actor_every_update = true (SAC's own "
                      "schedule) or parallel_update = false", RuntimeWarning, stacklevel=3)  # fmt: skip


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
        self.critic = critic_ensemble(config, obs_dim + act_dim).to(device)
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
        if config.parallel_update:  # each step its own graph, since they run on two threads
            warn_nothing_to_overlap(config)
            self.actor_view = copy.deepcopy(self.actor).requires_grad_(False)
            self.critic_view = copy.deepcopy(self.critic).requires_grad_(False)
            # (copy, weights) lists walked once, as the other cached parameter lists: a snapshot loads in place
            self._views = [(list(self.actor_view.parameters()), list(self.actor.parameters())),
                           (list(self.critic_view.parameters()), self.critic_params)]  # fmt: skip
            parts = (self._contained_critic_step, self._contained_actor_step)
            self._parts = tuple(DirectCompiled(part, release_gil=True) for part in parts) if config.compile else parts
            self._side = SideThread()
        self._pending: futures.Future[Metrics] | None = None
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
        every critic update (``actor_every_update``). With ``parallel_update`` the critic's step runs on
        while the loop acts: its metrics come with the next update, or from :meth:`settle`."""
        earlier = self.settle()
        self.critic_updates += 1
        actor_step = self.config.actor_every_update or self.critic_updates % self.config.utd == 0
        shape = batch["action"].shape
        # drawn in the order the steps read them: next actions, REDQ heads, current actions
        draws = {"next_eps": self._normal(shape), "heads": random_heads(self.config, self.generator, self.device)}
        states = [self.trained_critic.adam_tensors()]
        if actor_step:
            draws["eps"] = self._normal(shape)
            states += [self.trained_actor.adam_tensors(), adam_tensors(self.alpha_optim)]
        metrics = self._parallel_step(batch, draws, *states) if self.config.parallel_update else self.run_step(
            batch, draws, *states)  # fmt: skip
        self.actor_updates += actor_step
        return {**earlier, **metrics}

    def settle(self) -> dict[str, float]:
        critic, self._pending = self._pending, None
        return to_floats(critic.result()) if critic is not None else {}

    def _parallel_step(
        self, batch: dict[str, torch.Tensor], draws: dict[str, torch.Tensor], critic_state: AdamTensors,
        actor_state: AdamTensors | None = None, alpha_state: AdamTensors | None = None,
    ) -> dict[str, float]:  # fmt: skip
        """The critic's step on the side thread, the actor's here, each reading a copy of the other's weights
        as they were; returns the actor's metrics, the critic's step left running (see :meth:`settle`).
        Before dynamo has compiled both (it compiles on one thread at a time) they run here, one after the
        other: the same maths, on the same single intra-op thread."""
        one_thread()
        with torch.no_grad():
            for view, weights in self._views:
                torch._foreach_copy_(view, weights)
            alpha = self.log_alpha.exp()
        critic_args = (batch, draws, critic_state, alpha)
        actor_args = None if actor_state is None else (batch, draws, actor_state, alpha_state, alpha)
        critic_part, actor_part = self._parts
        calls = [(critic_part, critic_args)] + ([(actor_part, actor_args)] if actor_args is not None else [])
        side = all(not isinstance(part, DirectCompiled) or part.goes_direct(*args) for part, args in calls)
        if not side:
            metrics = {} if actor_args is None else {**actor_part(*actor_args), "alpha": alpha}
            return to_floats({**critic_part(*critic_args), **metrics})
        critic = self._side.submit(critic_part, *critic_args)
        try:
            metrics = {} if actor_args is None else {**actor_part(*actor_args), "alpha": alpha}
        except BaseException:
            futures.wait([critic])  # nothing returns while the critic's step still writes
            raise
        self._pending = critic  # left running while the loop acts; the next update (or settle) waits for it
        return to_floats(metrics)

    def _contained_critic_step(
        self, batch: dict[str, torch.Tensor], draws: dict[str, torch.Tensor], critic_state: AdamTensors,
        alpha: torch.Tensor,
    ) -> Metrics:  # fmt: skip
        with torch.no_grad(), self.update_precision():
            return self.critic_step(batch, draws, critic_state, alpha, self.actor_view)

    def _contained_actor_step(
        self, batch: dict[str, torch.Tensor], draws: dict[str, torch.Tensor], actor_state: AdamTensors,
        alpha_state: AdamTensors, alpha: torch.Tensor,
    ) -> Metrics:  # fmt: skip
        with torch.no_grad(), self.update_precision():
            return self.actor_step(batch, draws, actor_state, alpha_state, alpha, self.critic_view)

    def _normal(self, shape: torch.Size) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator).to(self.device)

    def target(
        self, batch: dict[str, torch.Tensor], draws: dict[str, torch.Tensor], alpha: torch.Tensor, actor: Actor
    ) -> torch.Tensor:
        """The soft TD target: REDQ min over the drawn heads at a' ~ π(s'), minus α log π(a'|s')."""
        next_action, next_log_prob = actor.sample(batch["next_obs"], eps=draws["next_eps"])
        q_min = self.critic_target(batch["next_obs"], next_action)[draws["heads"]].min(dim=0).values
        if self.config.backup_entropy:
            q_min = q_min - alpha * next_log_prob
        return batch["reward"] + batch["discount"] * q_min

    def fused_step(
        self, batch: dict[str, torch.Tensor], draws: dict[str, torch.Tensor], critic_state: AdamTensors,
        actor_state: AdamTensors | None = None, alpha_state: AdamTensors | None = None,
    ) -> Metrics:  # fmt: skip
        alpha = self.log_alpha.exp()
        metrics = self.critic_step(batch, draws, critic_state, alpha, self.actor)
        if actor_state is None or alpha_state is None:
            return metrics
        actor_metrics = self.actor_step(batch, draws, actor_state, alpha_state, alpha, self.critic)
        return {**metrics, **actor_metrics, "alpha": alpha}

    def critic_step(
        self, batch: dict[str, torch.Tensor], draws: dict[str, torch.Tensor], critic_state: AdamTensors,
        alpha: torch.Tensor, actor: Actor,
    ) -> Metrics:  # fmt: skip
        """One critic step towards targets drawn from `actor`, then the targets' Polyak step."""
        target = self.target(batch, draws, alpha, actor)

        def critic_loss(critic: Callable[..., torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
            q = critic(batch["obs"], batch["action"])
            return (q - target).pow(2).mean(dim=1).sum(), {"q_mean": q.mean()}

        loss, metrics = self.trained_critic.step(critic_loss, critic_state)
        polyak(self.critic_target_params, self.critic_params, self.config.tau)
        return {"critic_loss": loss, **metrics, "target_mean": target.mean()}

    def actor_step(
        self, batch: dict[str, torch.Tensor], draws: dict[str, torch.Tensor], actor_state: AdamTensors,
        alpha_state: AdamTensors, alpha: torch.Tensor, critic: CriticEnsemble,
    ) -> Metrics:  # fmt: skip
        """One actor step against `critic`, then α's step."""

        def actor_loss(sample: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, Metrics]:
            action, log_prob = sample(batch["obs"], eps=draws["eps"])
            loss = (alpha * log_prob - critic(batch["obs"], action).mean(dim=0)).mean()
            return loss, {"log_prob": log_prob.detach()}

        loss, out = self.trained_actor.step(actor_loss, actor_state)
        log_prob = out["log_prob"]
        # α's loss -(log α (log π + H)).mean() has the gradient -(log π + H).mean() in log α
        alpha_grad = -(log_prob + self.target_entropy).mean()
        group = self.alpha_optim.param_groups[0]
        adam_(alpha_state, [alpha_grad], float(group["lr"]), tuple(group["betas"]), float(group["eps"]))
        return {"actor_loss": loss, "entropy": -log_prob.mean()}
