"""Policy checkpoints: ``config.json`` + ``model.safetensors``, never pickle.

Loading a checkpoint therefore never executes code from the file. The directory is written
atomically (built under a temporary name, then renamed), and loading validates the format,
the honing version's major number, the tensor names and shapes, and that every value is finite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from honing._version import __version__
from honing.config import from_dict, to_dict
from honing.data.normalization import STAT_NAMES, Normalizer
from honing.device import resolve_device
from honing.errors import CheckpointError, HoningError
from honing.policies.bc_policy import BCNetwork, BCPolicy, PolicyConfig
from honing.runs.atomic import atomic_directory

FORMAT = "honing-policy"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_policy(policy: BCPolicy | BCNetwork, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write `policy` to the directory `path` (replacing it atomically if it exists)."""
    network = policy.network if isinstance(policy, BCPolicy) else policy
    tensors = {name: t.detach().cpu().contiguous() for name, t in network.state_dict().items()}
    for name, tensor in tensors.items():
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"refusing to save a checkpoint with non-finite values in {name!r}")
    config = {
        "format": FORMAT,
        "policy_type": "bc",
        "honing_version": __version__,
        "obs_dim": network.obs_dim,
        "act_dim": network.act_dim,
        "policy": to_dict(network.config),
        **(extra or {}),
    }
    path = Path(path)
    with atomic_directory(path) as tmp:
        save_file(tensors, str(tmp / WEIGHTS_FILE))
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return path


def resolve_policy_dir(path: str | Path) -> Path:
    """Accept a policy directory or a run directory (whose best checkpoint is used)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"policy path {str(path)!r} does not exist")
    for candidate in (path, path / "checkpoints" / "best", path / "checkpoints" / "last"):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise CheckpointError(
        f"{path} holds no policy ({CONFIG_FILE} not found there or in checkpoints/best); "
        "pass a directory written by 'honing bc'"
    )


def read_policy_config(path: str | Path) -> dict[str, Any]:
    directory = resolve_policy_dir(path)
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {directory} has an unreadable {CONFIG_FILE} ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{directory / CONFIG_FILE} is not a honing policy checkpoint")
    saved_major = str(config.get("honing_version", "0")).split(".")[0]
    if saved_major != __version__.split(".")[0]:
        raise CheckpointError(
            f"checkpoint {directory} was written by honing {config.get('honing_version')}, "
            f"incompatible with {__version__}; retrain it or use a matching honing"
        )
    return config


def load_policy(path: str | Path, device: str = "auto") -> BCPolicy:
    """Load a policy saved by :func:`save_policy` (or the best policy of a run directory)."""
    directory = resolve_policy_dir(path)
    config = read_policy_config(directory)
    if config.get("policy_type") != "bc":
        raise CheckpointError(f"checkpoint {directory} holds a {config.get('policy_type')!r} policy, not a BC policy")
    try:
        policy_config = from_dict(PolicyConfig, config["policy"])
        obs_dim, act_dim = int(config["obs_dim"]), int(config["act_dim"])
    except (KeyError, TypeError, ValueError, HoningError) as exc:
        raise CheckpointError(f"checkpoint {directory} has an invalid {CONFIG_FILE} ({exc})") from None
    try:
        tensors = load_file(str(directory / WEIGHTS_FILE))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"checkpoint {directory} has a missing or corrupt {WEIGHTS_FILE} ({exc})") from None
    if not all(name in tensors for name in STAT_NAMES):
        raise CheckpointError(f"checkpoint {directory} lacks its normalisation statistics; it is corrupt")
    stats = Normalizer.from_arrays({name: tensors[name].numpy() for name in STAT_NAMES})
    network = BCNetwork(policy_config, obs_dim, act_dim, stats)
    expected = network.state_dict()
    if set(expected) != set(tensors):
        raise CheckpointError(f"checkpoint {directory} does not match its config (tensor names differ)")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"checkpoint {directory}: tensor {name!r} has shape {tuple(tensor.shape)}, "
                f"config implies {tuple(expected[name].shape)}"
            )
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"checkpoint {directory}: tensor {name!r} holds NaN/inf; it is corrupt")
    network.load_state_dict(tensors)
    return BCPolicy(network, resolve_device(device))
