"""gymnasium-robotics tasks: Fetch (with scripted experts written here) and Adroit (no expert).

Fetch observations are dicts; honing flattens them in Gymnasium's key order, so the flat vector
is ``[achieved_goal (3), desired_goal (3), observation (25)]``. The experts below read that
layout. Both are memoryless state machines (the phase is inferred from the state), so they need
no reset and recover when a noisy action knocks them off their plan.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings

import gymnasium as gym
import numpy as np

from honing.tasks.base import Expert, Task

GOAL = slice(3, 6)
GRIP = slice(6, 9)
OBJECT = slice(9, 12)
FINGERS = slice(15, 17)
GAIN = 10.0  # Fetch moves 5 cm per unit action; gain 10 closes 50% of the gap each step


def register_robotics_envs() -> None:
    # gymnasium-robotics prints a notice about Adroit's *dense* rewards on import; honing uses
    # their success flag, not those rewards, so the notice is kept out of honing's output.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        import gymnasium_robotics

        gym.register_envs(gymnasium_robotics)


def _make_robotics(env_id: str, render_mode: str | None = None) -> gym.Env:
    register_robotics_envs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(env_id, render_mode=render_mode).unwrapped


def _move(target: np.ndarray, grip: np.ndarray, gripper: float) -> np.ndarray:
    delta = np.clip(GAIN * (target - grip), -1.0, 1.0)
    return np.append(delta, gripper).astype(np.float32)


def fetch_push_expert() -> Expert:
    """Go behind the block (seen from the goal), lower, then push it along the block-goal line."""

    def act(obs: np.ndarray) -> np.ndarray:
        goal, grip, obj = obs[GOAL], obs[GRIP], obs[OBJECT]
        to_goal = goal[:2] - obj[:2]
        direction = to_goal / max(float(np.linalg.norm(to_goal)), 1e-6)
        offset = grip[:2] - obj[:2]
        along = float(offset @ direction)
        lateral = abs(float(offset[0] * direction[1] - offset[1] * direction[0]))
        behind = obj[:2] - 0.06 * direction
        if along < -0.015 and lateral < 0.02 and abs(grip[2] - obj[2]) < 0.02:
            target = np.append(goal[:2] - 0.04 * direction, obj[2])  # push through to the goal
        elif np.linalg.norm(grip[:2] - behind) < 0.015:
            target = np.append(behind, obj[2])  # lower behind the block
        elif grip[2] < obj[2] + 0.04:
            target = np.append(grip[:2], obj[2] + 0.07)  # rise before travelling
        else:
            target = np.append(behind, obj[2] + 0.07)  # travel above the block
        return _move(target, grip, -1.0)

    return act


def fetch_pick_and_place_expert() -> Expert:
    """Open above the block, descend, close, then carry it to the goal (in the air or on the table)."""

    def act(obs: np.ndarray) -> np.ndarray:
        goal, grip, obj = obs[GOAL], obs[GRIP], obs[OBJECT]
        width = float(np.sum(obs[FINGERS]))
        in_hand = np.linalg.norm(obj - grip) < 0.02
        if in_hand and width < 0.06:
            return _move(goal, grip, -1.0)  # grasped: carry
        if in_hand:
            return _move(obj, grip, -1.0)  # close the fingers around the block
        if np.linalg.norm(obj[:2] - grip[:2]) > 0.01:
            return _move(np.append(obj[:2], obj[2] + 0.06), grip, 1.0)  # hover above, open
        return _move(obj, grip, 1.0)  # descend with open fingers

    return act


def robotics_tasks() -> list[Task]:
    specs = [
        (
            "fetch/push",
            "FetchPush-v4",
            50,
            "is_success",
            fetch_push_expert,
            "Fetch arm pushes a block to a goal on the table",
        ),
        (
            "fetch/pick-and-place",
            "FetchPickAndPlace-v4",
            50,
            "is_success",
            fetch_pick_and_place_expert,
            "Fetch arm picks a block and places it at a goal (often in the air)",
        ),
        ("adroit/door", "AdroitHandDoor-v1", 200, "success", None, "Adroit 24-DoF hand opens a door (bring demos)"),
        (
            "adroit/relocate",
            "AdroitHandRelocate-v1",
            200,
            "success",
            None,
            "Adroit hand moves a ball to a target (bring demos)",
        ),
    ]
    return [
        Task(
            id=task_id,
            make_raw_env=functools.partial(_make_robotics, env_id),
            max_episode_steps=steps,
            success_key=key,
            make_expert=expert,
            description=description,
        )
        for task_id, env_id, steps, key, expert, description in specs
    ]
