"""Fine-tuning on Meta-World: every method on the same tasks, seeds, demos, bases and budget.

For each task and seed: 20 successful demos at noise 0.3, a BC base (early stopping on held-out
episodes), then each method fine-tunes that same base with the same env-step budget, evaluated
every ``--eval-every`` steps on the same fixed-seed episodes.

Writes benchmarks/results/finetune_metaworld.json (after every run, so an interrupted sweep resumes
where it stopped; per-run raw curves are kept under "runs"), one learning-curve PNG per task in
benchmarks/results/ (mean over seeds, shaded 95% Wilson band of the pooled episodes), and the table
in BENCHMARKS.md.

    python -m benchmarks.finetune_metaworld --methods residual-td3 rlpd ibrl filtered-bc   # the full grid (days)
    python -m benchmarks.finetune_metaworld --tasks metaworld/pick-place --seeds 0 --steps 30000 \\
        --set actor.action_scale=0.2 --tag scale0.2              # one probe, written beside the others
    python -m benchmarks.finetune_metaworld --base diffusion --methods dsrl residual-ppo   # on a diffusion base
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
import torch

from benchmarks.common import (
    METAWORLD_TASKS as TASKS,
)
from benchmarks.common import (
    RESULTS,
    ROOT,
    command_line,
    load_results,
    locked,
    machine,
    save_results,
    update_section,
)
from honing.config import build_config, to_dict
from honing.data import collect_demos, load_dataset
from honing.eval.stats import wilson_interval
from honing.finetune import finetune, get_method
from honing.policies import BCConfig, PolicyConfig, train_bc

DEMOS, NOISE = 20, 0.3


def prepare_base(task_id: str, seed: int, workdir: Path, kind: str = "mlp") -> tuple[Path, Path]:
    """Demos and BC base (MLP, or diffusion for dsrl) for (task, seed), built once and reused by every method."""
    root = workdir / task_id.replace("/", "-") / f"seed{seed}"
    demos, base = root / "demos", root / ("bc" if kind == "mlp" else f"bc-{kind}")
    with locked(root / "prepare"):  # parallel arms of one sweep share this base: build it once
        if not (demos / "data" / "metadata.json").is_file():
            collect_demos(task_id, DEMOS, noise=NOISE, seed=seed, out=demos, overwrite=True)
        if not (base / "checkpoints" / "best" / "config.json").is_file():
            config = BCConfig(seed=seed, policy=PolicyConfig(kind=kind))  # type: ignore[arg-type]
            train_bc(demos, config, out=base, task_id=task_id, overwrite=True)
    return base, demos


def arm(method: str, args: argparse.Namespace) -> tuple[str, str]:
    """(label in the results, run-directory name) of a method on this invocation's base and tag."""
    base = f"@{args.base}" if args.base != "mlp" else ""
    return method + base + (f"[{args.tag}]" if args.tag else ""), method + base.replace("@", "-") + (
        f"-{args.tag}" if args.tag else "")  # fmt: skip


