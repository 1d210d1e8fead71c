"""Acting through torch against acting in NumPy: one exploration forward, and the whole loop.

The off-policy loop acts on one observation per env step. Timed inside the loop on a 2-core
Zen 4 VM (rlpd, bfloat16-compiled, UTD 1), the exploration forward took ~0.45 ms of a ~6 ms step,
three times its cost alone: the update just before it has evicted the actor's weights and torch's
dispatch code from the caches. ``honing.policies.numpy_forward`` runs the acting forward of the
MLP actors as a few NumPy calls on views of their weights. This measures, on metaworld/pick-place
with the learners of ``benchmarks.learner_throughput`` (2x256, batch 256, 2 critic heads):

- one ``explore()`` call, alone, for rlpd (Gaussian actor) and residual-td3 (residual actor on a
  base action), torch and NumPy alternating in one process: microseconds per call;
- the training loop's env steps/s at UTD 1 in the given mode and thread count: one worker process
  per (method, arm), each with its own loop warmed up (compiled) and waiting; the parent then lets
  one worker at a time run ``--steps`` env steps, cycling through all of them for ``--rounds``
  rounds, so both arms see the same machine state (the VM's speed drifts by tens of percent between
  runs minutes apart; run in fresh processes one after the other, 3 rounds of these arms gave ratios
  from 0.86 to 1.25). Medians, and the ratio round by round.

The torch arm is honing with ``numpy_forward`` answering "not here" (as on a GPU): the same code
path a CUDA actor takes.

    python -m benchmarks.acting_forward
    python -m benchmarks.acting_forward --rounds 20 --steps 200 --mode bf16-compiled --threads 2

Writes ``benchmarks/results/acting_forward.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
import torch

from benchmarks.common import RESULTS, ROOT, command_line, machine, save_results, update_section
from benchmarks.learner_throughput import BATCH, MODES, TASK, advance, demo_episodes, learner, training_loop
from honing.data.normalization import Normalizer
from honing.policies import actor as actor_module
from honing.policies import bc_policy as bc_module
from honing.policies import residual_policy as residual_module
from honing.policies.bc_policy import BCPolicy, build_bc_network
from honing.policies.policy_config import PolicyConfig
from honing.tasks import get_task

METHODS = ("rlpd", "residual-td3")
ARMS = ("torch", "numpy")


@contextlib.contextmanager
def acting(arm: str) -> Iterator[None]:
    """Acting as `arm` says: ``numpy`` is honing as it is; ``torch`` refuses the NumPy forward."""
    if arm == "numpy":
        yield
        return
    modules = (actor_module, residual_module, bc_module)
    saved = [module.numpy_forward for module in modules]
    for module in modules:
        module.numpy_forward = lambda _: None
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            module.numpy_forward = original


def acting_us(what: str, calls: int, rounds: int) -> dict[str, float]:
    """Microseconds per call, per arm (median of alternating rounds): an untrained learner's
    ``explore()`` (`what` a method), or the default BC base's action for one observation (``bc-base``)."""
    task = get_task(TASK)
    obs_dim, act_dim = task.spaces()
    env = task.make_env(sparse=True)
    obs, _ = env.reset(seed=0)
    env.close()
    if what == "bc-base":
        normalizer = Normalizer.from_episodes(demo_episodes())
        base = BCPolicy(build_bc_network(PolicyConfig(), obs_dim, act_dim, normalizer))
        call = partial(base.predict_chunk, obs[None])
    else:
        agent = learner(what, (256, 256), 2, obs_dim, act_dim, "eager")
        call = partial(agent.explore, obs, np.zeros(act_dim, dtype=np.float32))
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for _ in range(rounds):
        for arm in ARMS:
            with acting(arm):
                for _ in range(calls // 10):  # warm
                    call()
                start = time.perf_counter()
                for _ in range(calls):
                    call()
                times[arm].append((time.perf_counter() - start) / calls * 1e6)
    return {arm: round(statistics.median(values), 1) for arm, values in times.items()}


def worker(arm: str, method: str, mode: str, threads: int, warmup: int) -> None:
    """A loop that waits on stdin: ``N`` runs N env steps and prints the seconds they took."""
    torch.set_num_threads(threads)
    with acting(arm):
        loop, _ = training_loop(method, 1, 10**9, warmup, mode)
        for _ in range(warmup + 50):  # the warm-up, then compilation
            advance(loop, None)
        print("ready", flush=True)
        for line in sys.stdin:
            start = time.perf_counter()
            for _ in range(int(line)):
                advance(loop, None)
            print(time.perf_counter() - start, flush=True)
        loop.collector.close()


class Worker:
    def __init__(self, arm: str, method: str, args: argparse.Namespace) -> None:
        command = [sys.executable, "-m", "benchmarks.acting_forward", "--worker", arm, method, "--mode", args.mode,
                   "--threads", str(args.threads), "--warmup", str(args.warmup)]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.read()
        if line != "ready":
            raise RuntimeError(f"{arm} {method} worker did not start: {line!r}")

    def read(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def steps_per_s(self, steps: int) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{steps}\n")
        self.process.stdin.flush()
        return steps / float(self.read())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=sorted(MODES), default="bf16-compiled", help="learner mode of the loop")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the loop (default 2)")
    parser.add_argument("--rounds", type=int, default=20, help="rounds through all workers (default 20)")
    parser.add_argument("--steps", type=int, default=200, help="env steps per worker per round (default 200)")
    parser.add_argument("--warmup", type=int, default=1000, help="env steps before the updates start")
    parser.add_argument("--worker", nargs=2, metavar=("ARM", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.mode, args.threads, args.warmup)
        return
    torch.set_num_threads(1)
    alone = {what: acting_us(what, 2000, 5) for what in (*METHODS, "bc-base")}
    for what, us in alone.items():
        print(f"acting alone, {what}: torch {us['torch']} us, numpy {us['numpy']} us", flush=True)
    workers = {(method, arm): Worker(arm, method, args) for method in METHODS for arm in ARMS}
    rates: dict[str, dict[str, list[float]]] = {m: {arm: [] for arm in ARMS} for m in METHODS}
    try:
        for round_ in range(args.rounds):
            for (method, arm), each in workers.items():
                rates[method][arm].append(round(each.steps_per_s(args.steps), 1))
            print(f"round {round_ + 1}: " + ", ".join(f"{m} {a} {r[a][-1]}" for m, r in rates.items() for a in ARMS),
                  flush=True)  # fmt: skip
    finally:
        for each in workers.values():
            each.close()
    data: dict[str, Any] = {
        "explore_us_alone": alone,
        "loop_steps_per_s": {m: {arm: statistics.median(r) for arm, r in arms.items()} for m, arms in rates.items()},
        "loop_steps_per_s_rounds": rates,
        "ratio_rounds": {
            m: [round(n / t, 3) for t, n in zip(r["torch"], r["numpy"], strict=True)] for m, r in rates.items()
        },
        "mode": args.mode,
        "threads": args.threads,
        "steps_per_round": args.steps,
        "batch": BATCH,
        "command": command_line(),
        "machine": machine(),
    }
    save_results(RESULTS / "acting_forward.json", data)
    update_section("acting-forward", report(data))


def report(data: dict[str, Any]) -> str:
    rows = []
    for method in METHODS:
        alone, loop = data["explore_us_alone"][method], data["loop_steps_per_s"][method]
        ratios = sorted(data["ratio_rounds"][method])
        quarter = len(ratios) // 4
        spread = f"{statistics.median(ratios):.2f}x ({ratios[quarter]:.2f}-{ratios[-1 - quarter]:.2f}x)"
        rows.append(f"| {method} | {alone['torch']:.0f} | {alone['numpy']:.0f} | {loop['torch']:.1f} | "
                    f"{loop['numpy']:.1f} | {loop['numpy'] / loop['torch']:.2f}x | "
                    f"{spread} |")  # fmt: skip
    return "\n".join([
        "### Acting in NumPy",
        "",
        f"metaworld/pick-place, 2x256 networks, batch {data['batch']}, 2 critic heads; the loop at UTD 1, "
        f"{data['mode']}, {data['threads']} thread(s): one warmed-up loop per arm, taking turns for "
        f"{len(data['ratio_rounds'][METHODS[0]])} rounds of {data['steps_per_round']} env steps (medians; the "
        "ratio by round: its median and interquartile range).",
        "",
        "| method | explore() alone, torch (us) | explore() alone, NumPy (us) | loop env steps/s, torch acting "
        "| loop env steps/s, NumPy acting | ratio of medians | ratio by round |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"The default BC base's action for one observation (residual-td3 asks for one every env step): "
        f"{data['explore_us_alone']['bc-base']['torch']:.0f} us through torch, "
        f"{data['explore_us_alone']['bc-base']['numpy']:.0f} us in NumPy (alone).",
        "",
        f"- Command: `{data['command']}`",
        f"- Machine: {data['machine']}",
        "- Raw results: `benchmarks/results/acting_forward.json`",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
