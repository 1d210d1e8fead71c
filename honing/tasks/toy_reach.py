"""``toy/reach``: a 2-D point mass that must stop on a goal. Pure NumPy, ~50k steps/s.

Small enough for tests to train BC and fine-tune in seconds, yet it has what makes the real
tasks hard for BC: inertia (a policy that overshoots must brake) and a sparse success signal.
Observation: [position (2), velocity (2), goal (2)]; action: acceleration command in [-1, 1]^2.
Success: within ``goal_radius`` of the goal at low speed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np


class PointMassReach(gym.Env[np.ndarray, np.ndarray]):
    """Point mass with damping; dense reward is the negative distance to the goal."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        render_mode: str | None = None,
        dt: float = 0.1,
        damping: float = 0.15,
        accel: float = 2.0,
        goal_radius: float = 0.08,
        max_success_speed: float = 0.25,
    ) -> None:
        self.render_mode = render_mode
        self.dt, self.damping, self.accel = dt, damping, accel
        self.goal_radius, self.max_success_speed = goal_radius, max_success_speed
        high = np.array([1.5, 1.5, 3.0, 3.0, 1.0, 1.0], dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.pos = np.zeros(2)
        self.vel = np.zeros(2)
        self.goal = np.zeros(2)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.pos, self.vel, self.goal]).astype(np.float32)

    def _success(self) -> bool:
        near = np.linalg.norm(self.pos - self.goal) < self.goal_radius
        return bool(near and np.linalg.norm(self.vel) < self.max_success_speed)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-1.0, 1.0, size=2)
        self.goal = self.np_random.uniform(-1.0, 1.0, size=2)
        while np.linalg.norm(self.goal - self.pos) < 0.5:
            self.goal = self.np_random.uniform(-1.0, 1.0, size=2)
        self.vel = np.zeros(2)
        return self._obs(), {"success": False}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self.vel = (1.0 - self.damping) * self.vel + self.accel * self.dt * a
        self.vel = np.clip(self.vel, -3.0, 3.0)
        self.pos = np.clip(self.pos + self.dt * self.vel, -1.5, 1.5)
        distance = float(np.linalg.norm(self.pos - self.goal))
        return self._obs(), -distance, False, False, {"success": self._success()}

    def render(self) -> np.ndarray:
        """A 64x64 top-down image: goal in green, mass in white."""
        frame = np.zeros((64, 64, 3), dtype=np.uint8)

        def pixel(p: np.ndarray) -> tuple[int, int]:
            x, y = np.clip(((p + 1.5) / 3.0 * 63).astype(int), 0, 63)
            return int(63 - y), int(x)

        gy, gx = pixel(self.goal)
        frame[max(gy - 2, 0) : gy + 3, max(gx - 2, 0) : gx + 3] = (0, 200, 0)
        py, px = pixel(self.pos)
        frame[max(py - 1, 0) : py + 2, max(px - 1, 0) : px + 2] = (255, 255, 255)
        return frame


def reach_expert() -> Any:
    """A PD controller on the goal: succeeds on essentially every episode without noise."""

    def act(obs: np.ndarray) -> np.ndarray:
        pos, vel, goal = obs[0:2], obs[2:4], obs[4:6]
        return np.clip(3.0 * (goal - pos) - 1.2 * vel, -1.0, 1.0).astype(np.float32)

    return act
