"""honing's SAC against Stable-Baselines3's, side by side: short alternating bursts in warm processes.

``benchmarks.learner_throughput`` and ``benchmarks.sac_schedule`` time each arm in a new process,
one arm after the other, a round taking minutes: on a shared VM whose speed drifts over minutes,
the ratio of two arms then moves with the drift (3.26x and 2.46x within hours, rounds 2.0-3.9x). This
times the arms in bursts of a few seconds instead. Each arm runs in a process of its own, warmed up
once (1000 env steps, compilation and 50 updates, untimed) and then kept waiting; the arms take
turns, one burst each per cycle, the first arm rotating from cycle to cycle, so each cycle's arms
ran within seconds of one another. Only one process works at a time (the others block on a pipe).
(``benchmarks.revision_ab`` cycles warm workers the same way for the learner's updates alone.)

Arms (metaworld/pick-place, UTD 1, 2x256, 2 critic heads, batch 256; the loops of
``benchmarks.learner_throughput``):

- ``plain``: honing's rlpd on SB3's own networks (the plain ReLU MLPs of its SAC) with
  ``parallel_update``, in ``--mode`` (bf16-compiled by default): the like-for-like arm;
- ``layernorm``: the same with honing's default LayerNorm networks (more work per update than SB3's);
- ``sb3``: SB3's SAC (float32, eager: it has no other mode), torch at ``--threads`` threads;
- ``sb3-1thread``: the same on one torch thread, to show which thread count is SB3's faster one.

The estimate of an arm over SB3 is the ratio of their env steps/s over all cycles (total steps over
total time, each); its 95% interval is a bootstrap over cycles (the cycle is the unit a drift moves
alike), so the interval states how far the figure can be trusted on this machine at this time.

    python -m benchmarks.sac_side_by_side      # needs: pip install 'honing[bench]' (Stable-Baselines3)
    python -m benchmarks.sac_side_by_side --arms plain layernorm sb3 sb3-1thread --cycles 50

Writes ``benchmarks/results/sac_side_by_side.json`` (or ``--out``) and a section of BENCHMARKS.md. With
``--pool RUN.json ...`` it runs nothing and states each pair of arms over every cycle of those runs
(``sac_side_by_side_pooled.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import random
import statistics
import time
from collections.abc import Callable
from importlib.util import find_spec
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, command_line, load_results, machine, save_results, update_section
from benchmarks.learner_throughput import PLAIN
from benchmarks.learners import BATCH, TASK, advance, training_loop
from honing.tasks import get_task

ARMS: dict[str, dict[str, Any] | None] = {
    "plain": PLAIN | {"parallel_update": True},
    "layernorm": {"parallel_update": True},
    "sb3": None,
    "sb3-1thread": None,
}
"""Arm name -> rlpd's options (None: SB3's SAC)."""
THREADS = {"sb3-1thread": 1}
"""Arms on a set number of torch threads (the others: ``--threads``)."""
LABELS = {"plain": "honing rlpd on SB3's networks, `parallel_update`",
          "layernorm": "honing rlpd, LayerNorm networks (default), `parallel_update`", "sb3": "SB3 SAC",
          "sb3-1thread": "SB3 SAC, one torch thread"}  # fmt: skip
READY = "ready"


def honing_worker(conn: Connection, options: dict[str, Any], warmup: int, mode: str) -> None:
    """Serve bursts of honing's loop: warm up, say ready, then run each requested number of env steps
    and send back the seconds it took (the critic's step left running included: :meth:`settle`)."""
    loop, _ = training_loop("rlpd", 1, 10**7, warmup, mode, options=options)
    try:
        while loop.step < warmup + 50:  # 50 updating steps absorb compilation
            advance(loop, None)
        loop.agent.settle()
        conn.send(READY)
        while (steps := conn.recv()) is not None:
            start = time.perf_counter()
            for _ in range(steps):
                advance(loop, None)
            loop.agent.settle()
            conn.send(time.perf_counter() - start)
    finally:
        loop.collector.close()


def sb3_worker(conn: Connection, warmup: int) -> None:
    """Serve bursts of SB3's SAC: one ``learn`` call whose callback pauses it between bursts (so nothing
    of ``learn``'s own setup is timed), the burst timed from the step it resumes at to the step it pauses at."""
    import stable_baselines3 as sb3
    from stable_baselines3.common.callbacks import BaseCallback

    class Bursts(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.stop_at, self.start = warmup + 50, 0.0

        def _on_step(self) -> bool:
            if self.num_timesteps < self.stop_at:
                return True
            conn.send(time.perf_counter() - self.start if self.start else READY)
            steps = conn.recv()
            if steps is None:
                return False
            self.stop_at, self.start = self.num_timesteps + steps, time.perf_counter()
            return True

    env = get_task(TASK).make_env(sparse=True)
    kwargs: dict[str, Any] = {"policy_kwargs": {"net_arch": [256, 256]}, "batch_size": BATCH, "train_freq": 1,
                              "gradient_steps": 1, "learning_starts": warmup, "device": "cpu", "seed": 0}  # fmt: skip
    sb3.SAC("MlpPolicy", env, **kwargs).learn(10**9, callback=Bursts())
    env.close()


def serve(conn: Connection, arm: str, warmup: int, mode: str, threads: int) -> None:
    """A worker process's body: `arm` at `threads` torch threads (``parallel_update`` sets its own)."""
    torch.set_num_threads(THREADS.get(arm, threads))
    options = ARMS[arm]
    if options is None:
        sb3_worker(conn, warmup)
    else:
        honing_worker(conn, options, warmup, mode)


def run_cycles(arms: list[str], steps: dict[str, int], cycles: int, warmup: int, mode: str, threads: int,
               pause: float, worker: Callable[..., None] = serve) -> dict[str, list[float]]:  # fmt: skip
    """Seconds per burst, arm by arm, cycle by cycle (cycle 0, a warm-up one, dropped). Each arm is
    ``worker(conn, arm, warmup, mode, threads)`` in a spawned process of its own (:func:`serve`)."""
    context = mp.get_context("spawn")
    workers: dict[str, tuple[Any, Connection]] = {}
    try:
        for arm in arms:  # warm up one at a time, so no warm-up runs beside another
            here, there = context.Pipe()
            process = context.Process(target=worker, args=(there, arm, warmup, mode, threads), daemon=True)
            process.start()
            there.close()  # the worker's end lives in the worker: its exit then ends the pipe here
            workers[arm] = (process, here)
            if reply(here, arm, "while warming up") != READY:
                raise SystemExit(f"the {arm} arm's worker did not say it was ready")
            print(f"{arm}: warm", flush=True)
        seconds: dict[str, list[float]] = {arm: [] for arm in arms}
        for cycle in range(cycles + 1):
            shift = cycle % len(arms)
            for arm in arms[shift:] + arms[:shift]:
                time.sleep(pause)  # the last burst's spinning OpenMP workers go to sleep first
                workers[arm][1].send(steps[arm])
                elapsed = reply(workers[arm][1], arm, f"in cycle {cycle}")
                if cycle:
                    seconds[arm].append(elapsed)
            if cycle:
                print(f"cycle {cycle}: " + ", ".join(f"{arm} {steps[arm] / seconds[arm][-1]:.1f}" for arm in arms)
                      + " env steps/s", flush=True)  # fmt: skip
        return seconds
    finally:
        for process, conn in workers.values():
            with contextlib.suppress(BrokenPipeError, OSError):  # a worker that died has no pipe left
                conn.send(None)
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


def reply(conn: Connection, arm: str, when: str) -> Any:
    """The worker's next message, or exit naming the arm whose worker died (its traceback is above)."""
    try:
        return conn.recv()
    except EOFError:
        raise SystemExit(f"the {arm} arm's worker exited {when} (its error is printed above)") from None


def rate_ratio(steps: tuple[int, int], seconds: tuple[list[float], list[float]], cycles: list[int]) -> float:
    """Arm a's env steps/s over arm b's over the given cycles: total steps over total time, each."""
    (steps_a, steps_b), (seconds_a, seconds_b) = steps, seconds
    return (steps_a * len(cycles) / sum(seconds_a[c] for c in cycles)) / (
        steps_b * len(cycles) / sum(seconds_b[c] for c in cycles))  # fmt: skip


def compare(steps: tuple[int, int], seconds: tuple[list[float], list[float]], resamples: int = 10_000,
            seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Arm a over arm b: the ratio over all cycles, a percentile-bootstrap 95% interval over cycles,
    and the cycle-by-cycle ratios (median, range)."""
    count = len(seconds[0])
    everything = list(range(count))
    rng = random.Random(seed)
    boot = sorted(rate_ratio(steps, seconds, rng.choices(everything, k=count)) for _ in range(resamples))
    per_cycle = [round(rate_ratio(steps, seconds, [c]), 2) for c in everything]
    return {"ratio": round(rate_ratio(steps, seconds, everything), 2),
            "ci95": [round(boot[int(0.025 * resamples)], 2), round(boot[int(0.975 * resamples) - 1], 2)],
            "cycles": per_cycle, "median_cycle": round(statistics.median(per_cycle), 2)}  # fmt: skip


def summary(arms: list[str], steps: dict[str, int], seconds: dict[str, list[float]]) -> dict[str, Any]:
    """Env steps/s per arm, every honing arm over each SB3 arm, and the first honing arm over the second."""
    rates = {arm: round(steps[arm] * len(seconds[arm]) / sum(seconds[arm]), 1) for arm in arms}
    honing = [arm for arm in arms if ARMS[arm] is not None]
    sb3 = [arm for arm in arms if ARMS[arm] is None]
    pairs = [(arm, baseline) for baseline in sb3 for arm in honing]
    pairs += [(honing[0], honing[1])] if len(honing) > 1 else []
    ratios = {f"{a}/{b}": compare((steps[a], steps[b]), (seconds[a], seconds[b])) for a, b in pairs}
    return {"steps_per_s": rates, "ratios": ratios}


def pool(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each pair of arms over every cycle of the `runs` (name -> a run's JSON) that timed both: one
    estimate and interval from all their cycles together (the bursts must be the same sizes)."""
    holders: dict[str, list[str]] = {}
    for name, run in runs.items():
        for pair in run["ratios"]:
            holders.setdefault(pair, []).append(name)
    ratios = {}
    for pair, names in holders.items():
        a, b = pair.split("/")
        sizes = {(runs[name]["burst_steps"][a], runs[name]["burst_steps"][b]) for name in names}
        if len(sizes) > 1:
            raise SystemExit(f"--pool: the runs' bursts of {pair} differ in size ({sorted(sizes)}); pool runs "
                             "made with the same --honing-steps and --sb3-steps")  # fmt: skip
        seconds = tuple([t for name in names for t in runs[name]["seconds"][arm]] for arm in (a, b))
        ratios[pair] = {**compare(sizes.pop(), seconds), "runs": names}  # type: ignore[arg-type]
    return {"ratios": ratios, "runs": list(runs), "machines": sorted({run["machine"] for run in runs.values()})}


def pooled_report(data: dict[str, Any], results: str, title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "Every cycle of " + ", ".join(f"`{run}`" for run in data["runs"]) + ", pooled pair by pair over the runs "
        "that timed both arms: ratio, total steps over total time; interval, 95% bootstrap over the pooled cycles.",
        "",
        "| ratio | runs | cycles | over all cycles | 95% interval | cycle by cycle: median (range) |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for pair, entry in data["ratios"].items():
        lines.append(f"| {pair} | {len(entry['runs'])} | {len(entry['cycles'])} | **{entry['ratio']}x** | "
                     f"{entry['ci95'][0]}-{entry['ci95'][1]}x | {entry['median_cycle']}x "
                     f"({min(entry['cycles'])}-{max(entry['cycles'])}x) |")  # fmt: skip
    lines += ["", f"- Command: `{data['command']}` (reads the runs' JSONs; runs nothing)",
              f"- Machine(s): {'; '.join(data['machines'])}",
              f"- Raw results: `benchmarks/results/{results}.json`"]  # fmt: skip
    return "\n".join(lines)


TITLE = "honing's SAC and SB3's, side by side in short alternating bursts"
POOLED_TITLE = "The side-by-side runs pooled"


def report(data: dict[str, Any], results: str, title: str = TITLE) -> str:
    lines = [
        f"### {title}",
        "",
        f"Training env steps/s on {TASK} at UTD 1 (2x256, 2 critic heads, batch {BATCH}; honing {data['mode']}, "
        f"SB3 float32 at {data['threads']} torch threads), each arm in a warm process of its own, "
        f"{data['cycles']} cycles of one burst per arm (" + ", ".join(f"{arm} {n} env steps" for arm, n in
        data["burst_steps"].items()) + "), the first arm rotating; ratio: total steps over total time, "
        "arm over arm; interval: 95% bootstrap over cycles.",
        "",
        "| arm | env steps/s |",
        "|---|---|",
    ]  # fmt: skip
    lines += [f"| {LABELS[arm]} | {rate} |" for arm, rate in data["steps_per_s"].items()]
    lines += ["", "| ratio | over all cycles | 95% interval | cycle by cycle: median (range) |", "|---|---|---|---|"]
    for pair, entry in data["ratios"].items():
        lines.append(f"| {pair} | **{entry['ratio']}x** | {entry['ci95'][0]}-{entry['ci95'][1]}x | "
                     f"{entry['median_cycle']}x ({min(entry['cycles'])}-{max(entry['cycles'])}x) |")  # fmt: skip
    lines += ["", f"- Command: `{data['command']}`", f"- Machine: {data['machine']}",
              f"- Raw results: `benchmarks/results/{results}.json`"]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=["plain", "layernorm", "sb3"], choices=list(ARMS))
    parser.add_argument("--cycles", type=int, default=30, help="timed cycles (one burst per arm each; default 30)")
    parser.add_argument("--honing-steps", type=int, default=500, help="env steps per honing burst (default 500)")
    parser.add_argument("--sb3-steps", type=int, default=150, help="env steps per SB3 burst (default 150)")
    parser.add_argument("--warmup", type=int, default=1_000, help="env steps before updates start (not timed)")
    parser.add_argument("--mode", default="bf16-compiled", help="honing's update mode (benchmarks.learners.MODES)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each process")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds of quiet before each burst")
    parser.add_argument("--out", help="results JSON (default: benchmarks/results/sac_side_by_side.json, "
                        "with --pool sac_side_by_side_pooled.json)")  # fmt: skip
    parser.add_argument("--section", help="BENCHMARKS.md section the report goes to (default: sac-side-by-side, "
                        "with --pool sac-side-by-side-pooled)")  # fmt: skip
    parser.add_argument("--title", help="the section's heading")
    parser.add_argument("--report-only", action="store_true", help="redo the BENCHMARKS.md section from --out")
    parser.add_argument(
        "--pool",
        nargs="*",
        metavar="JSON",
        help="run nothing: pool these runs' cycles, pair by pair, into --out and its section (none with --report-only)",
    )
    args = parser.parse_args()
    pooling = args.pool is not None
    if pooling and not args.pool and not args.report_only:
        raise SystemExit("--pool: name the runs' JSON files to pool (or add --report-only to redo the section)")
    name = "sac_side_by_side_pooled" if pooling else "sac_side_by_side"
    out = Path(args.out or RESULTS / f"{name}.json")
    section = args.section or name.replace("_", "-")
    if pooling:
        if not args.report_only:
            data = {**pool({path: load_results(Path(path)) for path in args.pool}), "command": command_line()}
            save_results(out, data)
        text = pooled_report(load_results(out), out.stem, args.title or POOLED_TITLE)
        update_section(section, text)
        print(text)
        return
    if not args.report_only and any(ARMS[arm] is None for arm in args.arms) and find_spec("stable_baselines3") is None:
        raise SystemExit(
            "the sb3 arms need Stable-Baselines3: pip install 'honing[bench]' (or leave them out of --arms)"
        )
    if not args.report_only:
        steps = {arm: args.sb3_steps if ARMS[arm] is None else args.honing_steps for arm in args.arms}
        seconds = run_cycles(args.arms, steps, args.cycles, args.warmup, args.mode, args.threads, args.pause)
        data = {**summary(args.arms, steps, seconds), "seconds": seconds, "burst_steps": steps,
                "cycles": args.cycles, "mode": args.mode, "threads": args.threads, "warmup": args.warmup,
                "command": command_line(), "machine": machine()}  # fmt: skip
        save_results(out, data)
    text = report(load_results(out), out.stem, args.title or TITLE)
    update_section(section, text)
    print(text)


if __name__ == "__main__":
    main()
