"""The progress bar: live on a terminal, silent in pipes and CI logs."""

from __future__ import annotations

import io

from rich.console import Console

from honing.runs.progress import ProgressBar


def test_progress_bar_shows_steps_speed_and_the_last_evaluation_on_a_terminal() -> None:
    out = io.StringIO()
    bar = ProgressBar(1000, "residual-td3 on toy/reach", Console(file=out, force_terminal=True, width=160))
    bar({"kind": "train", "env_steps": 400, "steps_per_s": 123.4})
    bar({"kind": "eval", "env_steps": 500, "success": 0.82, "ci95_low": 0.7, "ci95_high": 0.9})
    bar.close()
    text = out.getvalue()
    assert "500/1000" in text and "123 steps/s" in text and "last eval 82% [70, 90]" in text


def test_progress_bar_is_silent_when_not_attached_to_a_terminal() -> None:
    out = io.StringIO()
    bar = ProgressBar(1000, "residual-td3 on toy/reach", Console(file=out, force_terminal=False))
    bar({"kind": "train", "env_steps": 400, "steps_per_s": 123.4})
    bar.close()
    assert not bar.enabled and out.getvalue() == ""


def test_bc_progress_counts_updates_and_shows_the_best_validation_loss() -> None:
    out = io.StringIO()
    bar = ProgressBar(
        3000, "BC mlp", Console(file=out, force_terminal=True, width=160), step_key="step", unit="updates"
    )
    bar({"step": 200, "train_loss": 0.5, "val_loss": 0.45, "best_val_loss": 0.4123})
    bar.close()
    text = out.getvalue()
    assert "200/3000" in text and "updates/s" in text and "best val loss 0.4123" in text
