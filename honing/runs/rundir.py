"""Run directories: everything one training command produced, in one place.

Layout::

    runs/<name>/
      config.yaml        resolved config (defaults + file + overrides), what actually ran
      metrics.jsonl      one JSON object per logged step
      checkpoints/       best/ and last/ policy directories, each written atomically
      state/             training-state snapshots (fine-tuning), to resume a killed run
      tensorboard/       the same metrics as TensorBoard event files (``tensorboard --logdir runs``)
      eval/              per-episode evaluation results
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from honing.config import to_dict
from honing.errors import HoningError
from honing.runs.atomic import atomic_write_bytes, atomic_write_text
from honing.runs.sinks import Sink, make_sinks, scalars


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclass
class RunDir:
    """A run directory; create it with :meth:`create`."""

    path: Path
    started: float = field(default_factory=time.time)
    _writer: Any = field(default=None, repr=False)
    sinks: list[Sink] = field(default_factory=list, repr=False)
    listeners: list[Callable[[dict[str, Any]], Any]] = field(default_factory=list, repr=False)
    """Called with every logged record (e.g. a progress bar)."""

    @classmethod
    def create(
        cls, path: str | Path, config: Any, overwrite: bool = False, wandb: str | None = None,
        mlflow: str | None = None,
    ) -> RunDir:  # fmt: skip
        """Start a fresh run at `path`; an existing run there is an error unless `overwrite`.

        `wandb` (a project) and `mlflow` (an experiment) add those trackers beside metrics.jsonl.
        """
        run = cls(Path(path))
        run.sinks = make_sinks(wandb, mlflow, run.path.name, to_dict(config), str(run.path))
        if (run.path / "config.yaml").exists():
            if not overwrite:
                raise HoningError(f"{run.path} already holds a run; pass another --out or --overwrite")
            shutil.rmtree(run.path)
        run.path.mkdir(parents=True, exist_ok=True)
        (run.path / "checkpoints").mkdir(exist_ok=True)
        (run.path / "eval").mkdir(exist_ok=True)
        atomic_write_text(run.path / "config.yaml", yaml.safe_dump(to_dict(config), sort_keys=False))
        return run

    @classmethod
    def open(cls, path: str | Path, wandb: str | None = None, mlflow: str | None = None) -> RunDir:
        """An existing run directory (to resume it)."""
        run = cls(Path(path))
        if not (run.path / "config.yaml").is_file():
            raise HoningError(f"{run.path} holds no run to resume (no config.yaml); check the path")
        config = yaml.safe_load((run.path / "config.yaml").read_text())
        run.sinks = make_sinks(wandb, mlflow, run.path.name, config if isinstance(config, dict) else {}, str(run.path))
        return run

    def metric_lines(self) -> int:
        """Complete lines in metrics.jsonl so far (a snapshot records this to cut what follows it)."""
        file = self.path / "metrics.jsonl"
        return file.read_bytes().count(b"\n") if file.is_file() else 0

    def truncate_metrics(self, lines: int, elapsed: float = 0.0) -> None:
        """Keep the first `lines` lines of metrics.jsonl (a resumed run re-logs what came after).

        `elapsed` is the wall-clock the run had spent, so logged times continue from it.
        """
        file = self.path / "metrics.jsonl"
        kept = file.read_bytes().split(b"\n")[:lines] if file.is_file() else []
        atomic_write_bytes(file, b"".join(line + b"\n" for line in kept))
        self.started = time.time() - elapsed

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def eval_dir(self) -> Path:
        return self.path / "eval"

    def log(self, **metrics: Any) -> None:
        """Append one line to metrics.jsonl (with wall-clock seconds since the run started)."""
        record = {"wall_clock_s": round(time.time() - self.started, 3)}
        record.update({k: _jsonable(v) for k, v in metrics.items()})
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        self._tensorboard(record)
        for listener in self.listeners:
            listener(record)

    def _tensorboard(self, record: dict[str, Any]) -> None:
        """Every numeric metric as a TensorBoard scalar ``<kind>/<name>`` at the record's step (and to the
        optional sinks). The x axis is env steps for fine-tuning and updates for BC. A resumed run
        re-logs the steps after its snapshot; TensorBoard shows the newest value of a repeated step.
        """
        step, values = scalars(record)
        if step is None:
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # imported on first use: it is slow to load

            self._writer = SummaryWriter(log_dir=str(self.path / "tensorboard"), flush_secs=5)
        for name, value in values.items():
            self._writer.add_scalar(name, value, step, walltime=self.started + record["wall_clock_s"])
        self._writer.flush()
        for sink in self.sinks:
            sink.log(values, step)

    def close(self) -> None:
        """Flush and close the TensorBoard writer and the sinks (metrics.jsonl needs nothing)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for sink in self.sinks:
            sink.close()
        self.sinks = []

    def write_json(self, relative: str, data: Any) -> Path:
        target = self.path / relative
        atomic_write_text(target, json.dumps(data, indent=2))
        return target


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Read metrics.jsonl from a run directory (a torn last line from a crash is skipped)."""
    records = []
    file = Path(path) / "metrics.jsonl" if Path(path).is_dir() else Path(path)
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
