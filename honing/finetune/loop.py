"""The off-policy fine-tuning loop every off-policy method shares, so comparisons are fair.

One environment (:class:`~honing.finetune.collector.Collector`), stepped in lockstep with the
learner by default (deterministic for a seed on CPU): ``learning_starts`` steps of warm-up fill the
online buffer (base + uniform noise for methods built on the base, uniform random actions for
methods that learn from scratch), then every env step is followed by ``utd`` updates on
half-demo, half-online batches. With ``async_actor`` the collector runs in an actor process
(:mod:`honing.finetune.actor_process`) up to ``max_policy_lag`` env steps ahead, so env stepping
and updates overlap on two cores; the updates per env step stay exactly ``utd``. Evaluation,
checkpoints and the final comparison are the :class:`~honing.finetune.tracker.RunTracker`'s.

Every ``snapshot_every`` env steps the whole training state is snapshotted (see
:mod:`honing.runs.snapshot`), so a killed run resumes exactly: the episode in progress is rebuilt
by resetting its env with the recorded seed and replaying the recorded actions (simulators are
deterministic), which also replays the base policy's chunk queue.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from honing import seeding
from honing.data.episodes import Episode
from honing.data.normalization import Normalizer
from honing.errors import DivergenceError, HoningError
from honing.finetune.actor_process import ActorProcess, acting_copy, cpu_policy
from honing.finetune.collector import Collector, StepRecord
from honing.finetune.common import OffPolicyConfig
from honing.finetune.replay import NStepAccumulator, ReplayBuffer, demo_transitions, sample_mixed
from honing.finetune.tracker import FinetuneResult, RunTracker, Say
from honing.policies.base import Policy
from honing.runs import snapshot as snap
from honing.runs.rundir import RunDir
from honing.tasks import Task


class OffPolicyAgent(Protocol):
    """What the loop needs from a method's learner."""

    device: torch.device
    critic_updates: int
    uses_base: bool
    """False for methods that learn from scratch: no base actions are computed or cached."""
    snapshot_modules: tuple[str, ...]
    """Attributes holding nn.Modules (or tensors) that a snapshot must save."""
    snapshot_optimizers: tuple[str, ...]
    """Attributes holding optimisers that a snapshot must save."""
    acting_modules: tuple[str, ...]
    """Attributes holding the nn.Modules that ``explore`` reads (what an actor process receives)."""

    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray: ...

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]: ...

    def settle(self) -> dict[str, float]: ...

    def honed_policy(self, base: Policy) -> Policy: ...


