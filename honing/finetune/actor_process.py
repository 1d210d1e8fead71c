"""An actor process that steps the env while the learner updates, so both cores work.

The learner (this process) keeps replay, updates, evaluation and snapshots; the child runs a
:class:`~honing.finetune.collector.Collector` with CPU copies of the base and of the learner's
acting networks. Per env step the child sends one record through a queue; after the learner has
done that step's ``utd`` updates it publishes the acting weights into shared memory and returns
one credit. The child holds ``max_policy_lag`` credits, so:

- it is never more than ``max_policy_lag`` env steps ahead of the learner, and acts with weights
  at most ``max_policy_lag * utd`` updates old (the lag of every step is logged);
- the learner still does exactly ``utd`` updates per env step (the same total as the
  synchronous loop), so results stay comparable;
- with ``max_policy_lag = 1`` the child waits for every update: the data and updates equal the
  synchronous loop's for methods whose exploration draws only from their own noise stream.

Linux only (the child is forked: it inherits the task, base and networks without pickling them,
and it never touches CUDA, whose runtime does not survive a fork).
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import queue
import traceback
from typing import Any

import torch
from torch import nn

from honing.errors import ConfigError, HoningError
from honing.finetune.collector import Collector, StepRecord
from honing.finetune.common import OffPolicyConfig
from honing.policies.base import Policy
from honing.policies.bc_policy import BCPolicy

CPU = torch.device("cpu")


def cpu_policy(base: Policy) -> Policy:
    """A CPU copy of the base for the actor process."""
    if isinstance(base, BCPolicy):
        return BCPolicy(copy.deepcopy(base.network).to(CPU), CPU, seed=base.seed)
    device = getattr(base, "device", CPU)
    if torch.device(device).type != "cpu":
        raise ConfigError(f"async_actor cannot move a {type(base).__name__} on {device} to the actor process's CPU; "
                          "use a BC checkpoint as the base or set async_actor = false")  # fmt: skip
    return copy.deepcopy(base)


def acting_copy(agent: Any) -> Any:
    """A shallow copy of the learner whose acting modules and random streams are its own, on CPU."""
    proxy = copy.copy(agent)
    proxy.device = CPU
    for name in agent.acting_modules:
        setattr(proxy, name, copy.deepcopy(getattr(agent, name)).to(CPU).requires_grad_(False))
    if hasattr(agent, "noise_rng"):
        proxy.noise_rng = copy.deepcopy(agent.noise_rng)
    proxy.generator = torch.Generator().manual_seed(0)
    proxy.generator.set_state(agent.generator.get_state())
    return proxy


def module_tensors(agent: Any) -> list[torch.Tensor]:
    """Parameters and buffers of `agent`'s acting modules, in one fixed order."""
    modules: list[nn.Module] = [getattr(agent, name) for name in agent.acting_modules]
    return [t for m in modules for t in (*m.parameters(), *m.buffers())]


class SharedWeights:
    """The acting weights in one shared-memory vector, versioned by the learner's update count."""

    def __init__(self, ctx: Any, like: list[torch.Tensor]) -> None:
        self.flat = torch.zeros(sum(t.numel() for t in like)).share_memory_()
        self.lock = ctx.Lock()
        self.version = ctx.Value("q", -1, lock=False)

    def publish(self, sources: list[torch.Tensor], version: int) -> None:
        vector = torch.cat([t.detach().reshape(-1) for t in sources])
        with self.lock:
            self.flat.copy_(vector)
            self.version.value = version

    def pull(self, targets: list[torch.Tensor]) -> int:
        with self.lock, torch.no_grad():
            offset = 0
            for t in targets:
                t.copy_(self.flat[offset : offset + t.numel()].view_as(t))
                offset += t.numel()
            return int(self.version.value)


def _actor_main(collector: Collector, start: dict[str, Any] | None, weights: SharedWeights, channel: Any,
                credits: Any, stop: Any, steps: int, snapshot_every: int) -> None:  # fmt: skip
    """The child: step, send, and wait for a credit once learning has started."""
    torch.set_num_threads(1)
    agent: Any = collector.agent
    targets, seen = module_tensors(agent), -1
    try:
        collector.begin(start)
        while collector.step < steps and not stop.is_set():
            if collector.step + 1 > collector.config.learning_starts:
                while not credits.acquire(timeout=0.2):
                    if stop.is_set():
                        return
            if weights.version.value != seen:
                seen = weights.pull(targets)
                agent.critic_updates = seen  # counters some methods act on (demo-reg's hand-over)
            record = collector.next()
            last = collector.step % snapshot_every == 0 or collector.step == steps
            channel.put(("step", record, seen, collector.state() if last else None))
    except BaseException as error:  # whatever it was, the learner must hear of it
        channel.put(("error", f"{type(error).__name__}: {error}", traceback.format_exc()))
    finally:
        collector.close()


class ActorProcess:
    """The learner's handle on the actor process: receive records, publish weights, return credits."""

    def __init__(self, collector: Collector, start: dict[str, Any] | None, agent: Any, config: OffPolicyConfig):
        """Fork the child for `collector` (fresh episode, or `start`: a snapshot's collector state)."""
        ctx = mp.get_context("fork")  # the config's validate() checked it exists
        self.agent = agent
        self.sources = module_tensors(agent)
        self.weights = SharedWeights(ctx, self.sources)
        self.publish()
        self.channel = ctx.Queue()
        self.credits = ctx.Semaphore(config.max_policy_lag)
        self.stop = ctx.Event()
        args = (collector, start, self.weights, self.channel, self.credits, self.stop, config.steps,
                config.snapshot_every)  # fmt: skip
        self.process = ctx.Process(target=_actor_main, args=args, name="honing-actor", daemon=True)
        self.process.start()

    def publish(self) -> None:
        self.weights.publish(self.sources, self.agent.critic_updates)

    def receive(self) -> tuple[StepRecord, int, dict[str, Any] | None]:
        """The next env step, the update count of the weights it was taken with, and (at snapshot
        steps) the collector's state right after it."""
        while True:
            try:
                message = self.channel.get(timeout=1.0)
            except queue.Empty:
                if not self.process.is_alive():
                    raise HoningError(
                        f"the actor process exited (code {self.process.exitcode}) without a word; "
                        "rerun with async_actor = false to see the error in this process"
                    ) from None
                continue
            if message[0] == "error":
                raise HoningError(f"the actor process failed: {message[1]} (its traceback:)\n{message[2]}")
            return message[1], message[2], message[3]

    def step_done(self) -> None:
        """The learner finished this env step's updates: publish them, let the actor take one more step."""
        self.publish()
        self.credits.release()

    def close(self) -> None:
        self.stop.set()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.channel.cancel_join_thread()
        self.channel.close()
