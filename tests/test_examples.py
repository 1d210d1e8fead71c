"""The examples the docs point at run as written (with a smaller budget)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def test_custom_task_example_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from honing.tasks import registry

    monkeypatch.setattr(registry, "_EXTRA", dict(registry._EXTRA))  # the example's task leaves with the test
    example = runpy.run_path(str(EXAMPLES / "custom_task.py"))
    example["main"](["--out", str(tmp_path / "slider"), "--steps", "1000"])
    out = capsys.readouterr().out
    assert "10 demos in" in out and "BC   : success" in out and "honed: success" in out
    assert (tmp_path / "slider" / "finetune" / "checkpoints" / "best").is_dir()


def test_example_sweep_spec_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    from honing.cli import main

    assert main(["sweep", str(EXAMPLES / "sweep.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "6 trials" in out and "residual-td3-actor.action_scale=0.2/seed2" in out