def run_one(task_id: str, method: str, seed: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    base, demos = prepare_base(task_id, seed, workdir, args.base)
    values = {"steps": args.steps, "eval_every": args.eval_every, "eval_episodes": args.eval_episodes,
              "final_eval_episodes": args.eval_episodes, "seed": seed}  # fmt: skip
    config = build_config(get_method(method).config_cls, overrides=args.set or [], values=values)
    out = workdir / task_id.replace("/", "-") / f"seed{seed}" / arm(method, args)[1]
    start = time.time()
    result = finetune(base, task_id, load_dataset(demos), method=method, config=config, out=out, overwrite=True,
                      say=lambda line: print(f"    {line.strip()}", flush=True))  # fmt: skip
    return {
        "base_success": result.base_eval.success_rate,
        "final_success": result.honed_eval.success_rate,
        "eval_episodes": args.eval_episodes,
        "curve": [[p.env_steps, p.success] for p in result.curve],
        "wall_clock_s": round(time.time() - start, 1),
        "overrides": list(args.set or []),
        "config": to_dict(config),  # the effective config, so a record never depends on what "default" meant
    }


def steps_to(curve: list[list[float]], threshold: float) -> int | None:
    return next((int(steps) for steps, success in curve if success >= threshold - 1e-9), None)


def aggregate(runs: dict[str, Any]) -> dict[str, Any]:
    """The issue's schema: per task and method, means over seeds plus per-seed lists."""
    tasks: dict[str, Any] = {}
    for key, run in sorted(runs.items()):
        task_id, label, _ = key.rsplit("|", 2)
        tasks.setdefault(task_id, {}).setdefault(label, []).append(run)
    summary: dict[str, Any] = {}
    for task_id, methods in tasks.items():
        summary[task_id] = {}
        for label, seeds in methods.items():
            grid = sorted({int(s) for run in seeds for s, _ in run["curve"]})
            curve, band = [], []
            for steps in grid:
                rates = [dict((int(s), r) for s, r in run["curve"])[steps] for run in seeds
                         if steps in dict((int(s), r) for s, r in run["curve"])]  # fmt: skip
                episodes = seeds[0]["eval_episodes"] * len(rates)
                successes = round(sum(rates) * seeds[0]["eval_episodes"])
                curve.append([steps, sum(rates) / len(rates)])
                band.append(list(wilson_interval(successes, episodes)))
            summary[task_id][label] = {
                "base_success": sum(run["base_success"] for run in seeds) / len(seeds),
                "final_success": [run["final_success"] for run in seeds],
                "curve": curve,
                "curve_ci95": band,
                "steps_to_80": steps_to(curve, 0.8),
                "steps_to_90": steps_to(curve, 0.9),
                "steps_to_95": steps_to(curve, 0.95),
                "wall_clock_s": [run["wall_clock_s"] for run in seeds],
                "seeds": len(seeds),
            }
    return summary


def plot(task_id: str, methods: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, data in methods.items():
        steps = [s for s, _ in data["curve"]]
        ax.plot(steps, [r for _, r in data["curve"]], label=f"{label} ({data['seeds']} seeds)")
        ax.fill_between(steps, [lo for lo, _ in data["curve_ci95"]], [hi for _, hi in data["curve_ci95"]], alpha=0.2)
    kinds: dict[str, list[float]] = {}
    for label, data in methods.items():
        kinds.setdefault(label.split("[")[0].partition("@")[2] or "mlp", []).append(data["base_success"])
    for (kind, rates), style in zip(sorted(kinds.items()), ("--", ":"), strict=False):
        ax.axhline(sum(rates) / len(rates), color="gray", linestyle=style, linewidth=1, label=f"BC base ({kind})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("success rate (95% Wilson band)")
    ax.set_ylim(0, 1.02)
    ax.set_title(task_id)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _steps(value: int | None) -> str:
    """Steps to a threshold; 0 means the base was already there, — that the run never got there."""
    return "—" if value is None else str(value)


def table(summary: dict[str, Any]) -> str:
    lines = ["| task | method | seeds | BC base | final success (per seed) | steps to 80% | steps to 90% | "
             "wall-clock per run |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for task_id, methods in summary.items():
        for label, d in methods.items():
            finals = ", ".join(f"{100 * f:.0f}" for f in d["final_success"])
            mean = 100 * sum(d["final_success"]) / len(d["final_success"])
            clock = sum(d["wall_clock_s"]) / len(d["wall_clock_s"]) / 60
            lines.append(
                f"| {task_id.removeprefix('metaworld/')} | {label} | {d['seeds']} | {100 * d['base_success']:.0f}% | "
                f"{mean:.0f}% ({finals}) | {_steps(d['steps_to_80'])} | {_steps(d['steps_to_90'])} | {clock:.1f} min |"
            )
    return "\n".join(lines)


def machines(runs: dict[str, Any]) -> str:
    """Which machine ran how many runs; runs from before records named theirs are counted apart."""
    counts: dict[str, int] = {}
    for record in runs.values():
        name = record.get("machine") or UNRECORDED
        counts[name] = counts.get(name, 0) + 1
    return "; ".join(f"{name} ({count} runs)" for name, count in sorted(counts.items(), key=lambda kv: -kv[1]))


UNRECORDED = "not recorded per run (runs before 2026-12-02; the report's machine line then read: AMD EPYC, 2 cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=TASKS, help="task ids (default: the six Meta-World tasks)")
    parser.add_argument("--methods", nargs="+", default=["residual-td3"], help="methods (default residual-td3)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default 0 1 2)")
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per run (default 100000)")
    parser.add_argument("--eval-every", type=int, default=5_000, help="env steps between evaluations (default 5000)")
    parser.add_argument("--eval-episodes", type=int, default=50, help="episodes per evaluation (default 50)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a method config field")
    parser.add_argument("--base", choices=["mlp", "diffusion"], default="mlp",
                        help="BC base kind (diffusion for dsrl; labelled method@diffusion)")  # fmt: skip
    parser.add_argument("--tag", default="", help="label suffix for runs with overrides (an ablation arm)")
    parser.add_argument("--workdir", default="runs/benchmark", help="where demos, bases and run dirs go")
    parser.add_argument("--out", default=str(RESULTS / "finetune_metaworld.json"), help="results JSON")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per process (default 1: on 2 cores, two processes at 2 threads each "
                             "ran over 30x slower than at 1 thread each)")  # fmt: skip
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: redraw the plots and BENCHMARKS.md's table from the results")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    out, workdir = Path(args.out), Path(args.workdir)
    data = load_results(out)
    runs: dict[str, Any] = data.get("runs", {})
    commands: list[str] = data.get("commands", [])
    if command_line() not in commands and not args.report_only:
        commands.append(command_line())
    for task_id in [] if args.report_only else args.tasks:
        for method in args.methods:
            label = arm(method, args)[0]
            for seed in args.seeds:
                key = f"{task_id}|{label}|{seed}"
                if key in runs and runs[key]["curve"][-1][0] >= args.steps:
                    print(f"{key}: already in {out}, skipped", flush=True)
                    continue
                print(f"{key}:", flush=True)
                record = run_one(task_id, method, seed, args, workdir) | {"machine": machine()}
                with locked(out):  # other processes may have added runs meanwhile: merge, never overwrite
                    data = load_results(out)
                    runs = {**data.get("runs", {}), key: record}
                    commands = data.get("commands", []) + [c for c in commands if c not in data.get("commands", [])]
                    save_results(out, {"tasks": aggregate(runs), "machine": machine(), "command": commands[-1],
                                       "commands": commands, "runs": runs})  # fmt: skip
    with locked(out):
        data = load_results(out)
        runs, commands = data.get("runs", runs), data.get("commands", commands)
    summary = aggregate(runs)
    images = []
    for task_id, methods in summary.items():
        image = out.parent / f"finetune_{task_id.replace('/', '-')}.png"
        plot(task_id, methods, image)
        images.append(f"![{task_id}]({os.path.relpath(image, ROOT)})")
    body = (
        "## Fine-tuning on Meta-World\n\n"
        f"BC base from {DEMOS} demos at noise {NOISE} (per seed), then each method with the same env-step budget; "
        "success on the same fixed-seed evaluation episodes, mean over seeds (band: 95% Wilson interval of the "
        "pooled episodes). Steps-to-threshold: first evaluation whose seed-mean reaches it (0: the base already "
        "did; —: never).\n\n"
        + table(summary)
        + "\n\n" + " ".join(images) + "\n\n"
        + "- Commands:\n" + "".join(f"  - `{c}`\n" for c in commands)
        + f"- Machines (wall-clocks compare only within one): {machines(runs)}\n"
        + f"- Raw results: `{os.path.relpath(out, ROOT)}`\n"
    )  # fmt: skip
    update_section("finetune-metaworld", body)
    print(table(summary))


if __name__ == "__main__":
    main()
