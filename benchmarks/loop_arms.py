"""Two versions of honing's training loop timed side by side: warmed-up worker processes taking turns.

Why workers: this VM's speed drifts by tens of percent between runs minutes apart (3 rounds of
fresh-process runs of the same two arms gave ratios from 0.86 to 1.25), and two compiled learners
in one process share dynamo's cache. So each (method, arm) gets a process of its own, with the loop
of ``benchmarks.learners`` warmed up (compiled) and waiting on stdin; the parent lets one
worker at a time run a few hundred env steps, cycling through all of them for many rounds, so every
arm sees the same machine state. A benchmark names its arms and gives, for each, a context manager
that makes honing that version (``arm_context(arm)``) in a module the worker imports.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch

from benchmarks.common import ROOT, command_line, machine
from benchmarks.learners import BATCH, MODES, advance, training_loop

ArmContext = Callable[[str], AbstractContextManager[Any]]


def add_loop_arguments(parser: argparse.ArgumentParser, rounds: int = 20, steps: int = 200) -> None:
    """The options of a side-by-side loop measurement (and the hidden one that starts a worker)."""
    parser.add_argument("--mode", choices=sorted(MODES), default="bf16-compiled", help="learner mode of the loop")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the loop (default 2)")
    parser.add_argument("--rounds", type=int, default=rounds, help=f"rounds through all workers (default {rounds})")
    parser.add_argument("--steps", type=int, default=steps, help=f"env steps per worker per round (default {steps})")
    parser.add_argument("--warmup", type=int, default=1000, help="env steps before the updates start")
    parser.add_argument("--worker", nargs=2, metavar=("ARM", "METHOD"), help=argparse.SUPPRESS)


def serve(arm_context: ArmContext, arm: str, method: str, args: argparse.Namespace) -> None:
    """The worker: a loop that waits on stdin; ``N`` runs N env steps and prints the seconds they took."""
    torch.set_num_threads(args.threads)
    with arm_context(arm):
        loop, _ = training_loop(method, 1, 10**9, args.warmup, args.mode)
        for _ in range(args.warmup + 50):  # the warm-up, then compilation
            advance(loop, None)
        print("ready", flush=True)
        for line in sys.stdin:
            start = time.perf_counter()
            for _ in range(int(line)):
                advance(loop, None)
            print(time.perf_counter() - start, flush=True)
        loop.collector.close()


class Worker:
    """One (arm, method) loop in a process of its own, started by ``python -m <module> --worker ARM METHOD``."""

    def __init__(self, module: str, arm: str, method: str, args: argparse.Namespace) -> None:
        command = [sys.executable, "-m", module, "--worker", arm, method, "--mode", args.mode,
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


def side_by_side(
    module: str, arms: Sequence[str], methods: Sequence[str], args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    """Env steps/s of every (method, arm) loop, round by round: ``{method: {arm: [rate per round]}}``."""
    importlib.import_module(module)  # fail here, not in every worker, if the module does not import
    workers = {(method, arm): Worker(module, arm, method, args) for method in methods for arm in arms}
    rates: dict[str, dict[str, list[float]]] = {m: {arm: [] for arm in arms} for m in methods}
    try:
        for round_ in range(args.rounds):
            for (method, arm), each in workers.items():
                rates[method][arm].append(round(each.steps_per_s(args.steps), 1))
            print(f"round {round_ + 1}: " + ", ".join(f"{m} {a} {r[a][-1]}" for m, r in rates.items() for a in arms),
                  flush=True)  # fmt: skip
    finally:
        for each in workers.values():
            each.close()
    return rates


def summarise(rates: dict[str, dict[str, list[float]]], before: str, after: str) -> dict[str, Any]:
    """Medians per arm, and `after`/`before` round by round with its median and interquartile range."""
    out: dict[str, Any] = {"loop_steps_per_s": {}, "ratio_rounds": {}, "ratio": {}}
    for method, arms in rates.items():
        out["loop_steps_per_s"][method] = {arm: statistics.median(values) for arm, values in arms.items()}
        ratios = [round(a / b, 3) for b, a in zip(arms[before], arms[after], strict=True)]
        ordered, quarter = sorted(ratios), len(ratios) // 4
        out["ratio_rounds"][method] = ratios
        iqr = [ordered[quarter], ordered[-1 - quarter]]
        out["ratio"][method] = {"median": round(statistics.median(ratios), 3), "iqr": iqr}
    return out


def results(rates: dict[str, dict[str, list[float]]], args: argparse.Namespace, before: str, after: str
            ) -> dict[str, Any]:  # fmt: skip
    """What a side-by-side run writes: :func:`summarise`'s figures, every round's rates, and how it ran."""
    return {**summarise(rates, before, after), "loop_steps_per_s_rounds": rates, "mode": args.mode,
            "threads": args.threads, "steps_per_round": args.steps, "batch": BATCH, "command": command_line(),
            "machine": machine()}  # fmt: skip


def caption(data: dict[str, Any]) -> str:
    """The sentence under a side-by-side table's heading: the loop's setting and how it was timed."""
    rounds = len(next(iter(data["ratio_rounds"].values())))
    return (f"metaworld/pick-place, 2x256 networks, batch {data['batch']}, 2 critic heads; the loop at UTD 1, "
            f"{data['mode']}, {data['threads']} thread(s): one warmed-up loop per arm, taking turns for {rounds} "
            f"rounds of {data['steps_per_round']} env steps (medians; the ratio by round: its median and "
            "interquartile range).")  # fmt: skip


def spread(ratios: list[float]) -> str:
    """A ratio by round as its median and interquartile range."""
    ordered, quarter = sorted(ratios), len(ratios) // 4
    return f"{statistics.median(ordered):.2f}x ({ordered[quarter]:.2f}-{ordered[-1 - quarter]:.2f}x)"
