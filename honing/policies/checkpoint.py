"""Policy checkpoints: ``config.json`` + ``model.safetensors``, never pickle.

Loading a checkpoint therefore never executes code from the file. A policy built on a frozen
base (residual, IBRL) nests that base under ``base/``, so one directory is a complete, deployable policy. The
directory is written atomically (built under a temporary name, then renamed), and loading
validates the format, the honing version's major number, the weights' SHA-256, tensor names and
shapes, and that every value is finite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from honing._version import __version__
from honing.config import from_dict, to_dict
from honing.data.normalization import Normalizer
from honing.device import resolve_device
from honing.errors import CheckpointError, HoningError
from honing.policies.actor import Actor, ActorConfig, ActorPolicy
from honing.policies.base import Policy
from honing.policies.bc_policy import BCNetwork, BCPolicy, DiffusionNetwork, PolicyConfig, build_bc_network
from honing.policies.dsrl_policy import DSRLPolicy
from honing.policies.ibrl_policy import CriticConfig, IBRLNetworks, IBRLPolicy
from honing.policies.residual_policy import ResidualActor, ResidualActorConfig, ResidualPolicy
from honing.runs.atomic import atomic_directory, recover_directory, sha256_file

FORMAT = "honing-policy"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
BASE_SUBDIR = "base"


def _contents(policy: Policy | nn.Module) -> tuple[nn.Module, dict[str, Any], Policy | None]:
    """(module whose weights are saved, config entries, nested base policy or None)."""
    if isinstance(policy, DSRLPolicy):  # before BCPolicy, which it extends
        entries = {"policy_type": "dsrl", "actor": to_dict(policy.actor.config), "act_dim": policy.act_dim,
                   "noise_dim": policy.actor.act_dim, "action_magnitude": policy.magnitude}  # fmt: skip
        return policy.actor, entries, BCPolicy(policy.network, policy.device)
    if isinstance(policy, (BCPolicy, BCNetwork, DiffusionNetwork)):
        network = policy.network if isinstance(policy, BCPolicy) else policy
        return network, {"policy_type": "bc", "policy": to_dict(network.config)}, None
    if isinstance(policy, ResidualPolicy):
        return policy.actor, {"policy_type": "residual", "actor": to_dict(policy.actor.config)}, policy.base
    if isinstance(policy, ActorPolicy):
        return policy.actor, {"policy_type": "actor", "actor": to_dict(policy.actor.config)}, None
    if isinstance(policy, IBRLPolicy):
        networks = policy.networks
        entries = {"policy_type": "ibrl", "actor": to_dict(networks.actor.config),
                   "critic": to_dict(networks.critic_config)}  # fmt: skip
        return networks, entries, policy.base
    raise CheckpointError(
        f"cannot save a {type(policy).__name__}: honing saves BC (MLP, chunked, diffusion), residual, actor, "
        "IBRL and DSRL policies"
    )


def _write_into(directory: Path, policy: Policy | nn.Module, extra: dict[str, Any] | None) -> None:
    module, entries, base = _contents(policy)
    tensors = {name: t.detach().cpu().contiguous() for name, t in module.state_dict().items()}
    for name, tensor in tensors.items():
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"refusing to save a checkpoint with non-finite values in {name!r}")
    config = {
        "format": FORMAT,
        "honing_version": __version__,
        "obs_dim": module.obs_dim,
        "act_dim": module.act_dim,
        **entries,
        **(extra or {}),
    }
    save_file(tensors, str(directory / WEIGHTS_FILE))
    config["sha256"] = sha256_file(directory / WEIGHTS_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    if base is not None:
        (directory / BASE_SUBDIR).mkdir()
        _write_into(directory / BASE_SUBDIR, base, None)


def save_policy(policy: Policy | nn.Module, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write `policy` to the directory `path` (replacing it atomically if it exists)."""
    path = Path(path)
    with atomic_directory(path) as tmp:
        _write_into(tmp, policy, extra)
    return path


