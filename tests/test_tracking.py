"""Tracking: every training command writes metrics.jsonl and the same numbers as TensorBoard events."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from benchmarks.kill_resume import CONFIG
from honing.finetune import finetune, method_config
from honing.runs.rundir import read_metrics


def scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_fine_tuning_writes_tensorboard_events_that_match_metrics_jsonl(
    weak_base: tuple[Path, Path], tmp_path: Path
) -> None:
    base, demos = weak_base
    finetune(base, "toy/reach", demos, config=method_config("residual-td3", {**CONFIG, "steps": 800}),
             out=tmp_path / "run")  # fmt: skip
    logged = scalars(tmp_path / "run")
    assert {"eval/success", "eval/ci95_low", "train/critic_loss", "train/q_mean", "train/steps_per_s"} <= set(logged)
    evals = [m for m in read_metrics(tmp_path / "run") if m["kind"] == "eval"]
    assert [step for step, _ in logged["eval/success"]] == [m["env_steps"] for m in evals]
    assert [value for _, value in logged["eval/success"]] == pytest.approx([m["success"] for m in evals])
    losses = [m["critic_loss"] for m in read_metrics(tmp_path / "run") if "critic_loss" in m]
    assert [value for _, value in logged["train/critic_loss"]] == pytest.approx(losses, rel=1e-6)


def test_bc_writes_tensorboard_events(reach_bc_run: Path) -> None:
    logged = scalars(reach_bc_run)
    assert {"train/val_loss", "train/train_loss"} <= set(logged)
    assert len(logged["train/val_loss"]) == len([m for m in read_metrics(reach_bc_run) if "val_loss" in m])
