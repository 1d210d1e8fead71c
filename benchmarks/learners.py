"""The learners and the training loop the throughput benchmarks measure, built one way for all of them.

``learner`` is an off-policy learner at a given width, ensemble and mode on metaworld/pick-place's
dimensions; ``synthetic_replay`` fills replay buffers of those dimensions; ``training_loop`` and
``advance`` are honing's own off-policy loop on the task, stepped one env step at a time. Used by
``benchmarks.learner_throughput``, ``update_overhead``, ``adam_kernel``, ``acting_forward``,
``env_step`` (through ``loop_arms``) and ``async_actor``.
"""

from __future__ import annotations

from typing import Any

import torch

from honing.data import collect_demos
from honing.data.normalization import Normalizer
from honing.finetune.actor_process import ActorProcess
from honing.finetune.loop import OffPolicyRun
from honing.finetune.replay import ReplayBuffer
from honing.finetune.residual_td3 import ResidualTD3, ResidualTD3Config
from honing.finetune.rlpd import RLPD, RLPDConfig
from honing.policies.bc_policy import BCPolicy, build_bc_network
from honing.policies.policy_config import PolicyConfig
from honing.tasks import get_task

TASK = "metaworld/pick-place"
BATCH = 256
MODES: dict[str, tuple[bool, str]] = {
    "eager": (False, "float32"),
    "compiled": (True, "float32"),
    "bf16": (False, "bfloat16"),
    "bf16-compiled": (True, "bfloat16"),
}
"""Mode name -> (``compile``, ``precision``)."""
LEARNERS: dict[str, tuple[type, type]] = {"residual-td3": (ResidualTD3, ResidualTD3Config),
                                          "rlpd": (RLPD, RLPDConfig)}  # fmt: skip


def learner(method: str, hidden: tuple[int, ...], ensemble: int, obs_dim: int, act_dim: int, mode: str) -> Any:
    agent_cls, config_cls = LEARNERS[method]
    compile, precision = MODES[mode]
    config = config_cls(num_critics=ensemble, critic_hidden_dims=hidden, batch_size=BATCH, compile=compile,
                        precision=precision)  # fmt: skip
    config.actor.hidden_dims = hidden
    if method == "residual-td3":
        config.critic_warmup = 0  # measure the steady state: actor updates every actor_delay critic updates
    return agent_cls(config, obs_dim, act_dim, Normalizer.identity(obs_dim, act_dim), torch.device("cpu"))


def synthetic_replay(obs_dim: int, act_dim: int) -> tuple[ReplayBuffer, ReplayBuffer]:
    buffers = []
    for size in (2_000, 50_000):
        buffer = ReplayBuffer(size, obs_dim, act_dim, torch.device("cpu"))
        generator = torch.Generator().manual_seed(size)
        for tensor in buffer.data.values():
            tensor.copy_(torch.rand(tensor.shape, generator=generator) * 2 - 1)
        buffer.data["discount"].fill_(0.97)
        buffer.size = size
        buffers.append(buffer)
    return buffers[0], buffers[1]


def demo_episodes() -> list[Any]:
    return collect_demos(TASK, 5, noise=0.3, seed=0).episodes


def training_loop(method: str, utd: int, steps: int, warmup: int, mode: str = "eager", async_actor: bool = False,
                  max_policy_lag: int = 2, options: dict[str, Any] | None = None,
                  ) -> tuple[OffPolicyRun, ActorProcess | None]:  # fmt: skip
    """honing's off-policy loop on the task, ready for :func:`advance` (2x256, 2 heads, batch 256;
    `steps` env steps in all, updates after `warmup`). With `async_actor`, the env runs in an actor
    process up to `max_policy_lag` steps ahead (the run's ``async_actor`` mode); close it after.
    `options`: further config fields of the method (e.g. rlpd's ``actor_every_update``; dotted for
    nested ones, ``actor.layer_norm``)."""
    task = get_task(TASK)
    obs_dim, act_dim = task.spaces()
    episodes = demo_episodes()
    normalizer = Normalizer.from_episodes(episodes)
    base = BCPolicy(build_bc_network(PolicyConfig(), obs_dim, act_dim, normalizer))  # a BC base's cost, untrained
    agent_cls, config_cls = LEARNERS[method]
    compile, precision = MODES[mode]
    config = config_cls(utd=utd, learning_starts=warmup, steps=steps, batch_size=BATCH, compile=compile,
                        precision=precision, async_actor=async_actor, max_policy_lag=max_policy_lag)  # fmt: skip
    if method == "residual-td3":
        config.critic_warmup = 0
    for name, value in (options or {}).items():  # dotted names reach nested configs ("actor.layer_norm")
        *parents, last = name.split(".")
        owner = config
        for parent in parents:
            owner = getattr(owner, parent)
        if not hasattr(owner, last):
            raise ValueError(f"{config_cls.__name__} has no field {name!r}")
        setattr(owner, last, value)
    torch.manual_seed(0)
    torch._dynamo.reset()
    agent = agent_cls(config, obs_dim, act_dim, normalizer, torch.device("cpu"))
    loop = OffPolicyRun(agent, task, base, episodes, normalizer, config, run=None, say=None)
    actor = ActorProcess(loop.collector, None, agent, config) if async_actor else None
    if actor is None:
        loop.collector.new_episode()
    return loop, actor


def advance(loop: OffPolicyRun, actor: ActorProcess | None) -> None:
    """One env step of the loop: take the transition, store it, and update once past the warm-up."""
    loop.step += 1
    loop.ingest(actor.receive()[0] if actor else loop.collector.next())
    if loop.step > loop.config.learning_starts:
        loop.learn()
        if actor:
            actor.step_done()
