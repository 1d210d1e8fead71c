from __future__ import annotations

import numpy as np
import pytest

from honing.errors import TaskError
from honing.tasks import get_task, list_tasks


def run_episode(task_id: str, policy, seed: int = 0, sparse: bool = True):
    task = get_task(task_id)
    env = task.make_env(sparse=sparse)
    obs, info = env.reset(seed=seed)
    assert info["is_success"] is False
    transitions = []
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        transitions.append((reward, terminated, truncated, info["is_success"]))
        if terminated or truncated:
            return transitions


def test_registry_lists_all_families() -> None:
    ids = {t.id for t in list_tasks()}
    metaworld = {i for i in ids if i.startswith("metaworld/")}
    assert len(metaworld) == 50
    for required in (
        "metaworld/pick-place",
        "metaworld/peg-insert-side",
        "fetch/push",
        "fetch/pick-and-place",
        "adroit/door",
        "adroit/relocate",
        "toy/reach",
    ):
        assert required in ids


def test_unknown_task_names_close_matches() -> None:
    with pytest.raises(TaskError, match=r"unknown task 'metaworld/pick-plce'.*did you mean 'metaworld/pick-place'"):
        get_task("metaworld/pick-plce")


def test_sparse_reward_is_one_on_first_success_then_terminates() -> None:
    expert = get_task("toy/reach").expert()
    transitions = run_episode("toy/reach", expert)
    rewards = [t[0] for t in transitions]
    assert rewards[-1] == 1.0 and sum(rewards) == 1.0
    assert transitions[-1][1] is True and transitions[-1][2] is False  # terminated, not truncated
    assert all(not t[3] for t in transitions[:-1])  # success only on the last step


def test_time_limit_is_truncation_not_termination() -> None:
    transitions = run_episode("toy/reach", lambda obs: np.zeros(2, dtype=np.float32))
    assert len(transitions) == get_task("toy/reach").max_episode_steps
    assert transitions[-1][1] is False and transitions[-1][2] is True
    assert all(t[0] == 0.0 for t in transitions)


def test_dense_mode_does_not_terminate_on_success() -> None:
    expert = get_task("toy/reach").expert()
    transitions = run_episode("toy/reach", expert, sparse=False)
    assert any(t[3] for t in transitions)
    assert not any(t[1] for t in transitions)
    assert transitions[-1][2] is True  # ran to the time limit


def test_actions_are_clipped_and_observations_float32() -> None:
    env = get_task("toy/reach").make_env()
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32
    assert env.action_space.low.min() == -1.0 and env.action_space.high.max() == 1.0
    big, _, _, _, _ = env.step(np.array([50.0, -50.0]))
    env.reset(seed=3)
    clipped, _, _, _, _ = env.step(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(big, clipped)


@pytest.mark.parametrize("task_id", ["metaworld/pick-place", "fetch/push", "toy/reach"])
def test_same_seed_same_initial_state(task_id: str) -> None:
    env = get_task(task_id).make_env()
    first, _ = env.reset(seed=11)
    again, _ = env.reset(seed=11)
    other, _ = env.reset(seed=12)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(("task_id", "episodes"), [("toy/reach", 100), ("metaworld/pick-place", 20)])
def test_expert_without_noise_succeeds(task_id: str, episodes: int) -> None:
    from honing.data import collect_demos

    report = collect_demos(task_id, episodes=episodes, noise=0.0, seed=0, max_attempts=episodes, keep_failures=True)
    assert report.attempts == episodes
    assert np.mean([e.success for e in report.episodes]) >= 0.95


@pytest.mark.parametrize("task_id", ["fetch/push", "fetch/pick-and-place"])
def test_fetch_experts_succeed(task_id: str) -> None:
    from honing.data import collect_demos

    report = collect_demos(task_id, episodes=10, noise=0.0, seed=0, max_attempts=10, keep_failures=True)
    assert np.mean([e.success for e in report.episodes]) >= 0.9


@pytest.mark.parametrize(("task_id", "dims"), [("adroit/door", (39, 28)), ("adroit/relocate", (39, 30))])
def test_adroit_tasks_build_without_expert(task_id: str, dims: tuple[int, int]) -> None:
    task = get_task(task_id)
    assert task.spaces() == dims
    assert not task.has_expert
    with pytest.raises(TaskError, match="no scripted expert"):
        task.expert()


def test_gym_env_with_success_flag_is_wrapped() -> None:
    task = get_task("gym:FetchReach-v4")
    assert task.success_key == "is_success"
    env = task.make_env()
    obs, _ = env.reset(seed=0)
    assert obs.ndim == 1 and obs.dtype == np.float32
    _, _, _, _, info = env.step(env.action_space.sample())
    assert isinstance(info["is_success"], bool)


def test_gym_env_without_success_flag_is_rejected() -> None:
    with pytest.raises(TaskError, match=r"gym:Pendulum-v1 reports no success flag"):
        get_task("gym:Pendulum-v1")


def test_unknown_gym_env_id() -> None:
    with pytest.raises(TaskError, match=r"unknown Gymnasium env id 'Pendulum-v9'.*Pendulum-v1"):
        get_task("gym:Pendulum-v9")


@pytest.mark.parametrize("task_id", ["metaworld/pick-place", "metaworld/push"])
def test_metaworld_contact_check_matches_metaworlds_own(task_id: str) -> None:
    """honing's array-based ``touching_object`` gives Meta-World's dense rewards to the bit, touching or not."""
    from metaworld.sawyer_xyz_env import SawyerXYZEnv

    task = get_task(task_id)
    fast, slow = task.make_env(sparse=False), task.make_env(sparse=False)
    del slow.unwrapped.touching_object  # back to Meta-World's own method
    assert type(slow.unwrapped).touching_object is SawyerXYZEnv.touching_object
    expert, rng = task.expert(), np.random.default_rng(0)
    obs, _ = fast.reset(seed=5)
    slow.reset(seed=5)
    touched = []
    for _ in range(150):
        action = np.clip(expert(obs) + rng.normal(0.0, 0.1, 4), -1, 1).astype(np.float32)
        obs, reward, *_, info = fast.step(action)
        slow_obs, slow_reward, *_, slow_info = slow.step(action)
        np.testing.assert_array_equal(obs, slow_obs)
        assert reward == slow_reward and info == slow_info
        raw = fast.unwrapped
        touched.append(raw.touching_main_object)  # a property in Meta-World
        for geom in range(raw.model.ngeom):  # every geom as "the object": pads, fingers, table, walls
            assert raw.touching_object(geom) == SawyerXYZEnv.touching_object(raw, geom)
    assert any(touched) and not all(touched)  # both answers were exercised
