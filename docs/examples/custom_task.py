"""Bring your own Gymnasium env: register it as a honing task, record demos, BC, then fine-tune.

    python docs/examples/custom_task.py --out runs/slider          # ~1 min on 2 CPU cores

The env below stands in for yours (a simulator, or a real robot behind the same interface). What
honing needs from it: a Box action space (any bounds: honing rescales to [-1, 1]), Box or Dict
observations, and a success flag in ``info``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import honing


class Slider(gym.Env[np.ndarray, np.ndarray]):
    """A 1-D slider that must come to rest on a goal; actions are velocities in [-0.5, 0.5]."""

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = gym.spaces.Box(-2.0, 2.0, shape=(3,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-0.5, 0.5, shape=(1,), dtype=np.float32)
        self.x = self.v = self.goal = 0.0

    def _obs(self) -> np.ndarray:
        return np.array([self.x, self.v, self.goal], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.x, self.goal = self.np_random.uniform(-1, 1, size=2)
        self.v = 0.0
        return self._obs(), {"success": False}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.v = 0.7 * self.v + 0.3 * float(np.clip(action[0], -0.5, 0.5))
        self.x = float(np.clip(self.x + 0.2 * self.v, -1.5, 1.5))
        success = abs(self.x - self.goal) < 0.05 and abs(self.v) < 0.05
        return self._obs(), -abs(self.x - self.goal), False, False, {"success": success}


def expert() -> Any:
    """A hand-written controller; honing calls it on observations and clips its actions."""
    return lambda obs: np.array([4.0 * (obs[2] - obs[0]) - 2.0 * obs[1]], dtype=np.float32)


TASK = honing.Task(
    id="custom/slider",
    make_raw_env=lambda render_mode=None: Slider(render_mode),
    max_episode_steps=100,
    success_key="success",
    make_expert=expert,
    description="1-D slider to a goal",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/slider")
    parser.add_argument("--steps", type=int, default=20_000, help="fine-tuning env steps")
    args = parser.parse_args(argv)
    out = Path(args.out)
    honing.register_task(TASK)
    demos = honing.collect_demos("custom/slider", episodes=10, noise=0.3, seed=0, out=out / "demos")
    print(f"{len(demos.episodes)} demos in {demos.attempts} attempts")
    bc = honing.train_bc(out / "demos", honing.BCConfig(steps=1000), out=out / "bc")
    config = honing.method_config("residual-td3", {"steps": args.steps, "eval_every": max(args.steps // 4, 1)})
    ft = honing.finetune(out / "bc", "custom/slider", out / "demos", config=config, out=out / "finetune")
    print("BC   :", honing.evaluate(bc.policy, "custom/slider", episodes=50).describe())
    print("honed:", ft.honed_eval.describe())


if __name__ == "__main__":
    main()
