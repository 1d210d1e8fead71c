"""Tracking: every training command writes metrics.jsonl and the same numbers as TensorBoard events."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from benchmarks.kill_resume import CONFIG
from honing.errors import HoningError
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


class FakeWandbRun:
    def __init__(self, **kwargs: object) -> None:
        self.kwargs, self.logged, self.finished = kwargs, [], False

    def log(self, values: dict[str, float], step: int) -> None:
        self.logged.append((step, values))

    def finish(self) -> None:
        self.finished = True


def test_wandb_and_mlflow_sinks_get_the_same_scalars(
    weak_base: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sinks' packages are stood in for by fakes: what matters is what honing hands them."""
    runs: list[FakeWandbRun] = []
    wandb = types.SimpleNamespace(init=lambda **kw: runs.append(FakeWandbRun(**kw)) or runs[-1])
    calls: list[tuple[str, object]] = []
    mlflow = types.SimpleNamespace(
        set_experiment=lambda name: calls.append(("experiment", name)),
        start_run=lambda run_name: calls.append(("start", run_name)),
        log_params=lambda params: calls.append(("params", params)),
        log_metrics=lambda metrics, step: calls.append(("metrics", (step, metrics))),
        end_run=lambda: calls.append(("end", None)),
    )
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    base, demos = weak_base
    finetune(base, "toy/reach", demos, config=method_config("residual-td3", {**CONFIG, "steps": 800}),
             out=tmp_path / "run", wandb="honing-test", mlflow="honing-exp")  # fmt: skip
    evals = [m for m in read_metrics(tmp_path / "run") if m["kind"] == "eval"]
    (run,) = runs
    assert run.kwargs["project"] == "honing-test" and run.kwargs["name"] == "run" and run.finished
    assert [(step, v["eval/success"]) for step, v in run.logged if "eval/success" in v] == [
        (m["env_steps"], m["success"]) for m in evals
    ]
    assert calls[0] == ("experiment", "honing-exp") and calls[-1] == ("end", None)
    params = next(value for kind, value in calls if kind == "params")
    assert params["actor.action_scale"] == "0.2"  # type: ignore[index]
    metrics = [value for kind, value in calls if kind == "metrics"]
    mlflow_evals = [(step, m["eval.success"]) for step, m in metrics if "eval.success" in m]  # type: ignore[misc]
    assert mlflow_evals == [(m["env_steps"], m["success"]) for m in evals]


def test_a_missing_tracker_package_is_one_clear_error(
    weak_base: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # import fails, as when it is not installed
    base, demos = weak_base
    with pytest.raises(HoningError, match=r"--wandb needs the wandb package: pip install wandb"):
        finetune(base, "toy/reach", demos, config=method_config("residual-td3", CONFIG), out=tmp_path / "run",
                 wandb="p")  # fmt: skip
    assert not (tmp_path / "run").exists()
