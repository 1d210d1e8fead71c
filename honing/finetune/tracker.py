"""Evaluation, checkpoints and the final comparison, identical for every method.

Every method, on-policy or off, is measured the same way: the current policy is evaluated on the
fixed evaluation seeds every ``eval_every`` env steps, ``checkpoints/last`` and
``checkpoints/best`` are kept, and at the end the base and the honed policy are evaluated on the
same seeds. Evaluation runs on a deep copy of the base, so it never disturbs the chunk queue of
the base driving the training env.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from honing.eval.rollout import EvalResult, evaluate
from honing.finetune.common import FinetuneConfig
from honing.policies.base import Policy
from honing.policies.checkpoint import save_policy
from honing.runs.rundir import RunDir
from honing.tasks import Task

Say = Callable[[str], Any]
PolicyOn = Callable[[Policy], Policy]
"""Builds the current honed policy on top of a given base (methods that ignore the base may)."""


@dataclass
class CurvePoint:
    env_steps: int
    success: float
    ci95: tuple[float, float]
    wall_clock_s: float
    updates: int


@dataclass
class FinetuneResult:
    policy: Policy
    base_eval: EvalResult
    honed_eval: EvalResult
    curve: list[CurvePoint] = field(default_factory=list)
    wall_clock_s: float = 0.0
    run_dir: Path | None = None


class RunTracker:
    """Periodic evaluation on fixed seeds, best/last checkpoints and the final base-vs-honed table."""

    def __init__(self, task: Task, base: Policy, config: FinetuneConfig, run: RunDir | None, say: Say | None) -> None:
        self.task, self.base, self.config, self.run = task, base, config, run
        self.say: Say = say or (lambda message: None)
        self.eval_base = copy.deepcopy(base)
        self.start = time.time()
        self.curve: list[CurvePoint] = []
        self.best = -1.0

    def elapsed(self) -> float:
        return time.time() - self.start

    def state(self) -> dict[str, Any]:
        """What a snapshot keeps: the curve so far, the best success and the wall-clock spent."""
        return {"curve": [asdict(point) for point in self.curve], "best": self.best, "elapsed": self.elapsed()}

    def restore(self, state: dict[str, Any]) -> None:
        self.curve = [CurvePoint(**{**point, "ci95": tuple(point["ci95"])}) for point in state["curve"]]
        self.best = float(state["best"])
        self.start = time.time() - float(state["elapsed"])

    def resumed(self, state: dict[str, Any], metrics_lines: int, where: str) -> None:
        """Continue from a snapshot: its curve and clock, metrics.jsonl cut back to what it had logged."""
        self.restore(state)
        if self.run is not None:
            self.run.truncate_metrics(int(metrics_lines), elapsed=self.elapsed())
        self.say(f"resumed from {where}")

    def log(self, **values: Any) -> None:
        if self.run is not None:
            self.run.log(**values)

    def record(self, honed: PolicyOn, env_steps: int, updates: int) -> EvalResult:
        """Evaluate the current policy, log the curve point, refresh the checkpoints."""
        cfg = self.config
        result = evaluate(honed(self.eval_base), self.task, cfg.eval_episodes, cfg.seed, workers=cfg.eval_workers)
        point = CurvePoint(env_steps, result.success_rate, result.interval, round(self.elapsed(), 2), updates)
        self.curve.append(point)
        self.log(kind="eval", env_steps=env_steps, success=point.success, ci95_low=point.ci95[0],
                 ci95_high=point.ci95[1], updates=updates)  # fmt: skip
        self.say(f"  step {env_steps:>7}: {result.describe()}  [{point.wall_clock_s:.0f} s]")
        if self.run is not None:
            extra = {"task_id": self.task.id, "env_steps": env_steps}
            if env_steps > 0:
                save_policy(honed(self.base), self.run.checkpoints / "last", extra=extra)
            if result.success_rate > self.best:
                save_policy(honed(self.base), self.run.checkpoints / "best", extra=extra)
        self.best = max(self.best, result.success_rate)
        return result

    def finish(self, honed: PolicyOn) -> FinetuneResult:
        """Base and honed policy on the same `final_eval_episodes` evaluation seeds."""
        cfg = self.config
        self.say(f"final evaluation on {cfg.final_eval_episodes} episodes (same seeds for base and honed) ...")
        episodes, seed, workers = cfg.final_eval_episodes, cfg.seed, cfg.eval_workers
        base_eval = evaluate(self.eval_base, self.task, episodes, seed, workers=workers)
        honed_eval = evaluate(honed(self.eval_base), self.task, episodes, seed, workers=workers)
        if self.run is not None:
            base_eval.save(self.run.eval_dir / "final_base.json")
            honed_eval.save(self.run.eval_dir / "final_honed.json")
        return FinetuneResult(policy=honed(self.base), base_eval=base_eval, honed_eval=honed_eval, curve=self.curve,
                              wall_clock_s=self.elapsed(), run_dir=self.run.path if self.run else None)  # fmt: skip
