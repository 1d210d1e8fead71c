"""Offline: how often would a policy violate each constraint? Online: a task whose env is shielded."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np

from honing import seeding
from honing.data.dataset import Dataset
from honing.policies.base import Policy
from honing.safety.shield import Shield, ShieldWrapper
from honing.safety.spec import load_spec
from honing.tasks import Task


def _wrap(shield: Shield, env: gym.Env) -> gym.Env:
    return ShieldWrapper(env, shield)


def shield_task(task: Task, spec_path: str | Path) -> Task:
    """`task` with every env it builds wrapped by the shield of `spec_path` (outermost)."""
    shield = Shield(load_spec(spec_path), task.spaces()[1], task.parts)
    return dataclasses.replace(task, wrappers=(*task.wrappers, functools.partial(_wrap, shield)))


@dataclass
class ShieldReport:
    """Violation rates of the raw (unshielded) policy, per constraint and per source of states."""

    states: dict[str, int] = field(default_factory=dict)
    violations: dict[str, dict[str, int]] = field(default_factory=dict)

    def rate(self, source: str, constraint: str) -> float:
        return self.violations[source][constraint] / max(self.states[source], 1)

    def table(self) -> str:
        sources = list(self.states)
        names = list(next(iter(self.violations.values()))) if self.violations else []
        lines = ["| constraint | " + " | ".join(f"{s} ({self.states[s]} states)" for s in sources) + " |",
                 "|---|" + "---|" * len(sources)]  # fmt: skip
        for name in names:
            lines.append(f"| {name} | " + " | ".join(f"{self.rate(s, name):.1%}" for s in sources) + " |")
        return "\n".join(lines)


def check_policy(
    spec_path: str | Path, policy: Policy, task: Task, dataset: Dataset | None = None, episodes: int = 10,
    seed: int = 0,
) -> ShieldReport:  # fmt: skip
    """Replay the policy on the dataset's states and on its own rollouts; count what it would violate.

    Dataset states are visited in episode order (the policy is reset at each episode start, so a
    chunked policy's queue is realistic), with the demonstrated previous action for ``max_delta``.
    Rollouts run the raw policy on the fixed evaluation seeds, unshielded.
    """
    shield = Shield(load_spec(spec_path), policy.act_dim, task.parts)
    names = [c.name for c in shield.spec.constraints]
    report = ShieldReport()

    def visit(source: str, obs: np.ndarray, action: np.ndarray, previous: np.ndarray | None) -> None:
        report.states[source] = report.states.get(source, 0) + 1
        counts = report.violations.setdefault(source, dict.fromkeys(names, 0))
        for name in shield.check(obs, action, previous).fired:
            counts[name] += 1

    if dataset is not None:
        for episode in dataset.episodes:
            policy.reset()
            for t in range(len(episode)):
                obs = episode.observations[t]
                previous = episode.actions[t - 1] if t else None
                visit("dataset", obs, policy.act(obs[None])[0], previous)
    env = task.make_env(sparse=True)
    try:
        for reset_seed in seeding.episode_seeds(seed, "eval", episodes):
            obs, _ = env.reset(seed=reset_seed)
            policy.reset()
            previous = None
            while True:
                action = policy.act(obs[None])[0]
                visit("rollouts", obs, action, previous)
                obs, _, terminated, truncated, _ = env.step(action)
                previous = action
                if terminated or truncated:
                    break
    finally:
        env.close()
    return report
