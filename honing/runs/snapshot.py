"""Training-state snapshots: what a killed run needs to continue exactly where it stopped.

A snapshot is a directory ``state/step-<N>/`` holding ``tensors.safetensors`` (network weights,
optimiser moments, replay contents, torch RNG states) and ``state.json`` (counters, NumPy RNG
states, histories, and the SHA-256 of the tensor file). No pickle: loading never runs code.

Each snapshot is built under a temporary name and renamed into place, so a ``kill -9`` at any
moment leaves either a complete snapshot or none. The newest ``keep`` are kept. Loading takes
the newest snapshot that validates (checksum, JSON, finite floats) and warns about any newer one
that does not, so a corrupt newest snapshot falls back to the previous good one.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from honing._version import __version__
from honing.errors import CheckpointError
from honing.runs.atomic import atomic_directory, sha256_file
from honing.runs.rundir import RunDir

TENSORS, META = "tensors.safetensors", "state.json"
FORMAT = "honing-train-state"


@dataclass
class Snapshot:
    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path


def save_snapshot(root: Path, step: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any], keep: int = 2) -> Path:
    """Write snapshot `step` under `root` atomically, then drop all but the newest `keep`."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"refusing to snapshot non-finite values in {name!r} at step {step}")
    target = root / f"step-{step:09d}"
    with atomic_directory(target) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / TENSORS))
        record = {"format": FORMAT, "honing_version": __version__, "step": step,
                  "sha256": sha256_file(tmp / TENSORS), "meta": meta}  # fmt: skip
        (tmp / META).write_text(json.dumps(record))
    for old in sorted(root.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _read(path: Path) -> Snapshot:
    try:
        record = json.loads((path / META).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path / META} is missing or unreadable ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{path / META} is not a honing training state")
    if str(record.get("honing_version", "0")).split(".")[0] != __version__.split(".")[0]:
        raise CheckpointError(f"{path} was written by honing {record.get('honing_version')}, not {__version__}")
    if not (path / TENSORS).is_file() or sha256_file(path / TENSORS) != record.get("sha256"):
        raise CheckpointError(f"{path / TENSORS} is missing or does not match its checksum")
    try:
        tensors = load_file(str(path / TENSORS))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path / TENSORS} is corrupt ({exc})") from None
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path / TENSORS}: {name!r} holds NaN/inf")
    return Snapshot(int(record["step"]), tensors, record["meta"], path)


def resume_point(run: RunDir | None, resume: bool) -> Snapshot | None:
    """The snapshot a resumed run continues from; a run killed before its first one starts over
    in the same directory (its metrics cut to nothing). None when not resuming."""
    if not resume or run is None:
        return None
    latest = load_latest_snapshot(run.path / "state")
    if latest is None:
        run.truncate_metrics(0)
    return latest


def load_latest_snapshot(root: Path) -> Snapshot | None:
    """The newest valid snapshot under `root` (None when there is none at all)."""
    candidates = sorted(root.glob("step-*"), reverse=True)
    problems = []
    for path in candidates:
        try:
            snapshot = _read(path)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            warnings.warn(f"skipping a corrupt training state: {problem}; resuming from {path.name}", stacklevel=2)
        return snapshot
    if problems:
        raise CheckpointError(f"no valid training state under {root}: " + "; ".join(problems))
    return None


# -- packing live objects into (tensors, JSON) and back -------------------------------------------


def pack_module(prefix: str, module: nn.Module, out: dict[str, torch.Tensor]) -> None:
    for name, tensor in module.state_dict().items():
        out[f"{prefix}.{name}"] = tensor


def unpack_module(prefix: str, module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    state = {name[len(prefix) + 1 :]: t for name, t in tensors.items() if name.startswith(prefix + ".")}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"training state does not fit {prefix!r} ({str(exc).splitlines()[0]})") from None


def pack_optimizer(prefix: str, optimizer: torch.optim.Optimizer, out: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Moments go to tensors; hyper-parameters and the param layout are returned as JSON."""
    state = optimizer.state_dict()
    for index, entries in state["state"].items():
        for key, value in entries.items():
            out[f"{prefix}.{index}.{key}"] = torch.as_tensor(value)
    return {"param_groups": state["param_groups"], "indices": sorted(state["state"])}


def unpack_optimizer(
    prefix: str, optimizer: torch.optim.Optimizer, meta: dict[str, Any], tensors: dict[str, torch.Tensor]
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {int(i): {} for i in meta["indices"]}
    for name, tensor in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state[int(index)][key] = tensor
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def pack_numpy_rng(rng: np.random.Generator) -> dict[str, Any]:
    return rng.bit_generator.state


def unpack_numpy_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state
