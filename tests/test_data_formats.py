"""Dataset import/export round trips (bit-exact), foreign-format rules, and TQ/SACo in ``data info``."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from honing.cli import main
from honing.data import Dataset, Episode, dataset_info, export_dataset, import_dataset, load_dataset, save_dataset
from honing.data.measures import state_action_coverage

FIELDS = ("observations", "actions", "rewards", "terminations", "truncations", "successes")


def _episode(rng: np.random.Generator, steps: int, success: bool, obs_dim: int = 5, act_dim: int = 2) -> Episode:
    ends = np.zeros(steps, bool)
    ends[-1] = True
    successes = ends.copy() if success else np.zeros(steps, bool)
    return Episode(
        observations=rng.standard_normal((steps + 1, obs_dim)).astype(np.float32) * 3.7,
        actions=rng.uniform(-1, 1, (steps, act_dim)).astype(np.float32),
        rewards=successes.astype(np.float32),
        terminations=ends if success else np.zeros(steps, bool),
        truncations=np.zeros(steps, bool) if success else ends,
        successes=successes,
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A honing dataset with successful and timed-out episodes of different lengths, random floats."""
    rng = np.random.default_rng(3)
    episodes = [_episode(rng, 7, True), _episode(rng, 4, False), _episode(rng, 11, True)]
    meta = {"honing_task": "toy/reach-like", "honing_noise": 0.25}
    return save_dataset(tmp_path / "source", episodes, metadata=meta, seeds=[11, None, 13])


def assert_same(a: Dataset, b: Dataset) -> None:
    assert len(a.episodes) == len(b.episodes)
    for x, y in zip(a.episodes, b.episodes, strict=True):
        for field in FIELDS:
            left, right = getattr(x, field), getattr(y, field)
            assert left.dtype == right.dtype and np.array_equal(left, right), field


@pytest.mark.parametrize("fmt", ["npz", "lerobot"])
def test_export_then_import_is_bit_exact(source: Path, tmp_path: Path, fmt: str) -> None:
    exported = export_dataset(source, fmt, out=tmp_path / f"out.{fmt}")
    result = import_dataset(exported, tmp_path / "back")  # format guessed from the path
    original = load_dataset(source)
    assert_same(original, result.dataset)
    assert result.dataset.seeds == [11, None, 13]
    assert result.dataset.metadata["honing_noise"] == 0.25
    assert result.notes == []  # nothing had to be inferred


def test_lerobot_export_has_lerobots_layout(source: Path, tmp_path: Path) -> None:
    out = export_dataset(source, "lerobot", out=tmp_path / "lr")
    info = json.loads((out / "meta" / "info.json").read_text())
    assert (info["codebase_version"], info["total_episodes"], info["total_frames"]) == ("v2.1", 3, 22)
    assert info["features"]["observation.state"] == {"dtype": "float32", "shape": [5], "names": None}
    table = pq.read_table(out / "data" / "chunk-000" / "episode_000001.parquet")
    assert table.num_rows == 4
    assert table.column("index").to_pylist() == [7, 8, 9, 10]
    assert table.column("next.done").to_pylist() == [False, False, False, True]
    episodes = [json.loads(line) for line in (out / "meta" / "episodes.jsonl").read_text().splitlines()]
    assert [e["length"] for e in episodes] == [7, 4, 11]


