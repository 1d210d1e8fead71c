from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from honing.data import Dataset, Normalizer, load_dataset
from honing.errors import CheckpointError, DatasetError
from honing.eval import evaluate
from honing.policies import BCConfig, BCPolicy, PolicyConfig, load_policy, save_policy, train_bc
from honing.policies.bc import chunk_targets, split_episodes
from honing.policies.bc_policy import build_bc_network
from honing.runs import read_metrics


def make_policy(
    kind: str = "chunked",
    horizon: int = 4,
    execute: int = 3,
    ensemble: bool = False,
    obs_dim: int = 3,
    act_dim: int = 2,
    seed: int = 0,
) -> BCPolicy:
    torch.manual_seed(seed)
    config = PolicyConfig(
        kind=kind,
        hidden_dims=(16,),
        chunk_horizon=horizon,
        chunk_execute=execute,
        temporal_ensemble=ensemble,
        ensemble_decay=0.0,
    )  # type: ignore[arg-type]
    stats = Normalizer(
        np.zeros(obs_dim, np.float32),
        np.ones(obs_dim, np.float32),
        np.zeros(act_dim, np.float32),
        np.full(act_dim, 0.3, np.float32),
    )
    return BCPolicy(build_bc_network(config, obs_dim, act_dim, stats), torch.device("cpu"))


class CountingPolicy:
    """Wraps predict_chunk to count which env rows were re-planned."""

    def __init__(self, policy: BCPolicy) -> None:
        self.policy, self.calls = policy, []
        original = policy.predict_chunk

        def counted(obs: np.ndarray) -> np.ndarray:
            self.calls.append(len(obs))
            return original(obs)

        policy.predict_chunk = counted  # type: ignore[method-assign]


def test_chunked_queue_executes_k_then_replans_and_reset_clears() -> None:
    policy = make_policy(horizon=4, execute=3)
    counter = CountingPolicy(policy)
    obs = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    chunk = policy.predict_chunk(obs)
    counter.calls.clear()
    actions = [policy.act(obs) for _ in range(3)]
    assert counter.calls == [2]  # one query for both envs, then 2 steps from the queue
    for step in range(3):
        np.testing.assert_allclose(actions[step], chunk[:, step], atol=1e-6)
    policy.act(obs)
    assert counter.calls == [2, 2]  # queue exhausted after k=3: re-plan
    policy.reset([1])
    policy.act(obs)
    assert counter.calls == [2, 2, 1]  # only env 1 lost its queue
    policy.reset()
    np.testing.assert_allclose(policy.act(obs), chunk[:, 0], atol=1e-6)  # fresh plan from step 0
    assert counter.calls[-1] == 2


def test_temporal_ensemble_averages_overlapping_predictions() -> None:
    policy = make_policy(horizon=3, ensemble=True)
    rng = np.random.default_rng(1)
    observations = [rng.normal(size=(1, 3)).astype(np.float32) for _ in range(4)]
    chunks = [policy.predict_chunk(o)[0] for o in observations]
    outputs = [policy.act(o)[0] for o in observations]
    np.testing.assert_allclose(outputs[0], chunks[0][0], atol=1e-6)
    np.testing.assert_allclose(outputs[1], (chunks[0][1] + chunks[1][0]) / 2, atol=1e-6)
    np.testing.assert_allclose(outputs[2], (chunks[0][2] + chunks[1][1] + chunks[2][0]) / 3, atol=1e-6)
    np.testing.assert_allclose(outputs[3], (chunks[1][2] + chunks[2][1] + chunks[3][0]) / 3, atol=1e-6)
    policy.reset()
    np.testing.assert_allclose(policy.act(observations[0])[0], chunks[0][0], atol=1e-6)


@pytest.mark.parametrize("kind", ["mlp", "chunked", "diffusion"])
def test_checkpoint_round_trip_gives_same_actions(kind: str, tmp_path: Path) -> None:
    policy = make_policy(kind=kind)
    save_policy(policy, tmp_path / "p", extra={"task_id": "toy/reach"})
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_policy(tmp_path / "p", device="cpu")
    obs = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    for _ in range(6):
        np.testing.assert_array_equal(policy.act(obs), loaded.act(obs))


