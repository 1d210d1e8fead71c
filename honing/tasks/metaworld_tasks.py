"""Every Meta-World v3 task as ``metaworld/<name>``, with its scripted expert.

Meta-World's own ``gym.make("Meta-World/MT1", ...)`` draws one of 50 fixed goals from an RNG that
``reset(seed=...)`` does not touch, so two evaluations could not be pinned to the same initial
states. Here the env class is built directly, fully observable (goal in the observation), with
object and goal positions drawn from the env's own RNG, re-seeded on every ``reset(seed=s)``:
the same seed always gives the same initial state.
"""

from __future__ import annotations

import functools
import re
import types
import warnings
from typing import Any

import gymnasium as gym
import numpy as np

from honing.tasks.base import Expert, Task

MAX_EPISODE_STEPS = 500
# Meta-World's experts warn on every call that their gains may exceed the action bounds; honing
# clips their actions anyway, so this one message is silenced (and nothing else).
warnings.filterwarnings("ignore", message=r"Constant\(s\) may be too high", category=UserWarning)


class MetaWorldSeeding(gym.Wrapper):
    """Route ``reset(seed=s)`` to Meta-World's ``env.seed(s)`` (its reset ignores the seed)."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self.env.unwrapped.seed(int(seed))
        obs, info = self.env.reset(options=options)
        return obs, {**info, "success": False}


class UprightRender(gym.Wrapper):
    """Meta-World's ``corner`` camera is mounted rolled by 180 degrees (its image y-axis points down);
    turn its frames the right way up."""

    def render(self) -> Any:
        frame = self.env.render()
        return None if frame is None else np.ascontiguousarray(frame[::-1, ::-1])


def touching_object(env: Any, object_geom_id: int) -> bool:
    """Meta-World 3.1.1's ``SawyerXYZEnv.touching_object`` on MuJoCo's contact arrays, same result.

    Why: Meta-World walks ``data.contact`` in two Python list comprehensions, one wrapper object per
    contact, on every step of every task whose reward asks whether the gripper touches the object;
    on metaworld/pick-place and push that was over a third of an env step (706 -> 443 us a step
    side by side, ``python -m benchmarks.env_step``). The same contacts are selected, and each pad's forces are
    summed in the same order from zero, so the floats and the answer are Meta-World's to the bit
    (tests/test_tasks.py compares rewards along an expert's grasp).
    """
    data = env.data
    contacts = data.contact
    geom1, geom2 = contacts.geom1, contacts.geom2
    on_object = (geom1 == object_geom_id) | (geom2 == object_geom_id)

    def pad_force(name: str) -> float:
        pad = data.geom(name).id
        rows = contacts.efc_address[on_object & ((geom1 == pad) | (geom2 == pad))]
        return sum(data.efc_force[rows].tolist())

    return pad_force("leftpad_geom") > 0 and pad_force("rightpad_geom") > 0


def _env_classes() -> dict[str, type]:
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return dict(ALL_V3_ENVIRONMENTS)


def _make_raw(env_name: str, render_mode: str | None = None) -> gym.Env:
    cls = _env_classes()[env_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = cls(render_mode=render_mode, camera_name="corner" if render_mode else None)
    env._partially_observable = False
    if "sawyer_observation_space" in env.__dict__:
        del env.sawyer_observation_space  # cached with the goal hidden; recompute it
    env.observation_space = env.sawyer_observation_space
    env._freeze_rand_vec = False
    env._set_task_called = True
    env.seeded_rand_vec = True
    env.seed(0)
    env.max_path_length = MAX_EPISODE_STEPS
    env.touching_object = types.MethodType(touching_object, env)  # this env only; see touching_object
    return UprightRender(MetaWorldSeeding(env)) if render_mode else MetaWorldSeeding(env)


def _policy_class_name(env_name: str) -> str:
    base = env_name.removesuffix("-v3")
    camel = "".join(part.capitalize() for part in base.split("-"))
    return f"Sawyer{camel}V3Policy"


_POLICY_ALIASES = {"peg-insert-side-v3": "SawyerPegInsertionSideV3Policy"}


def _make_expert(env_name: str) -> Expert:
    import metaworld.policies as policies

    name = _POLICY_ALIASES.get(env_name, _policy_class_name(env_name))
    policy = getattr(policies, name)()

    def act(obs: np.ndarray) -> np.ndarray:
        return np.clip(policy.get_action(np.asarray(obs, dtype=np.float64)), -1.0, 1.0).astype(np.float32)

    return act


def metaworld_tasks() -> list[Task]:
    """One Task per Meta-World v3 environment."""
    import metaworld.policies as policies

    tasks = []
    for env_name in _env_classes():
        short = re.sub(r"-v3$", "", env_name)
        has_expert = hasattr(policies, _POLICY_ALIASES.get(env_name, _policy_class_name(env_name)))
        tasks.append(
            Task(
                id=f"metaworld/{short}",
                make_raw_env=functools.partial(_make_raw, env_name),
                max_episode_steps=MAX_EPISODE_STEPS,
                success_key="success",
                make_expert=functools.partial(_make_expert, env_name) if has_expert else None,
                description=f"Meta-World v3 {short} (Sawyer arm, 39-D state, 4-D action)",
                observation_parts=(("hand", 0, 3), ("gripper", 3, 4), ("object", 4, 7)),
            )
        )
    return tasks
