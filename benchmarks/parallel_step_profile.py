"""Where an env step of rlpd with ``parallel_update`` goes: the loop's thread, the side thread, each
part timed in the loop and alone.

With ``parallel_update`` the critic's step runs on a side thread while the loop's thread takes the
actor's step, then steps the env and samples the next batch; the next update waits for the
critic's step only if it is still running. So an env step costs what the loop's thread does, unless
the critic's step is longer. This times each part over ``--steps`` env steps of the loop
(metaworld/pick-place, UTD 1, 2x256, 2 critic heads, batch 256, ``--mode``; SB3's networks unless
``--layernorm``), and then the same parts alone, one after another on one thread: the env step
with random actions in a fresh env, the exploration forward on one observation, and each compiled
step on one batch. The difference between the two columns is what running inside the loop costs
each part (caches and predictors that the other parts cleared, the other core's load).

    python -m benchmarks.parallel_step_profile

Writes ``benchmarks/results/parallel_step_profile.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from benchmarks.common import RESULTS, command_line, machine, provenance, save_results, update_section
from benchmarks.learner_throughput import PLAIN
from benchmarks.learners import TASK, advance, training_loop
from honing.finetune.fused import adam_tensors
from honing.finetune.replay import sample_mixed
from honing.finetune.updates import random_heads
from honing.tasks import get_task

PARTS = {
    "actor": "actor's step (loop's thread)",
    "wait": "waiting for the critic's step",
    "env": "env step",
    "explore": "exploration forward",
    "sample": "batch sampling",
    "ingest": "storing the transition",
    "rest": "the rest of the loop's thread (draws, copies of the weights, hand-offs, Python)",
    "critic": "critic's step (side thread)",
}
"""Part -> what it is; every part but ``critic`` is on the loop's thread, and they add up to a step."""


def timed(clock: collections.Counter[str], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, adding its wall-clock seconds to ``clock[name]`` on every call (from any thread)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock[name] += time.perf_counter() - start

    return call


def per_step_ms(clock: collections.Counter[str], total: float, steps: int) -> dict[str, float]:
    """Each part's milliseconds per env step; ``rest`` is the loop's thread's time that no timed part took."""
    ms = {name: 1e3 * clock[name] / steps for name in PARTS if name != "rest"}
    ms["rest"] = 1e3 * total / steps - sum(value for name, value in ms.items() if name != "critic")
    return {name: round(ms[name], 3) for name in PARTS}


def per_call_ms(fn: Callable[[], Any], calls: int) -> float:
    for _ in range(max(calls // 10, 5)):
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return round(1e3 * (time.perf_counter() - start) / calls, 3)


def profile(steps: int, mode: str, layernorm: bool) -> dict[str, Any]:
    options = {"parallel_update": True} | ({} if layernorm else PLAIN)
    loop, _ = training_loop("rlpd", 1, 10**7, 1_000, mode, options=options)
    agent, collector = loop.agent, loop.collector
    while loop.step < 1_300:  # past the warm-up and compilation
        advance(loop, None)
    agent.settle()
    clock: collections.Counter[str] = collections.Counter()
    critic_part, actor_part = agent._parts
    agent._parts = (timed(clock, "critic", critic_part), timed(clock, "actor", actor_part))
    agent.settle = timed(clock, "wait", agent.settle)
    collector.env.step = timed(clock, "env", collector.env.step)
    agent.explore = timed(clock, "explore", agent.explore)
    loop.ingest = timed(clock, "ingest", loop.ingest)
    loop_module = sys.modules[type(loop).__module__]  # the loop samples through its module's name
    loop_module.sample_mixed = timed(clock, "sample", sample_mixed)  # type: ignore[attr-defined]
    try:
        start = time.perf_counter()
        for _ in range(steps):
            advance(loop, None)
        agent.settle()
        total = time.perf_counter() - start
    finally:
        loop_module.sample_mixed = sample_mixed  # type: ignore[attr-defined]
    in_loop = per_step_ms(clock, total, steps)

    # the same parts alone, one after another on this thread
    env = get_task(TASK).make_env(sparse=True)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1.0, 1.0, (steps, 4)).astype(np.float32)

    count = itertools.count()

    def env_step() -> None:
        _, _, terminated, truncated, _ = env.step(actions[next(count) % steps])
        if terminated or truncated:
            env.reset()

    obs, base_action = collector.obs.copy(), collector.base_action
    config = loop.config

    def sample() -> dict[str, torch.Tensor]:
        return sample_mixed(loop.demo_buffer, loop.online, config.batch_size, config.demo_fraction, loop.generator)

    batch = sample()
    shape = batch["action"].shape
    draws = {"next_eps": agent._normal(shape), "heads": random_heads(agent.config, agent.generator, agent.device),
             "eps": agent._normal(shape)}  # fmt: skip
    alpha = agent.log_alpha.exp().detach()
    critic_args = (batch, draws, agent.trained_critic.adam_tensors(), alpha)
    actor_args = (batch, draws, agent.trained_actor.adam_tensors(), adam_tensors(agent.alpha_optim), alpha)
    record = collector.next()
    alone = {
        "env": per_call_ms(env_step, min(steps, 2_000)),
        "explore": per_call_ms(lambda: agent.explore(obs, base_action), 2_000),
        "sample": per_call_ms(sample, 2_000),
        "ingest": per_call_ms(lambda: loop.ingest(record), 2_000),  # the run ends here: copies of one transition
        "actor": per_call_ms(lambda: actor_part(*actor_args), 300),
        "critic": per_call_ms(lambda: critic_part(*critic_args), 300),
    }
    env.close()
    collector.close()
    return {"steps_per_s": round(steps / total, 1), "ms_per_step": round(1e3 * total / steps, 3),
            "in_loop_ms": in_loop, "alone_ms": alone}  # fmt: skip


def report(data: dict[str, Any]) -> str:
    networks = "honing's default LayerNorm networks" if data["layernorm"] else "SB3's networks (no LayerNorm)"
    lines = [
        "### Where an env step of rlpd with `parallel_update` goes",
        "",
        f"{TASK}, UTD 1, 2x256, 2 critic heads, batch 256, {data['mode']}, {networks}; {data['steps']} env steps "
        f"of the loop after the warm-up: **{data['ms_per_step']} ms a step** ({data['steps_per_s']} env steps/s). "
        "Per env step; the loop's thread's parts add up to the step, the critic's step runs beside them. "
        "Alone: each part by itself, one after another on one thread.",
        "",
        "| part | in the loop, ms | alone, ms |",
        "|---|---|---|",
    ]  # fmt: skip
    for name, label in PARTS.items():
        lines.append(f"| {label} | {data['in_loop_ms'][name]} | {data['alone_ms'].get(name, '')} |")
    lines += ["", *provenance(data, "parallel_step_profile")]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3_000, help="timed env steps (default 3000)")
    parser.add_argument("--mode", default="bf16-compiled", help="honing's update mode (benchmarks.learners.MODES)")
    parser.add_argument("--layernorm", action="store_true", help="honing's default networks instead of SB3's")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = {**profile(args.steps, args.mode, args.layernorm), "steps": args.steps, "mode": args.mode,
            "layernorm": args.layernorm, "command": command_line(), "machine": machine()}  # fmt: skip
    save_results(RESULTS / "parallel_step_profile.json", data)
    update_section("parallel-step-profile", report(data))
    print(report(data))


if __name__ == "__main__":
    main()
