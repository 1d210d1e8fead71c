"""The online shield: every action is checked before execution and projected (or the episode stopped).

After *VeriGuard* (``../shared/seeds``): a policy is checked offline against a declarative spec,
and at run time every action passes a monitor before it reaches the robot. Each constraint
turns into a per-dimension interval on the action, given the current observation and the
previous executed action; the safe set is their intersection, and the nearest safe action is the
clip to it. When the intersection is empty (constraints contradict each other, or no action in
[-1, 1] can keep a moving part in its box), no safe action exists: the episode is stopped, so the
shield never executes an action that violates a constraint.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from honing.errors import ConfigError
from honing.safety.spec import Constraint, ShieldSpec, broadcast

Parts = dict[str, tuple[int, int]]


@dataclass
class Verdict:
    action: np.ndarray
    """The action to execute (the input when nothing fired)."""
    fired: list[str] = field(default_factory=list)
    """Names of the constraints the raw action violated."""
    stop: bool = False
    """A violated constraint asks to end the episode, or no safe action exists."""
    no_safe_action: bool = False
    """The constraints cannot all be met in this state (the reason to stop, when it is one)."""


class Shield:
    """A spec bound to a task's action size and observation parts."""

    def __init__(self, spec: ShieldSpec, act_dim: int, parts: Parts | None = None, tol: float = 1e-6) -> None:
        self.spec, self.act_dim, self.parts, self.tol = spec, act_dim, dict(parts or {}), tol
        self.rules = [self._compile(c) for c in spec.constraints]

    def _part(self, name: str, constraint: str) -> slice:
        if name not in self.parts:
            raise ConfigError(f"shield constraint {constraint!r} names observation part {name!r}; "
                              f"this task has {sorted(self.parts) or 'no named parts'}")  # fmt: skip
        return slice(*self.parts[name])

    def _compile(self, c: Constraint) -> dict[str, Any]:
        where = f"shield constraint {c.name!r}"
        if c.kind == "action_bounds":
            low, high = broadcast(c.low, self.act_dim, f"{where} low"), broadcast(c.high, self.act_dim, f"{where} high")
            if (low > high).any():
                raise ConfigError(f"{where}: low must not exceed high")
            return {"c": c, "low": low, "high": high}
        if c.kind == "max_delta":
            delta = broadcast(c.max_delta, self.act_dim, f"{where} max_delta")
            if (delta < 0).any():
                raise ConfigError(f"{where}: max_delta must be >= 0")
            return {"c": c, "delta": delta}
        part = self._part(c.part, c.name)
        size = part.stop - part.start
        dims = np.asarray(c.action_dims or list(range(size)), dtype=np.int64)
        if len(dims) != size or dims.min() < 0 or dims.max() >= self.act_dim:
            raise ConfigError(f"{where}: action_dims must name {size} action dimensions below {self.act_dim}")
        if c.gain <= 0:
            raise ConfigError(f"{where}: gain must be positive (how far one unit of action moves {c.part!r})")
        drift = self._part(c.drift, c.name) if c.drift else None
        low, high = broadcast(c.low, size, f"{where} low"), broadcast(c.high, size, f"{where} high")
        return {"c": c, "part": part, "dims": dims, "drift": drift, "low": low, "high": high}

    def _interval(
        self, rule: dict[str, Any], obs: np.ndarray, previous: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        low, high = np.full(self.act_dim, -np.inf), np.full(self.act_dim, np.inf)
        kind = rule["c"].kind
        if kind == "action_bounds":
            return rule["low"], rule["high"]
        if kind == "max_delta":
            if previous is None:
                return low, high
            return previous - rule["delta"], previous + rule["delta"]
        c = rule["c"]
        now = obs[rule["part"]].astype(np.float64)
        if rule["drift"] is not None:
            now = now + c.drift_gain * obs[rule["drift"]]
        low[rule["dims"]] = (rule["low"] - now) / c.gain
        high[rule["dims"]] = (rule["high"] - now) / c.gain
        return low, high

    def check(self, obs: np.ndarray, action: np.ndarray, previous: np.ndarray | None = None) -> Verdict:
        """Which constraints `action` violates in `obs`, and the nearest safe action."""
        action = np.asarray(action, dtype=np.float64)
        low, high = np.full(self.act_dim, -1.0), np.full(self.act_dim, 1.0)  # the env's own bounds
        verdict = Verdict(action=np.asarray(action, dtype=np.float32))
        for rule in self.rules:
            lo, hi = self._interval(rule, obs, previous)
            if ((action < lo - self.tol) | (action > hi + self.tol)).any():
                verdict.fired.append(rule["c"].name)
                verdict.stop |= rule["c"].on_violation == "stop"
            new_low, new_high = np.maximum(low, lo), np.minimum(high, hi)
            empty = new_low > new_high + self.tol
            verdict.no_safe_action |= bool(empty.any())
            low, high = np.where(empty, low, new_low), np.where(empty, high, new_high)  # earlier rules win
        if verdict.fired:
            verdict.action = np.clip(action, low, high).astype(np.float32)
            verdict.stop |= verdict.no_safe_action
        return verdict


class ShieldWrapper(gym.Wrapper):
    """Checks every action before the env sees it; logs each intervention in ``info["shield"]``.

    ``info["shield"]`` holds the constraints that fired and ``info["shield_action"]`` the action
    actually executed, so learners store what the robot did, not what the policy asked for.
    """

    def __init__(self, env: gym.Env, shield: Shield) -> None:
        super().__init__(env)
        self.shield = shield
        self.counts: Counter[str] = Counter()
        self.obs: np.ndarray | None = None
        self.previous: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self.obs, info = self.env.reset(**kwargs)
        self.previous = None
        return self.obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        assert self.obs is not None, "reset() before step()"
        verdict = self.shield.check(self.obs, np.asarray(action), self.previous)
        self.counts.update(verdict.fired)
        if verdict.stop:  # end the episode without executing anything
            info = {"is_success": False, "shield": verdict.fired, "shield_stopped": True,
                    "shield_no_safe_action": verdict.no_safe_action, "shield_action": verdict.action}  # fmt: skip
            return self.obs, 0.0, False, True, info
        self.obs, reward, terminated, truncated, info = self.env.step(verdict.action)
        self.previous = verdict.action.astype(np.float64)
        info["shield"], info["shield_action"] = verdict.fired, verdict.action
        return self.obs, reward, terminated, truncated, info
