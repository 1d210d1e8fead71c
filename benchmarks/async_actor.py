"""Both cores: the synchronous loop against the actor-process loop, side by side in one run.

End-to-end training env steps/s on metaworld/pick-place (2x256, 2 critics, batch 256, the base a
BC network's cost) after the warm-up, for each method and UTD asked for, in these arms:

- ``sync 1t`` / ``sync 2t``: the default loop, torch at 1 or 2 threads;
- ``async 1t`` / ``async 2t``: ``async_actor = true`` (the env, base and exploration in an actor
  process with one thread, at most ``--lag`` env steps ahead), the learner at 1 or 2 threads;
- ``sb3 1t`` / ``sb3 2t``: Stable-Baselines3's TD3 (for residual-td3) or SAC (for rlpd) at the same
  network size, batch and UTD (needs ``pip install 'honing[bench]'``).

Arms are timed in alternating rounds (median of ``--rounds``) so every arm sees the same machine.
Writes ``benchmarks/results/async_actor.json`` and a table in BENCHMARKS.md.

    python -m benchmarks.async_actor --mode bf16-compiled
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, ROOT, command_line, machine, save_results, update_section
from benchmarks.learner_throughput import honing_steps_per_s, median, sb3_steps_per_s
from benchmarks.learners import MODES, TASK

SB3_ALGO = {"residual-td3": "TD3", "rlpd": "SAC"}


def arms(method: str, utd: int, args: argparse.Namespace) -> dict[str, Callable[[], float | None]]:
    steps = args.env_steps // utd
    run = partial(honing_steps_per_s, method, utd, steps, args.warmup, args.mode)
    return {
        "sync 1t": partial(run, False),
        "sync 2t": partial(run, False),
        "async 1t": partial(run, True, args.lag),
        "async 2t": partial(run, True, args.lag),
        "sb3 1t": partial(sb3_steps_per_s, SB3_ALGO[method], utd, steps, args.warmup),
        "sb3 2t": partial(sb3_steps_per_s, SB3_ALGO[method], utd, steps, args.warmup),
    }


def measure(method: str, utd: int, args: argparse.Namespace) -> dict[str, Any]:
    todo = arms(method, utd, args)
    rates: dict[str, list[float]] = {name: [] for name in todo}
    for round_ in range(args.rounds):
        for name, run in todo.items():
            torch.set_num_threads(int(name[-2]))
            rate = run()
            if rate is not None:
                rates[name].append(rate)
            print(f"  {method} UTD {utd} round {round_}: {name} {rate} env steps/s", flush=True)
    medians = {name: m for name, r in rates.items() if (m := median(r)) is not None}
    best_sync = max(medians["sync 1t"], medians["sync 2t"])
    best_async = max(medians["async 1t"], medians["async 2t"])
    best_sb3 = max((medians[n] for n in ("sb3 1t", "sb3 2t") if n in medians), default=None)
    return {
        "rounds": rates,
        "median_steps_per_s": medians,
        "async_over_sync": round(best_async / best_sync, 2),
        "async_over_sb3": round(best_async / best_sb3, 2) if best_sb3 else None,
        "sync_over_sb3": round(best_sync / best_sb3, 2) if best_sb3 else None,
    }


def table(results: dict[str, Any]) -> str:
    names = ("sync 1t", "sync 2t", "async 1t", "async 2t", "sb3 1t", "sb3 2t")
    rows = ["| method | UTD | " + " | ".join(names) + " | best async / best sync | best async / best SB3 |",
            "|---|---|" + "---|" * (len(names) + 2)]  # fmt: skip
    for key, entry in results.items():
        method, utd = key.split("|")
        medians = entry["median_steps_per_s"]
        cells = [str(medians.get(name, "—")) for name in names]
        rows.append(f"| {method} | {utd[3:]} | " + " | ".join(cells) + f" | {entry['async_over_sync']}x | "
                    f"{entry['async_over_sb3'] or '—'}x |")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["residual-td3", "rlpd"], choices=sorted(SB3_ALGO))
    parser.add_argument("--utd", type=int, nargs="+", default=[1], help="update-to-data ratios (default 1)")
    parser.add_argument("--env-steps", type=int, default=800, help="timed env steps at UTD 1 (divided by UTD)")
    parser.add_argument("--warmup", type=int, default=1_000, help="env steps before updates start (not timed)")
    parser.add_argument("--lag", type=int, default=2, help="max_policy_lag of the async arms (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the median is reported")
    parser.add_argument("--mode", choices=list(MODES), default="eager",
                        help="honing's update mode (learner_throughput's: compile and precision)")  # fmt: skip
    parser.add_argument("--out", default=str(RESULTS / "async_actor.json"))
    args = parser.parse_args()

    results = {f"{m}|utd{u}": measure(m, u, args) for m in args.methods for u in args.utd}
    out = Path(args.out)
    save_results(out, {"results": results, "lag": args.lag, "mode": args.mode, "task": TASK,
                       "command": command_line(), "machine": machine()})  # fmt: skip
    body = (
        "## Both cores: actor process vs synchronous loop\n\n"
        f"Training env steps/s on {TASK} after {args.warmup} warm-up steps (2x256, 2 critic heads, batch 256, "
        f"{args.mode} updates), median of {args.rounds} alternating rounds; async "
        f"arms: `async_actor = true, max_policy_lag = {args.lag}` (the env in an actor process, one thread), "
        "`Nt`: torch threads of the learner. SB3: TD3 beside residual-td3, SAC beside rlpd.\n\n"
        + table(results)
        + f"\n\n- Command: `{command_line()}`\n- Machine: {machine()}\n- Raw results: `{os.path.relpath(out, ROOT)}`\n"
    )  # fmt: skip
    update_section("async-actor", body)
    print(table(results))


if __name__ == "__main__":
    main()
