"""The main job on a built-in task: demos -> BC -> evaluation -> fine-tuning, in one call.

This is what ``make quickstart`` runs on a fresh machine; every artefact lands under one run
directory so the user can open it afterwards.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honing.data.demos import collect_demos
from honing.device import resolve_device
from honing.errors import HoningError
from honing.eval.rollout import EvalResult, evaluate
from honing.finetune import ResidualTD3Config, finetune
from honing.finetune.updates import bfloat16_is_fast, can_compile
from honing.policies.bc import BCConfig, train_bc
from honing.policies.bc_policy import PolicyConfig


@dataclass
class QuickstartConfig:
    """Budget of the quickstart pipeline (the defaults take about ten minutes on 2 CPU cores)."""

    task: str = "metaworld/pick-place"
    """Task id (see 'honing tasks'); it needs a scripted expert."""
    demos: int = 20
    """Successful demonstrations to collect."""
    noise: float = 0.3
    """Std of the Gaussian noise added to the expert's actions (imperfect demos)."""
    policy: str = "mlp"
    """BC policy kind: mlp or chunked."""
    bc_steps: int = 3000
    """Maximum BC updates (early stopping on the validation split usually ends sooner)."""
    eval_episodes: int = 50
    """Evaluation episodes on the fixed evaluation seeds."""
    finetune_steps: int = 100_000
    """Environment steps of residual off-policy fine-tuning after BC (0 skips it)."""
    seed: int = 0
    """Seed for demos, training and evaluation."""
    fast_learner: bool = True
    """Fine-tune in bfloat16 where the device has native bfloat16 matmuls, compiled where a C++ compiler
    is present; False: the float32 eager learner, the reference arithmetic (about half the speed)."""


@dataclass
class QuickstartResult:
    run_dir: Path
    dataset: Path
    policy_dir: Path
    eval_file: Path
    evaluation: EvalResult
    demo_attempts: int
    timings: dict[str, float]
    honed_eval: EvalResult | None = None
    honed_dir: Path | None = None


def run_quickstart(
    config: QuickstartConfig,
    out: str | Path,
    say: Callable[[str], Any] | None = None,
    overwrite: bool = False,
) -> QuickstartResult:
    say = say or functools.partial(print, flush=True)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise HoningError(f"{out} already exists and is not empty; pass another --out or --overwrite")
        shutil.rmtree(out)
    if config.policy not in ("mlp", "chunked"):
        raise HoningError(f"--policy must be mlp or chunked, got {config.policy!r}")
    timings: dict[str, float] = {}
    dataset_path = out / "demos"

    start = time.time()
    stages = 4 if config.finetune_steps > 0 else 3
    say(f"[1/{stages}] collecting {config.demos} demos of {config.task} (expert + noise {config.noise}) ...")
    report = collect_demos(config.task, config.demos, noise=config.noise, seed=config.seed, out=dataset_path)
    timings["demos_s"] = time.time() - start
    say(f"      kept {len(report.episodes)} successful episodes of {report.attempts} attempts -> {dataset_path}")

    start = time.time()
    say(f"[2/{stages}] behavior cloning ({config.policy}, up to {config.bc_steps} updates, early stopping) ...")
    bc_config = BCConfig(policy=PolicyConfig(kind=config.policy), steps=config.bc_steps, seed=config.seed)  # type: ignore[arg-type]
    bc = train_bc(dataset_path, bc_config, out=out / "bc", task_id=config.task)
    timings["bc_s"] = time.time() - start
    policy_dir = out / "bc" / "checkpoints" / "best"
    say(f"      best validation loss {bc.best_val_loss:.4f} at update {bc.best_step} -> {policy_dir}")

    start = time.time()
    say(f"[3/{stages}] evaluating on {config.eval_episodes} fixed-seed episodes ...")
    evaluation = evaluate(bc.policy, config.task, config.eval_episodes, config.seed, workers=0)  # one per core
    timings["eval_s"] = time.time() - start
    eval_file = evaluation.save(out / "bc" / "eval" / "final.json")
    say(f"      BC policy: {evaluation.describe()}")
    result = QuickstartResult(out, dataset_path, policy_dir, eval_file, evaluation, report.attempts, timings)

    if config.finetune_steps > 0:
        start = time.time()
        ft_config = quickstart_finetune_config(config)
        learner = f"{ft_config.precision}{', compiled' if ft_config.compile else ''} learner"
        say(f"[4/4] residual RL fine-tuning for {config.finetune_steps} env steps (sparse success reward, "
            f"{learner}) ...")  # fmt: skip
        honed = finetune(policy_dir, config.task, dataset_path, config=ft_config, out=out / "finetune",
                         say=lambda line: say("      " + line.strip()))  # fmt: skip
        timings["finetune_s"] = time.time() - start
        result.honed_eval, result.honed_dir = honed.honed_eval, out / "finetune" / "checkpoints" / "last"
        say(f"      same {ft_config.final_eval_episodes} evaluation episodes for both:")
        say(f"      base  (BC): {honed.base_eval.describe()}")
        say(f"      honed     : {honed.honed_eval.describe()}  -> {result.honed_dir}")
    say(f"done in {sum(timings.values()):.0f} s; everything is under {out}/")
    return result


def quickstart_finetune_config(config: QuickstartConfig) -> ResidualTD3Config:
    """Residual TD3 at its own defaults, for a budget that shows the gain on 2 CPU cores.

    On pick-place residual-td3 first dips while its critic learns (as low as 30% between 20k and 40k
    env steps, from a 72-76% base) and then climbs past the base: 94%, 96% and 98% at 100k steps over 3 seeds
    (BENCHMARKS.md, fine-tuning on Meta-World). That takes 6-7 minutes on 2 cores with the bfloat16
    compiled learner and evaluation on both cores, against 12 for float32 eager; a shorter budget
    would stop in the dip. Warm-up and critic-only phases shrink with the budget, so a small one still
    reaches actor updates.
    """
    steps = config.finetune_steps
    device = resolve_device("auto")
    return ResidualTD3Config(
        steps=steps,
        learning_starts=min(ResidualTD3Config.learning_starts, steps // 6),
        critic_warmup=min(ResidualTD3Config.critic_warmup, steps // 4),
        eval_every=max(steps // 5, 1),
        eval_episodes=20,
        final_eval_episodes=config.eval_episodes,
        seed=config.seed,
        precision="bfloat16" if config.fast_learner and bfloat16_is_fast(device) else "float32",
        compile=config.fast_learner and can_compile(device),
    )
