"""robomimic HDF5 files (low-dim): ``data/demo_<i>`` groups with ``obs/``, ``next_obs/``, ``actions``,
``rewards`` and ``dones``.

Observations are the chosen ``obs`` keys concatenated in order (default: every low-dimensional
key, sorted); the observation after the last action comes from ``next_obs``. ``dones`` mark
terminations; an episode that does not end in one ends in a truncation. robomimic's rewards are
its sparse task-success reward, so a rewarded step is a success step.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from honing.data.dataset import Dataset
from honing.data.episodes import Episode
from honing.errors import DatasetError


def _demo_order(name: str) -> tuple[int, str]:
    match = re.search(r"(\d+)$", name)
    return (int(match.group(1)) if match else -1, name)


def read_robomimic(path: Path, obs_keys: list[str] | None = None) -> tuple[Dataset, list[str]]:
    import h5py

    where = f"robomimic file {path}"
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{where} cannot be opened as HDF5 ({exc}); is it a robomimic .hdf5 file?") from None
    with handle:
        if "data" not in handle or not len(handle["data"]):
            raise DatasetError(f"{where} has no 'data/demo_*' groups; is it a robomimic dataset?")
        data = handle["data"]
        demos = sorted(data.keys(), key=_demo_order)
        first = data[demos[0]]
        if "obs" not in first:
            raise DatasetError(
                f"{where}: {demos[0]} has no 'obs' group (image-only or states-only files are not supported)"
            )
        available = sorted(k for k in first["obs"] if first["obs"][k].ndim <= 2)
        keys = obs_keys or available
        unknown = [k for k in keys if k not in first["obs"]]
        if unknown:
            raise DatasetError(f"{where} has no obs key {unknown[0]!r} (low-dim keys: {', '.join(available)})")
        episodes = [_episode(data[name], keys, f"{where}, {name}") for name in demos]
        env_args: Any = data.attrs.get("env_args")
    metadata: dict[str, Any] = {"source": {"format": "robomimic", "file": path.name, "obs_keys": keys}}
    if env_args is not None:
        metadata["source"]["env_args"] = json.loads(env_args)
    notes = [f"observations = concatenation of obs keys {', '.join(keys)}", "a rewarded step counts as a success"]
    return Dataset(episodes=episodes, metadata=metadata, seeds=[None] * len(episodes)), notes


def _stack(group: Any, keys: list[str], where: str) -> np.ndarray:
    parts = []
    for key in keys:
        if key not in group:
            raise DatasetError(f"{where} lacks {group.name}/{key}")
        value = np.asarray(group[key])
        parts.append(value.reshape(len(value), -1))
    return np.concatenate(parts, axis=1)


def _episode(demo: Any, keys: list[str], where: str) -> Episode:
    for needed in ("actions", "rewards", "dones", "next_obs"):
        if needed not in demo:
            raise DatasetError(f"{where} has no '{needed}' dataset")
    obs = _stack(demo["obs"], keys, where)
    next_obs = _stack(demo["next_obs"], keys, where)
    rewards = np.asarray(demo["rewards"]).reshape(-1)
    dones = np.asarray(demo["dones"]).reshape(-1).astype(bool)
    truncations = np.zeros(len(dones), bool)
    truncations[-1] = not dones[-1]
    return Episode(
        observations=np.concatenate([obs, next_obs[-1:]]),
        actions=np.asarray(demo["actions"]),
        rewards=rewards,
        terminations=dones,
        truncations=truncations,
        successes=rewards > 0,
    )
