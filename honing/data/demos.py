"""Scripted-expert demonstrations with Gaussian action noise, successful episodes only.

Noise makes the demos imperfect the way teleoperation is (their paths wander, their outcomes
mostly do not), which is what leaves room for fine-tuning. Each attempt uses its own reset seed
from the ``demos`` stream, recorded in the dataset, so the collection can be replayed exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from honing import seeding
from honing._version import __version__
from honing.data.dataset import save_dataset
from honing.data.episodes import Episode
from honing.errors import HoningError
from honing.tasks import Task, get_task


@dataclass
class DemoReport:
    path: Path | None
    episodes: list[Episode]
    seeds: list[int]
    attempts: int

    @property
    def success_rate(self) -> float:
        return len(self.episodes) / max(self.attempts, 1)


def rollout(
    task: Task, act: Callable[[np.ndarray], np.ndarray], seed: int, noise: float, rng: np.random.Generator,
    max_steps: int | None = None,
) -> Episode:  # fmt: skip
    """One sparse-reward episode of `act` with N(0, noise^2) added to each action.

    With `max_steps`, the episode is cut there (recorded as a truncation).
    """
    env = task.make_env(sparse=True)
    try:
        obs, _ = env.reset(seed=seed)
        observations, actions, rewards, terms, truncs, successes = [obs], [], [], [], [], []
        while True:
            action = np.asarray(act(obs), dtype=np.float32)
            if noise > 0:
                action = action + noise * rng.standard_normal(action.shape).astype(np.float32)
            action = np.clip(action, -1.0, 1.0)
            obs, reward, terminated, truncated, info = env.step(action)
            action = info.get("shield_action", action)  # what a shield let through is what happened
            truncated = truncated or (max_steps is not None and len(actions) + 1 >= max_steps and not terminated)
            observations.append(obs)
            actions.append(action)
            rewards.append(reward)
            terms.append(terminated)
            truncs.append(truncated)
            successes.append(info["is_success"])
            if terminated or truncated:
                break
    finally:
        env.close()
    return Episode(
        np.stack(observations),
        np.stack(actions),
        np.array(rewards),
        np.array(terms),
        np.array(truncs),
        np.array(successes),
    )


def rollout_expert(task: Task, seed: int, noise: float, rng: np.random.Generator) -> Episode:
    """One sparse-reward episode of the task's expert with N(0, noise^2) added to each action."""
    return rollout(task, task.expert(), seed, noise, rng)


def collect_demos(
    task_id: str,
    episodes: int,
    noise: float = 0.0,
    seed: int = 0,
    out: str | Path | None = None,
    max_attempts: int | None = None,
    keep_failures: bool = False,
    overwrite: bool = False,
) -> DemoReport:
    """Roll out the expert until `episodes` successes (or `max_attempts`), then save them.

    With ``keep_failures`` every attempt is kept (useful for measuring the expert itself).
    """
    if episodes <= 0:
        raise HoningError(f"--episodes must be positive, got {episodes}")
    if noise < 0:
        raise HoningError(f"--noise must be >= 0, got {noise}")
    task = get_task(task_id)
    task.expert()  # fail early with a clear message when the task has none
    if out is not None and Path(out).exists() and not overwrite:
        raise HoningError(f"{out} already exists; choose another --out or remove it first")
    max_attempts = max_attempts or 10 * episodes
    reset_seeds = seeding.episode_seeds(seed, "demos", max_attempts)
    rng = seeding.rng(seed, "noise")
    kept, kept_seeds, attempts = [], [], 0
    for reset_seed in reset_seeds:
        if len(kept) >= episodes:
            break
        attempts += 1
        episode = rollout_expert(task, reset_seed, noise, rng)
        if episode.success or keep_failures:
            kept.append(episode)
            kept_seeds.append(reset_seed)
    if not kept:
        raise HoningError(
            f"the expert for {task_id} succeeded in none of {attempts} attempts at noise {noise}; lower --noise"
        )
    path = None
    if out is not None:
        metadata = {
            "honing_task": task_id,
            "honing_noise": float(noise),
            "honing_seed": int(seed),
            "honing_attempts": attempts,
            "honing_source": "scripted expert" + (" (failures kept)" if keep_failures else " (successes only)"),
            "honing_version": __version__,
        }
        path = save_dataset(out, kept, metadata=metadata, seeds=kept_seeds, overwrite=overwrite)
    return DemoReport(path=path, episodes=kept, seeds=kept_seeds, attempts=attempts)