class OffPolicyRun:
    """The loop's state in one place, so it can be snapshotted and restored."""

    def __init__(
        self,
        agent: OffPolicyAgent,
        task: Task,
        base: Policy,
        demos: Sequence[Episode],
        normalizer: Normalizer,
        config: OffPolicyConfig,
        run: RunDir | None,
        say: Say | None,
    ) -> None:
        self.agent, self.task, self.base, self.normalizer, self.config, self.run = (
            agent, task, base, normalizer, config, run,
        )  # fmt: skip
        self.tracker = RunTracker(task, base, config, run, say)
        self.generator = torch.Generator().manual_seed(config.seed)
        demo_base = copy.deepcopy(base) if agent.uses_base else None
        demo = demo_transitions(demos, demo_base, normalizer, config.n_step, config.gamma)
        self.demo_buffer = ReplayBuffer(len(demo), base.obs_dim, base.act_dim, agent.device)
        self.demo_buffer.add(demo)
        # the demo buffer is rebuilt, not stored, on resume: its digest proves it came out the same
        self.demo_digest = hashlib.sha256(b"".join(t.cpu().numpy().tobytes() for t in self.demo_buffer.data.values()))
        self.online = ReplayBuffer(min(config.buffer_size, config.steps), base.obs_dim, base.act_dim, agent.device)
        self.accumulator = NStepAccumulator(config.n_step, config.gamma)
        self.tracker.say(f"demo buffer: {len(demo)} transitions from {len(demos)} episodes; "
                         f"online capacity {self.online.capacity}")  # fmt: skip
        if config.async_actor:  # the actor process acts with copies; the learner's own stay untouched
            acting, acting_base = acting_copy(agent), cpu_policy(base)
        else:
            acting, acting_base = agent, base
        self.collector = Collector(acting, task, acting_base, config, seeding.rng(config.seed, "train"))
        self.step = 0
        self.recent_success: deque[bool] = deque(maxlen=20)
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.shield_counts: dict[str, int] = {}
        self.lag_max = 0
        self.collector_state: dict[str, Any] | None = None
        """Set by :meth:`restore` for an actor process to continue from."""

    def ingest(self, record: StepRecord) -> None:
        """Store one env step (n-step windows, normalised observations) and count its outcome."""
        norm = self.normalizer.normalize_obs
        self.online.add(self.accumulator.push(norm(record.obs), record.action, record.base_action, record.reward,
                                              norm(record.next_obs), record.next_base_action, record.terminated,
                                              record.truncated))  # fmt: skip
        for name in record.shield:
            self.shield_counts[name] = self.shield_counts.get(name, 0) + 1
        if record.success is not None:
            self.recent_success.append(record.success)

    def learn(self) -> None:
        cfg = self.config
        for _ in range(cfg.utd):
            batch = sample_mixed(self.demo_buffer, self.online, cfg.batch_size, cfg.demo_fraction, self.generator)
            self.take(self.agent.update(batch))

    def settle(self) -> None:
        """Wait for update work the learner left running (rlpd's ``parallel_update``) and take its metrics:
        before an evaluation, a snapshot, or the end, nothing may read the learner mid-step."""
        self.take(self.agent.settle())

    def take(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            if not math.isfinite(value):
                self.diverged(key, value)
            self.accumulate(key, value)

    def accumulate(self, key: str, value: float) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + value
        self.counts[key] = self.counts.get(key, 0) + 1

    def diverged(self, metric: str, value: float) -> None:
        """Stop cleanly: nothing from the diverged networks is ever saved (snapshots and checkpoints
        refuse non-finite values anyway); name the step, the value and what is left to use."""
        where = "no snapshot or checkpoint was written yet"
        if self.run is not None:
            snapshots = sorted((self.run.path / "state").glob("step-*"))
            last = self.run.checkpoints / "last"
            where = (f"last good snapshot: {snapshots[-1]}" if snapshots else "no snapshot yet") + (
                f"; last good policy: {last}" if last.is_dir() else "")  # fmt: skip
        raise DivergenceError(
            f"training diverged at env step {self.step} (update {self.agent.critic_updates}): {metric} = {value}; "
            f"{where}. Lower the learning rates (critic_lr, actor_lr) or the UTD, or check the rewards"
        )

    def log_train(self) -> None:
        means = {k: self.sums[k] / self.counts[k] for k in self.sums}
        success = float(np.mean(self.recent_success)) if self.recent_success else None
        shield = {f"shield_{name}": count for name, count in self.shield_counts.items()}
        lag = {"policy_lag_max": self.lag_max} if "policy_lag" in means else {}
        self.tracker.log(kind="train", env_steps=self.step, updates=self.agent.critic_updates, train_success=success,
                         steps_per_s=round(self.step / max(self.tracker.elapsed(), 1e-9), 1), **means, **lag,
                         **shield)  # fmt: skip
        self.sums, self.counts, self.shield_counts, self.lag_max = {}, {}, {}, 0

    def advance(self, record: StepRecord, collector_state: Callable[[], dict[str, Any] | None]) -> None:
        """Env step ``step + 1`` happened: store it, update, and log, evaluate or snapshot when due."""
        cfg = self.config
        self.step += 1
        self.ingest(record)
        if self.step > cfg.learning_starts:
            self.learn()
        evaluate = self.step % cfg.eval_every == 0 or self.step == cfg.steps
        snapshot = self.run is not None and (self.step % cfg.snapshot_every == 0 or self.step == cfg.steps)
        if evaluate or snapshot:
            self.settle()
        if self.step % cfg.log_every == 0:
            self.log_train()
        if evaluate:
            self.tracker.record(self.agent.honed_policy, self.step, self.agent.critic_updates)
        if snapshot:
            self.save_snapshot(collector_state())

    def train(self) -> FinetuneResult:
        if self.step == 0:
            self.tracker.record(self.agent.honed_policy, 0, 0)
        if self.config.async_actor:
            self.train_async()
        else:
            if self.step == 0:
                self.collector.new_episode()
            try:
                while self.step < self.config.steps:
                    self.advance(self.collector.next(), self.collector.state)
            finally:
                self.agent.settle()  # no step left running past the loop, whatever ended it
                self.collector.close()
        return self.tracker.finish(self.agent.honed_policy)

    def train_async(self) -> None:
        """The same steps with the env in an actor process; only the weights' age differs (logged)."""
        cfg = self.config
        actor = ActorProcess(self.collector, self.collector_state, self.agent, cfg)
        try:
            while self.step < cfg.steps:
                record, version, state = actor.receive()
                if self.step >= cfg.learning_starts:
                    lag = self.agent.critic_updates - version
                    self.accumulate("policy_lag", lag)
                    self.lag_max = max(self.lag_max, lag)
                self.advance(record, lambda sent=state: sent)  # type: ignore[misc]
                if self.step > cfg.learning_starts:
                    actor.step_done()
        finally:
            actor.close()

    # -- snapshots ---------------------------------------------------------------------------

    def save_snapshot(self, collector: dict[str, Any] | None) -> None:
        """Everything to continue exactly; `collector` is the acting side's :meth:`Collector.state`
        at this very env step (in async mode the actor process sent it with the step)."""
        assert self.run is not None and collector is not None
        tensors: dict[str, torch.Tensor] = {}
        agent: Any = self.agent
        for name in agent.snapshot_modules:
            value = getattr(agent, name)
            if isinstance(value, torch.Tensor):
                tensors[f"agent.{name}"] = value.detach()
            else:
                snap.pack_module(f"agent.{name}", value, tensors)
        optimizers = {name: snap.pack_optimizer(f"optim.{name}", getattr(agent, name), tensors)
                      for name in agent.snapshot_optimizers}  # fmt: skip
        tensors["rng.agent"] = agent.generator.get_state()
        tensors["rng.loop"] = self.generator.get_state()
        size = self.online.size
        for name, tensor in self.online.data.items():
            if size:
                tensors[f"online.{name}"] = tensor[:size]
        pending = list(self.accumulator.pending)
        for index, field in enumerate(("obs", "action", "base_action")):
            if pending:
                tensors[f"pending.{field}"] = torch.as_tensor(np.stack([entry[index] for entry in pending]))
        collector = dict(collector)
        for name in ("episode_actions", "generator"):
            if (value := collector.pop(name)) is not None:
                tensors[f"collector.{name}"] = torch.as_tensor(value)
        meta = {
            "step": self.step,
            "counters": {"critic_updates": agent.critic_updates, "actor_updates": getattr(agent, "actor_updates", 0)},
            "optimizers": optimizers,
            "collector": collector,
            "online": {"size": size, "position": self.online.position},
            "pending_rewards": [entry[3] for entry in pending],
            "recent_success": list(self.recent_success),
            "sums": self.sums,
            "counts": self.counts,
            "shield_counts": self.shield_counts,
            "tracker": self.tracker.state(),
            "metrics_lines": self.run.metric_lines(),
            "demo_digest": self.demo_digest.hexdigest(),
        }
        snap.save_snapshot(self.run.path / "state", self.step, tensors, meta)

    def restore(self, snapshot: snap.Snapshot) -> None:
        """Continue from `snapshot`: every counter, buffer, RNG and network as it was."""
        tensors, meta = snapshot.tensors, snapshot.meta
        if meta["demo_digest"] != self.demo_digest.hexdigest():
            raise HoningError(
                f"the demonstrations or the base policy differ from those {snapshot.path.parent.parent} started with "
                "(the rebuilt demo buffer does not match); resume with the original dataset and base"
            )
        agent: Any = self.agent
        for name in agent.snapshot_modules:
            value = getattr(agent, name)
            if isinstance(value, torch.Tensor):
                with torch.no_grad():
                    value.copy_(tensors[f"agent.{name}"])
            else:
                snap.unpack_module(f"agent.{name}", value, tensors)
        for name, optimizer_meta in meta["optimizers"].items():
            snap.unpack_optimizer(f"optim.{name}", getattr(agent, name), optimizer_meta, tensors)
        self.generator.set_state(tensors["rng.loop"])
        agent.critic_updates = meta["counters"]["critic_updates"]
        agent.actor_updates = meta["counters"]["actor_updates"]
        size = meta["online"]["size"]
        for name, tensor in self.online.data.items():
            if size:
                tensor[:size] = tensors[f"online.{name}"].to(tensor.device)
        self.online.size, self.online.position = size, meta["online"]["position"]
        self.accumulator.pending.clear()
        for index, reward in enumerate(meta["pending_rewards"]):
            self.accumulator.pending.append((tensors["pending.obs"][index].numpy(),
                                             tensors["pending.action"][index].numpy(),
                                             tensors["pending.base_action"][index].numpy(), float(reward)))  # fmt: skip
        self.collector_state = {**meta["collector"], **{
            name: tensors[f"collector.{name}"].numpy() if f"collector.{name}" in tensors else None
            for name in ("episode_actions", "generator")}}  # fmt: skip
        if not self.config.async_actor:  # in sync mode acting shares the learner's streams: restore them now,
            self.collector.restore(self.collector_state)  # then the learner's own last (it wins where shared)
            self.collector_state = None
        agent.generator.set_state(tensors["rng.agent"])
        self.step = int(meta["step"])
        self.recent_success = deque(meta["recent_success"], maxlen=20)
        self.sums, self.counts, self.shield_counts = meta["sums"], meta["counts"], meta["shield_counts"]
        self.tracker.resumed(meta["tracker"], meta["metrics_lines"], f"{snapshot.path} (env step {self.step})")


def run_off_policy(
    agent: OffPolicyAgent,
    task: Task,
    base: Policy,
    demos: Sequence[Episode],
    normalizer: Normalizer,
    config: OffPolicyConfig,
    run: RunDir | None = None,
    say: Say | None = None,
    resume: bool = False,
) -> FinetuneResult:
    """Fine-tune with `agent`; with `resume`, continue from the run directory's newest snapshot."""
    loop = OffPolicyRun(agent, task, base, demos, normalizer, config, run, say)
    latest = snap.resume_point(run, resume)
    if latest is not None:
        loop.restore(latest)
    return loop.train()
