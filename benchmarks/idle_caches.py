"""Why honing's training loop costs more than the sum of its parts: what an idle gap does to the next piece of work.

Timed alone, back to back, each part of an off-policy env step (the exploration forward, the
Meta-World env step, the replay ingest, the update) is cheaper than the same part inside the loop,
where it runs after the others. This measures where that comes from on the machine at hand:

1. reading an array of 256 KB, 1 MB or 4 MB, and taking one Meta-World env step, right after the
   core spent `gap` ms in a Python spin loop that touches almost no memory: what the data and code
   of a piece of work lose by lying unused for that long;
2. the phases of honing's loop (rlpd, bfloat16-compiled, 2x256, 2 critic heads, batch 256, UTD 1,
   2 threads by default) and of Stable-Baselines3's SAC set up as ``benchmarks.learner_throughput``
   sets it up, each timed inside its loop and alone, back to back; one round of each loop in turn,
   so that SB3's step over honing's can be read round by round, as it is and with every phase at
   its cost alone.

The host's steal time over the run (``/proc/stat``) says whether the VM's cores were taken away
meanwhile: when it is near zero, what empties the caches during a gap is not this VM.

    python -m benchmarks.idle_caches

Writes ``benchmarks/results/idle_caches.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import RESULTS, command_line, machine, provenance, save_results, update_section
from benchmarks.learners import BATCH, TASK, training_loop
from honing.tasks import get_task

GAPS_MS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
SIZES_KB = (256, 1024, 4096)


def spin(seconds: float) -> None:
    """Keep the core busy for `seconds` without touching memory beyond a few cache lines."""
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        pass


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def steal_ticks() -> tuple[int, int]:
    """(steal, all) jiffies of the whole machine so far, from ``/proc/stat`` (zeros where it is missing)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def after_gaps(rounds: int, samples: int) -> dict[str, Any]:
    """Median microseconds of each piece of work right after each gap; gaps alternate within every round."""
    arrays = {kb: np.ones(kb * 1024 // 8) for kb in SIZES_KB}
    env = get_task(TASK).make_env(sparse=True)
    rng = np.random.default_rng(0)
    env.reset(seed=0)

    def env_step() -> None:
        _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        if terminated or truncated:
            env.reset(seed=int(rng.integers(1 << 30)))

    work: dict[str, Callable[[], Any]] = {f"read {kb} KB": arrays[kb].sum for kb in SIZES_KB}
    work["env step"] = env_step
    for run in work.values():  # warm-up: first touches, lazy imports
        for _ in range(50):
            run()
    us: dict[str, dict[float, list[float]]] = {name: {gap: [] for gap in GAPS_MS} for name in work}
    for _ in range(rounds):
        for gap in GAPS_MS:
            for name, run in work.items():
                for _ in range(samples):
                    spin(gap / 1e3)
                    us[name][gap].append(1e6 * timed(run))
    env.close()
    return {name: [round(statistics.median(by_gap[gap]), 1) for gap in GAPS_MS] for name, by_gap in us.items()}


@contextmanager
def timing(obj: Any, name: str, sink: list[float]) -> Iterator[None]:
    """Record the seconds of every call of ``obj.name`` into `sink` while the block runs."""
    inner = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - start)

    setattr(obj, name, wrapper)
    try:
        yield
    finally:
        delattr(obj, name)  # the instance attribute shadowed the class's method


class Phases:
    """One loop's phases, timed inside the loop and alone, round after round (the rounds alternate with the
    other loop's, so machine drift falls on both alike)."""

    names: tuple[str, ...] = ()

    def __init__(self, name: str) -> None:
        self.name = name
        self.rounds: list[dict[str, Any]] = []

    def measure(self, steps: int) -> None:
        inside: dict[str, list[float]] = {phase: [] for phase in self.names}
        alone: dict[str, list[float]] = {phase: [] for phase in self.names}
        step = self.run(steps, inside, alone)
        medians = {kind: {p: 1e3 * statistics.median(v) for p, v in d.items()} for kind, d in
                   (("inside", inside), ("alone", alone))}  # fmt: skip
        # a step with every timed phase as fast as alone; the untimed rest as it was in the loop
        warm = 1e3 * step - sum(medians["inside"].values()) + sum(medians["alone"].values())
        self.rounds.append({**medians, "step": 1e3 * step, "warm": warm})

    def run(self, steps: int, inside: dict[str, list[float]], alone: dict[str, list[float]]) -> float:
        """`steps` loop steps timing the phases into `inside`, then each phase `steps` times alone into `alone`;
        returns the loop's seconds per step."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def result(self) -> dict[str, Any]:
        def median(key: str, kind: str | None = None) -> Any:
            if kind is None:
                return round(statistics.median(r[key] for r in self.rounds), 3)
            return {p: round(statistics.median(r[kind][p] for r in self.rounds), 3) for p in self.names}

        return {"loop": self.name, "inside_ms": median("", "inside"), "alone_ms": median("", "alone"),
                "loop_ms_per_step": median("step"), "warm_ms_per_step": median("warm"),
                "rounds": [{k: round(v, 3) if isinstance(v, float) else {p: round(x, 3) for p, x in v.items()}
                            for k, v in r.items()} for r in self.rounds]}  # fmt: skip


class SpareEnv:
    """A second env of the task, stepped alone under random actions (the loop's own episode is left as it was)."""

    def __init__(self) -> None:
        self.env, self.rng = get_task(TASK).make_env(sparse=True), np.random.default_rng(1)
        self.env.reset(seed=1)

    def steps(self, n: int, sink: list[float]) -> None:
        for _ in range(n):
            action = self.rng.uniform(-1, 1, 4).astype(np.float32)
            start = time.perf_counter()
            _, _, terminated, truncated, _ = self.env.step(action)
            sink.append(time.perf_counter() - start)
            if terminated or truncated:
                self.env.reset(seed=int(self.rng.integers(1 << 30)))

    def close(self) -> None:
        self.env.close()


class HoningPhases(Phases):
    """honing's synchronous loop (``benchmarks.learners.training_loop``): explore, env step, ingest, learn."""

    names = ("explore", "env step", "ingest", "learn")

    def __init__(self, method: str, mode: str, rounds: int, steps: int, warmup: int) -> None:
        super().__init__(f"honing {method} {mode}")
        self.loop, _ = training_loop(method, 1, warmup + 100 + rounds * (steps + 1), warmup, mode)
        self.spare = SpareEnv()
        while self.loop.step < warmup + 100:  # the warm-up and the first updates (compilation)
            self.advance({phase: [] for phase in self.names})

    def advance(self, inside: dict[str, list[float]]) -> None:
        """One env step of the loop (as ``benchmarks.learners.advance``), its ingest and learn timed."""
        loop = self.loop
        loop.step += 1
        record = loop.collector.next()
        inside["ingest"].append(timed(lambda: loop.ingest(record)))
        if loop.step > loop.config.learning_starts:
            inside["learn"].append(timed(loop.learn))

    def run(self, steps: int, inside: dict[str, list[float]], alone: dict[str, list[float]]) -> float:
        loop, collector = self.loop, self.loop.collector
        start = time.perf_counter()
        with timing(collector, "choose_action", inside["explore"]), \
                timing(collector.env, "step", inside["env step"]):  # fmt: skip
            for _ in range(steps):
                self.advance(inside)
        per_step = (time.perf_counter() - start) / steps
        record = collector.next()  # a real transition, ingested again and again below
        loop.step += 1
        for _ in range(steps):
            alone["explore"].append(timed(lambda: loop.agent.explore(collector.obs, collector.base_action)))
        self.spare.steps(steps, alone["env step"])
        for _ in range(steps):
            alone["ingest"].append(timed(lambda: loop.ingest(record)))
        for _ in range(steps):
            alone["learn"].append(timed(loop.learn))
        return per_step

    def close(self) -> None:
        self.loop.collector.close()
        self.spare.close()


class SB3Phases(Phases):
    """Stable-Baselines3's SAC, set up as ``benchmarks.learner_throughput`` sets it up (UTD 1): env step,
    gradient step (its ``train``: replay sampling and the whole update)."""

    names = ("env step", "gradient step")

    def __init__(self, warmup: int) -> None:
        import stable_baselines3 as sb3

        super().__init__("sb3 SAC")
        self.env, self.spare = get_task(TASK).make_env(sparse=True), SpareEnv()
        self.model = sb3.SAC("MlpPolicy", self.env, policy_kwargs={"net_arch": [256, 256]}, batch_size=BATCH,
                             train_freq=1, gradient_steps=1, learning_starts=warmup, device="cpu", seed=0)  # fmt: skip
        self.model.learn(warmup + 100)

    def run(self, steps: int, inside: dict[str, list[float]], alone: dict[str, list[float]]) -> float:
        model = self.model
        with timing(self.env, "step", inside["env step"]), timing(model, "train", inside["gradient step"]):
            per_step = timed(lambda: model.learn(steps, reset_num_timesteps=False)) / steps
        self.spare.steps(steps, alone["env step"])
        for _ in range(steps):
            alone["gradient step"].append(timed(lambda: model.train(gradient_steps=1, batch_size=BATCH)))
        return per_step

    def close(self) -> None:
        self.env.close()
        self.spare.close()


def loop_phases(args: argparse.Namespace) -> list[dict[str, Any]]:
    """honing's loop and SB3's SAC (when installed), one round of each in turn."""
    loops: list[Phases] = [HoningPhases(args.method, args.mode, args.rounds, args.steps, args.warmup)]
    try:
        loops.append(SB3Phases(args.warmup))
    except ImportError:
        print("stable-baselines3 is not installed (pip install 'honing[bench]'); timing honing's loop alone")
    try:
        for _ in range(args.rounds):
            for loop in loops:
                loop.measure(args.steps)
    finally:
        for loop in loops:
            loop.close()
    return [loop.result() for loop in loops]


def ratios(loops: list[dict[str, Any]], key: str) -> list[float]:
    """SB3's ms per step over honing's, round by round."""
    return sorted(s[key] / h[key] for h, s in zip(loops[0]["rounds"], loops[1]["rounds"], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds of every part (default 15)")
    parser.add_argument("--samples", type=int, default=40, help="samples per gap, work and round (default 40)")
    parser.add_argument("--steps", type=int, default=200, help="loop steps per round, and calls per phase alone")
    parser.add_argument("--warmup", type=int, default=1000, help="env steps before the first update")
    parser.add_argument("--method", default="rlpd", choices=["rlpd", "residual-td3"])
    parser.add_argument("--mode", default="bf16-compiled")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "idle_caches.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steal_before = steal_ticks()
    gaps = after_gaps(args.rounds, args.samples)
    print(gaps, flush=True)
    loops = loop_phases(args)
    for loop in loops:
        print({k: v for k, v in loop.items() if k != "rounds"}, flush=True)
    steal_after = steal_ticks()
    total = steal_after[1] - steal_before[1]
    data = {"gaps_ms": list(GAPS_MS), "after_gap_us": gaps, "loops": loops, "threads": args.threads,
            "rounds": args.rounds, "steps_per_round": args.steps,
            "steal_fraction": round((steal_after[0] - steal_before[0]) / total, 4) if total else None,
            "command": command_line(), "machine": machine()}  # fmt: skip
    save_results(Path(args.out), data)
    update_section("idle-caches", report(data))


def spread(values: list[float]) -> str:
    return f"**{statistics.median(values):.2f}x** ({values[0]:.2f}-{values[-1]:.2f}x)"


def report(data: dict[str, Any]) -> str:
    gaps, loops = data["gaps_ms"], data["loops"]
    lines = [
        "### Why the loop costs more than its parts: caches that go cold in an idle gap",
        "",
        "Microseconds for a piece of work right after the core spent a gap in a Python spin loop that "
        "touches almost no memory (medians of alternating rounds): reading an array (NumPy `sum`), and "
        f"one {TASK} env step under random actions.",
        "",
        "| work | " + " | ".join(f"gap {g:g} ms" for g in gaps) + " |",
        "|---|" + "---|" * len(gaps),
    ]
    for name, values in data["after_gap_us"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    lines += [
        "",
        "Each phase of a training env step inside the loop and alone, back to back (ms; medians over "
        f"{data['rounds']} rounds of {data['steps_per_round']} steps or calls, honing's and SB3's rounds taking "
        f"turns; 2x256, 2 critics, batch 256, UTD 1, {data['threads']} thread(s)); `rest`: the loop's own "
        "bookkeeping, not timed alone; *parts alone*: a step with every timed phase as fast as alone.",
        "",
        "| loop | phase | alone | in the loop | in the loop / alone |",
        "|---|---|---|---|---|",
    ]
    for loop in loops:
        inside, alone = loop["inside_ms"], loop["alone_ms"]
        step, warm = loop["loop_ms_per_step"], loop["warm_ms_per_step"]
        for phase, ms_alone in alone.items():
            lines.append(f"| {loop['loop']} | {phase} | {ms_alone:.3f} | {inside[phase]:.3f} | "
                         f"{inside[phase] / ms_alone:.2f}x |")  # fmt: skip
        lines.append(f"| {loop['loop']} | rest | | {step - sum(inside.values()):.3f} | |")
        lines.append(f"| {loop['loop']} | **a step** | **{warm:.3f}** (parts alone) | **{step:.3f}** | "
                     f"{step / warm:.2f}x |")  # fmt: skip
    if len(loops) == 2:
        lines += ["", "SB3 SAC's ms per step over honing's, round by round (median, range): "
                  f"{spread(ratios(loops, 'step'))} in the loop; {spread(ratios(loops, 'warm'))} with every timed "
                  "phase as fast as alone."]  # fmt: skip
    if data["steal_fraction"] is not None:
        lines += ["", f"Steal time over the run: {100 * data['steal_fraction']:.2f}% of the machine's time."]
    lines += [
        "",
        *provenance(data, "idle_caches"),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
