"""``honing finetune``: start, list methods, or resume a fine-tuning run."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from honing.cli.args import Subparsers, add_run_options, positive_int, tracker_flags
from honing.errors import HoningError


def cmd_finetune(args: argparse.Namespace) -> int:
    from honing.config import build_config
    from honing.finetune import METHODS, finetune, get_method
    from honing.policies import read_policy_config
    from honing.runs.progress import ProgressBar

    if args.list_methods:
        width = max(len(name) for name in METHODS)
        for name, method in METHODS.items():
            print(f"{name:<{width}}  {method.description}")
        return 0
    if args.resume is not None:
        return _resume_finetune(args)
    if args.base_dir is None or args.out is None:
        raise HoningError("finetune needs BASE_DIR and --out (or --list-methods, or --resume RUN_DIR)")
    spec = get_method(args.method)
    recorded = read_policy_config(args.base_dir)
    task = args.task or recorded.get("task_id")
    demos = args.demos or recorded.get("dataset")
    if not task:
        raise HoningError(f"{args.base_dir} does not record its task; pass --task")
    if not demos:
        raise HoningError(f"{args.base_dir} does not record its demonstrations; pass --demos")
    values = {"steps": args.steps, "seed": args.seed, "device": args.device}
    config = build_config(spec.config_cls, yaml_path=args.config, overrides=args.set or [], values=values)
    say = None if args.quiet else functools.partial(print, flush=True)
    bar = ProgressBar(config.steps, f"{args.method} on {task}")
    try:
        result = finetune(args.base_dir, task, demos, method=args.method, config=config, out=args.out,
                          overwrite=args.overwrite, say=say, wandb=args.wandb, mlflow=args.mlflow,
                          progress=bar)  # fmt: skip
    finally:
        bar.close()
    print(f"base : {result.base_eval.describe()}")
    print(f"honed: {result.honed_eval.describe()}")
    print(f"{config.steps} env steps in {result.wall_clock_s:.0f} s -> {Path(args.out) / 'checkpoints'}")
    return 0


def _resume_finetune(args: argparse.Namespace) -> int:
    from honing.finetune import finetune
    from honing.finetune.api import BASE_COPY, read_run_record
    from honing.runs.progress import ProgressBar

    changed = [name for name in ("base_dir", "task", "demos", "steps", "out", "seed", "device", "config", "set")
               if getattr(args, name, None) is not None]  # fmt: skip
    if changed:
        raise HoningError(f"--resume continues a run exactly as it was configured; drop {', '.join(changed)}")
    record = read_run_record(args.resume)
    base = Path(args.resume) / BASE_COPY
    if not base.is_dir():
        if record.get("base") is None:
            raise HoningError(f"{args.resume} keeps no copy of its base policy; resume it from Python with the base")
        base = Path(record["base"])
    if record.get("demos") is None:
        raise HoningError(f"{args.resume} was started from in-memory demos; resume it from Python with the dataset")
    say = None if args.quiet else functools.partial(print, flush=True)
    bar = ProgressBar(int(record["config"].get("steps", 0)), f"{record['method']} on {record['task']} (resumed)")
    try:
        result = finetune(base, record["task"], record["demos"], method=record["method"], out=args.resume, say=say,
                          resume=True, wandb=args.wandb, mlflow=args.mlflow, progress=bar)  # fmt: skip
    finally:
        bar.close()
    print(f"base : {result.base_eval.describe()}")
    print(f"honed: {result.honed_eval.describe()}")
    return 0


def add_finetune(sub: Subparsers) -> None:
    p = sub.add_parser(
        "finetune",
        help="hone a BC policy with RL from the sparse success signal",
        description="Fine-tune a frozen base policy on its task (residual off-policy RL by default); "
        "RUN_DIR/checkpoints/best and last hold complete honed policies.",
    )
    p.add_argument("base_dir", nargs="?", default=None, help="base policy directory or BC run directory")
    p.add_argument("--method", default="residual-td3", help="fine-tuning method (see --list-methods)")
    p.add_argument("--list-methods", action="store_true", help="list the methods with one-line descriptions")
    p.add_argument("--task", default=None, help="task id (default: the task the base was trained on)")
    p.add_argument("--demos", default=None, help="demonstration dataset (default: the one the base was trained on)")
    p.add_argument("--steps", type=positive_int, default=None, help="environment steps (default 100000)")
    p.add_argument("--out", default=None, help="run directory to write")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue a killed run from its newest snapshot, with its recorded config")  # fmt: skip
    add_run_options(p, "the method's config fields", "--set utd=2 --set actor.action_scale=0.1", "evaluations")
    tracker_flags(p)
    p.set_defaults(func=cmd_finetune)
