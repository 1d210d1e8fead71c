"""``finetune``: hone a frozen base policy on a task from a sparse success signal."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honing.config import from_dict, to_dict
from honing.data.dataset import Dataset, check_dataset_task, load_dataset
from honing.device import resolve_device
from honing.errors import CheckpointError, HoningError, close_matches
from honing.finetune.methods import METHODS
from honing.finetune.tracker import FinetuneResult, Say
from honing.policies.base import Policy
from honing.policies.checkpoint import load_policy, resolve_policy_dir, save_policy
from honing.runs.rundir import RunDir
from honing.safety import shield_task
from honing.tasks import get_task


def method_config(method: str, values: dict[str, Any] | None = None) -> Any:
    """The typed config of `method`, built from plain values (unknown keys are errors)."""
    return from_dict(get_method(method).config_cls, values or {})


def get_method(name: str) -> Any:
    if name not in METHODS:
        raise HoningError(
            f"unknown method {name!r}" + close_matches(name, METHODS) + f"; choose from {sorted(METHODS)}"
        )
    return METHODS[name]


def finetune(
    base: Policy | str | Path,
    task: str,
    demos: Dataset | str | Path,
    method: str = "residual-td3",
    config: Any = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    say: Say | None = None,
    resume: bool = False,
    wandb: str | None = None,
    mlflow: str | None = None,
    progress: Callable[[dict[str, Any]], Any] | None = None,
) -> FinetuneResult:
    """Fine-tune `base` on `task` with `method`, using `demos` for the demo half of every batch.

    With `out`, a run directory is written: config.yaml, finetune.json, metrics.jsonl, base/ (a
    copy of the base), checkpoints/best and checkpoints/last (complete honed policies, base
    included), state/ (training-state snapshots) and eval/ (final base vs honed). With `resume`,
    `out` must hold such a run; it continues from its newest snapshot with its recorded config.
    `wandb` (a project) and `mlflow` (an experiment) also send the metrics to those trackers;
    `progress` is called with every logged record (the CLI's progress bar).
    """
    spec = get_method(method)
    if resume:
        config = _resumed_config(out, method, spec.config_cls, config)
    config = config if config is not None else spec.config_cls()
    if not isinstance(config, spec.config_cls):
        raise HoningError(f"method {method!r} needs a {spec.config_cls.__name__}, got {type(config).__name__}")
    config.validate()
    task_obj = get_task(task)
    if config.shield is not None:
        task_obj = shield_task(task_obj, config.shield)
    device = resolve_device(config.device)
    base_source = None
    if not hasattr(base, "act"):
        base_source = str(resolve_policy_dir(base))  # type: ignore[arg-type]
        base = load_policy(base_source, device=str(device))  # type: ignore[arg-type]
    assert isinstance(base, Policy)
    if spec.check_base is not None:
        spec.check_base(base)
    obs_dim, act_dim = task_obj.spaces()
    if (base.obs_dim, base.act_dim) != (obs_dim, act_dim):
        raise HoningError(
            f"base policy has observation/action dims ({base.obs_dim}, {base.act_dim}) but task {task!r} "
            f"has ({obs_dim}, {act_dim}); fine-tune it on the task it was trained for"
        )
    demo_source = None
    if isinstance(demos, Dataset):
        check_dataset_task(demos, task, "in memory")
    else:
        demo_source = str(Path(demos).resolve())
        demos = load_dataset(demos, task_id=task)
    if not any(episode.success for episode in demos.episodes):
        raise HoningError(
            f"none of the {len(demos.episodes)} demo episodes succeeds; fine-tuning learns from a sparse success "
            "signal and needs successful demonstrations (collect them with 'honing demos')"
        )
    run = None
    if resume:
        run = RunDir.open(out, wandb=wandb, mlflow=mlflow)  # type: ignore[arg-type]
    elif out is not None:
        run = RunDir.create(out, config, overwrite=overwrite, wandb=wandb, mlflow=mlflow)
        with contextlib.suppress(CheckpointError):  # a scripted base has no weights to keep
            save_policy(base, run.path / BASE_COPY)
        run.write_json("finetune.json", {"method": method, "task": task, "base": base_source, "demos": demo_source,
                                         "demo_episodes": len(demos.episodes), "config": to_dict(config)})  # fmt: skip
    if run is not None and progress is not None:
        run.listeners.append(progress)
    try:
        return spec.run(base, task_obj, demos, config, device, run, say, resume)
    finally:
        if run is not None:
            run.close()


BASE_COPY = "base"
"""Where a run directory keeps its own copy of the base policy (so resuming never needs the original)."""


def read_run_record(run_dir: str | Path) -> dict[str, Any]:
    """finetune.json of a fine-tuning run directory: method, task, base, demos and config."""
    path = Path(run_dir) / "finetune.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        raise HoningError(f"{run_dir} is not a fine-tuning run directory (no readable finetune.json)") from None
    if not isinstance(record, dict) or not {"method", "task", "config"} <= set(record):
        raise HoningError(f"{path} is incomplete; it was not written by 'honing finetune'")
    return record


def _resumed_config(out: str | Path | None, method: str, config_cls: type, given: Any) -> Any:
    if out is None:
        raise HoningError("resume needs the run directory to continue (out=...)")
    record = read_run_record(out)
    if record["method"] != method:
        raise HoningError(f"{out} is a {record['method']!r} run; resume it with method {record['method']!r}")
    recorded = from_dict(config_cls, record["config"])
    if given is not None and to_dict(given) != to_dict(recorded):
        raise HoningError(f"a resumed run keeps the config it started with; drop the config changes for {out}")
    return recorded
