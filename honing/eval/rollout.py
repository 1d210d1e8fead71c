"""Evaluation rollouts on fixed, shared initial states.

Episode i of an evaluation with seed K always starts from reset seed ``episode_seeds(K, "eval")[i]``,
so two policies evaluated with the same K face exactly the same initial states. Several envs are
stepped side by side so the policy runs on a batch (one forward pass per step, not per env).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from honing import seeding
from honing.errors import HoningError
from honing.eval.stats import wilson_interval
from honing.eval.workers import fork_map, worker_count
from honing.policies.base import Policy
from honing.runs.atomic import atomic_write_text
from honing.tasks import Task, get_task


@dataclass
class EpisodeResult:
    seed: int
    success: bool
    length: int
    episode_return: float
    first_success_step: int | None
    shield_interventions: int = 0
    """Steps at which an action shield changed (or stopped) the policy's action."""


@dataclass
class EvalResult:
    task_id: str
    episodes: list[EpisodeResult] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.episodes)

    @property
    def successes(self) -> int:
        return sum(e.success for e in self.episodes)

    @property
    def success_rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.n)

    @property
    def mean_length(self) -> float:
        return float(np.mean([e.length for e in self.episodes])) if self.episodes else 0.0

    def summary(self) -> dict[str, Any]:
        low, high = self.interval
        return {
            "task": self.task_id,
            "episodes": self.n,
            "successes": self.successes,
            "success_rate": self.success_rate,
            "ci95_low": low,
            "ci95_high": high,
            "mean_length": self.mean_length,
            "shield_interventions": sum(e.shield_interventions for e in self.episodes),
        }

    def describe(self) -> str:
        low, high = self.interval
        return (
            f"success {self.success_rate:.1%} [{low:.1%}, {high:.1%}] (95% Wilson, n={self.n}), "
            f"mean episode length {self.mean_length:.1f}"
        )

    def save(self, path: str | Path) -> Path:
        """Write the summary and every episode as one JSON file (atomically)."""
        path = Path(path)
        data = {"summary": self.summary(), "episodes": [asdict(e) for e in self.episodes]}
        atomic_write_text(path, json.dumps(data, indent=2))
        return path


def evaluate(
    policy: Policy,
    task: Task | str,
    episodes: int = 50,
    seed: int = 0,
    num_envs: int = 8,
    workers: int = 1,
) -> EvalResult:
    """Run `episodes` sparse-reward episodes of `policy` on `task` from the fixed eval seeds.

    With `workers` > 1 (0: one per core) the episodes are dealt out to forked processes
    (:mod:`honing.eval.workers`), `num_envs` envs in all; a deterministic policy gets the same
    results as in one process, a stochastic one the same for the same `workers` and `num_envs`.
    """
    if episodes <= 0:
        raise HoningError(f"--episodes must be positive, got {episodes}")
    task = get_task(task) if isinstance(task, str) else task
    if (policy.obs_dim, policy.act_dim) != task.spaces():
        obs_dim, act_dim = task.spaces()
        raise HoningError(
            f"policy has observation/action dims ({policy.obs_dim}, {policy.act_dim}) but task {task.id!r} "
            f"has ({obs_dim}, {act_dim}); evaluate it on the task it was trained for"
        )
    seeds = seeding.episode_seeds(seed, "eval", episodes)
    workers = worker_count(workers, episodes)
    if workers == 1:
        return EvalResult(task_id=task.id, episodes=run_episodes(policy, task, seeds, num_envs))
    share = partial(run_episodes, policy, task, num_envs=-(-num_envs // workers))
    parts = fork_map(share, [seeds[index::workers] for index in range(workers)])  # dealt like cards: even loads
    return EvalResult(task_id=task.id, episodes=[parts[i % workers][i // workers] for i in range(episodes)])


def run_episodes(policy: Policy, task: Task, seeds: Sequence[int], num_envs: int) -> list[EpisodeResult]:
    """One episode per seed, `num_envs` envs stepped side by side; the results in seed order."""
    episodes = len(seeds)
    slots = min(num_envs, episodes)
    envs = [task.make_env(sparse=True) for _ in range(slots)]
    results: list[EpisodeResult | None] = [None] * episodes
    next_episode = 0
    slot_episode = [-1] * slots
    obs = np.zeros((slots, policy.obs_dim), dtype=np.float32)
    stats = np.zeros((slots, 4))  # length, return, first success step (-1 = none), shield interventions

    def start(slot: int) -> None:
        nonlocal next_episode
        slot_episode[slot] = next_episode
        obs[slot], _ = envs[slot].reset(seed=seeds[next_episode])
        stats[slot] = (0, 0.0, -1, 0)
        next_episode += 1

    try:
        policy.reset()
        for slot in range(slots):
            start(slot)
        while any(index >= 0 for index in slot_episode):
            actions = policy.act(obs)
            for slot in range(slots):
                index = slot_episode[slot]
                if index < 0:
                    continue
                obs[slot], reward, terminated, truncated, info = envs[slot].step(actions[slot])
                stats[slot, 0] += 1
                stats[slot, 1] += reward
                if info["is_success"] and stats[slot, 2] < 0:
                    stats[slot, 2] = stats[slot, 0]
                stats[slot, 3] += bool(info.get("shield"))
                if terminated or truncated:
                    first = int(stats[slot, 2])
                    results[index] = EpisodeResult(
                        seed=seeds[index],
                        success=first >= 0,
                        length=int(stats[slot, 0]),
                        episode_return=float(stats[slot, 1]),
                        first_success_step=first if first >= 0 else None,
                        shield_interventions=int(stats[slot, 3]),
                    )
                    if next_episode < episodes:
                        start(slot)
                        policy.reset([slot])
                    else:
                        slot_episode[slot] = -1
    finally:
        for env in envs:
            env.close()
    return [result for result in results if result is not None]
