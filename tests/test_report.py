"""honing report: curves with bands across seeds, base vs honed, config differences, IQM; HTML and Markdown."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from honing.cli import main
from honing.eval.report import build_report, group_runs, iqm, iqm_interval, load_run
from honing.finetune import finetune, method_config

TINY = {"steps": 400, "learning_starts": 100, "critic_warmup": 50, "batch_size": 16, "critic_hidden_dims": [16],
        "actor": {"hidden_dims": [16]}, "eval_every": 200, "eval_episodes": 4, "final_eval_episodes": 6,
        "device": "cpu"}  # fmt: skip


@pytest.fixture(scope="module")
def runs(weak_base: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base, demos = weak_base
    root = tmp_path_factory.mktemp("report")
    out = []
    for name, values in (("td3-s0", {**TINY, "seed": 0}), ("td3-s1", {**TINY, "seed": 1}),
                         ("td3-big", {**TINY, "actor": {"hidden_dims": [16], "action_scale": 0.5}})):  # fmt: skip
        finetune(base, "toy/reach", demos, config=method_config("residual-td3", values), out=root / name)
        out.append(root / name)
    return out


def test_iqm_and_its_bootstrap_interval() -> None:
    assert iqm(np.arange(8.0)) == 3.5  # mean of the middle half: 2, 3, 4, 5
    point, (low, high) = iqm_interval({"a": [0.5, 0.5, 0.5], "b": [0.5, 0.5]})
    assert point == low == high == 0.5
    point, (low, high) = iqm_interval({"a": [0.0, 0.2, 0.4, 0.6], "b": [0.8, 1.0, 0.9, 0.7]})
    assert low <= point <= high and low < high


def test_seeds_pool_into_one_group_and_variants_are_named(runs: list[Path]) -> None:
    records = [load_run(path) for path in runs]
    groups = {g.label: g for g in group_runs(records)}
    assert set(groups) == {"residual-td3 (actor.action_scale=0.2)", "residual-td3 (actor.action_scale=0.5)"}
    pooled = groups["residual-td3 (actor.action_scale=0.2)"]
    assert len(pooled.runs) == 2
    curve = pooled.curve()
    assert [c[0] for c in curve] == [0, 200, 400]
    for steps, mean, low, high, _ in curve:
        rates = [p[1] for r in pooled.runs for p in r.curve if p[0] == steps]
        assert mean == pytest.approx(np.mean(rates)) and low <= mean <= high
    single = groups["residual-td3 (actor.action_scale=0.5)"].curve()
    assert [(c[2], c[3]) for c in single] == [(p[2], p[3]) for p in records[2].curve]  # one seed: its Wilson band


def test_html_report_embeds_plots_and_tables(runs: list[Path], tmp_path: Path) -> None:
    assert main(["report", *map(str, runs), "--out", str(tmp_path / "report.html")]) == 0
    page = (tmp_path / "report.html").read_text()
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(images) == 1 and base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    for text in ("Base vs honed", "Config differences", "actor.action_scale", "Aggregate: IQM"):
        assert text in page
    markdown = build_report(runs, fmt="md")
    assert "| task | method | seeds |" in markdown
    assert "| toy/reach | residual-td3 (actor.action_scale=0.2) | 2 |" in markdown


def test_report_refuses_a_directory_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "is not a fine-tuning run directory" in capsys.readouterr().err


NO_CHROMIUM = "headless Chromium (Debian's chromium package) is not installed"


@pytest.mark.skipif(shutil.which("chromium") is None, reason=NO_CHROMIUM)
def test_report_renders_in_headless_chromium(runs: list[Path], tmp_path: Path) -> None:
    page, shot = tmp_path / "report.html", tmp_path / "shot.png"
    assert main(["report", *map(str, runs), "--out", str(page)]) == 0
    command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
               "--window-size=1500,1200", page.as_uri()]  # fmt: skip
    subprocess.run(command, check=True, timeout=120, capture_output=True)
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[..., :3]
    assert (pixels.reshape(-1, 3) < 0.9).any(axis=1).mean() > 0.02  # plots and text drew, not a blank page
    colours = {tuple(np.round(p, 1)) for p in pixels.reshape(-1, 3)[::50]}
    assert len(colours) > 10  # curves and bands in colour, not just black text


def test_report_links_the_runs_videos(runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Videos from ``honing eval RUN_DIR --video N`` (eval/videos/) are linked relative to the report."""
    from honing.cli import main

    assert main(["eval", str(runs[0]), "--episodes", "2", "--video", "1", "--num-envs", "1"]) == 0
    video = next((runs[0] / "eval" / "videos").rglob("*.mp4"))
    out = tmp_path / "pages" / "report.html"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    page = out.read_text()
    link = os.path.relpath(video, out.parent)
    assert f"<video controls width='320' src='{link}'>" in page and (out.parent / link).is_file()
    assert f"]({video.resolve()})" in build_report(runs, fmt="md")  # no report file: absolute links
