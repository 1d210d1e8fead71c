"""Plain NumPy ``.npz``: honing's own flat layout, or a D4RL-style file.

honing writes ``observations``/``next_observations``/``actions``/``rewards``/``terminations``/
``truncations``/``successes`` (one row per step), ``episode_lengths``, ``seeds`` (-1 = unknown)
and ``metadata_json``; nothing is pickled. It reads that back bit-exactly, and also reads D4RL's
names (``terminals``, ``timeouts``) with episodes split where a step terminates or times out.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from honing.data.dataset import Dataset
from honing.data.formats.flat import FlatSteps, lengths_from_ends, success_from_reward
from honing.errors import DatasetError
from honing.runs.atomic import atomic_write_bytes

ALIASES = {"terminations": ("terminations", "terminals"), "truncations": ("truncations", "timeouts")}


def _get(arrays: dict[str, np.ndarray], name: str, where: str) -> np.ndarray:
    for key in ALIASES.get(name, (name,)):
        if key in arrays:
            return arrays[key]
    names = " or ".join(repr(k) for k in ALIASES.get(name, (name,)))
    raise DatasetError(f"{where} has no {names} array (it has: {', '.join(sorted(arrays))})")


def read_npz(path: Path) -> tuple[Dataset, list[str]]:
    where = f"npz file {path}"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{where} cannot be read as .npz ({exc}); is it a NumPy .npz archive?") from None
    notes: list[str] = []
    rewards = _get(arrays, "rewards", where).reshape(-1)
    terminations = _get(arrays, "terminations", where).reshape(-1).astype(bool)
    truncations = _get(arrays, "truncations", where).reshape(-1).astype(bool)
    if "episode_lengths" in arrays:
        lengths = arrays["episode_lengths"].astype(np.int64)
    else:
        lengths = lengths_from_ends(terminations | truncations, where)
        notes.append("episodes split where a step terminates or times out (no 'episode_lengths')")
    if "successes" in arrays:
        successes = arrays["successes"].reshape(-1).astype(bool)
    else:
        successes = success_from_reward(rewards, terminations)
        notes.append("no 'successes' array: a rewarded terminal step counts as a success")
    flat = FlatSteps(
        observations=_get(arrays, "observations", where),
        next_observations=_get(arrays, "next_observations", where),
        actions=_get(arrays, "actions", where),
        rewards=rewards,
        terminations=terminations,
        truncations=truncations,
        successes=successes,
        lengths=lengths,
    )
    metadata: dict[str, Any] = {}
    if "metadata_json" in arrays:
        metadata = json.loads(str(arrays["metadata_json"]))
    seeds: list[int | None] = [None] * len(lengths)
    if "seeds" in arrays and len(arrays["seeds"]) == len(lengths):
        seeds = [None if int(s) < 0 else int(s) for s in arrays["seeds"]]
    return Dataset(episodes=flat.to_episodes(where), metadata=metadata, seeds=seeds), notes


def write_npz(dataset: Dataset, path: Path) -> Path:
    import io

    flat = FlatSteps.from_episodes(dataset.episodes)
    seeds = np.array([-1 if s is None else s for s in dataset.seeds] or [-1] * len(dataset.episodes), dtype=np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        observations=flat.observations,
        next_observations=flat.next_observations,
        actions=flat.actions,
        rewards=flat.rewards,
        terminations=flat.terminations,
        truncations=flat.truncations,
        successes=flat.successes,
        episode_lengths=flat.lengths,
        seeds=seeds,
        metadata_json=np.array(json.dumps(dataset.metadata)),
    )
    atomic_write_bytes(path, buffer.getvalue())
    return path
