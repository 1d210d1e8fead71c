"""Builds one of every kind of bad input that docs/errors.md lists, in a scratch directory.

The files are made by honing itself and then broken the way real files break (torn writes,
NaN from a bad sensor, a checkpoint from another version), so every row of the table is tested
against the real loaders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import torch
from safetensors.torch import load_file, save_file

from honing.data import Episode, collect_demos, save_dataset
from honing.data.normalization import Normalizer
from honing.finetune import finetune, method_config
from honing.policies import BCConfig, PolicyConfig, save_policy, train_bc
from honing.policies.bc_policy import BCNetwork, BCPolicy


def _edit_hdf5(dataset: Path, field: str, value: float) -> None:
    with h5py.File(dataset / "data" / "main_data.hdf5", "r+") as handle:
        data = handle["episode_0"][field]
        array = data[()]
        array.flat[0] = value
        data[...] = array


def build(root: Path) -> None:
    """Create every fixture under `root` (takes ~20 s: a tiny BC run and a tiny fine-tuning run)."""
    report = collect_demos("toy/reach", episodes=4, noise=0.1, seed=0, out=root / "reach")
    for name in ("nan", "oob", "corrupt"):
        shutil.copytree(root / "reach", root / name)
    _edit_hdf5(root / "nan", "observations", float("nan"))
    _edit_hdf5(root / "oob", "actions", 3.0)
    data_file = root / "corrupt" / "data" / "main_data.hdf5"
    data_file.write_bytes(data_file.read_bytes()[:1000])
    shutil.copytree(root / "reach", root / "badmeta")
    (root / "badmeta" / "data" / "metadata.json").write_text("{not json")
    failures = [Episode(e.observations, e.actions, np.zeros(len(e)), np.zeros(len(e), bool),
                        np.eye(1, len(e), len(e) - 1, dtype=bool)[0], np.zeros(len(e), bool))
                for e in report.episodes]  # fmt: skip
    save_dataset(root / "failures", failures, metadata={"honing_task": "toy/reach"})
    (root / "empty-dir").mkdir()
    (root / "garbage.npz").write_bytes(b"not a zip archive")
    steps = {"observations": np.zeros((3, 4), np.float32), "next_observations": np.zeros((3, 4), np.float32),
             "rewards": np.zeros(3), "terminals": np.zeros(3, bool), "timeouts": np.array([0, 0, 1], bool)}  # fmt: skip
    np.savez(root / "no-actions.npz", **steps)
    np.savez(root / "four-dims.npz", actions=np.zeros((3, 2), np.float32), **steps)
    with h5py.File(root / "lift.hdf5", "w") as handle:
        for group in ("obs", "next_obs"):
            handle[f"data/demo_0/{group}/object"] = np.zeros((2, 3))
        for name in ("actions", "rewards", "dones"):
            handle[f"data/demo_0/{name}"] = np.zeros((2, 2) if name == "actions" else 2)
    (root / "bad.yaml").write_text("lr: [1, 2\n")
    (root / "keys.yaml").write_text("lr: 0.001\nbatch_sise: 64\n")
    elbow = {"name": "box", "kind": "workspace", "part": "elbow", "low": [-1], "high": [1], "gain": 0.02}
    (root / "elbow.yaml").write_text(json.dumps({"constraints": [elbow]}))
    (root / "speed.yaml").write_text(json.dumps({"constraints": [{"name": "fast", "kind": "speed_limit"}]}))

    train_bc(root / "reach", BCConfig(steps=50, policy=PolicyConfig(hidden_dims=(16,))), out=root / "bc")
    best = root / "bc" / "checkpoints" / "best"
    for name in ("old-version", "nan-weights", "torn-weights"):
        shutil.copytree(best, root / name)
    config = json.loads((best / "config.json").read_text())
    (root / "old-version" / "config.json").write_text(json.dumps({**config, "honing_version": "9.0.0"}))
    tensors = load_file(str(best / "model.safetensors"))
    first = next(name for name in tensors if name.endswith("weight"))
    tensors[first] = torch.full_like(tensors[first], float("nan"))
    save_file(tensors, str(root / "nan-weights" / "model.safetensors"))
    unchecked = {k: v for k, v in config.items() if k != "sha256"}  # as if edited by hand: no checksum to catch it
    (root / "nan-weights" / "config.json").write_text(json.dumps(unchecked))
    weights = root / "torn-weights" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    other = BCNetwork(PolicyConfig(hidden_dims=(16,)), 3, 2, Normalizer.identity(3, 2))
    save_policy(BCPolicy(other), root / "other-dims", extra={"task_id": "toy/reach"})

    values = {"steps": 200, "learning_starts": 100, "critic_warmup": 0, "batch_size": 16, "critic_hidden_dims": [16],
              "actor": {"hidden_dims": [16]}, "eval_every": 200, "eval_episodes": 2, "final_eval_episodes": 2,
              "device": "cpu"}  # fmt: skip
    finetune(root / "bc", "toy/reach", root / "reach", config=method_config("residual-td3", values), out=root / "ft")
    fbc = {"steps": 100, "round_steps": 100, "eval_every": 100, "eval_episodes": 2, "final_eval_episodes": 2,
           "bc": {"steps": 20}, "device": "cpu"}  # fmt: skip
    finetune(root / "bc", "toy/reach", root / "reach", method="filtered-bc", config=method_config("filtered-bc", fbc),
             out=root / "fbc")  # fmt: skip
    shutil.copytree(root / "ft", root / "ft-corrupt")
    for snapshot in (root / "ft-corrupt" / "state").glob("step-*"):
        (snapshot / "state.json").write_text("{")