def _foreign_lerobot(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A LeRobot folder as other tools write it: no next observations, rows shuffled across two files."""
    rng = np.random.default_rng(0)
    frames = [5, 3]
    states = rng.standard_normal((8, 3)).astype(np.float32)
    actions = rng.uniform(-1, 1, (8, 2)).astype(np.float32)
    success = np.array([0, 0, 0, 0, 1, 0, 0, 0], bool)  # episode 0 succeeds on its last frame, episode 1 never
    episode = np.repeat([0, 1], frames)
    frame = np.concatenate([np.arange(n) for n in frames])
    (path / "meta").mkdir(parents=True)
    (path / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v3.0", "fps": 10}))
    order = rng.permutation(8)
    for part, rows in enumerate((order[:4], order[4:])):
        table = pa.table(
            {
                "observation.state": pa.FixedSizeListArray.from_arrays(pa.array(states[rows].reshape(-1)), 3),
                "action": pa.array(list(actions[rows])),  # a variable-length list column, as HF datasets writes
                "episode_index": pa.array(episode[rows]),
                "frame_index": pa.array(frame[rows]),
                "next.reward": pa.array(success[rows].astype(np.float32)),
                "next.success": pa.array(success[rows]),
            }
        )
        (path / "data" / "chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path / "data" / "chunk-000" / f"file-{part:03d}.parquet")
    return states, actions


def test_foreign_lerobot_import_states_its_end_rule(tmp_path: Path) -> None:
    states, actions = _foreign_lerobot(tmp_path / "lr")
    result = import_dataset(tmp_path / "lr", tmp_path / "out", fmt="lerobot")
    first, second = result.dataset.episodes
    # the successful episode keeps all 5 actions and terminates; its last observation stands in as next
    assert np.array_equal(first.observations, np.concatenate([states[:5], states[4:5]]))
    assert np.array_equal(first.actions, actions[:5])
    assert first.terminations.tolist() == [False] * 4 + [True] and first.success
    # the unsuccessful one drops its last action and is truncated at its last observation
    assert np.array_equal(second.observations, states[5:8])
    assert np.array_equal(second.actions, actions[5:7])
    assert second.truncations.tolist() == [False, True] and not second.terminations.any()
    assert any("drop their last action" in note for note in result.notes)


def test_robomimic_import_concatenates_low_dim_keys(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "low_dim.hdf5"
    expected = []
    with h5py.File(path, "w") as handle:
        data = handle.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "env_kwargs": {}})
        for index, steps in ((10, 3), (2, 4)):  # demo_10 sorts after demo_2 numerically
            demo = data.create_group(f"demo_{index}")
            obs = {"robot0_eef_pos": rng.standard_normal((steps, 3)), "object": rng.standard_normal((steps, 2))}
            nxt = {k: rng.standard_normal(v.shape) for k, v in obs.items()}
            for key in obs:
                demo[f"obs/{key}"], demo[f"next_obs/{key}"] = obs[key], nxt[key]
            demo["obs/agentview_image"] = np.zeros((steps, 8, 8, 3), np.uint8)  # images are skipped
            demo["actions"] = rng.uniform(-1, 1, (steps, 2))
            demo["rewards"] = np.eye(1, steps, steps - 1)[0] * (index == 2)
            demo["dones"] = (np.eye(1, steps, steps - 1)[0] * (index == 2)).astype(np.int64)
            joined = np.concatenate([obs["object"], obs["robot0_eef_pos"]], axis=1)  # sorted key order
            final = np.concatenate([nxt["object"][-1:], nxt["robot0_eef_pos"][-1:]], axis=1)
            expected.append((index, np.concatenate([joined, final]).astype(np.float32), demo["actions"][()]))
    result = import_dataset(path, tmp_path / "out")
    episodes = result.dataset.episodes
    expected.sort()
    for episode, (index, observations, acts) in zip(episodes, expected, strict=True):
        assert np.array_equal(episode.observations, observations)
        assert np.array_equal(episode.actions, acts.astype(np.float32))
        assert episode.success == (index == 2)
        assert episode.terminations[-1] == (index == 2) and episode.truncations[-1] == (index != 2)
    assert result.dataset.metadata["source"]["obs_keys"] == ["object", "robot0_eef_pos"]
    only = import_dataset(path, tmp_path / "eef", obs_keys=["robot0_eef_pos"])
    assert only.dataset.obs_dim == 3


def test_d4rl_style_npz_splits_episodes_at_ends(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    obs = rng.standard_normal((6, 2)).astype(np.float32)
    nxt = rng.standard_normal((6, 2)).astype(np.float32)
    path = tmp_path / "d4rl.npz"
    terminals = np.array([0, 0, 1, 0, 0, 0], bool)
    timeouts = np.array([0, 0, 0, 0, 0, 1], bool)
    np.savez(path, observations=obs, next_observations=nxt, actions=np.zeros((6, 1)), rewards=terminals * 1.0,
             terminals=terminals, timeouts=timeouts)  # fmt: skip
    result = import_dataset(path, tmp_path / "out")
    first, second = result.dataset.episodes
    assert (len(first), len(second)) == (3, 3)
    assert np.array_equal(second.observations, np.concatenate([obs[3:], nxt[5:]]))
    assert first.success and not second.success and second.truncations[-1]
    assert len(result.notes) == 2


def test_minari_export_loads_with_minari(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    export_dataset(source, "minari", dataset_id="honing/test-v0")
    loaded = minari.load_dataset("honing/test-v0")
    original = load_dataset(source)
    assert loaded.total_episodes == 3
    for episode, mine in zip(loaded.iterate_episodes(), original.episodes, strict=True):
        assert np.array_equal(episode.observations, mine.observations)
        assert np.array_equal(episode.actions, mine.actions)
        assert np.array_equal(episode.terminations, mine.terminations)


def test_tq_and_saco(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    episodes = [_episode(rng, 5, success) for success in (True, True, True, False)]
    dataset = Dataset(episodes=episodes)
    info = dataset_info(dataset)
    assert info.tq == pytest.approx(0.75) and info.tq_reference == (0.0, 1.0)
    assert dataset_info(dataset, return_range=(0.5, 1.0)).tq == pytest.approx(0.5)
    dense = Dataset(episodes=[Episode(e.observations, e.actions, e.rewards + 0.3, e.terminations, e.truncations,
                                      e.successes) for e in episodes])  # fmt: skip
    assert dataset_info(dense).tq is None and "--return-range" in dataset_info(dense).tq_note
    # SACo: 20 distinct transitions; the same data twice covers no more cells, so relative SACo halves
    twice = Dataset(episodes=episodes + episodes)
    assert state_action_coverage(dataset, bins=10) == (1.0, 20)
    assert state_action_coverage(twice, bins=10) == (0.5, 20)
    assert state_action_coverage(dataset, reference=twice, bins=10)[0] == 1.0
    assert state_action_coverage(Dataset(episodes=episodes[:2]), reference=dataset, bins=10)[0] == 0.5
    # one cell per dimension: everything collapses into a single cell
    assert state_action_coverage(dataset, bins=1) == (1 / 20, 1)


def test_data_info_cli_prints_tq_and_saco(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", str(source)]) == 0
    out = capsys.readouterr().out
    assert "TQ            0.667" in out and "SACo          1.000" in out and "episodes      3" in out
    assert main(["data", "info", str(source), "--json", "--bins", "1"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["unique_pairs"] == 1 and info["success_share"] == pytest.approx(2 / 3)


def test_cli_import_and_export(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "export", str(source), "--format", "npz", "--out", str(tmp_path / "d.npz")]) == 0
    assert main(["data", "import", str(tmp_path / "d.npz"), "--out", str(tmp_path / "back")]) == 0
    assert "imported 3 episodes, 22 steps" in capsys.readouterr().out
    assert_same(load_dataset(source), load_dataset(tmp_path / "back"))
