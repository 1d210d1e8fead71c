"""Episodes <-> flat arrays, the layout most tabular formats store (one row per step)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from honing.data.episodes import Episode
from honing.errors import DatasetError


@dataclass
class FlatSteps:
    """Steps of many episodes, concatenated; episode ``i`` owns rows ``starts[i]:starts[i+1]``."""

    observations: np.ndarray  # (N, obs_dim): the observation each action was taken in
    next_observations: np.ndarray  # (N, obs_dim)
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    successes: np.ndarray
    lengths: np.ndarray  # (E,)

    @classmethod
    def from_episodes(cls, episodes: list[Episode]) -> FlatSteps:
        return cls(
            observations=np.concatenate([ep.observations[:-1] for ep in episodes]),
            next_observations=np.concatenate([ep.observations[1:] for ep in episodes]),
            actions=np.concatenate([ep.actions for ep in episodes]),
            rewards=np.concatenate([ep.rewards for ep in episodes]),
            terminations=np.concatenate([ep.terminations for ep in episodes]),
            truncations=np.concatenate([ep.truncations for ep in episodes]),
            successes=np.concatenate([ep.successes for ep in episodes]),
            lengths=np.array([len(ep) for ep in episodes], dtype=np.int64),
        )

    def to_episodes(self, where: str) -> list[Episode]:
        total = int(self.lengths.sum())
        for name in ("observations", "next_observations", "actions", "rewards", "terminations", "truncations"):
            if len(getattr(self, name)) != total:
                raise DatasetError(
                    f"{where}: '{name}' has {len(getattr(self, name))} rows but the episodes cover {total} steps"
                )
        bounds = np.concatenate([[0], np.cumsum(self.lengths)])
        episodes = []
        for start, stop in itertools.pairwise(bounds):
            episodes.append(
                Episode(
                    observations=np.concatenate(
                        [self.observations[start:stop], self.next_observations[stop - 1 : stop]]
                    ),
                    actions=self.actions[start:stop],
                    rewards=self.rewards[start:stop],
                    terminations=self.terminations[start:stop],
                    truncations=self.truncations[start:stop],
                    successes=self.successes[start:stop],
                )
            )
        return episodes


def lengths_from_ends(ends: np.ndarray, where: str) -> np.ndarray:
    """Episode lengths from per-step end flags (termination or truncation); the last step must end one."""
    ends = np.asarray(ends, dtype=bool)
    if len(ends) == 0:
        raise DatasetError(f"{where} holds no steps")
    if not ends[-1]:
        raise DatasetError(
            f"{where}: the last step ends no episode (neither terminal nor timeout); "
            "the file is cut short, or pass episode lengths"
        )
    stops = np.flatnonzero(ends) + 1
    return np.diff(np.concatenate([[0], stops])).astype(np.int64)


def success_from_reward(rewards: np.ndarray, terminations: np.ndarray) -> np.ndarray:
    """honing's sparse convention when a format has no success flag: a rewarded terminal step is a success."""
    return np.asarray(terminations, dtype=bool) & (np.asarray(rewards) > 0)