def test_corrupt_or_mismatched_checkpoints_are_rejected(tmp_path: Path) -> None:
    save_policy(make_policy(), tmp_path / "p")
    weights = tmp_path / "p" / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors does not match the checksum"):
        load_policy(tmp_path / "p")
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    (tmp_path / "p" / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "sha256"}))
    with pytest.raises(CheckpointError, match=r"missing or corrupt model\.safetensors"):  # no checksum to catch it
        load_policy(tmp_path / "p")
    weights.write_bytes(good)
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    config["policy"]["hidden_dims"] = [32]
    (tmp_path / "p" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="has shape"):
        load_policy(tmp_path / "p")
    config["honing_version"] = "99.0.0"
    (tmp_path / "p" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"written by honing 99\.0\.0"):
        load_policy(tmp_path / "p")
    with pytest.raises(CheckpointError, match="holds no policy"):
        load_policy(tmp_path)


def test_non_finite_weights_are_never_saved(tmp_path: Path) -> None:
    policy = make_policy()
    with torch.no_grad():
        policy.network.body[0].weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="non-finite"):
        save_policy(policy, tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_chunk_targets_repeat_last_action_past_episode_end(reach_demos: Path) -> None:
    episode = load_dataset(reach_demos).episodes[0]
    obs, targets = chunk_targets([episode], horizon=4)
    steps = len(episode)
    assert obs.shape == (steps, 6) and targets.shape == (steps, 4, 2)
    np.testing.assert_array_equal(targets[0], episode.actions[:4])
    np.testing.assert_array_equal(targets[-1], np.repeat(episode.actions[-1:], 4, axis=0))


def test_validation_split_holds_out_whole_episodes(reach_demos: Path) -> None:
    episodes = load_dataset(reach_demos).episodes
    train, val = split_episodes(episodes, 0.2, seed=0)
    assert len(val) == 10 and len(train) == 40
    assert not {id(e) for e in train} & {id(e) for e in val}
    with pytest.raises(DatasetError, match="at least 2 episodes"):
        split_episodes(episodes[:1], 0.2, seed=0)


def test_bc_run_directory_and_best_checkpoint(reach_bc_run: Path) -> None:
    assert (reach_bc_run / "config.yaml").is_file()
    records = read_metrics(reach_bc_run)
    assert records and {"step", "train_loss", "val_loss", "best_val_loss", "wall_clock_s"} <= set(records[0])
    best_config = json.loads((reach_bc_run / "checkpoints" / "best" / "config.json").read_text())
    best_val = min(r["val_loss"] for r in records)
    assert best_config["best_val_loss"] == pytest.approx(best_val)
    assert best_config["best_step"] == next(r["step"] for r in records if r["val_loss"] == best_val)


def test_bc_mlp_reaches_high_success_on_toy_reach(reach_bc_run: Path) -> None:
    # Measured: 100% [98.1%, 100%] on 200 episodes with these 50 demos at noise 0.1.
    result = evaluate(load_policy(reach_bc_run), "toy/reach", episodes=100, seed=0)
    assert result.success_rate >= 0.9


def test_bc_chunked_reaches_high_success_on_toy_reach(reach_demos: Path) -> None:
    # Measured: 97.5% [94.3%, 98.9%] on 200 episodes.
    config = BCConfig(policy=PolicyConfig(kind="chunked"), steps=3000, seed=0)
    result = train_bc(reach_demos, config)
    assert evaluate(result.policy, "toy/reach", episodes=100, seed=0).success_rate >= 0.85


def test_bc_is_deterministic_for_a_seed(reach_demos: Path) -> None:
    dataset = load_dataset(reach_demos)
    small = Dataset(dataset.episodes[:10], dataset.metadata)
    config = BCConfig(steps=200, eval_every=50, seed=3, device="cpu")
    first, second = train_bc(small, config), train_bc(small, config)

    def curve(result):
        return [(r["step"], r.get("train_loss"), r["val_loss"]) for r in result.history]

    assert len(first.history) == 5  # step 0, then every 50 updates
    assert curve(first) == curve(second)
    obs = dataset.episodes[20].observations
    np.testing.assert_array_equal(first.policy.act(obs), second.policy.act(obs))
