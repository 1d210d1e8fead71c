"""A live progress bar for long commands: env steps (or updates), rate, ETA and the latest result.

Shown only when the output is a terminal: in CI logs and pipes the command's plain lines are
all there is. It reads the run's metric records, so every method gets it without a hook of its own.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class ProgressBar:
    """Feed it metric records (``env_steps``, and ``success`` on evaluations); close it at the end.

    `step_key` names the record field that counts progress: ``env_steps`` for fine-tuning,
    ``step`` (updates) for BC, whose records carry ``best_val_loss`` instead of a success rate.
    """

    def __init__(
        self, total: int, description: str, console: Console | None = None, step_key: str = "env_steps",
        unit: str = "steps",
    ) -> None:  # fmt: skip
        self.step_key, self.start = step_key, time.time()
        console = console or Console(file=sys.stdout)
        self.enabled = console.is_terminal
        self.progress: Progress | None = None
        if not self.enabled:
            return
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn(f"{{task.fields[speed]}} {unit}/s"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), TextColumn("{task.fields[success]}"), console=console, transient=False,
        )  # fmt: skip
        waiting = "no evaluation yet" if step_key == "env_steps" else ""
        self.task = self.progress.add_task(description, total=total, speed="-", success=waiting)
        self.progress.start()

    def __call__(self, record: dict[str, Any]) -> None:
        steps = record.get(self.step_key)
        if self.progress is None or not isinstance(steps, int):
            return
        fields: dict[str, Any] = {}
        if record.get("best_val_loss") is not None:
            fields["success"] = f"best val loss {record['best_val_loss']:.4f}"
            fields["speed"] = f"{steps / max(time.time() - self.start, 1e-9):.0f}"
        if record.get("kind") == "eval":
            low, high = record.get("ci95_low", 0.0), record.get("ci95_high", 1.0)
            fields["success"] = f"last eval {100 * record['success']:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"
        if record.get("steps_per_s") is not None:
            fields["speed"] = f"{record['steps_per_s']:.0f}"
        self.progress.update(self.task, completed=steps, **fields)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
