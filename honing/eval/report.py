"""Reports that compare fine-tuning runs: curves with bands, base vs honed, config differences, IQM.

Runs are grouped by (task, method, config without the seed): the seeds of one group are pooled.
A curve's band is the 95% Wilson interval of the evaluation for one seed, and a Student-t
interval of the seed mean for several. Base-vs-honed bars pool every final-evaluation episode of
a group (Wilson). With several runs per method, the aggregate is the interquartile mean (IQM) of
final success with a stratified-bootstrap 95% interval (resampling seeds within each task), as
recommended in *Deep RL at the Edge of the Statistical Precipice* (Agarwal et al., 2021).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from honing.errors import HoningError
from honing.eval.stats import wilson_interval
from honing.runs.rundir import read_metrics

# two-sided 97.5% Student-t quantiles for 1..30 degrees of freedom (beyond: the normal's 1.96)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)  # fmt: skip


@dataclass
class RunRecord:
    """What a report needs from one fine-tuning run directory."""

    path: Path
    task: str
    method: str
    seed: int
    config: dict[str, Any]
    curve: list[tuple[int, float, float, float, float]]  # env steps, success, ci low, ci high, wall-clock s
    base: tuple[int, int]  # successes, episodes of the final evaluation
    honed: tuple[int, int]

    @property
    def final(self) -> float:
        return self.honed[0] / self.honed[1] if self.honed[1] else self.curve[-1][1]


@dataclass
class Group:
    """Seeds of one (task, method, config) pooled."""

    label: str
    task: str
    runs: list[RunRecord] = field(default_factory=list)

    def curve(self) -> list[tuple[int, float, float, float, float]]:
        """(env steps, mean success, band low, band high, mean wall-clock) at every evaluated step."""
        out = []
        for steps in sorted({point[0] for run in self.runs for point in run.curve}):
            points = [p for run in self.runs for p in run.curve if p[0] == steps]
            rates = np.array([p[1] for p in points])
            if len(points) == 1:
                low, high = points[0][2], points[0][3]
            else:
                half = _T975[min(len(rates) - 2, len(_T975) - 1)] * rates.std(ddof=1) / math.sqrt(len(rates))
                low, high = max(0.0, rates.mean() - half), min(1.0, rates.mean() + half)
            out.append((steps, float(rates.mean()), float(low), float(high), float(np.mean([p[4] for p in points]))))
        return out

    def pooled(self, which: str) -> tuple[float, tuple[float, float]]:
        successes = sum(getattr(run, which)[0] for run in self.runs)
        episodes = sum(getattr(run, which)[1] for run in self.runs)
        return successes / episodes, wilson_interval(successes, episodes)


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _final(path: Path) -> tuple[int, int]:
    try:
        episodes = json.loads(path.read_text())["episodes"]
    except (OSError, json.JSONDecodeError, KeyError):
        return 0, 0
    return sum(bool(e["success"]) for e in episodes), len(episodes)


def load_run(path: str | Path) -> RunRecord:
    """Read a run directory written by ``honing finetune`` (finished or still running)."""
    path = Path(path)
    record_file = path / "finetune.json"
    try:
        record = json.loads(record_file.read_text())
    except (OSError, json.JSONDecodeError):
        raise HoningError(f"{path} is not a fine-tuning run directory (no readable finetune.json)") from None
    evals = [m for m in read_metrics(path) if m.get("kind") == "eval"] if (path / "metrics.jsonl").is_file() else []
    if not evals:
        raise HoningError(f"{path} has no evaluations yet; report on it once its first evaluation is logged")
    curve = [(int(m["env_steps"]), float(m["success"]), float(m["ci95_low"]), float(m["ci95_high"]),
              float(m.get("wall_clock_s", 0.0))) for m in evals]  # fmt: skip
    config = _flatten(record.get("config", {}))
    return RunRecord(path, record["task"], record["method"], int(config.get("seed", 0)), config, curve,
                     _final(path / "eval" / "final_base.json"), _final(path / "eval" / "final_honed.json"))  # fmt: skip


def group_runs(runs: list[RunRecord]) -> list[Group]:
    """Pool runs that differ only in their seed; label variants of one method by what differs."""
    groups: dict[str, Group] = {}
    for run in runs:
        settings = {k: v for k, v in run.config.items() if k != "seed"}
        key = json.dumps([run.task, run.method, settings], sort_keys=True, default=str)
        groups.setdefault(key, Group(run.method, run.task)).runs.append(run)
    by_method: dict[tuple[str, str], list[Group]] = {}
    for group in groups.values():
        by_method.setdefault((group.task, group.label), []).append(group)
    for variants in by_method.values():
        if len(variants) > 1:  # name each variant by its settings that differ from the others'
            differing = config_differences([g.runs[0] for g in variants])
            for group in variants:
                parts = [f"{k}={group.runs[0].config.get(k)}" for k in differing if k != "seed"]
                group.label += f" ({', '.join(parts)})"
    return list(groups.values())


def config_differences(runs: list[RunRecord]) -> list[str]:
    """Config keys whose values are not the same in every run."""
    keys = sorted({k for run in runs for k in run.config})
    return [k for k in keys if len({json.dumps(run.config.get(k), default=str) for run in runs}) > 1]


def shown_differences(runs: list[RunRecord]) -> list[str]:
    """Keys for the config-difference table: those that differ among one method's runs, and those every
    run has that differ across methods (a key only some methods have is no difference worth a column)."""
    keys: set[str] = set()
    for method in {run.method for run in runs}:
        keys.update(config_differences([run for run in runs if run.method == method]))
    common = set.intersection(*(set(run.config) for run in runs))
    keys.update(k for k in config_differences(runs) if k in common)
    keys.discard("seed")
    return sorted(keys)


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% (a quarter trimmed from each end)."""
    ordered = np.sort(np.asarray(values, dtype=float))
    cut = int(0.25 * len(ordered))
    return float(ordered[cut : len(ordered) - cut].mean())


