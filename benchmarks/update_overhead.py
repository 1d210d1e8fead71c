"""What an update costs beyond its matmuls, and whether packing several updates into one compiled call saves it.

The profile of the compiled update (``benchmarks/results/profiles``) books ~1.3 ms of a ~7 ms
update to the compiled call itself (wrapper, cache lookup, prologue). If that were a fixed cost per
call, running several updates in one graph would amortise it. This measures, on the learners of
``benchmarks.learner_throughput`` (synthetic replay of Meta-World's dimensions, batch 256, 2 critic
heads), timed in alternating rounds:

- one update per call at 2x256 and at 2x8 (the same graph with almost no arithmetic: what is left is
  the per-update cost of the ops themselves, not of the maths);
- with ``compile=true, precision=bfloat16``, ``--pack`` updates (4 by default) traced into one
  compiled call: the same ``fused_step`` on consecutive batches, with each update's own draws and
  actor phase, recorded from the learner's ``update`` (so the counters and random streams advance
  as in a run).

    python -m benchmarks.update_overhead --threads 1

Writes ``benchmarks/results/update_overhead.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, ROOT, command_line, machine, save_results, update_section
from benchmarks.learner_throughput import alternated
from benchmarks.learners import BATCH, LEARNERS, TASK, learner, synthetic_replay
from honing.finetune.fused import Metrics
from honing.finetune.replay import sample_mixed
from honing.tasks import get_task

WIDTHS = {"2x256": (256, 256), "2x8": (8, 8)}
MODES = ("eager", "bf16-compiled")


def packed(
    agent: Any, pack: int, next_batch: Callable[[], dict[str, torch.Tensor]], compile: bool = True
) -> Callable[[], Metrics]:
    """`pack` consecutive updates of `agent` as one call (compiled as one graph unless `compile` is off).

    Each update's arguments come from the learner's own ``update`` with ``run_step`` recording
    instead of running, so draws, actor phases and counters are exactly those of `pack` updates
    (tests/test_benchmark_aggregation.py checks the packed updates land where `pack` updates do).
    """
    recorded: list[tuple[Any, ...]] = []

    def record(*args: Any) -> dict[str, float]:
        recorded.append(args)
        return {}

    def many(calls: list[tuple[Any, ...]]) -> Metrics:
        with torch.no_grad(), agent.update_precision():
            metrics = [agent.fused_step(*args) for args in calls]
        return metrics[-1]

    compiled = torch.compile(many, dynamic=False) if compile else many
    run_step = agent.run_step

    def step() -> Metrics:
        recorded.clear()
        agent.run_step = record
        try:
            for _ in range(pack):
                agent.update(next_batch())
        finally:
            agent.run_step = run_step
        return compiled(list(recorded))

    return step


def measure(pack: int, seconds: float) -> dict[str, Any]:
    obs_dim, act_dim = get_task(TASK).spaces()
    demo, online = synthetic_replay(obs_dim, act_dim)
    generator = torch.Generator().manual_seed(0)

    def next_batch() -> dict[str, torch.Tensor]:
        return sample_mixed(demo, online, BATCH, 0.5, generator)

    results: dict[str, Any] = {}
    for method in LEARNERS:
        for width, hidden in WIDTHS.items():
            torch._dynamo.reset()
            steps: dict[str, Callable[[], Any]] = {}
            for mode in MODES:
                agent = learner(method, hidden, 2, obs_dim, act_dim, mode)
                steps[f"{mode} x1"] = lambda agent=agent: agent.update(next_batch())
            steps[f"bf16-compiled x{pack}"] = packed(learner(method, hidden, 2, obs_dim, act_dim, "bf16-compiled"),
                                                     pack, next_batch)  # fmt: skip
            rates = alternated(steps, seconds)
            per_call = {name: 1000 / rate for name, rate in rates.items()}
            per_update = {name: ms / int(name.rsplit("x", 1)[1]) for name, ms in per_call.items()}
            results[f"{method}|{width}"] = {name: round(ms, 3) for name, ms in per_update.items()}
            print(method, width, results[f"{method}|{width}"], flush=True)
    return results


def report(data: dict[str, Any], out: Path) -> str:
    pack = data["pack"]
    names = [f"{mode} x1" for mode in MODES] + [f"bf16-compiled x{pack}"]
    rows = ["| method | network | " + " | ".join(f"ms per update, {n}" for n in names) + " |",
            "|---|---|" + "---|" * len(names)]  # fmt: skip
    for key, entry in data["results"].items():
        method, width = key.split("|")
        rows.append(f"| {method} | {width} | " + " | ".join(f"{entry[n]:.2f}" for n in names) + " |")
    return (
        "### What an update costs beyond its matmuls\n\n"
        f"{data['threads']} thread(s), batch {BATCH}, 2 critic heads; `xN`: N updates per call (with "
        f"`x{pack}`, {pack} consecutive updates traced into one compiled graph), time per update.\n\n"
        + "\n".join(rows)
        + f"\n\n- Command: `{data['command']}`\n- Machine: {data['machine']}\n"
        f"- Raw results: `{os.path.relpath(out, ROOT)}`\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--pack", type=int, default=4, help="updates per compiled call in the packed arm")
    parser.add_argument("--seconds", type=float, default=6.0, help="timing window per configuration")
    parser.add_argument("--out", default=str(RESULTS / "update_overhead.json"))
    args = parser.parse_args()
    if args.pack < 2:
        raise SystemExit(f"--pack must be at least 2 (got {args.pack}): 1 is the x1 arm already measured")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    data = {"results": measure(args.pack, args.seconds), "pack": args.pack, "threads": args.threads,
            "command": command_line(), "machine": machine()}  # fmt: skip
    save_results(out, data)
    update_section("update-overhead", report(data, out))
    print(report(data, out))


if __name__ == "__main__":
    main()
