"""``honing sweep``: a grid expands into trials, runs locally and under Ray, resumes, and records failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from honing.cli import main
from honing.errors import ConfigError
from honing.sweep import load_sweep_spec, run_sweep

TINY = {"steps": 300, "eval_every": 300, "eval_episodes": 2, "final_eval_episodes": 2, "learning_starts": 100,
        "critic_warmup": 50, "batch_size": 16, "critic_hidden_dims": [16], "device": "cpu"}  # fmt: skip


def _spec(tmp_path: Path, weak_base: tuple[Path, Path], **extra: object) -> Path:
    bc, demos = weak_base
    data = {"out": str(tmp_path / "sweep"), "tasks": {"toy/reach": {"base": str(bc), "demos": str(demos)}},
            "methods": ["residual-td3"], "seeds": [0], "set": TINY,
            "grid": {"actor.action_scale": [0.1, 0.3]}, **extra}  # fmt: skip
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_grid_expands_into_named_trials(tmp_path: Path, weak_base: tuple[Path, Path]) -> None:
    grid = {"batch_size": [16, 32], "actor.hidden_dims": [[16]]}
    spec = load_sweep_spec(_spec(tmp_path, weak_base, seeds=[0, 1], methods=["residual-td3", "ibrl"], grid=grid))
    trials = spec.trials()
    assert len(trials) == 2 * 2 * 2  # methods x batch sizes x seeds
    first = trials[0]
    assert first.name == "toy-reach/residual-td3-actor.hidden_dims=16-batch_size=16/seed0"
    assert first.values["actor"] == {"hidden_dims": [16]} and first.values["seed"] == 0
    assert (first.values["batch_size"], first.values["steps"]) == (16, 300)
    assert [t.method for t in trials[4:]] == ["ibrl"] * 4


def test_spec_errors_name_the_problem(tmp_path: Path, weak_base: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match="unknown method 'residual-td4'"):
        load_sweep_spec(_spec(tmp_path, weak_base, methods=["residual-td4"]))
    with pytest.raises(ConfigError, match=r"residual-td3: .*actor.action_scal"):
        load_sweep_spec(_spec(tmp_path, weak_base, grid={"actor.action_scal": [0.1]}))
    with pytest.raises(ConfigError, match="unknown key 'seed' \\(did you mean 'seeds'"):
        load_sweep_spec(_spec(tmp_path, weak_base, seed=[0]))


def test_local_sweep_writes_json_and_report_then_skips_finished(tmp_path: Path, weak_base: tuple[Path, Path]) -> None:
    spec = load_sweep_spec(_spec(tmp_path, weak_base))
    result = run_sweep(spec)
    assert [t["status"] for t in result.trials] == ["done", "done"]
    saved = json.loads(result.json_path.read_text())
    assert [t["overrides"] for t in saved["trials"]] == [{"actor.action_scale": 0.1}, {"actor.action_scale": 0.3}]
    assert all(0 <= t["final_success"] <= 1 and t["curve"][-1][0] == 300 for t in saved["trials"])
    assert result.report_path is not None and "<img" in result.report_path.read_text()
    again = run_sweep(spec, report=False)
    assert [t["status"] for t in again.trials] == ["skipped (finished before)"] * 2
    assert [t["final_success"] for t in again.trials] == [t["final_success"] for t in result.trials]


def test_a_failing_trial_is_recorded_and_the_cli_exits_nonzero(
    tmp_path: Path, weak_base: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _spec(tmp_path, weak_base, workers=2)  # two worker processes: the local pool path
    data = yaml.safe_load(path.read_text())
    data["tasks"]["toy/reach"]["demos"] = str(tmp_path / "missing")
    path.write_text(yaml.safe_dump(data))
    assert main(["sweep", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.count("failed: DatasetError: dataset path") == 2 and "2 trials (2 failed)" in out
    assert "2 local worker(s)" in out


def test_two_trial_sweep_under_ray(tmp_path: Path, weak_base: tuple[Path, Path]) -> None:
    pytest.importorskip("ray")
    spec = load_sweep_spec(_spec(tmp_path, weak_base))
    result = run_sweep(spec, ray_address="local", workers=2)
    assert [t["status"] for t in result.trials] == ["done", "done"], result.trials
    for trial in result.trials:
        assert (Path(trial["run_dir"]) / "checkpoints" / "best").is_dir()