def resolve_policy_dir(path: str | Path) -> Path:
    """Accept a policy directory or a run directory (whose best checkpoint is used)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"policy path {str(path)!r} does not exist")
    for candidate in (path, path / "checkpoints" / "best", path / "checkpoints" / "last"):
        recover_directory(candidate)  # a kill mid-replacement leaves the previous copy aside
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise CheckpointError(
        f"{path} holds no policy ({CONFIG_FILE} not found there or in checkpoints/best); "
        "pass a directory written by 'honing bc' or 'honing finetune'"
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


def _load_weights(directory: Path, module: nn.Module, checksum: str | None) -> None:
    """Fill `module` from the directory's safetensors file after checking checksum, names, shapes, values."""
    if (
        checksum is not None
        and (directory / WEIGHTS_FILE).is_file()
        and sha256_file(directory / WEIGHTS_FILE) != checksum
    ):
        raise CheckpointError(f"checkpoint {directory}: {WEIGHTS_FILE} does not match the checksum in {CONFIG_FILE}")
    try:
        tensors = load_file(str(directory / WEIGHTS_FILE))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"checkpoint {directory} has a missing or corrupt {WEIGHTS_FILE} ({exc})") from None
    expected = module.state_dict()
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
    module.load_state_dict(tensors)


def _load_from(directory: Path, config: dict[str, Any], device: torch.device) -> Policy:
    kind = config.get("policy_type")
    try:
        obs_dim, act_dim = int(config["obs_dim"]), int(config["act_dim"])
        placeholder = Normalizer.identity(obs_dim, act_dim)  # real statistics come with the weights
        if kind == "bc":
            policy_config = from_dict(PolicyConfig, config["policy"])
            policy_config.validate()
            network: nn.Module = build_bc_network(policy_config, obs_dim, act_dim, placeholder)
        elif kind == "residual":
            network = ResidualActor(from_dict(ResidualActorConfig, config["actor"]), obs_dim, act_dim, placeholder)
        elif kind == "actor":
            network = Actor(from_dict(ActorConfig, config["actor"]), obs_dim, act_dim, placeholder)
        elif kind == "dsrl":
            network = Actor(from_dict(ActorConfig, config["actor"]), obs_dim, int(config["noise_dim"]), placeholder)
            magnitude = float(config["action_magnitude"])
        elif kind == "ibrl":
            actor_config = from_dict(ActorConfig, config["actor"])
            critic_config = from_dict(CriticConfig, config["critic"])
            network = IBRLNetworks(actor_config, critic_config, obs_dim, act_dim, placeholder)
        else:
            raise CheckpointError(f"checkpoint {directory} holds an unknown policy type {kind!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {directory} has an invalid {CONFIG_FILE} ({exc})") from None
    except HoningError as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"checkpoint {directory} has an invalid {CONFIG_FILE} ({exc})") from None
    _load_weights(directory, network, config.get("sha256"))
    network.to(device)
    if isinstance(network, (BCNetwork, DiffusionNetwork)):
        return BCPolicy(network, device)
    if isinstance(network, Actor) and kind == "actor":
        return ActorPolicy(network, device)
    base = load_policy(directory / BASE_SUBDIR, device=str(device))
    if (base.obs_dim, base.act_dim) != (obs_dim, act_dim):
        raise CheckpointError(f"checkpoint {directory}: its base policy has other dims than the policy on top")
    if isinstance(network, IBRLNetworks):
        return IBRLPolicy(base, network, device)
    if kind == "dsrl":
        assert isinstance(network, Actor)
        if not isinstance(base, BCPolicy) or not isinstance(base.network, DiffusionNetwork):
            raise CheckpointError(f"checkpoint {directory}: a dsrl policy needs a diffusion base under base/")
        return DSRLPolicy(base.network, network, magnitude, device)
    assert isinstance(network, ResidualActor)
    return ResidualPolicy(base, network, device)


def load_policy(path: str | Path, device: str = "auto") -> Policy:
    """Load a policy saved by :func:`save_policy` (or the best policy of a run directory)."""
    directory = resolve_policy_dir(path)
    return _load_from(directory, read_policy_config(directory), resolve_device(device))
