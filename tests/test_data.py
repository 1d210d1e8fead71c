from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from honing.data import Episode, Normalizer, collect_demos, load_dataset, save_dataset
from honing.errors import DatasetError, HoningError, TaskError
from honing.tasks import get_task


def test_demos_round_trip_bit_exact_with_provenance(tmp_path: Path) -> None:
    report = collect_demos("toy/reach", episodes=5, noise=0.3, seed=7, out=tmp_path / "d")
    loaded = load_dataset(tmp_path / "d", task_id="toy/reach")
    assert len(loaded.episodes) == 5
    for saved, read in zip(report.episodes, loaded.episodes, strict=True):
        for name in ("observations", "actions", "rewards", "terminations", "truncations", "successes"):
            np.testing.assert_array_equal(getattr(saved, name), getattr(read, name))
    meta = loaded.metadata
    assert (meta["honing_task"], meta["honing_noise"], meta["honing_seed"]) == ("toy/reach", 0.3, 7)
    assert meta["honing_version"] and meta["honing_attempts"] == report.attempts
    assert loaded.seeds == report.seeds


def test_demos_keep_only_successes_and_replay_exactly(tmp_path: Path) -> None:
    report = collect_demos("toy/reach", episodes=20, noise=1.5, seed=0, out=tmp_path / "d")
    assert report.attempts > 20  # at noise 1.5 the expert often fails
    dataset = load_dataset(tmp_path / "d")
    assert all(ep.success and ep.terminations[-1] and ep.rewards[-1] == 1.0 for ep in dataset.episodes)
    env = get_task("toy/reach").make_env()
    episode, seed = dataset.episodes[0], dataset.seeds[0]
    obs, _ = env.reset(seed=seed)
    np.testing.assert_array_equal(obs, episode.observations[0])
    for action, expected in zip(episode.actions, episode.observations[1:], strict=True):
        obs, *_ = env.step(action)
        np.testing.assert_array_equal(obs, expected)


def test_relative_output_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    collect_demos("toy/reach", episodes=2, seed=0, out="data/reach")
    assert len(load_dataset("data/reach").episodes) == 2
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["reach"]


def test_normalisation_round_trip() -> None:
    rng = np.random.default_rng(0)
    episodes = [
        Episode(
            rng.normal(3.0, 2.0, (11, 5)),
            rng.uniform(-1, 1, (10, 2)),
            np.zeros(10),
            np.zeros(10),
            np.zeros(10),
            np.zeros(10),
        )
        for _ in range(3)
    ]
    episodes[0].observations[:, 4] = 0.0
    for ep in episodes:
        ep.observations[:, 4] = 0.0  # a constant dimension must not blow up
    stats = Normalizer.from_episodes(episodes)
    obs = episodes[1].observations
    normed = stats.normalize_obs(obs)
    assert np.all(np.isfinite(normed)) and stats.obs_std[4] == 1.0
    np.testing.assert_allclose(stats.unnormalize_obs(normed), obs, atol=1e-5)
    acts = episodes[2].actions
    np.testing.assert_allclose(stats.unnormalize_act(stats.normalize_act(acts)), acts, atol=1e-6)
    all_obs = np.concatenate([e.observations for e in episodes])
    np.testing.assert_allclose(stats.normalize_obs(all_obs)[:, :4].mean(axis=0), 0.0, atol=1e-4)


def test_missing_dataset_path() -> None:
    with pytest.raises(DatasetError, match="dataset path '/nonexistent/demos' does not exist"):
        load_dataset("/nonexistent/demos")


def test_directory_that_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is not a Minari dataset"):
        load_dataset(tmp_path)


def test_truncated_dataset_is_reported_corrupt(tmp_path: Path) -> None:
    collect_demos("toy/reach", episodes=3, seed=0, out=tmp_path / "d")
    data_file = tmp_path / "d" / "data" / "main_data.hdf5"
    data_file.write_bytes(data_file.read_bytes()[:2000])
    with pytest.raises(DatasetError, match="is corrupt or truncated"):
        load_dataset(tmp_path / "d")


def test_dataset_for_another_task_is_rejected(tmp_path: Path) -> None:
    collect_demos("toy/reach", episodes=2, seed=0, out=tmp_path / "d")
    with pytest.raises(DatasetError, match="recorded on task 'toy/reach', not 'metaworld/push'"):
        load_dataset(tmp_path / "d", task_id="metaworld/push")


def test_dataset_shapes_must_match_task(tmp_path: Path) -> None:
    episode = Episode(np.zeros((4, 3)), np.zeros((3, 2)), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))
    save_dataset(tmp_path / "d", [episode, episode])  # no task recorded: only shapes can be checked
    with pytest.raises(TaskError, match=r"has observation/action dims \(3, 2\) but task 'toy/reach' has \(6, 2\)"):
        load_dataset(tmp_path / "d", task_id="toy/reach")


def test_invalid_episodes_are_never_written(tmp_path: Path) -> None:
    bad = Episode(np.full((4, 3), np.nan), np.zeros((3, 2)), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(DatasetError, match="non-finite"):
        save_dataset(tmp_path / "d", [bad])
    assert not (tmp_path / "d").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary leftovers either
    with pytest.raises(DatasetError, match="holds no episodes"):
        save_dataset(tmp_path / "e", [])
    out_of_bounds = Episode(np.zeros((4, 3)), np.full((3, 2), 2.0), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(DatasetError, match=r"actions outside \[-1, 1\]"):
        save_dataset(tmp_path / "f", [out_of_bounds])


def test_existing_output_is_not_overwritten_silently(tmp_path: Path) -> None:
    collect_demos("toy/reach", episodes=2, seed=0, out=tmp_path / "d")
    with pytest.raises(HoningError, match="already exists"):
        collect_demos("toy/reach", episodes=2, seed=1, out=tmp_path / "d")
    collect_demos("toy/reach", episodes=3, seed=1, out=tmp_path / "d", overwrite=True)
    assert len(load_dataset(tmp_path / "d").episodes) == 3


def test_dataset_is_readable_by_minari_itself(tmp_path: Path) -> None:
    import minari

    collect_demos("toy/reach", episodes=4, seed=0, out=tmp_path / "d")
    shutil.copytree(tmp_path / "d", tmp_path / "copy")
    dataset = minari.MinariDataset(tmp_path / "copy" / "data")
    assert dataset.total_episodes == 4
