"""``honing`` command line: parse arguments, call the public API, print results.

No logic lives here beyond argument handling. Bad input raised as a HoningError is printed as
one line, ``honing: error: ...``, with exit status 2.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from honing._version import __version__
from honing.errors import HoningError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def cmd_tasks(args: argparse.Namespace) -> int:
    from honing.tasks import list_tasks

    tasks = [t for t in list_tasks() if t.id.startswith(args.prefix or "")]
    width = max(len(t.id) for t in tasks) if tasks else 10
    for task in tasks:
        expert = "expert" if task.has_expert else "      "
        print(f"{task.id:<{width}}  {expert}  {task.max_episode_steps:>4} steps  {task.description}")
    print(f"{len(tasks)} tasks; any Gymnasium env that reports success works as gym:<EnvId>")
    return 0


def cmd_demos(args: argparse.Namespace) -> int:
    from honing.data import collect_demos

    report = collect_demos(
        args.task,
        args.episodes,
        noise=args.noise,
        seed=args.seed,
        out=args.out,
        max_attempts=args.max_attempts,
        overwrite=args.overwrite,
    )
    steps = sum(len(e) for e in report.episodes)
    print(
        f"kept {len(report.episodes)} successful episodes ({steps} steps) of {report.attempts} attempts "
        f"({report.success_rate:.0%} expert success at noise {args.noise}) -> {report.path}"
    )
    if len(report.episodes) < args.episodes:
        print(f"warning: wanted {args.episodes} episodes; raise --max-attempts or lower --noise", file=sys.stderr)
    return 0


def cmd_bc(args: argparse.Namespace) -> int:
    from honing.config import build_config
    from honing.policies import BCConfig, train_bc

    values: dict[str, object] = {"steps": args.steps, "seed": args.seed, "device": args.device}
    if args.policy is not None:
        values["policy"] = {"kind": args.policy}
    config = build_config(BCConfig, yaml_path=args.config, overrides=args.set or [], values=values)

    from honing.runs.progress import ProgressBar

    bar = ProgressBar(config.steps, f"BC {config.policy.kind}", step_key="step", unit="updates")

    def progress(record: dict[str, float]) -> None:
        bar(record)
        if not args.quiet:
            print(
                f"  update {record['step']:>6}  train {record['train_loss']:.4f}  val {record['val_loss']:.4f}"
                f"  best {record['best_val_loss']:.4f}"
            )

    try:
        result = train_bc(args.dataset, config, out=args.out, task_id=args.task, log_fn=progress,
                          overwrite=args.overwrite, wandb=args.wandb, mlflow=args.mlflow)  # fmt: skip
    finally:
        bar.close()
    print(
        f"trained {result.steps_run} updates; best validation loss {result.best_val_loss:.4f} at update "
        f"{result.best_step} -> {Path(args.out) / 'checkpoints' / 'best'}"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from honing.eval import evaluate
    from honing.policies import load_policy, read_policy_config, resolve_policy_dir
    from honing.tasks import get_task

    policy_dir = resolve_policy_dir(args.policy_dir)
    task_id = args.task or read_policy_config(policy_dir).get("task_id")
    if not task_id:
        raise HoningError(f"{policy_dir} does not record its task; pass --task")
    if args.video and not task_id.startswith("toy/"):
        from honing.eval.video import select_gl_backend

        select_gl_backend()  # before MuJoCo is first imported: it fixes its GL backend then
    policy = load_policy(policy_dir, device=args.device)
    task = get_task(task_id)
    if args.shield:
        from honing.safety import shield_task

        task = shield_task(task, args.shield)
    result = evaluate(policy, task, episodes=args.episodes, seed=args.seed, num_envs=args.num_envs)
    if args.out:
        out = Path(args.out)
    else:
        run_dir = policy_dir.parent.parent if policy_dir.parent.name == "checkpoints" else policy_dir
        slug = task_id.replace("/", "-").replace(":", "-")
        shielded = "-shielded" if args.shield else ""
        out = run_dir / "eval" / f"{slug}-seed{args.seed}-n{args.episodes}{shielded}.json"
    result.save(out)
    print(f"{task_id}: {result.describe()}")
    if args.shield:
        print(f"shield interventions: {result.summary()['shield_interventions']} steps")
    print(f"per-episode results -> {out}")
    if args.video:
        from honing.eval.video import record_videos

        video_dir = out.parent / "videos" / out.stem
        videos = record_videos(policy, task, video_dir, episodes=args.video, seed=args.seed, size=args.video_size)
        for video in videos:
            print(f"video ({'success' if video.success else 'failure'}, {video.length} steps) -> {video.path}")
    return 0


def cmd_shield_check(args: argparse.Namespace) -> int:
    from honing.data import load_dataset
    from honing.policies import load_policy, read_policy_config, resolve_policy_dir
    from honing.safety import check_policy
    from honing.tasks import get_task

    policy_dir = resolve_policy_dir(args.policy_dir)
    recorded = read_policy_config(policy_dir)
    task_id = args.task or recorded.get("task_id")
    if not task_id:
        raise HoningError(f"{policy_dir} does not record its task; pass --task")
    task = get_task(task_id)
    policy = load_policy(policy_dir, device=args.device)
    if (policy.obs_dim, policy.act_dim) != task.spaces():
        raise HoningError(f"policy dims ({policy.obs_dim}, {policy.act_dim}) do not fit task {task_id!r}")
    demos = args.demos or recorded.get("dataset")
    dataset = load_dataset(demos, task_id=task_id) if demos else None
    report = check_policy(args.spec, policy, task, dataset, episodes=args.episodes, seed=args.seed)
    print(f"how often the raw policy would violate each constraint ({task_id}, {args.spec}):")
    print(report.table())
    return 0


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


def _tracker_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wandb", metavar="PROJECT", default=None, help="also log to this Weights & Biases project")
    p.add_argument("--mlflow", metavar="EXPERIMENT", default=None, help="also log to this MLflow experiment")


def cmd_report(args: argparse.Namespace) -> int:
    from honing.eval.report import build_report
    from honing.runs.atomic import atomic_write_text

    text = build_report(args.run_dirs, fmt=args.format, link_base=Path(args.out).parent if args.out else None)
    if args.out is None:
        print(text)
    else:
        atomic_write_text(Path(args.out), text)
        print(f"report of {len(args.run_dirs)} runs -> {args.out}")
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from honing.data import import_dataset

    result = import_dataset(
        args.source, args.out, fmt=args.format, task_id=args.task, obs_keys=args.obs_keys, overwrite=args.overwrite
    )
    data = result.dataset
    print(f"imported {len(data.episodes)} episodes, {data.num_steps} steps -> {result.path}")
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def cmd_data_export(args: argparse.Namespace) -> int:
    from honing.data import export_dataset

    path = export_dataset(args.dataset, args.format, out=args.out, dataset_id=args.dataset_id, overwrite=args.overwrite)
    print(f"exported {args.dataset} as {args.format} -> {path}")
    return 0


def cmd_data_info(args: argparse.Namespace) -> int:
    import json

    from honing.data import dataset_info, load_dataset

    reference = load_dataset(args.reference) if args.reference else None
    info = dataset_info(
        load_dataset(args.dataset),
        return_range=tuple(args.return_range) if args.return_range else None,
        reference=reference,
        reference_name=str(args.reference),
        bins=args.bins,
    )
    print(json.dumps(info.to_dict(), indent=2) if args.json else info.describe())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from honing.sweep import load_sweep_spec, run_sweep

    spec = load_sweep_spec(args.spec)
    if args.dry_run:
        for trial in spec.trials():
            print(f"{trial.run_dir}  {trial.method} on {trial.task}, seed {trial.seed} {trial.overrides or ''}")
        print(f"{len(spec.trials())} trials")
        return 0
    result = run_sweep(
        spec, ray_address=args.ray_address, workers=args.workers, say=functools.partial(print, flush=True)
    )
    print(f"{len(result.trials)} trials ({len(result.failed)} failed) -> {result.json_path}")
    if result.report_path is not None:
        print(f"report -> {result.report_path}")
    return 1 if result.failed else 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from honing.quickstart import QuickstartConfig, run_quickstart

    config = QuickstartConfig(
        task=args.task,
        demos=args.demos,
        noise=args.noise,
        policy=args.policy,
        bc_steps=args.bc_steps,
        eval_episodes=args.eval_episodes,
        finetune_steps=args.finetune_steps,
        seed=args.seed,
    )
    run_quickstart(config, args.out, overwrite=args.overwrite)
    return 0


def _add_run_options(p: argparse.ArgumentParser, config_what: str, example: str, progress_what: str) -> None:
    """Options every training command shares: seed, device, config file, overrides, overwrite, quiet."""
    p.add_argument("--seed", type=int, default=None, help="seed (default 0)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--config", default=None, help=f"YAML file with {config_what}")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help=f"override a config field, e.g. {example} (repeatable)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace RUN_DIR if it already holds a run")
    p.add_argument("--quiet", action="store_true", help=f"do not print {progress_what} as they happen")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="honing",
        description="Turn a handful of demonstrations into a policy that reliably succeeds.",
    )
    parser.add_argument("--version", action="version", version=f"honing {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("tasks", help="list the registered tasks", description="List registered task ids.")
    p.add_argument("prefix", nargs="?", default=None, help="only show ids starting with this (e.g. metaworld/)")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser(
        "demos",
        help="collect scripted-expert demonstrations into a Minari dataset",
        description="Roll out the task's scripted expert with Gaussian action noise, keep only "
        "successful episodes, and write them as a Minari dataset on local disk.",
    )
    p.add_argument("task", help="task id, e.g. metaworld/pick-place (see 'honing tasks')")
    p.add_argument("--episodes", type=_positive_int, default=20, help="successful episodes to keep (default 20)")
    p.add_argument(
        "--noise",
        type=_non_negative_float,
        default=0.0,
        help="std of Gaussian noise added to each expert action, before clipping (default 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for initial states and noise (default 0)")
    p.add_argument("--out", required=True, help="dataset directory to create")
    p.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=None,
        help="give up after this many episodes (default 10 x --episodes)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_demos)

    p = sub.add_parser(
        "bc",
        help="train a behavior-cloning policy",
        description="Train a BC policy with a held-out validation split; the checkpoint with the "
        "best validation loss is kept in RUN_DIR/checkpoints/best.",
    )
    p.add_argument("dataset", help="dataset directory (from 'honing demos' or an import)")
    p.add_argument("--policy", choices=["mlp", "chunked", "diffusion"], default=None, help="policy kind (default mlp)")
    p.add_argument("--steps", type=_positive_int, default=None, help="maximum updates (default 3000)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--task", default=None, help="check the dataset against this task id")
    _add_run_options(p, "BCConfig fields", "--set lr=3e-4 --set policy.chunk_horizon=16", "validation losses")
    _tracker_flags(p)
    p.set_defaults(func=cmd_bc)

    p = sub.add_parser(
        "eval",
        help="evaluate a policy on fixed seeds",
        description="Run episodes from the fixed evaluation seeds and report the success rate "
        "with a 95%% Wilson interval; per-episode results are written as JSON.",
    )
    p.add_argument("policy_dir", help="policy directory or run directory (its checkpoints/best is used)")
    p.add_argument("--shield", metavar="SPEC", default=None, help="pass every action through this shield spec")
    p.add_argument("--task", default=None, help="task id (default: the task the policy was trained on)")
    p.add_argument("--episodes", type=_positive_int, default=50, help="evaluation episodes (default 50)")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed; same seed = same initial states (default 0)")
    p.add_argument("--num-envs", type=_positive_int, default=8, help="envs stepped side by side (default 8)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--out", default=None, help="JSON file for per-episode results (default: RUN_DIR/eval/...)")
    p.add_argument("--video", type=_positive_int, default=None, metavar="N",
                   help="also write mp4s of the first N evaluation episodes (MuJoCo: needs EGL or OSMesa)")  # fmt: skip
    p.add_argument("--video-size", type=_positive_int, default=None, metavar="PIXELS",
                   help="square video frames of this size (MuJoCo; default 480 on Meta-World)")  # fmt: skip
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "report",
        help="compare fine-tuning runs in an HTML page or Markdown tables",
        description="Compare fine-tuning runs: success vs env steps and vs wall-clock (95%% bands across "
        "seeds), base vs honed, config differences, and the IQM across tasks/seeds with a bootstrap interval.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by 'honing finetune'")
    p.add_argument("--format", choices=["html", "md"], default="html", help="html (plots embedded) or md")
    p.add_argument("--out", default=None, help="file to write (default: print to stdout)")
    p.set_defaults(func=cmd_report)

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
    p.add_argument("--steps", type=_positive_int, default=None, help="environment steps (default 100000)")
    p.add_argument("--out", default=None, help="run directory to write")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue a killed run from its newest snapshot, with its recorded config")  # fmt: skip
    _add_run_options(p, "the method's config fields", "--set utd=2 --set actor.action_scale=0.1", "evaluations")
    _tracker_flags(p)
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser(
        "shield",
        help="action shield: check a policy offline against a safety spec",
        description="Action shield (honing.safety). 'check' reports how often a policy's raw actions would "
        "violate each constraint of a spec, on the dataset's states and on its own rollouts. Online, pass "
        "--shield SPEC to 'honing eval' or '--set shield=SPEC' to 'honing finetune'.",
    )
    shield = p.add_subparsers(
        dest="shield_command", required=True, metavar="COMMAND", help="the shield command to run: check"
    )
    what = "violation rates of a policy's raw (unshielded) actions, per constraint"
    p = shield.add_parser("check", help=what, description=what[0].upper() + what[1:] + ".")
    p.add_argument("spec", help="shield spec (YAML)")
    p.add_argument("policy_dir", help="policy directory or run directory")
    p.add_argument("--task", default=None, help="task id (default: the task the policy was trained on)")
    p.add_argument("--demos", default=None, help="dataset whose states to check (default: the policy's own)")
    p.add_argument("--episodes", type=_positive_int, default=10, help="rollouts of the raw policy (default 10)")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed of the rollouts (default 0)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.set_defaults(func=cmd_shield_check)

    p = sub.add_parser(
        "data",
        help="import, export and describe datasets",
        description="Datasets in and out: import LeRobot, robomimic or .npz data as a honing (Minari) dataset, "
        "export to .npz, LeRobot or Minari, and print a dataset's statistics with TQ and SACo.",
    )
    data = p.add_subparsers(dest="data_command", required=True, metavar="COMMAND", help="import, export or info")
    p = data.add_parser("import", help="convert a dataset into a honing dataset",
                        description="Convert a dataset into a honing (Minari) dataset.")  # fmt: skip
    p.add_argument("source", help="a .npz file, a robomimic .hdf5 file, or a LeRobot dataset folder")
    p.add_argument("--out", required=True, help="dataset directory to create")
    p.add_argument("--format", choices=["npz", "lerobot", "robomimic"], default=None,
                   help="source format (default: guessed from the path)")  # fmt: skip
    p.add_argument("--task", default=None, help="check the data against this task id and record it")
    p.add_argument("--obs-keys", nargs="+", default=None,
                   help="observation keys to join (lerobot: observation.state; robomimic: all low-dim)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_data_import)
    p = data.add_parser("export", help="write a honing dataset in another format",
                        description="Write a honing dataset as .npz, LeRobot or Minari.")  # fmt: skip
    p.add_argument("dataset", help="honing dataset directory")
    p.add_argument("--format", choices=["npz", "lerobot", "minari"], required=True, help="target format")
    p.add_argument("--out", default=None, help="file or folder to write (minari: default Minari's datasets root)")
    p.add_argument("--dataset-id", default=None, help="Minari dataset id, e.g. honing/pick-place-v0 (minari only)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_data_export)
    p = data.add_parser("info", help="episodes, steps, success share, returns, TQ and SACo",
                        description="Describe a dataset: episodes, steps, success share, return statistics, and the "
                        "TQ (trajectory quality) and SACo (state-action coverage) measures.")  # fmt: skip
    p.add_argument("dataset", help="honing dataset directory")
    p.add_argument("--reference", default=None, help="dataset whose unique state-action cells normalise SACo")
    p.add_argument("--return-range", nargs=2, type=float, metavar=("RANDOM", "BEST"), default=None,
                   help="TQ references: random and best return (default 0 1 for sparse success)")  # fmt: skip
    p.add_argument("--bins", type=_positive_int, default=10, help="cells per dimension for SACo (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_data_info)

    p = sub.add_parser(
        "sweep",
        help="run a grid of fine-tuning runs locally or on a Ray cluster",
        description="Run every trial of a sweep spec (tasks x methods x seeds x config grid), each in its own "
        "run directory, on a local process pool or as Ray tasks; collect them into OUT/sweep.json and "
        "OUT/report.html. Re-running skips finished trials and resumes interrupted ones.",
    )
    p.add_argument("spec", help="sweep spec (YAML); see docs/guide.md")
    p.add_argument("--ray-address", default=None,
                   help="run trials as Ray tasks: 'local' (a Ray instance here), 'auto' or HOST:PORT")  # fmt: skip
    p.add_argument("--workers", type=_positive_int, default=None, help="local trials at once (default: the spec's)")
    p.add_argument("--dry-run", action="store_true", help="list the trials and exit")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "quickstart",
        help="demos -> BC -> evaluation on a built-in task",
        description="Run the whole pipeline on a built-in task and print where everything went.",
    )
    p.add_argument(
        "--task", default="metaworld/pick-place", help="task id with an expert (default metaworld/pick-place)"
    )
    p.add_argument("--demos", type=_positive_int, default=20, help="demonstrations to collect (default 20)")
    p.add_argument("--noise", type=_non_negative_float, default=0.3, help="demo action noise std (default 0.3)")
    p.add_argument(
        "--policy", choices=["mlp", "chunked", "diffusion"], default="mlp", help="BC policy kind (default mlp)"
    )
    p.add_argument("--bc-steps", type=_positive_int, default=3000, help="maximum BC updates (default 3000)")
    p.add_argument("--eval-episodes", type=_positive_int, default=50, help="evaluation episodes (default 50)")
    p.add_argument(
        "--finetune-steps",
        type=int,
        default=30_000,
        help="env steps of residual RL fine-tuning after BC; 0 stops after BC (default 30000)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", default="runs/quickstart", help="output directory (default runs/quickstart)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=cmd_quickstart)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HoningError as exc:
        print(f"honing: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("honing: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at interpreter exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
