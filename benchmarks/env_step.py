"""Meta-World env steps with honing's array-based contact check against Meta-World's own, side by side.

A py-spy profile of rlpd's training loop on metaworld/pick-place (bfloat16-compiled, 2 threads)
put 5% of the whole loop, and a larger share of the env step, in one list comprehension:
Meta-World's ``touching_object`` walking ``data.contact`` in Python on every step whose reward
asks whether the gripper touches the object. ``honing.tasks.metaworld_tasks.touching_object``
selects the same contacts from MuJoCo's arrays (the same answer to the bit; tests/test_tasks.py).
This times the env step both ways on the benchmark suite's tasks, each arm in an env of its own,
in alternating rounds, under the same actions (the scripted expert with noise 0.3, so the gripper
reaches, grasps and carries as in demos and early fine-tuning); then the training loop on
metaworld/pick-place both ways (``benchmarks.loop_arms``: warmed-up loops in worker processes taking
turns; UTD 1, bfloat16-compiled, 2 threads by default), since an env step right after an update
costs more than one alone.

    python -m benchmarks.env_step

Writes ``benchmarks/results/env_step.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from contextlib import AbstractContextManager
from typing import Any
from unittest import mock

import numpy as np

from benchmarks.common import METAWORLD_TASKS, RESULTS, command_line, machine, provenance, save_results, update_section
from benchmarks.loop_arms import add_loop_arguments, serve, side_by_side, summarise
from honing.tasks import get_task, metaworld_tasks

ARMS = ("metaworld", "honing")


def contact_check(arm: str) -> AbstractContextManager[Any]:
    """Meta-World envs made in the block check contacts as `arm` says (``honing``: as honing does)."""
    if arm == "honing":
        return contextlib.nullcontext()
    from metaworld.sawyer_xyz_env import SawyerXYZEnv

    return mock.patch.object(metaworld_tasks, "touching_object", SawyerXYZEnv.touching_object)


def stepper(task_id: str, arm: str, seed: int) -> Any:
    """A function that takes `n` env steps (expert actions with noise) and returns the seconds spent in ``step``."""
    task = get_task(task_id)
    with contact_check(arm):
        env = task.make_env(sparse=True)
    expert, rng = task.expert(), np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)

    def steps(n: int) -> float:
        nonlocal obs
        spent = 0.0
        for _ in range(n):
            action = np.clip(expert(obs) + rng.normal(0.0, 0.3, env.action_space.shape), -1, 1).astype(np.float32)
            start = time.perf_counter()  # the env step alone, not the expert choosing the action
            obs, _, terminated, truncated, _ = env.step(action)
            spent += time.perf_counter() - start
            if terminated or truncated:
                obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
        return spent

    return steps


def measure(task_id: str, steps: int, rounds: int) -> dict[str, Any]:
    # the same seed in both arms: the same actions, states and resets, so the same contacts
    arms = {arm: stepper(task_id, arm, seed=0) for arm in ARMS}
    for run in arms.values():
        run(100)  # warm-up
    us: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for _ in range(rounds):
        for arm, run in arms.items():
            us[arm].append(1e6 * run(steps) / steps)
    median = {arm: round(statistics.median(values), 1) for arm, values in us.items()}
    ratios = sorted(m / h for m, h in zip(us["metaworld"], us["honing"], strict=True))
    return {"task": task_id, "us_per_step": median, "us_per_step_rounds": {a: [round(v, 1) for v in vs]
            for a, vs in us.items()}, "speedup": round(median["metaworld"] / median["honing"], 2),
            "speedup_range": [round(ratios[0], 2), round(ratios[-1], 2)]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=METAWORLD_TASKS)
    parser.add_argument("--env-steps", type=int, default=1000, help="env steps per arm and round, env alone")
    parser.add_argument("--env-rounds", type=int, default=5, help="alternating rounds, env alone (default 5)")
    parser.add_argument("--methods", nargs="*", default=["rlpd", "residual-td3"], help="learners of the loop runs")
    parser.add_argument("--out", default=str(RESULTS / "env_step.json"))
    add_loop_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        serve(contact_check, *args.worker, args)
        return
    rows = []
    for task_id in args.tasks:
        rows.append(measure(task_id, args.env_steps, args.env_rounds))
        print(rows[-1], flush=True)
    rates = side_by_side("benchmarks.env_step", ARMS, args.methods, args)
    loop = {**summarise(rates, before="metaworld", after="honing"), "loop_steps_per_s_rounds": rates,
            "mode": args.mode, "threads": args.threads, "steps_per_round": args.steps}  # fmt: skip
    data = {"rows": rows, "loop": loop, "command": command_line(), "machine": machine()}
    save_results(args.out, data)
    update_section("env-step", report(data))


def report(data: dict[str, Any]) -> str:
    lines = [
        "## Meta-World env steps: the contact check on MuJoCo's arrays",
        "",
        "One env step (simulator, observation, Meta-World's dense reward and success check, honing's wrappers), "
        "us per step, median of alternating rounds under the same noisy-expert actions; `metaworld`: "
        "Meta-World's own `touching_object`, walking `data.contact` in Python; `honing`: the same check on "
        "MuJoCo's contact arrays (`honing.tasks.metaworld_tasks.touching_object`, identical rewards, "
        "tests/test_tasks.py). Every Meta-World env honing makes uses the latter: demos, fine-tuning, evaluation.",
        "",
        "| task | Meta-World's check (us/step) | honing's (us/step) | speed-up (round by round) |",
        "|---|---|---|---|",
    ]
    for row in data["rows"]:
        us, (low, high) = row["us_per_step"], row["speedup_range"]
        lines.append(f"| {row['task']} | {us['metaworld']} | {us['honing']} | {row['speedup']}x ({low}-{high}x) |")
    loop = data["loop"]
    lines += [
        "",
        "The training loop on metaworld/pick-place (2x256, batch 256, 2 critic heads, UTD 1, "
        f"{loop['mode']}, {loop['threads']} thread(s)): one warmed-up loop per arm, taking turns for "
        f"{len(next(iter(loop['ratio_rounds'].values())))} rounds of {loop['steps_per_round']} env steps "
        "(medians; the ratio by round: its median and interquartile range).",
        "",
        "| method | loop env steps/s, Meta-World's check | honing's | ratio by round |",
        "|---|---|---|---|",
    ]
    for method, rates in loop["loop_steps_per_s"].items():
        ratio = loop["ratio"][method]
        lines.append(f"| {method} | {rates['metaworld']:.1f} | {rates['honing']:.1f} | {ratio['median']:.2f}x "
                     f"({ratio['iqr'][0]:.2f}-{ratio['iqr'][1]:.2f}x) |")  # fmt: skip
    lines += ["", *provenance(data, "env_step")]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
