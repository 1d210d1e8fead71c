"""An evaluation in one process against its episodes dealt out to worker processes, side by side.

A fine-tuning run evaluates every ``eval_every`` env steps, and with one thread the learner leaves
the second core idle while it does: profiled on a 20k-step residual-td3 run on metaworld/pick-place
(``benchmarks/results/profiles/run-residual-td3-1thread.txt``), evaluation took 44% of the
wall-clock. ``evaluate(..., workers=N)`` (``honing.eval.workers``) forks N processes that each
step a share of the episodes. This times both on the pick-place BC base of
``benchmarks.finetune_metaworld`` (seed 0; built if missing), 50 episodes, in alternating rounds,
and checks that every episode's outcome (seed, success, length, return) is the same in both.

    python -m benchmarks.eval_workers

Writes ``benchmarks/results/eval_workers.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, ROOT, command_line, machine, save_results, update_section
from benchmarks.finetune_metaworld import prepare_base
from honing.eval import evaluate
from honing.policies import load_policy
from honing.tasks import get_task

TASK = "metaworld/pick-place"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="worker counts to compare")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per evaluation (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--workdir", default="runs/benchmark", help="where the demos and the BC base are")
    parser.add_argument("--out", default=str(RESULTS / "eval_workers.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # as a fine-tuning run of benchmarks.finetune_metaworld evaluates
    base_dir, _ = prepare_base(TASK, 0, Path(args.workdir))
    policy, task = load_policy(base_dir), get_task(TASK)
    seconds: dict[int, list[float]] = {workers: [] for workers in args.workers}
    outcomes: dict[int, list[tuple[Any, ...]]] = {}
    evaluate(policy, task, episodes=min(8, args.episodes))  # warm-up: imports, first env
    for _ in range(args.rounds):
        for workers in args.workers:
            start = time.perf_counter()
            result = evaluate(policy, task, episodes=args.episodes, seed=0, workers=workers)
            seconds[workers].append(round(time.perf_counter() - start, 3))
            outcomes[workers] = [(e.seed, e.success, e.length, e.episode_return) for e in result.episodes]
            print(f"workers {workers}: {seconds[workers][-1]:.2f} s, {result.describe()}", flush=True)
    reference = args.workers[0]
    median = {workers: statistics.median(values) for workers, values in seconds.items()}
    data = {
        "task": TASK,
        "episodes": args.episodes,
        "mean_length": statistics.mean(outcome[2] for outcome in outcomes[reference]),
        "seconds": {str(workers): values for workers, values in seconds.items()},
        "median_s": {str(workers): value for workers, value in median.items()},
        "speedup": {str(workers): round(median[reference] / value, 2) for workers, value in median.items()},
        "same_episodes": {str(workers): outcomes[workers] == outcomes[reference] for workers in args.workers},
        "command": command_line(),
        "machine": machine(),
    }
    out = Path(args.out)
    save_results(out, data)
    rows = ["| workers | seconds per evaluation (median) | rounds | speed-up | same episodes as 1 process |",
            "|---|---|---|---|---|"]  # fmt: skip
    for workers in args.workers:
        key = str(workers)
        rows.append(f"| {workers} | {data['median_s'][key]:.2f} | {', '.join(f'{s:.2f}' for s in seconds[workers])} "
                    f"| {data['speedup'][key]:.2f}x | {'yes' if data['same_episodes'][key] else 'NO'} |")  # fmt: skip
    update_section("eval-workers", (
        "## Parallel evaluation\n\n"
        f"One evaluation of the {TASK} BC base (seed 0): {args.episodes} episodes, mean length "
        f"{data['mean_length']:.1f} steps, 8 envs in all, torch on 1 thread; {args.rounds} alternating rounds.\n\n"
        + "\n".join(rows)
        + f"\n\n- Command: `{data['command']}`\n- Machine: {data['machine']}\n"
        f"- Raw results: `{os.path.relpath(out, ROOT)}`\n"
    ))  # fmt: skip


if __name__ == "__main__":
    main()
