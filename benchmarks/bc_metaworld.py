"""Expert and BC success on Meta-World: the baseline every fine-tuning result is read against.

For each task: the scripted expert at action noise 0 and 0.3; then 20 successful demos at noise
0.3 (the first 10 of them form the 10-demo set), BC (MLP and chunked, early stopping on a held-out
split) on 10 and 20 demos; every policy evaluated on the same fixed-seed episodes.

Writes benchmarks/results/bc_metaworld.json (updated after every task, so an interrupted run
resumes where it stopped), benchmarks/results/bc_metaworld.png, and the table in BENCHMARKS.md.

    python -m benchmarks.bc_metaworld                    # the full table (~15 min on 2 cores)
    python -m benchmarks.bc_metaworld --tasks metaworld/push --episodes 20 --out /tmp/bc.json  # a quick look
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.common import METAWORLD_TASKS as TASKS
from benchmarks.common import RESULTS, ROOT, command_line, load_results, machine, pct, save_results, update_section
from honing.data import Dataset, collect_demos
from honing.eval import EvalResult, evaluate
from honing.policies import BCConfig, PolicyConfig, ScriptedPolicy, train_bc

DEMO_NOISE = 0.3
DEMO_COUNTS = (10, 20)
POLICIES = ("mlp", "chunked")


def summary(result: EvalResult, seconds: float, **extra: Any) -> dict[str, Any]:
    low, high = result.interval
    return {
        "success": result.success_rate,
        "ci95": [low, high],
        "episodes": result.n,
        "mean_length": result.mean_length,
        "eval_s": round(seconds, 1),
        **extra,
    }


def run_task(task_id: str, episodes: int, seed: int, bc_steps: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for noise in (0.0, DEMO_NOISE):
        start = time.time()
        result = evaluate(ScriptedPolicy(task_id, noise=noise, seed=seed), task_id, episodes=episodes, seed=seed)
        row[f"expert_noise_{noise}"] = summary(result, time.time() - start)
        print(f"  expert noise {noise}: {result.describe()}", flush=True)
    demos = collect_demos(task_id, episodes=max(DEMO_COUNTS), noise=DEMO_NOISE, seed=seed)
    row["demo_attempts"] = demos.attempts
    for count in DEMO_COUNTS:
        dataset = Dataset(demos.episodes[:count], {"honing_task": task_id})
        for kind in POLICIES:
            start = time.time()
            config = BCConfig(policy=PolicyConfig(kind=kind), steps=bc_steps, seed=seed)  # type: ignore[arg-type]
            bc = train_bc(dataset, config, task_id=task_id)
            train_s = time.time() - start
            start = time.time()
            result = evaluate(bc.policy, task_id, episodes=episodes, seed=seed)
            row[f"bc_{kind}_{count}"] = summary(
                result, time.time() - start, best_step=bc.best_step, updates=bc.steps_run, train_s=round(train_s, 1)
            )
            print(f"  BC {kind} on {count} demos (best update {bc.best_step}): {result.describe()}", flush=True)
    return row


def table(data: dict[str, Any]) -> str:
    header = ["task", "expert σ=0", "expert σ=0.3"] + [
        f"BC {kind} {count} demos" for count in DEMO_COUNTS for kind in POLICIES
    ]
    keys = ["expert_noise_0.0", f"expert_noise_{DEMO_NOISE}"] + [
        f"bc_{kind}_{count}" for count in DEMO_COUNTS for kind in POLICIES
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for task_id, row in data["tasks"].items():
        cells = [pct(row[k]["success"], *row[k]["ci95"]) for k in keys]
        lines.append(f"| {task_id.removeprefix('metaworld/')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(data: dict[str, Any], path: Path) -> None:
    keys = ["expert_noise_0.0", f"expert_noise_{DEMO_NOISE}"] + [
        f"bc_{kind}_{count}" for count in DEMO_COUNTS for kind in POLICIES
    ]
    labels = ["expert σ=0", f"expert σ={DEMO_NOISE}"] + [f"BC {k} {c}" for c in DEMO_COUNTS for k in POLICIES]
    tasks = list(data["tasks"])
    fig, ax = plt.subplots(figsize=(max(8, 1.9 * len(tasks)), 4.2))
    width = 0.8 / len(keys)
    for index, (key, label) in enumerate(zip(keys, labels, strict=True)):
        rates = [data["tasks"][t][key]["success"] for t in tasks]
        lows = [max(0.0, r - data["tasks"][t][key]["ci95"][0]) for r, t in zip(rates, tasks, strict=True)]
        highs = [max(0.0, data["tasks"][t][key]["ci95"][1] - r) for r, t in zip(rates, tasks, strict=True)]
        xs = [i + (index - (len(keys) - 1) / 2) * width for i in range(len(tasks))]
        ax.bar(xs, rates, width, yerr=[lows, highs], capsize=2, label=label)
    ax.set_xticks(range(len(tasks)), [t.removeprefix("metaworld/") for t in tasks], rotation=15)
    ax.set_ylabel("success rate (95% Wilson)")
    ax.set_ylim(0, 1.05)
    ax.legend(ncol=3, fontsize=8, loc="lower left")
    ax.set_title(f"Meta-World: expert vs BC ({data['episodes']} eval episodes each)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=TASKS, help="task ids (default: the six of the table)")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per entry (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed for demos, training and evaluation (default 0)")
    parser.add_argument("--bc-steps", type=int, default=3000, help="maximum BC updates (default 3000)")
    parser.add_argument("--out", default=str(RESULTS / "bc_metaworld.json"), help="results JSON")
    parser.add_argument("--fresh", action="store_true", help="ignore results already in --out")
    args = parser.parse_args()

    out = Path(args.out)
    data = {} if args.fresh else load_results(out)
    same_setup = data.get("episodes") == args.episodes and data.get("seed") == args.seed
    if not same_setup:
        data = {}
    data.update(
        {
            "episodes": args.episodes,
            "seed": args.seed,
            "demo_noise": DEMO_NOISE,
            "bc_steps": args.bc_steps,
            "machine": machine(),
            "command": command_line(),
        }
    )
    data.setdefault("tasks", {})
    for task_id in args.tasks:
        if task_id in data["tasks"]:
            print(f"{task_id}: already in {out}, skipped", flush=True)
            continue
        print(f"{task_id}:", flush=True)
        start = time.time()
        data["tasks"][task_id] = run_task(task_id, args.episodes, args.seed, args.bc_steps)
        data["tasks"][task_id]["wall_clock_s"] = round(time.time() - start, 1)
        save_results(out, data)
    plot(data, out.with_suffix(".png"))
    body = (
        "## Expert and BC success on Meta-World\n\n"
        f"Success rate with 95% Wilson interval over {data['episodes']} evaluation episodes (the same "
        f"fixed-seed initial states for every entry). Demos: scripted expert + Gaussian action noise "
        f"σ={DEMO_NOISE}, successful episodes only; the 10-demo set is the first half of the 20-demo set. "
        "BC: up to "
        f"{data['bc_steps']} updates, the checkpoint with the best validation loss on held-out episodes.\n\n"
        + table(data)
        + f"\n\n![expert vs BC]({os.path.relpath(out.with_suffix('.png'), ROOT)})\n\n"
        f"- Command: `{data['command']}`\n- Machine: {data['machine']}\n- Seed: {data['seed']}; "
        f"raw results: `{os.path.relpath(out, ROOT)}`\n"
    )
    update_section("bc-metaworld", body)
    print(table(data))


if __name__ == "__main__":
    main()
