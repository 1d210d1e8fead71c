"""Kill a fine-tuning run with SIGKILL at random moments, resume it each time, compare.

The run (residual-td3 on toy/reach, small networks) is started through the CLI, killed with
SIGKILL shortly after it logs progress (so kills land mid-update, mid-evaluation or mid-snapshot,
not in the imports), and resumed with ``honing finetune --resume`` until it completes. The result
must equal an uninterrupted run with the same seed: every logged metric and every final
evaluation episode. ``tests/test_resume.py`` runs the same check with 20 kills.

    python -m benchmarks.kill_resume --kills 20        # ~2-4 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, command_line, machine, save_results, update_section
from honing.data import collect_demos
from honing.finetune import finetune, method_config
from honing.policies import BCConfig, PolicyConfig, train_bc
from honing.runs.rundir import read_metrics
from honing.runs.snapshot import load_latest_snapshot

CONFIG: dict[str, Any] = {"learning_starts": 300, "critic_warmup": 200, "batch_size": 32, "critic_hidden_dims": [32],
                          "actor": {"hidden_dims": [32]}, "eval_every": 400, "eval_episodes": 5,
                          "final_eval_episodes": 10, "snapshot_every": 100, "log_every": 50,
                          "device": "cpu"}  # fmt: skip
"""A small residual-td3 config: seconds per run, yet every part of the state (warm-up, critic-only
updates, actor updates, evaluations, snapshots) is crossed many times."""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "honing", *args]


def _wait_for_progress(out: Path, process: subprocess.Popen, first: bool) -> None:
    """Block until the run logs a new metrics line (so the kill lands in training, not in imports)."""
    metrics = out / "metrics.jsonl"
    start_lines = 0 if first or not metrics.is_file() else metrics.read_bytes().count(b"\n")
    deadline = time.time() + 120
    while process.poll() is None and time.time() < deadline:
        if metrics.is_file() and metrics.read_bytes().count(b"\n") > start_lines:
            return
        time.sleep(0.05)


def kill_and_resume(base: Path, demos: Path, out: Path, kills: int, seed: int, steps: int) -> list[int]:
    """Run the CLI, SIGKILL it at `kills` random moments, resume until it completes.

    Returns, for each kill, the env step of the newest snapshot at that moment (-1: none yet).
    """
    rng = random.Random(seed)
    sets = [f"--set={k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in CONFIG.items()
            if k not in ("device", "actor")] + ["--set=actor.hidden_dims=[32]"]  # fmt: skip
    command = _cli("finetune", str(base), "--demos", str(demos), "--steps", str(steps), "--out", str(out),
                   "--device", "cpu", "--quiet", *sets)  # fmt: skip
    # the same thread count as this process: float reductions split over threads round differently,
    # so only equal thread counts give bit-identical numbers
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    landed: list[int] = []
    pace = 0.3  # seconds per logged line, measured on the first run (capped: the pace of a slow machine)
    while True:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if len(landed) < kills:
            _wait_for_progress(out, process, first=not landed)
            if not landed:
                start = time.perf_counter()
                _wait_for_progress(out, process, first=False)
                pace = min(pace, time.perf_counter() - start)
            # then a random moment (mid-update, mid-eval, mid-snapshot ...) within one logging interval, so a
            # run makes at most about one snapshot of progress per kill and 20 kills fit the budget on any
            # machine (a fixed 0.3 s let a fast machine finish the run before the 20th kill)
            time.sleep(rng.uniform(0.0, pace))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    latest = load_latest_snapshot(out / "state") if (out / "state").is_dir() else None
                landed.append(latest.step if latest else -1)
                if (out / "finetune.json").is_file():
                    command = _cli("finetune", "--resume", str(out), "--quiet")
                elif "--overwrite" not in command:  # killed before the run directory was complete
                    command = [*command, "--overwrite"]
                continue
        _, stderr = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"the resumed run failed: {stderr.decode()[-2000:]}")
        return landed


def comparable(run: Path) -> list[dict[str, Any]]:
    """metrics.jsonl without wall-clock fields (the only thing allowed to differ)."""
    return [{k: v for k, v in m.items() if k not in ("wall_clock_s", "steps_per_s")} for m in read_metrics(run)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per run (default 20)")
    parser.add_argument("--steps", type=int, default=3000, help="env steps of the run (default 3000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    parser.add_argument("--out", default=str(RESULTS / "kill_resume.json"), help="results JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        collect_demos("toy/reach", episodes=10, noise=0.3, seed=0, out=root / "demos")
        train_bc(root / "demos", BCConfig(steps=3000, seed=0, policy=PolicyConfig(hidden_dims=(64, 64))),
                 out=root / "bc")  # fmt: skip
        config = method_config("residual-td3", {**CONFIG, "steps": args.steps})
        start = time.time()
        reference = finetune(root / "bc", "toy/reach", root / "demos", config=config, out=root / "whole")
        whole_s = time.time() - start
        start = time.time()
        landed = kill_and_resume(root / "bc", root / "demos", root / "killed", args.kills, args.seed, args.steps)
        killed_s = time.time() - start
        honed = json.loads((root / "killed" / "eval" / "final_honed.json").read_text())
        same_eval = [e["success"] for e in honed["episodes"]] == [e.success for e in reference.honed_eval.episodes]
        same_metrics = comparable(root / "killed") == comparable(root / "whole")
        final_steps = max(m["env_steps"] for m in read_metrics(root / "killed"))
    result = {"kills": len(landed), "snapshot_step_at_each_kill": landed, "steps": args.steps,
              "final_env_steps": final_steps, "same_final_eval": same_eval, "same_metrics": same_metrics,
              "uninterrupted_s": round(whole_s, 1), "killed_and_resumed_s": round(killed_s, 1),
              "machine": machine(), "command": command_line()}  # fmt: skip
    save_results(Path(args.out), result)
    verdict = "identical" if same_eval and same_metrics else "DIFFERENT"
    update_section("kill-resume", (
        "## Kill and resume\n\n"
        f"A residual-td3 run on toy/reach ({args.steps} env steps) was killed with SIGKILL {len(landed)} times at "
        f"random moments and resumed with `honing finetune --resume` each time. It ended at exactly "
        f"{final_steps} env steps, and its metrics and final evaluation were **{verdict}** to an uninterrupted "
        f"run with the same seed. Newest snapshot at each kill: {landed}. Wall-clock: {whole_s:.0f} s "
        f"uninterrupted, {killed_s:.0f} s killed and resumed (each restart re-imports and replays from the last "
        f"snapshot).\n\n- Command: `{command_line()}`\n- Machine: {machine()}\n"
    ))  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
