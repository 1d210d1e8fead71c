"""What a dataset holds, and how good and how varied it is.

TQ and SACo are the two measures of *A Dataset Perspective on Offline Reinforcement Learning*
(Schweighofer et al.): TQ, the trajectory quality, is the dataset's average episode return
normalised between a low reference (a random policy's return) and a high one (the best
attainable); SACo, the state-action coverage, is the number of unique state-action pairs
normalised by those of a reference dataset. honing's observations and actions are continuous,
so pairs are counted after discretising every dimension into ``bins`` equal cells over the
observed range; without a reference dataset SACo is reported relative to the dataset's own number
of transitions (1.0 = no two transitions share a cell).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from honing.data.dataset import Dataset
from honing.errors import DatasetError


@dataclass
class DatasetInfo:
    episodes: int
    steps: int
    obs_dim: int
    act_dim: int
    task: str | None
    success_share: float
    return_mean: float
    return_std: float
    return_min: float
    return_max: float
    length_mean: float
    length_min: int
    length_max: int
    tq: float | None
    tq_reference: tuple[float, float] | None
    tq_note: str
    saco: float
    saco_reference: str
    unique_pairs: int
    bins: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        tq = "n/a" if self.tq is None else f"{self.tq:.3f}"
        ref = (
            ""
            if self.tq_reference is None
            else f" (returns {self.tq_reference[0]:g} -> 0, {self.tq_reference[1]:g} -> 1)"
        )
        return "\n".join(
            [
                f"task          {self.task or 'not recorded'}",
                f"episodes      {self.episodes}",
                f"steps         {self.steps} (episode length mean {self.length_mean:.1f}, "
                f"min {self.length_min}, max {self.length_max})",
                f"dims          obs {self.obs_dim}, action {self.act_dim}",
                f"success share {self.success_share:.1%}",
                f"return        mean {self.return_mean:.3f}, std {self.return_std:.3f}, "
                f"min {self.return_min:.3f}, max {self.return_max:.3f}",
                f"TQ            {tq}{ref}{'; ' + self.tq_note if self.tq_note else ''}",
                f"SACo          {self.saco:.3f} ({self.unique_pairs} unique state-action cells at {self.bins} bins "
                f"per dimension, relative to {self.saco_reference})",
            ]
        )


def sparse_success_rewards(dataset: Dataset) -> bool:
    """Whether every reward is 0 or 1 and no episode collects more than 1 (honing's sparse signal)."""
    returns = [ep.episode_return for ep in dataset.episodes]
    values = np.concatenate([ep.rewards for ep in dataset.episodes])
    return bool(np.isin(values, (0.0, 1.0)).all() and max(returns) <= 1.0)


def trajectory_quality(mean_return: float, low: float, high: float) -> float:
    """TQ: (mean return - low) / (high - low)."""
    if high <= low:
        raise DatasetError(f"TQ needs a high reference above the low one, got low {low:g}, high {high:g}")
    return (mean_return - low) / (high - low)


def _cells(observations: np.ndarray, actions: np.ndarray, low: np.ndarray, high: np.ndarray, bins: int) -> np.ndarray:
    pairs = np.concatenate([observations, actions], axis=1).astype(np.float64)
    width = np.where(high > low, high - low, 1.0)
    return np.clip(np.floor((pairs - low) / width * bins), 0, bins - 1).astype(np.int64)


def _pairs(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.concatenate([ep.observations[:-1] for ep in dataset.episodes]),
        np.concatenate([ep.actions for ep in dataset.episodes]),
    )


def state_action_coverage(dataset: Dataset, reference: Dataset | None = None, bins: int = 10) -> tuple[float, int]:
    """SACo and the dataset's number of unique cells; the grid spans the dataset and the reference."""
    if bins < 1:
        raise DatasetError(f"SACo needs at least 1 bin per dimension, got {bins}")
    obs, act = _pairs(dataset)
    both = [np.concatenate([obs, act], axis=1)]
    if reference is not None:
        if (reference.obs_dim, reference.act_dim) != (dataset.obs_dim, dataset.act_dim):
            raise DatasetError(
                f"the SACo reference has dims ({reference.obs_dim}, {reference.act_dim}), the dataset "
                f"({dataset.obs_dim}, {dataset.act_dim}); use a reference from the same task"
            )
        ref_obs, ref_act = _pairs(reference)
        both.append(np.concatenate([ref_obs, ref_act], axis=1))
    stacked = np.concatenate(both)
    low, high = stacked.min(0).astype(np.float64), stacked.max(0).astype(np.float64)
    unique = len(np.unique(_cells(obs, act, low, high, bins), axis=0))
    if reference is None:
        return unique / len(obs), unique
    ref_unique = len(np.unique(_cells(ref_obs, ref_act, low, high, bins), axis=0))
    return unique / ref_unique, unique


def dataset_info(
    dataset: Dataset,
    return_range: tuple[float, float] | None = None,
    reference: Dataset | None = None,
    reference_name: str = "the reference dataset",
    bins: int = 10,
) -> DatasetInfo:
    """Summary statistics plus TQ and SACo.

    TQ's references: `return_range` when given; otherwise, for honing's sparse success reward,
    (0, 1): a random policy's return on these tasks is its (near-zero) success rate, and 1 is the
    most an episode can collect. For other rewards TQ needs `return_range` and is reported n/a.
    """
    returns = np.array([ep.episode_return for ep in dataset.episodes])
    lengths = np.array([len(ep) for ep in dataset.episodes])
    note = ""
    if return_range is None and sparse_success_rewards(dataset):
        return_range = (0.0, 1.0)
        note = "sparse success reward: random policy taken as 0"
    elif return_range is None:
        note = "dense rewards: pass --return-range RANDOM BEST"
    tq = None if return_range is None else trajectory_quality(float(returns.mean()), *return_range)
    saco, unique = state_action_coverage(dataset, reference, bins)
    return DatasetInfo(
        episodes=len(dataset.episodes),
        steps=dataset.num_steps,
        obs_dim=dataset.obs_dim,
        act_dim=dataset.act_dim,
        task=dataset.task_id,
        success_share=dataset.success_rate(),
        return_mean=float(returns.mean()),
        return_std=float(returns.std()),
        return_min=float(returns.min()),
        return_max=float(returns.max()),
        length_mean=float(lengths.mean()),
        length_min=int(lengths.min()),
        length_max=int(lengths.max()),
        tq=tq,
        tq_reference=return_range,
        tq_note=note,
        saco=saco,
        saco_reference=reference_name if reference is not None else "its own transitions",
        unique_pairs=unique,
        bins=bins,
    )
