"""Normalisation statistics, computed once from a dataset and stored with every policy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from honing.data.episodes import Episode

STAT_NAMES = ("obs_mean", "obs_std", "act_mean", "act_std")
MIN_STD = 1e-2  # constant dimensions (Meta-World's zero padding) are left unscaled, not blown up


@dataclass
class Normalizer:
    """Per-dimension mean and std for observations and actions."""

    obs_mean: np.ndarray
    obs_std: np.ndarray
    act_mean: np.ndarray
    act_std: np.ndarray

    @classmethod
    def from_episodes(cls, episodes: Sequence[Episode]) -> Normalizer:
        obs = np.concatenate([ep.observations for ep in episodes]).astype(np.float64)
        act = np.concatenate([ep.actions for ep in episodes]).astype(np.float64)

        def std(x: np.ndarray) -> np.ndarray:
            s = x.std(axis=0)
            return np.where(s < MIN_STD, 1.0, s)

        return cls(
            obs_mean=obs.mean(axis=0).astype(np.float32),
            obs_std=std(obs).astype(np.float32),
            act_mean=act.mean(axis=0).astype(np.float32),
            act_std=std(act).astype(np.float32),
        )

    @classmethod
    def identity(cls, obs_dim: int, act_dim: int) -> Normalizer:
        """Statistics that change nothing (a placeholder until real ones are loaded)."""
        zeros, ones = np.zeros, np.ones
        return cls(
            zeros(obs_dim, np.float32), ones(obs_dim, np.float32), zeros(act_dim, np.float32), ones(act_dim, np.float32)
        )

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        return ((obs - self.obs_mean) / self.obs_std).astype(np.float32)

    def unnormalize_obs(self, obs: np.ndarray) -> np.ndarray:
        return (obs * self.obs_std + self.obs_mean).astype(np.float32)

    def normalize_act(self, act: np.ndarray) -> np.ndarray:
        return ((act - self.act_mean) / self.act_std).astype(np.float32)

    def unnormalize_act(self, act: np.ndarray) -> np.ndarray:
        return (act * self.act_std + self.act_mean).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in STAT_NAMES}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Normalizer:
        return cls(**{k: np.asarray(arrays[k], dtype=np.float32) for k in STAT_NAMES})