def iqm_interval(finals: dict[str, list[float]], reps: int = 2000, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """IQM over all runs of a method and its stratified-bootstrap 95% interval (seeds resampled per task)."""
    rng = np.random.default_rng(seed)
    tasks = [np.asarray(v, dtype=float) for v in finals.values()]
    point = iqm(np.concatenate(tasks))
    samples = [iqm(np.concatenate([t[rng.integers(0, len(t), len(t))] for t in tasks])) for _ in range(reps)]
    return point, (float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5)))


# -- rendering --------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(groups: list[Group]) -> list[tuple[str, str]]:
    """(title, base64 PNG) per task: success vs env steps and vs wall-clock, and base-vs-honed bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    for task in sorted({g.task for g in groups}):
        members = [g for g in groups if g.task == task]
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        for group in members:
            curve = group.curve()
            steps, mean = [c[0] for c in curve], [c[1] for c in curve]
            low, high, clock = [c[2] for c in curve], [c[3] for c in curve], [c[4] / 60 for c in curve]
            label = f"{group.label} ({len(group.runs)} seed{'s' if len(group.runs) > 1 else ''})"
            for ax, x in ((axes[0], steps), (axes[1], clock)):
                ax.plot(x, mean, label=label)
                ax.fill_between(x, low, high, alpha=0.2)
        axes[0].set_xlabel("environment steps")
        axes[1].set_xlabel("wall-clock (min)")
        for ax in axes[:2]:
            ax.set_ylabel("success rate (95% band)")
            ax.set_ylim(0, 1.02)
        axes[0].legend(fontsize=8, loc="lower right")
        x = np.arange(len(members))
        for offset, which, name in ((-0.2, "base", "base"), (0.2, "honed", "honed")):
            rates = [g.pooled(which) for g in members]
            errors = np.array([[r - lo, hi - r] for r, (lo, hi) in rates]).T
            axes[2].bar(x + offset, [r for r, _ in rates], 0.4, yerr=errors, capsize=3, label=name)
        axes[2].set_xticks(x, [g.label for g in members], rotation=20, ha="right", fontsize=8)
        axes[2].set_ylabel("final success (pooled episodes, Wilson 95%)")
        axes[2].set_ylim(0, 1.05)
        axes[2].legend(fontsize=8)
        fig.suptitle(task)
        fig.tight_layout()
        images.append((task, _png(fig)))
        plt.close(fig)
    return images


def _tables(runs: list[RunRecord], groups: list[Group]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, shared by the HTML and Markdown renderings."""

    def pct(value: float) -> str:
        return f"{100 * value:.0f}%"

    def interval(rate: float, bounds: tuple[float, float]) -> str:
        return f"{pct(rate)} [{pct(bounds[0])}, {pct(bounds[1])}]"

    summary = []
    for group in groups:
        curve = group.curve()
        to80 = next((str(c[0]) for c in curve if c[1] >= 0.8 - 1e-9), "—")
        minutes = np.mean([run.curve[-1][4] for run in group.runs]) / 60
        summary.append([group.task, group.label, str(len(group.runs)), interval(*group.pooled("base")),
                        interval(*group.pooled("honed")), to80, f"{minutes:.1f}"])  # fmt: skip
    tables = [("Base vs honed", ["task", "method", "seeds", "base (final eval)", "honed (final eval)",
                                 "steps to 80%", "wall-clock (min)"], summary)]  # fmt: skip
    differing = shown_differences(runs)
    if differing:

        def cell(run: RunRecord, key: str) -> str:
            return json.dumps(run.config[key], default=str) if key in run.config else "—"

        rows = [[str(run.path), *[cell(run, k) for k in differing]] for run in runs]
        tables.append(("Config differences", ["run", *differing], rows))
    by_method: dict[str, dict[str, list[float]]] = {}
    for group in groups:
        for run in group.runs:
            by_method.setdefault(group.label, {}).setdefault(run.task, []).append(run.final)
    aggregate = []
    for method, finals in sorted(by_method.items()):
        count = sum(len(v) for v in finals.values())
        if count >= 2:
            point, bounds = iqm_interval(finals)
            aggregate.append([method, str(len(finals)), str(count), interval(point, bounds)])
    if aggregate:
        tables.append(("Aggregate: IQM of final success (stratified bootstrap 95%)",
                       ["method", "tasks", "runs", "IQM"], aggregate))  # fmt: skip
    return tables


