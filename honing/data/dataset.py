"""Datasets of episodes stored in Minari's on-disk format (HDF5), on local disk only.

A dataset directory is what Minari itself writes (``<path>/data/metadata.json`` +
``main_data.hdf5``), so any Minari tool can read it; honing adds its provenance to the
metadata (task id, demo noise, seed, honing version). Writes are atomic: the dataset is built
under a temporary name and renamed into place, so a crash never leaves half a dataset.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from honing._version import __version__
from honing.data.episodes import Episode
from honing.data.normalization import Normalizer
from honing.errors import DatasetError
from honing.runs.atomic import atomic_directory

DATA_SUBDIR = "data"
# Metadata Minari computes itself: carried over from a loaded dataset, it must not be written back.
MINARI_MANAGED = frozenset(
    {"total_episodes", "total_steps", "data_format", "jpeg_encoding", "observation_space", "action_space",
     "dataset_size", "minari_version"}
)  # fmt: skip


@dataclass
class Dataset:
    """Episodes plus their provenance; normalisation statistics are computed on demand."""

    episodes: list[Episode]
    metadata: dict[str, Any] = field(default_factory=dict)
    seeds: list[int | None] = field(default_factory=list)

    @property
    def task_id(self) -> str | None:
        return self.metadata.get("honing_task")

    @property
    def obs_dim(self) -> int:
        return int(self.episodes[0].observations.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.episodes[0].actions.shape[1])

    @property
    def num_steps(self) -> int:
        return sum(len(ep) for ep in self.episodes)

    def normalizer(self) -> Normalizer:
        return Normalizer.from_episodes(self.episodes)

    def success_rate(self) -> float:
        return float(np.mean([ep.success for ep in self.episodes])) if self.episodes else 0.0


def validate_episodes(episodes: Sequence[Episode], where: str) -> None:
    """Reject empty datasets, inconsistent shapes and non-finite values with a precise message."""
    if not episodes:
        raise DatasetError(f"{where} holds no episodes; collect or import some first")
    obs_dim, act_dim = episodes[0].observations.shape[-1], episodes[0].actions.shape[-1]
    for index, episode in enumerate(episodes):
        problems = episode.problems()
        if problems:
            raise DatasetError(f"{where}: episode {index} {problems[0]}")
        if episode.observations.shape[1] != obs_dim or episode.actions.shape[1] != act_dim:
            raise DatasetError(
                f"{where}: episode {index} has dims ({episode.observations.shape[1]}, {episode.actions.shape[1]}) "
                f"but episode 0 has ({obs_dim}, {act_dim}); all episodes must share one shape"
            )


def save_dataset(
    path: str | Path,
    episodes: Sequence[Episode],
    metadata: dict[str, Any] | None = None,
    seeds: Sequence[int | None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `episodes` as a Minari dataset at `path` (a directory), atomically."""
    from minari import __version__ as minari_version
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage

    path = Path(path).absolute()  # Minari mis-joins relative paths when it sizes the file
    validate_episodes(episodes, f"dataset for {path}")
    if path.exists() and not overwrite:
        raise DatasetError(f"{path} already exists; choose another --out or remove it first")
    obs_dim, act_dim = episodes[0].observations.shape[1], episodes[0].actions.shape[1]
    observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, shape=(act_dim,), dtype=np.float32)
    seeds = list(seeds) if seeds is not None else [None] * len(episodes)
    buffers = [
        EpisodeBuffer(
            id=index,
            seed=seed,
            observations=ep.observations,
            actions=ep.actions,
            rewards=list(ep.rewards.astype(np.float64)),
            terminations=list(ep.terminations),
            truncations=list(ep.truncations),
            infos={"success": np.concatenate([[False], ep.successes])},
        )
        for index, (ep, seed) in enumerate(zip(episodes, seeds, strict=True))
    ]
    meta = {
        "dataset_id": f"honing/{path.name}-v0",
        "algorithm_name": "honing",
        "minari_version": minari_version,
        "honing_version": __version__,
        **{k: v for k, v in (metadata or {}).items() if k not in MINARI_MANAGED},
    }
    with atomic_directory(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = MinariStorage.new(
            tmp / DATA_SUBDIR,
            observation_space=observation_space,
            action_space=action_space,
            data_format="hdf5",
            jpeg_encoding=False,
        )
        storage.update_metadata(meta)
        storage.update_episodes(buffers)
    return path


def _data_dir(path: Path) -> Path:
    """Accept the dataset directory itself or its ``data/`` folder."""
    if (path / DATA_SUBDIR / "metadata.json").is_file():
        return path / DATA_SUBDIR
    if (path / "metadata.json").is_file():
        return path
    raise DatasetError(
        f"{path} is not a Minari dataset (no {DATA_SUBDIR}/metadata.json); "
        "create one with 'honing demos' or point at the folder that holds data/"
    )


def load_dataset(path: str | Path, task_id: str | None = None) -> Dataset:
    """Load a dataset; with `task_id`, also check it was made for that task and its shapes."""
    from minari import MinariDataset

    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset path {str(path)!r} does not exist")
    data_dir = _data_dir(path)
    try:
        meta = json.loads((data_dir / "metadata.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"dataset {path} has an unreadable metadata.json ({exc}); it is corrupt") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            minari_data = MinariDataset(data_dir)
            episodes, seeds = [], []
            for item in minari_data.iterate_episodes():
                observations = np.asarray(item.observations)
                if observations.ndim != 2:
                    raise DatasetError(f"dataset {path} has non-flat observations; honing needs state vectors")
                infos = item.infos or {}
                successes = np.asarray(infos.get("success", np.zeros(len(item.actions) + 1)), dtype=bool)[1:]
                if len(successes) != len(item.actions):
                    successes = np.asarray(item.rewards) > 0
                episodes.append(
                    Episode(
                        observations=observations,
                        actions=np.asarray(item.actions),
                        rewards=np.asarray(item.rewards),
                        terminations=np.asarray(item.terminations),
                        truncations=np.asarray(item.truncations),
                        successes=successes,
                    )
                )
                seeds.append(None)
            for index, seed in enumerate(_episode_seeds(minari_data, len(episodes))):
                seeds[index] = seed
    except DatasetError:
        raise
    except Exception as exc:  # h5py/OSError/KeyError from a truncated or tampered file
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(f"dataset {path} is corrupt or truncated ({first_line}); recreate it") from None
    validate_episodes(episodes, f"dataset {path}")
    dataset = Dataset(episodes=episodes, metadata=meta, seeds=seeds)
    if task_id is not None:
        check_dataset_task(dataset, task_id, str(path))
    return dataset


def _episode_seeds(minari_data: Any, count: int) -> list[int | None]:
    try:
        found = minari_data.storage.get_episode_metadata(range(count))
        return [None if meta.get("seed") is None else int(meta["seed"]) for meta in found]
    except Exception:
        return [None] * count


def check_dataset_task(dataset: Dataset, task_id: str, where: str) -> None:
    """The dataset must come from `task_id` (when it says) and match the task's shapes."""
    from honing.tasks import check_shapes, get_task

    validate_episodes(dataset.episodes, f"dataset {where}")
    recorded = dataset.task_id
    if recorded is not None and recorded != task_id:
        raise DatasetError(
            f"dataset {where} was recorded on task {recorded!r}, not {task_id!r}; pass --task {recorded}"
        )
    check_shapes(get_task(task_id), dataset.obs_dim, dataset.act_dim, f"dataset {where}")
