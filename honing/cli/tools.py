"""Subcommands around runs and data: report, shield check, data import/export/info, sweep."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from honing.cli.args import Subparsers, positive_int
from honing.errors import HoningError


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


def add_report(sub: Subparsers) -> None:
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


def add_shield(sub: Subparsers) -> None:
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
    p.add_argument("--episodes", type=positive_int, default=10, help="rollouts of the raw policy (default 10)")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed of the rollouts (default 0)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.set_defaults(func=cmd_shield_check)


def add_data(sub: Subparsers) -> None:
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
    p.add_argument("--bins", type=positive_int, default=10, help="cells per dimension for SACo (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_data_info)


def add_sweep(sub: Subparsers) -> None:
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
    p.add_argument("--workers", type=positive_int, default=None, help="local trials at once (default: the spec's)")
    p.add_argument("--dry-run", action="store_true", help="list the trials and exit")
    p.set_defaults(func=cmd_sweep)
