"""Task registry: ids to Tasks, with close-match hints for typos.

Built-in families are registered lazily (importing Meta-World costs a second), and any
Gymnasium env id that reports success in ``info`` can be used as ``gym:<EnvId>``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import gymnasium as gym

from honing.errors import TaskError, close_matches
from honing.tasks.base import Task
from honing.tasks.toy_reach import PointMassReach, reach_expert

SUCCESS_KEYS = ("is_success", "success")
_EXTRA: dict[str, Task] = {}


def _toy_tasks() -> list[Task]:
    return [
        Task(
            id="toy/reach",
            make_raw_env=lambda render_mode=None: PointMassReach(render_mode=render_mode),
            max_episode_steps=50,
            success_key="success",
            make_expert=reach_expert,
            description="2-D point mass stops on a goal (pure NumPy; for tests and quick checks)",
            observation_parts=(("position", 0, 2), ("velocity", 2, 4), ("goal", 4, 6)),
        )
    ]


@functools.cache
def _builtin() -> dict[str, Task]:
    from honing.tasks.metaworld_tasks import metaworld_tasks
    from honing.tasks.robotics_tasks import robotics_tasks

    tasks = _toy_tasks() + robotics_tasks() + metaworld_tasks()
    return {task.id: task for task in tasks}


def register_task(task: Task) -> None:
    """Add a user task (e.g. a real robot behind a Gymnasium env) to the registry."""
    _EXTRA[task.id] = task


def list_tasks() -> list[Task]:
    return sorted({**_builtin(), **_EXTRA}.values(), key=lambda t: t.id)


def _make_gym(env_id: str, render_mode: str | None = None) -> gym.Env:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(env_id, render_mode=render_mode)


def _gym_task(env_id: str) -> Task:
    """Wrap a Gymnasium env id, after checking that its info actually reports success."""
    from honing.tasks.robotics_tasks import register_robotics_envs

    register_robotics_envs()
    if env_id not in gym.registry:
        raise TaskError(
            f"unknown Gymnasium env id {env_id!r}"
            + close_matches(env_id, gym.registry.keys())
            + "; import the package that registers it, or check the id with gymnasium.pprint_registry()"
        )
    make: Callable[..., gym.Env] = functools.partial(_make_gym, env_id)
    env = make()
    try:
        env.reset(seed=0)
        _, _, _, _, info = env.step(env.action_space.sample())
        spec_steps = env.spec.max_episode_steps if env.spec else None
        is_box = isinstance(env.action_space, gym.spaces.Box)
    finally:
        env.close()
    if not is_box:
        raise TaskError(f"gym:{env_id} has a discrete action space; honing fine-tunes continuous control")
    key = next((k for k in SUCCESS_KEYS if k in info), None)
    if key is None:
        raise TaskError(
            f"gym:{env_id} reports no success flag: its info has {sorted(info)} but honing needs "
            "info['is_success'] or info['success']; add one with a gymnasium.Wrapper and register_task()"
        )
    return Task(
        id=f"gym:{env_id}",
        make_raw_env=make,
        max_episode_steps=int(spec_steps or 1000),
        success_key=key,
        description=f"Gymnasium env {env_id}",
    )


def get_task(task_id: str) -> Task:
    """Resolve a task id; unknown ids raise a TaskError listing the closest ids."""
    if task_id in _EXTRA:
        return _EXTRA[task_id]
    if task_id.startswith("gym:"):
        return _gym_task(task_id[4:])
    tasks = _builtin()
    if task_id not in tasks:
        raise TaskError(
            f"unknown task {task_id!r}"
            + close_matches(task_id, tasks)
            + "; 'honing tasks' lists them all, and 'gym:<EnvId>' wraps any Gymnasium env"
        )
    return tasks[task_id]


def check_shapes(task: Task, obs_dim: int, act_dim: int, what: str) -> None:
    """Raise a clear error when `what` (a dataset, a policy) was made for other shapes."""
    task_obs, task_act = task.spaces()
    if (task_obs, task_act) != (obs_dim, act_dim):
        raise TaskError(
            f"{what} has observation/action dims ({obs_dim}, {act_dim}) but task {task.id!r} "
            f"has ({task_obs}, {task_act}); use data and policies made for this task"
        )


__all__ = ["check_shapes", "get_task", "list_tasks", "register_task"]
