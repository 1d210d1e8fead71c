"""Subcommands of the main pipeline: tasks, demos, bc, eval and quickstart."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from honing.cli.args import (
    Subparsers,
    add_run_options,
    non_negative_float,
    non_negative_int,
    positive_int,
    tracker_flags,
)
from honing.errors import HoningError


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
    result = evaluate(policy, task, args.episodes, args.seed, num_envs=args.num_envs, workers=args.workers)
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
        fast_learner=not args.eager_float32,
    )
    run_quickstart(config, args.out, overwrite=args.overwrite)
    return 0


def add_tasks(sub: Subparsers) -> None:
    p = sub.add_parser("tasks", help="list the registered tasks", description="List registered task ids.")
    p.add_argument("prefix", nargs="?", default=None, help="only show ids starting with this (e.g. metaworld/)")
    p.set_defaults(func=cmd_tasks)


def add_demos(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demos",
        help="collect scripted-expert demonstrations into a Minari dataset",
        description="Roll out the task's scripted expert with Gaussian action noise, keep only "
        "successful episodes, and write them as a Minari dataset on local disk.",
    )
    p.add_argument("task", help="task id, e.g. metaworld/pick-place (see 'honing tasks')")
    p.add_argument("--episodes", type=positive_int, default=20, help="successful episodes to keep (default 20)")
    p.add_argument(
        "--noise",
        type=non_negative_float,
        default=0.0,
        help="std of Gaussian noise added to each expert action, before clipping (default 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for initial states and noise (default 0)")
    p.add_argument("--out", required=True, help="dataset directory to create")
    p.add_argument(
        "--max-attempts",
        type=positive_int,
        default=None,
        help="give up after this many episodes (default 10 x --episodes)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_demos)


def add_bc(sub: Subparsers) -> None:
    p = sub.add_parser(
        "bc",
        help="train a behavior-cloning policy",
        description="Train a BC policy with a held-out validation split; the checkpoint with the "
        "best validation loss is kept in RUN_DIR/checkpoints/best.",
    )
    p.add_argument("dataset", help="dataset directory (from 'honing demos' or an import)")
    p.add_argument("--policy", choices=["mlp", "chunked", "diffusion"], default=None, help="policy kind (default mlp)")
    p.add_argument("--steps", type=positive_int, default=None, help="maximum updates (default 3000)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--task", default=None, help="check the dataset against this task id")
    add_run_options(p, "BCConfig fields", "--set lr=3e-4 --set policy.chunk_horizon=16", "validation losses")
    tracker_flags(p)
    p.set_defaults(func=cmd_bc)


def add_eval(sub: Subparsers) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a policy on fixed seeds",
        description="Run episodes from the fixed evaluation seeds and report the success rate "
        "with a 95%% Wilson interval; per-episode results are written as JSON.",
    )
    p.add_argument("policy_dir", help="policy directory or run directory (its checkpoints/best is used)")
    p.add_argument("--shield", metavar="SPEC", default=None, help="pass every action through this shield spec")
    p.add_argument("--task", default=None, help="task id (default: the task the policy was trained on)")
    p.add_argument("--episodes", type=positive_int, default=50, help="evaluation episodes (default 50)")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed; same seed = same initial states (default 0)")
    p.add_argument("--num-envs", type=positive_int, default=8, help="envs stepped side by side (default 8)")
    p.add_argument("--workers", type=non_negative_int, default=0,
                   help="processes the episodes are dealt out to (default 0: one per core; on CUDA: 1)")  # fmt: skip
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--out", default=None, help="JSON file for per-episode results (default: RUN_DIR/eval/...)")
    p.add_argument("--video", type=positive_int, default=None, metavar="N",
                   help="also write mp4s of the first N evaluation episodes (MuJoCo: needs EGL or OSMesa)")  # fmt: skip
    p.add_argument("--video-size", type=positive_int, default=None, metavar="PIXELS",
                   help="square video frames of this size (MuJoCo; default 480 on Meta-World)")  # fmt: skip
    p.set_defaults(func=cmd_eval)


def add_quickstart(sub: Subparsers) -> None:
    p = sub.add_parser(
        "quickstart",
        help="demos -> BC -> evaluation on a built-in task",
        description="Run the whole pipeline on a built-in task and print where everything went.",
    )
    p.add_argument(
        "--task", default="metaworld/pick-place", help="task id with an expert (default metaworld/pick-place)"
    )
    p.add_argument("--demos", type=positive_int, default=20, help="demonstrations to collect (default 20)")
    p.add_argument("--noise", type=non_negative_float, default=0.3, help="demo action noise std (default 0.3)")
    p.add_argument(
        "--policy", choices=["mlp", "chunked", "diffusion"], default="mlp", help="BC policy kind (default mlp)"
    )
    p.add_argument("--bc-steps", type=positive_int, default=3000, help="maximum BC updates (default 3000)")
    p.add_argument("--eval-episodes", type=positive_int, default=50, help="evaluation episodes (default 50)")
    p.add_argument(
        "--finetune-steps",
        type=int,
        default=100_000,
        help="env steps of residual RL fine-tuning after BC; 0 stops after BC (default 100000)",
    )
    p.add_argument(
        "--eager-float32",
        action="store_true",
        help="fine-tune with the float32 eager learner (the reference arithmetic, about half the speed) instead "
        "of bfloat16 where the CPU has it natively, compiled where a C++ compiler is present",
    )
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", default="runs/quickstart", help="output directory (default runs/quickstart)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=cmd_quickstart)
