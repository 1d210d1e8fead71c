"""The shield's declarative spec: constraints on actions and on the observed state, from YAML.

    constraints:
      - name: gentle              # action bounds, per dimension ([x] = x for every dimension)
        kind: action_bounds
        low: [-0.5, -0.5]
        high: [0.5, 0.5]
      - name: smooth              # at most this change per step (scalar or per dimension)
        kind: max_delta
        max_delta: [0.6]
      - name: stay-in-box         # one-step lookahead of a named part of the observation:
        kind: workspace           # next = part + drift_gain * obs[drift] + gain * action[action_dims]
        part: position
        low: [-0.8, -0.8]
        high: [0.8, 0.8]
        gain: 0.02
        drift: velocity
        drift_gain: 0.085
        on_violation: project     # project (nearest safe action, default) or stop (end the episode)

Every constraint is a box on the action given the current observation (and the previous action),
so the nearest safe action in the Euclidean sense is a per-dimension clip to the intersection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from honing.config import from_dict
from honing.errors import ConfigError

Kind = Literal["action_bounds", "max_delta", "workspace"]


@dataclass
class Constraint:
    """One rule; which fields apply depends on ``kind``."""

    name: str
    """Shown in every intervention log and report."""
    kind: Kind
    """action_bounds, max_delta or workspace."""
    low: list[float] = field(default_factory=list)
    """Lower bounds (action_bounds: on the action; workspace: on the predicted part)."""
    high: list[float] = field(default_factory=list)
    """Upper bounds, like ``low``."""
    max_delta: list[float] = field(default_factory=list)
    """max_delta: largest change of each action dimension from one step to the next."""
    part: str = ""
    """workspace: the named part of the observation (the task's ``observation_parts``)."""
    action_dims: list[int] = field(default_factory=list)
    """workspace: action dimensions that move the part (default: the first len(part) dimensions)."""
    gain: float = 0.0
    """workspace: change of the part per unit action in one step."""
    drift: str = ""
    """workspace: optional named part (e.g. velocity) that moves the part without any action."""
    drift_gain: float = 0.0
    """workspace: change of the part per unit of ``drift`` in one step."""
    on_violation: Literal["project", "stop"] = "project"
    """project: execute the nearest safe action; stop: end the episode (truncation)."""


@dataclass
class ShieldSpec:
    constraints: list[Constraint] = field(default_factory=list)


def broadcast(values: list[float], dims: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 1:
        array = np.full(dims, array[0])
    if array.size != dims:
        raise ConfigError(f"{what} has {array.size} values, expected 1 or {dims}")
    return array


def load_spec(path: str | Path) -> ShieldSpec:
    """Read and type-check a shield spec (unknown keys and kinds are errors that name them)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"shield spec {str(path)!r} does not exist")
    try:
        data: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"shield spec {str(path)!r} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("constraints"), list) or not data["constraints"]:
        raise ConfigError(f"shield spec {str(path)!r} needs a non-empty list under 'constraints'")
    spec = from_dict(ShieldSpec, data)
    names = [c.name for c in spec.constraints]
    if len(set(names)) != len(names):
        raise ConfigError(f"shield spec {str(path)!r} repeats a constraint name: {names}")
    return spec
