"""Episodes: the unit every dataset, replay buffer and importer speaks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Episode:
    """One episode of T steps.

    ``observations`` has T+1 rows (the last is the observation after the final action), the
    step arrays have T. ``terminations`` marks success (or failure) ends where bootstrapping stops;
    ``truncations`` marks time limits, where it must not.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    successes: np.ndarray

    def __post_init__(self) -> None:
        self.observations = np.asarray(self.observations, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.float32)
        self.rewards = np.asarray(self.rewards, dtype=np.float32)
        self.terminations = np.asarray(self.terminations, dtype=bool)
        self.truncations = np.asarray(self.truncations, dtype=bool)
        self.successes = np.asarray(self.successes, dtype=bool)

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def success(self) -> bool:
        """Whether the task was solved at any step of the episode."""
        return bool(self.successes.any())

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum())

    def problems(self) -> list[str]:
        """Structural or numeric defects, empty when the episode is usable."""
        found = []
        steps = len(self.actions)
        if steps == 0:
            found.append("has no steps")
        if self.observations.ndim != 2 or self.actions.ndim != 2:
            found.append("observations and actions must be 2-D arrays (steps x dims)")
            return found
        if len(self.observations) != steps + 1:
            found.append(f"has {len(self.observations)} observations for {steps} actions (expected {steps + 1})")
        for name in ("rewards", "terminations", "truncations", "successes"):
            if len(getattr(self, name)) != steps:
                found.append(f"has {len(getattr(self, name))} {name} for {steps} actions")
        if not np.isfinite(self.observations).all():
            found.append("has non-finite (NaN/inf) observations")
        if not np.isfinite(self.actions).all():
            found.append("has non-finite (NaN/inf) actions")
        elif np.abs(self.actions).max(initial=0.0) > 1.0 + 1e-5:
            found.append(f"has actions outside [-1, 1] (max |a| = {np.abs(self.actions).max():.3g})")
        if not np.isfinite(self.rewards).all():
            found.append("has non-finite (NaN/inf) rewards")
        return found