def find_videos(runs: list[RunRecord], link_base: Path | None) -> list[tuple[str, str]]:
    """(run, link) for every mp4 that ``honing eval --video`` wrote into a run's eval/videos/.

    Links are relative to `link_base` (the folder the report is written to) so the page and its
    videos can move together; absolute when the report has no file.
    """
    found = []
    for run in runs:
        for video in sorted((run.path / "eval" / "videos").rglob("*.mp4")):
            link = os.path.relpath(video.resolve(), link_base.resolve()) if link_base else str(video.resolve())
            found.append((str(run.path), link))
    return found


def render_markdown(runs: list[RunRecord], link_base: Path | None = None) -> str:
    groups = group_runs(runs)
    out = []
    for title, header, rows in _tables(runs, groups):
        out += [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        out.append("")
    videos = find_videos(runs, link_base)
    if videos:
        out += ["### Videos", ""] + [f"- {run}: [{Path(link).name}]({link})" for run, link in videos] + [""]
    return "\n".join(out)


def render_html(runs: list[RunRecord], link_base: Path | None = None) -> str:
    groups = group_runs(runs)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>honing report</title><style>",
             "body{font-family:sans-serif;margin:2em;max-width:1500px} table{border-collapse:collapse;margin:1em 0}",
             "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px} img{max-width:100%}",
             "</style></head><body>", "<h1>honing report</h1>",
             f"<p>{len(runs)} runs, generated {html.escape(time.strftime('%Y-%m-%d %H:%M:%S'))}. Bands: 95% Wilson "
             "interval for one seed, Student-t interval of the seed mean for several.</p>"]  # fmt: skip
    for title, image in _plots(groups):
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)} curves' "
                     f"src='data:image/png;base64,{image}'>")  # fmt: skip
    for title, header, rows in _tables(runs, groups):
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")  # fmt: skip
        parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    videos = find_videos(runs, link_base)
    if videos:
        parts.append("<h2>Videos</h2><p>Evaluation episodes recorded with <code>honing eval --video N</code>; "
                     "the outcome is in the file name and the bar along the top.</p>")  # fmt: skip
        for run, link in videos:
            src = html.escape(link, quote=True)
            parts.append(f"<figure style='display:inline-block'><video controls width='320' src='{src}'></video>"
                         f"<figcaption><a href='{src}'>{html.escape(Path(link).name)}</a><br>"
                         f"{html.escape(run)}</figcaption></figure>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(run_dirs: list[str | Path], fmt: str = "html", link_base: str | Path | None = None) -> str:
    """The report of `run_dirs` as a self-contained HTML page (plots embedded) or Markdown tables.

    Videos found in the runs are linked relative to `link_base` (the report's folder) when given.
    """
    if not run_dirs:
        raise HoningError("report needs at least one fine-tuning run directory")
    runs = [load_run(path) for path in run_dirs]
    base = Path(link_base) if link_base is not None else None
    if fmt == "md":
        return render_markdown(runs, base)
    if fmt != "html":
        raise HoningError(f"unknown report format {fmt!r}; use html or md")
    return render_html(runs, base)
