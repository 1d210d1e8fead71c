"""``finetune``: hone a frozen base policy on a task from a sparse success signal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from honing.config import from_dict, to_dict
from honing.data.dataset import Dataset, check_dataset_task, load_dataset
from honing.device import resolve_device
from honing.errors import HoningError, close_matches
from honing.finetune.methods import METHODS
from honing.finetune.tracker import FinetuneResult, Say
from honing.policies.base import Policy
from honing.policies.checkpoint import load_policy, resolve_policy_dir
from honing.runs.rundir import RunDir
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
) -> FinetuneResult:
    """Fine-tune `base` on `task` with `method`, using `demos` for the demo half of every batch.

    With `out`, a run directory is written: config.yaml, metrics.jsonl, checkpoints/best and
    checkpoints/last (complete honed policies, base included) and eval/ (final base vs honed).
    """
    spec = get_method(method)
    config = config if config is not None else spec.config_cls()
    if not isinstance(config, spec.config_cls):
        raise HoningError(f"method {method!r} needs a {spec.config_cls.__name__}, got {type(config).__name__}")
    config.validate()
    task_obj = get_task(task)
    device = resolve_device(config.device)
    base_source = None
    if not hasattr(base, "act"):
        base_source = str(resolve_policy_dir(base))  # type: ignore[arg-type]
        base = load_policy(base_source, device=str(device))  # type: ignore[arg-type]
    assert isinstance(base, Policy)
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
        demo_source = str(demos)
        demos = load_dataset(demos, task_id=task)
    run = None
    if out is not None:
        run = RunDir.create(out, config, overwrite=overwrite)
        run.write_json("finetune.json", {"method": method, "task": task, "base": base_source, "demos": demo_source,
                                         "demo_episodes": len(demos.episodes), "config": to_dict(config)})  # fmt: skip
    return spec.run(base, task_obj, demos, config, device, run, say)
