"""LeRobot dataset folders (state-based): ``meta/info.json`` plus parquet files under ``data/``.

Reading groups rows by ``episode_index`` and orders them by ``frame_index``, so the per-episode
files of LeRobot v2.x and the multi-episode files of v3 read alike. A LeRobot frame holds the
observation an action was taken in, but not the observation after the episode's last action,
which honing needs for bootstrapping. honing's own export adds ``next.observation.state``,
``next.terminated`` and ``next.truncated`` columns so its round trip is exact; for other
datasets the rule is: an episode whose last frame succeeded ends in a termination (its next
observation is never bootstrapped from, so the last observation stands in for it); any other
episode loses its last action and ends in a truncation at the last observation.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from honing.data.dataset import Dataset
from honing.data.episodes import Episode
from honing.data.formats.flat import FlatSteps
from honing.errors import DatasetError
from honing.runs.atomic import atomic_directory

DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
CHUNK_SIZE = 1000
STATE_KEY = "observation.state"


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise DatasetError("LeRobot datasets need pyarrow: pip install pyarrow") from None
    return pyarrow


def _column(table: Any, name: str) -> np.ndarray:
    """A parquet column as a NumPy array: (rows, dim) for list columns, (rows,) for scalars."""
    pa = _pyarrow()
    column = table.column(name).combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) or pa.types.is_large_list(column.type):
        values = column.flatten().to_numpy(zero_copy_only=False)
        return values.reshape(len(column), -1) if len(column) else values.reshape(0, 0)
    return column.to_numpy(zero_copy_only=False)


def _vector(table: Any, keys: list[str], where: str) -> np.ndarray:
    missing = [k for k in keys if k not in table.column_names]
    if missing:
        raise DatasetError(
            f"{where} has no column {missing[0]!r} (columns: {', '.join(table.column_names)}); pick --obs-keys"
        )
    parts = [_column(table, k) for k in keys]
    return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1).astype(np.float32)


def read_lerobot(path: Path, obs_keys: list[str] | None = None) -> tuple[Dataset, list[str]]:
    pa = _pyarrow()
    where = f"LeRobot dataset {path}"
    info_path = path / "meta" / "info.json"
    if not info_path.is_file():
        raise DatasetError(f"{path} is not a LeRobot dataset folder (no meta/info.json)")
    info = json.loads(info_path.read_text())
    files = sorted((path / "data").rglob("*.parquet"))
    if not files:
        raise DatasetError(f"{where} has no parquet files under data/")
    try:
        table = pa.concat_tables([pa.parquet.read_table(f) for f in files], promote_options="default")
    except (OSError, pa.ArrowInvalid) as exc:
        raise DatasetError(f"{where}: a parquet file is unreadable ({exc}); it is corrupt or truncated") from None
    obs_keys = obs_keys or [STATE_KEY]
    for needed in ("episode_index", "frame_index", "action"):
        if needed not in table.column_names:
            raise DatasetError(f"{where} has no {needed!r} column; is it a LeRobot dataset?")
    order = np.lexsort((_column(table, "frame_index"), _column(table, "episode_index")))
    table = table.take(pa.array(order))
    columns = set(table.column_names)
    obs = _vector(table, obs_keys, where)
    actions = _vector(table, ["action"], where)
    n = len(actions)
    rewards = (
        _column(table, "next.reward").astype(np.float32).reshape(n)
        if "next.reward" in columns
        else np.zeros(n, np.float32)
    )
    notes: list[str] = []
    if "next.success" in columns:
        successes = _column(table, "next.success").astype(bool).reshape(n)
    else:
        successes = None
        notes.append("no 'next.success' column: a rewarded last frame counts as a success")
    episode_index = _column(table, "episode_index")
    starts = np.flatnonzero(np.concatenate([[True], episode_index[1:] != episode_index[:-1]]))
    lengths = np.diff(np.concatenate([starts, [n]])).astype(np.int64)
    next_keys = [f"next.{k}" for k in obs_keys]
    exact = all(k in columns for k in [*next_keys, "next.terminated", "next.truncated"])
    if exact:
        flat = FlatSteps(
            observations=obs,
            next_observations=_vector(table, next_keys, where),
            actions=actions,
            rewards=rewards,
            terminations=_column(table, "next.terminated").astype(bool).reshape(n),
            truncations=_column(table, "next.truncated").astype(bool).reshape(n),
            successes=successes if successes is not None else np.zeros(n, bool),
            lengths=lengths,
        )
        episodes = flat.to_episodes(where)
    else:
        notes.append(
            "no next-observation columns: episodes whose last frame succeeded end in a termination; "
            "the others drop their last action and end in a truncation"
        )
        episodes = _episodes_from_frames(obs, actions, rewards, successes, starts, lengths, where)
    meta_file = path / "meta" / "honing.json"
    metadata = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    metadata.setdefault("source", {"format": "lerobot", "codebase_version": info.get("codebase_version")})
    seeds = metadata.pop("episode_seeds", None) or [None] * len(episodes)
    return Dataset(episodes=episodes, metadata=metadata, seeds=list(seeds)), notes


def _episodes_from_frames(
    obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, successes: np.ndarray | None,
    starts: np.ndarray, lengths: np.ndarray, where: str,
) -> list[Episode]:  # fmt: skip
    episodes = []
    for start, length in zip(starts, lengths, strict=True):
        stop = start + length
        ep_rewards = rewards[start:stop]
        ep_success = successes[start:stop] if successes is not None else np.zeros(length, bool)
        if successes is None:
            ep_success[-1] = ep_rewards[-1] > 0
        if ep_success[-1]:
            steps, final = length, obs[stop - 1 : stop]
        else:
            steps, final = length - 1, np.zeros((0, obs.shape[1]), np.float32)
        if steps == 0:
            raise DatasetError(f"{where}: episode at row {start} has a single unsuccessful frame, so no transition")
        ends = np.zeros(steps, bool)
        ends[-1] = True
        episodes.append(
            Episode(
                observations=np.concatenate([obs[start:stop], final]),
                actions=actions[start : start + steps],
                rewards=ep_rewards[:steps],
                terminations=ends if ep_success[-1] else np.zeros(steps, bool),
                truncations=np.zeros(steps, bool) if ep_success[-1] else ends,
                successes=ep_success[:steps],
            )
        )
    return episodes


def _stats(values: np.ndarray) -> dict[str, Any]:
    values = values.reshape(len(values), -1).astype(np.float64)
    return {
        "min": values.min(0).tolist(),
        "max": values.max(0).tolist(),
        "mean": values.mean(0).tolist(),
        "std": values.std(0).tolist(),
        "count": [len(values)],
    }


def write_lerobot(dataset: Dataset, path: Path, fps: int = 10) -> Path:
    """Write LeRobot's v2.1 layout: one parquet file per episode, info/episodes/tasks/stats in ``meta/``."""
    pa = _pyarrow()
    flat = FlatSteps.from_episodes(dataset.episodes)
    task = str(dataset.task_id or "unknown")
    obs_dim, act_dim = flat.observations.shape[1], flat.actions.shape[1]
    vectors = {STATE_KEY: obs_dim, "action": act_dim, f"next.{STATE_KEY}": obs_dim}
    scalars = {
        "next.reward": "float32", "next.done": "bool", "next.success": "bool", "next.terminated": "bool",
        "next.truncated": "bool", "timestamp": "float32", "frame_index": "int64", "episode_index": "int64",
        "index": "int64", "task_index": "int64",
    }  # fmt: skip
    features = {k: {"dtype": "float32", "shape": [d], "names": None} for k, d in vectors.items()}
    features |= {k: {"dtype": t, "shape": [1], "names": None} for k, t in scalars.items()}
    bounds = np.concatenate([[0], np.cumsum(flat.lengths)])
    with atomic_directory(path) as tmp:
        (tmp / "meta").mkdir(parents=True)
        episode_lines, stats_lines = [], []
        for index, (start, stop) in enumerate(itertools.pairwise(bounds)):
            length = int(stop - start)
            rows = slice(start, stop)
            ends = flat.terminations[rows] | flat.truncations[rows]
            columns: dict[str, Any] = {
                STATE_KEY: flat.observations[rows],
                "action": flat.actions[rows],
                f"next.{STATE_KEY}": flat.next_observations[rows],
                "next.reward": flat.rewards[rows],
                "next.done": ends,
                "next.success": flat.successes[rows],
                "next.terminated": flat.terminations[rows],
                "next.truncated": flat.truncations[rows],
                "timestamp": (np.arange(length) / fps).astype(np.float32),
                "frame_index": np.arange(length, dtype=np.int64),
                "episode_index": np.full(length, index, np.int64),
                "index": np.arange(start, stop, dtype=np.int64),
                "task_index": np.zeros(length, np.int64),
            }
            arrays = {
                k: pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1])
                if v.ndim == 2
                else pa.array(v)
                for k, v in columns.items()
            }
            file = tmp / DATA_PATH.format(episode_chunk=index // CHUNK_SIZE, episode_index=index)
            file.parent.mkdir(parents=True, exist_ok=True)
            pa.parquet.write_table(pa.table(arrays), file)
            episode_lines.append({"episode_index": index, "tasks": [task], "length": length})
            stats_lines.append({"episode_index": index, "stats": {k: _stats(v) for k, v in columns.items()}})
        whole = {
            STATE_KEY: flat.observations, "action": flat.actions, "next.reward": flat.rewards,
        }  # fmt: skip
        info = {
            "codebase_version": "v2.1",
            "robot_type": "honing",
            "total_episodes": len(flat.lengths),
            "total_frames": int(flat.lengths.sum()),
            "total_tasks": 1,
            "total_videos": 0,
            "total_chunks": (len(flat.lengths) - 1) // CHUNK_SIZE + 1,
            "chunks_size": CHUNK_SIZE,
            "fps": fps,
            "splits": {"train": f"0:{len(flat.lengths)}"},
            "data_path": DATA_PATH,
            "video_path": None,
            "features": features,
        }
        meta = tmp / "meta"
        (meta / "info.json").write_text(json.dumps(info, indent=2))
        (meta / "tasks.jsonl").write_text(json.dumps({"task_index": 0, "task": task}) + "\n")
        (meta / "episodes.jsonl").write_text("".join(json.dumps(line) + "\n" for line in episode_lines))
        (meta / "episodes_stats.jsonl").write_text("".join(json.dumps(line) + "\n" for line in stats_lines))
        (meta / "stats.json").write_text(json.dumps({k: _stats(v) for k, v in whole.items()}, indent=2))
        honing_meta = {**dataset.metadata, "episode_seeds": list(dataset.seeds) or None}
        (meta / "honing.json").write_text(json.dumps(honing_meta, indent=2))
    return path
