"""Optional experiment-tracker sinks (Weights & Biases, MLflow) beside metrics.jsonl and TensorBoard.

A sink receives the same scalars as TensorBoard (``<kind>/<name>`` at the record's step). Its
package is imported only when the sink is asked for, and a missing package is a one-line error
naming the install command, never an ImportError from deep inside.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from honing.errors import HoningError


class Sink(Protocol):
    def log(self, scalars: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


def scalars(record: dict[str, Any]) -> tuple[int | None, dict[str, float]]:
    """(step, ``{"<kind>/<name>": value}``) of a metrics record: env steps for fine-tuning, updates for BC."""
    step = record.get("env_steps", record.get("step"))
    if not isinstance(step, int):
        return None, {}
    kind = record.get("kind", "train")
    values = {f"{kind}/{name}": float(value) for name, value in record.items()
              if name not in ("kind", "step", "env_steps") and not isinstance(value, bool)
              and isinstance(value, (int, float))}  # fmt: skip
    return step, values


def _import(package: str, flag: str) -> Any:
    try:
        return importlib.import_module(package)
    except ImportError:
        raise HoningError(f"{flag} needs the {package} package: pip install {package} (or drop {flag})") from None


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


class WandbSink:
    """A Weights & Biases run (``--wandb PROJECT``); offline mode works with ``WANDB_MODE=offline``."""

    def __init__(self, project: str, name: str, config: dict[str, Any], directory: str) -> None:
        wandb = _import("wandb", "--wandb")
        self.run = wandb.init(project=project, name=name, config=config, dir=directory, reinit=True)

    def log(self, scalars: dict[str, float], step: int) -> None:
        self.run.log(scalars, step=step)

    def close(self) -> None:
        self.run.finish()


class MLflowSink:
    """An MLflow run in experiment ``--mlflow EXPERIMENT`` (tracking URI from ``MLFLOW_TRACKING_URI``)."""

    def __init__(self, experiment: str, name: str, config: dict[str, Any]) -> None:
        self.mlflow = _import("mlflow", "--mlflow")
        self.mlflow.set_experiment(experiment)
        self.run = self.mlflow.start_run(run_name=name)
        self.mlflow.log_params({k: str(v)[:500] for k, v in _flat(config).items()})  # MLflow caps values at 500

    def log(self, scalars: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics({k.replace("/", "."): v for k, v in scalars.items()}, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


def make_sinks(wandb: str | None, mlflow: str | None, name: str, config: dict[str, Any], directory: str) -> list[Sink]:
    """The sinks asked for: a W&B project and/or an MLflow experiment (None: not used)."""
    sinks: list[Sink] = []
    if wandb:
        sinks.append(WandbSink(wandb, name, config, directory))
    if mlflow:
        sinks.append(MLflowSink(mlflow, name, config))
    return sinks
