"""Two arms of the Meta-World fine-tuning benchmark, seed by seed: wall-clock and success curves.

A speed change (a precision, a compile mode, an actor process) is only worth having if it leaves
learning alone. This reads the runs ``benchmarks.finetune_metaworld`` recorded and, for every seed
both arms ran, sets their wall-clocks side by side and counts the evaluations at which the two
success rates' 95% Wilson intervals overlap, per seed (each evaluation's own episodes) and pooled
over seeds. It runs nothing; the two arms of a seed should have run side by side on one machine,
since only such wall-clocks compare.

    python -m benchmarks.finetune_compare --task metaworld/pick-place \\
        'residual-td3[f32-eager]' 'residual-td3[bf16-compiled]'

Writes a plot next to the results (curves per seed and pooled, wall-clock per seed) and a section
of BENCHMARKS.md named after the two arms.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.common import RESULTS, ROOT, command_line, load_results, update_section
from benchmarks.finetune_metaworld import aggregate
from honing.eval.stats import wilson_interval


def intervals_overlap(rate_a: float, rate_b: float, episodes: int) -> bool:
    """Whether two success rates over ``episodes`` each have overlapping 95% Wilson intervals."""
    low_a, high_a = wilson_interval(round(rate_a * episodes), episodes)
    low_b, high_b = wilson_interval(round(rate_b * episodes), episodes)
    return low_a <= high_b and low_b <= high_a


def curve_overlap(curve_a: list[list[float]], curve_b: list[list[float]], episodes: int) -> dict[str, Any]:
    """Overlap of two curves at the evaluations they share; the misses are listed, not just counted."""
    rates_b = {int(steps): rate for steps, rate in curve_b}
    shared = [(int(steps), rate, rates_b[int(steps)]) for steps, rate in curve_a if int(steps) in rates_b]
    misses = [[steps, a, b] for steps, a, b in shared if not intervals_overlap(a, b, episodes)]
    return {"evaluations": len(shared), "overlapping": len(shared) - len(misses), "misses": misses}


def compare(runs: dict[str, Any], task_id: str, arm_a: str, arm_b: str) -> dict[str, Any]:
    """Per-seed wall-clocks and curve overlaps, and the pooled-over-seeds overlap, for two arms."""
    seeds = sorted({int(key.rsplit("|", 1)[1]) for key in runs if key.startswith(f"{task_id}|{arm_a}|")}
                   & {int(key.rsplit("|", 1)[1]) for key in runs if key.startswith(f"{task_id}|{arm_b}|")})  # fmt: skip
    if not seeds:
        present = sorted({key.split("|")[1] for key in runs if key.startswith(f"{task_id}|")})
        raise SystemExit(f"no seed of {task_id} has runs of both {arm_a!r} and {arm_b!r}; "
                         f"its arms are: {', '.join(present) or 'none'}")  # fmt: skip
    per_seed = []
    for seed in seeds:
        a, b = runs[f"{task_id}|{arm_a}|{seed}"], runs[f"{task_id}|{arm_b}|{seed}"]
        if a["eval_episodes"] != b["eval_episodes"]:
            raise SystemExit(f"seed {seed}: the arms evaluated on {a['eval_episodes']} and {b['eval_episodes']} "
                             "episodes; rerun one so both use the same evaluation")  # fmt: skip
        per_seed.append({
            "seed": seed,
            "wall_clock_s": [a["wall_clock_s"], b["wall_clock_s"]],
            "wall_clock_ratio": b["wall_clock_s"] / a["wall_clock_s"],
            "final_success": [a["final_success"], b["final_success"]],
            "machine": [a.get("machine"), b.get("machine")],
            **curve_overlap(a["curve"], b["curve"], a["eval_episodes"]),
        })  # fmt: skip
    subset = {f"{task_id}|{arm}|{seed}": runs[f"{task_id}|{arm}|{seed}"] for arm in (arm_a, arm_b) for seed in seeds}
    pooled = aggregate(subset)[task_id]
    episodes = runs[f"{task_id}|{arm_a}|{seeds[0]}"]["eval_episodes"] * len(seeds)
    clock_a = sum(s["wall_clock_s"][0] for s in per_seed)
    clock_b = sum(s["wall_clock_s"][1] for s in per_seed)
    return {
        "task": task_id,
        "arms": [arm_a, arm_b],
        "seeds": per_seed,
        "mean_wall_clock_s": [clock_a / len(seeds), clock_b / len(seeds)],
        "wall_clock_ratio": clock_b / clock_a,
        "per_seed_overlapping": [sum(s["overlapping"] for s in per_seed), sum(s["evaluations"] for s in per_seed)],
        "pooled": curve_overlap(pooled[arm_a]["curve"], pooled[arm_b]["curve"], episodes),
        "curves": {arm: pooled[arm] for arm in (arm_a, arm_b)},
    }


def plot(result: dict[str, Any], runs: dict[str, Any], path: Path) -> None:
    arms, task_id = result["arms"], result["task"]
    fig, (curves, clocks) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2.2, 1]})
    for arm, colour in zip(arms, ("tab:blue", "tab:orange"), strict=True):
        data = result["curves"][arm]
        steps = [s for s, _ in data["curve"]]
        for seed in result["seeds"]:
            curve = runs[f"{task_id}|{arm}|{seed['seed']}"]["curve"]
            curves.plot([s for s, _ in curve], [r for _, r in curve], color=colour, alpha=0.3, linewidth=0.8)
        curves.plot(steps, [r for _, r in data["curve"]], color=colour, label=f"{arm} (mean of {data['seeds']})")
        curves.fill_between(steps, [lo for lo, _ in data["curve_ci95"]], [hi for _, hi in data["curve_ci95"]],
                            color=colour, alpha=0.2)  # fmt: skip
    curves.set(xlabel="environment steps", ylabel="success rate", ylim=(0, 1.02),
               title=f"{task_id} (thin: per seed; band: pooled 95% Wilson)")  # fmt: skip
    curves.legend(fontsize=8, loc="lower right")
    curves.title.set_fontsize(9)
    width = 0.38
    for index, (arm, colour) in enumerate(zip(arms, ("tab:blue", "tab:orange"), strict=True)):
        xs = [i + (index - 0.5) * width for i in range(len(result["seeds"]))]
        clocks.bar(xs, [s["wall_clock_s"][index] / 60 for s in result["seeds"]], width, color=colour, label=arm)
    clocks.set_xticks(range(len(result["seeds"])), [f"seed {s['seed']}" for s in result["seeds"]])
    clocks.set(ylabel="wall-clock per run (min)", title=f"{arms[1]} in {result['wall_clock_ratio']:.2f}x")
    clocks.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(result: dict[str, Any], image: Path, out: Path) -> str:
    arm_a, arm_b = result["arms"]
    header = (f"| seed | wall-clock {arm_a} | wall-clock {arm_b} | ratio | final success | "
              "evaluations with overlapping 95% intervals | where they do not |")  # fmt: skip
    lines = [header, "|---|---|---|---|---|---|---|"]
    for s in result["seeds"]:
        misses = "; ".join(f"{steps}: {100 * a:.0f}% vs {100 * b:.0f}%" for steps, a, b in s["misses"]) or "—"
        lines.append(f"| {s['seed']} | {s['wall_clock_s'][0] / 60:.1f} min | {s['wall_clock_s'][1] / 60:.1f} min | "
                     f"{s['wall_clock_ratio']:.2f}x | {100 * s['final_success'][0]:.0f}% vs "
                     f"{100 * s['final_success'][1]:.0f}% | {s['overlapping']}/{s['evaluations']} | "
                     f"{misses} |")  # fmt: skip
    pooled, mean = result["pooled"], result["mean_wall_clock_s"]
    machines = sorted({m for s in result["seeds"] for m in s["machine"] if m})
    return (
        f"### {arm_b} against {arm_a} on {result['task']}\n\n"
        + "\n".join(lines)
        + f"\n\n- Mean wall-clock {mean[0] / 60:.1f} min against {mean[1] / 60:.1f} min: {arm_b} in "
        f"{result['wall_clock_ratio']:.2f}x the time ({1 / result['wall_clock_ratio']:.2f}x as fast).\n"
        f"- Curves: per seed, the intervals overlap at {result['per_seed_overlapping'][0]} of "
        f"{result['per_seed_overlapping'][1]} evaluations (95% intervals leave about 1 in 20 to chance); pooled "
        f"over the seeds, at {pooled['overlapping']} of {pooled['evaluations']}.\n"
        f"- Machine{'s' if len(machines) != 1 else ''}: {'; '.join(machines) or 'not recorded'}\n"
        f"- Command: `{command_line()}` (reads `{os.path.relpath(out, ROOT)}`; runs nothing)\n\n"
        f"![{slug(arm_b)} against {slug(arm_a)}]({os.path.relpath(image, ROOT)})\n"
    )


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("arms", nargs=2, metavar="ARM", help="the reference arm, then the candidate (labels as in "
                        "the fine-tuning table, e.g. 'residual-td3[f32-eager]')")  # fmt: skip
    parser.add_argument("--task", default="metaworld/pick-place", help="task id (default metaworld/pick-place)")
    parser.add_argument("--results", default=str(RESULTS / "finetune_metaworld.json"), help="results JSON")
    args = parser.parse_args()
    out = Path(args.results)
    if not out.is_file():
        raise SystemExit(f"{out} does not exist; run benchmarks.finetune_metaworld first")
    runs = load_results(out).get("runs", {})
    result = compare(runs, args.task, *args.arms)
    name = f"compare-{slug(args.task.removeprefix('metaworld/'))}-{slug(args.arms[0])}-vs-{slug(args.arms[1])}"
    image = out.parent / f"finetune_{name}.png"
    plot(result, runs, image)
    body = report(result, image, out)
    update_section(name, body)
    print(body)


if __name__ == "__main__":
    main()
