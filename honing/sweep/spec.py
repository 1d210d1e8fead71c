"""The sweep spec (YAML) and the trials it expands into.

    out: runs/sweep-reach                 # trial run dirs, sweep.json and report.html go here
    tasks:
      toy/reach: {base: runs/reach-bc, demos: data/reach}   # demos: default the base's own dataset
    methods: [residual-td3, rlpd]
    seeds: [0, 1, 2]
    set: {steps: 20000}                   # config values for every trial
    grid: {actor.action_scale: [0.1, 0.2]}   # every combination (dotted keys), per method
    resources: {cpus: 1, gpus: 0}         # per trial: torch threads / Ray CPUs, Ray GPU fraction
    workers: 2                            # local trials at once

Paths are taken relative to the working directory and made absolute, so trials on other
processes or Ray workers find the same files.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honing.config import load_yaml
from honing.errors import ConfigError, close_matches

KEYS = ("out", "tasks", "methods", "seeds", "set", "grid", "resources", "workers")


@dataclass
class Trial:
    """One fine-tuning run of a sweep: everything a worker needs, as plain picklable values."""

    task: str
    method: str
    seed: int
    overrides: dict[str, Any]
    base: str
    demos: str | None
    run_dir: str
    values: dict[str, Any] = field(default_factory=dict)
    threads: int = 1

    @property
    def name(self) -> str:
        return str(Path(self.run_dir).relative_to(Path(self.run_dir).parents[2]))


@dataclass
class SweepSpec:
    out: Path
    tasks: dict[str, dict[str, str | None]]
    methods: list[str]
    seeds: list[int]
    values: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    cpus: float = 1.0
    gpus: float = 0.0
    workers: int = 1

    def trials(self) -> list[Trial]:
        keys = sorted(self.grid)
        combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*(self.grid[k] for k in keys))]
        trials = []
        for (task, where), method, combo, seed in itertools.product(
            self.tasks.items(), self.methods, combos, self.seeds
        ):
            variant = method + "".join(f"-{k}={_short(v)}" for k, v in combo.items())
            run_dir = self.out / _slug(task) / _slug(variant) / f"seed{seed}"
            values = nest({**self.values, **combo, "seed": seed})
            trials.append(Trial(task, method, seed, combo, str(where["base"]), where.get("demos"), str(run_dir), values,
                                threads=max(1, int(self.cpus))))  # fmt: skip
        return trials

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "tasks": self.tasks, "methods": self.methods, "seeds": self.seeds,
                "set": self.values, "grid": self.grid, "resources": {"cpus": self.cpus, "gpus": self.gpus},
                "workers": self.workers}  # fmt: skip


def _short(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text).strip("-")


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"actor.action_scale": 0.1}`` -> ``{"actor": {"action_scale": 0.1}}``."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(last), dict):
            node[last].update(value)
        else:
            node[last] = value
    return nested


def _list(data: dict[str, Any], key: str, where: str, kind: type) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, kind) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a non-empty list of {kind.__name__}s, e.g. {key}: [...]")
    return value


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec; every method and config key is checked before anything runs."""
    from honing.finetune import METHODS, method_config

    where = f"sweep spec {path}"
    data = load_yaml(path)
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}{close_matches(unknown[0], KEYS)}; keys: {', '.join(KEYS)}"
        )
    if "out" not in data:
        raise ConfigError(f"{where}: 'out' is missing (the folder for the trials' run directories)")
    tasks = data.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise ConfigError(f"{where}: 'tasks' must map each task id to {{base: BASE_DIR, demos: DATASET}}")
    resolved: dict[str, dict[str, str | None]] = {}
    for task, entry in tasks.items():
        if not isinstance(entry, dict) or "base" not in entry:
            raise ConfigError(f"{where}: task {task!r} needs a base, e.g. {task}: {{base: runs/bc}}")
        demos = entry.get("demos")
        resolved[task] = {"base": str(Path(entry["base"]).absolute()),
                          "demos": None if demos is None else str(Path(demos).absolute())}  # fmt: skip
    methods = _list(data, "methods", where, str)
    for method in methods:
        if method not in METHODS:
            raise ConfigError(f"{where}: unknown method {method!r}{close_matches(method, METHODS)}")
    grid = data.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError(f"{where}: 'grid' must map config keys to non-empty lists of values")
    resources = data.get("resources") or {}
    spec = SweepSpec(
        out=Path(data["out"]).absolute(),
        tasks=resolved,
        methods=methods,
        seeds=_list(data, "seeds", where, int),
        values=dict(data.get("set") or {}),
        grid=grid,
        cpus=float(resources.get("cpus", 1)),
        gpus=float(resources.get("gpus", 0)),
        workers=int(data.get("workers", 1)),
    )
    if spec.workers < 1 or spec.cpus <= 0 or spec.gpus < 0:
        raise ConfigError(f"{where}: workers must be >= 1, resources.cpus > 0 and resources.gpus >= 0")
    for trial in spec.trials():  # a typo in a config key fails here, not hours into the sweep
        try:
            method_config(trial.method, trial.values)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {trial.method}: {exc}") from None
    return spec
