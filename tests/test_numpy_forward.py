"""Acting in NumPy must be the torch forward, on the weights of the moment, or not happen at all."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable

import numpy as np
import pytest
import torch

from honing.data import Normalizer
from honing.policies.actor import Actor, ActorConfig
from honing.policies.bc_policy import BCPolicy, build_bc_network
from honing.policies.networks import mlp
from honing.policies.numpy_forward import numpy_forward
from honing.policies.policy_config import PolicyConfig
from honing.policies.residual_policy import ResidualActor, ResidualActorConfig

OBS, ACT = 7, 3


def normalizer() -> Normalizer:
    rng = np.random.default_rng(0)
    arrays = {"obs_mean": rng.normal(size=OBS), "obs_std": rng.uniform(0.5, 2.0, OBS),
              "act_mean": rng.normal(size=ACT) * 0.2, "act_std": rng.uniform(0.3, 0.6, ACT)}  # fmt: skip
    return Normalizer.from_arrays(arrays)


def randomised(module: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial weights everywhere (the residual actor's last layer starts at zero)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn_like(param) * 0.5)
    return module


@pytest.fixture
def torch_path(monkeypatch: pytest.MonkeyPatch) -> Callable[..., np.ndarray]:
    """Calls a module's method with NumPy acting refused, as on a device NumPy cannot reach."""

    def call(module: torch.nn.Module, method: str, *args: object) -> np.ndarray:
        with monkeypatch.context() as patch:
            patch.setattr(sys.modules[type(module).__module__], "numpy_forward", lambda _: None)
            return getattr(module, method)(*args)

    return call


@pytest.mark.parametrize(("gaussian", "layer_norm"), [(True, True), (False, True), (True, False)])
def test_the_actor_acts_in_numpy_as_in_torch(
    gaussian: bool, layer_norm: bool, torch_path: Callable[..., np.ndarray]
) -> None:  # fmt: skip
    config = ActorConfig(hidden_dims=(16, 16), gaussian=gaussian, layer_norm=layer_norm)
    actor = randomised(Actor(config, OBS, ACT, normalizer()))
    assert numpy_forward(actor) is not None
    obs = np.random.default_rng(2).normal(size=OBS).astype(np.float32)
    eps = torch.randn((1, ACT), generator=torch.Generator().manual_seed(3)) if gaussian else None
    fast, slow = actor.act_one(obs, eps), torch_path(actor, "act_one", obs, eps)
    assert fast.shape == (ACT,) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)
    if gaussian:  # the draw moves the action: the NumPy path really used it
        assert not np.allclose(fast, actor.act_one(obs))


def test_the_residual_actor_acts_in_numpy_as_in_torch(torch_path: Callable[..., np.ndarray]) -> None:
    actor = randomised(ResidualActor(ResidualActorConfig(hidden_dims=(16, 16)), OBS, ACT, normalizer()))
    obs = np.random.default_rng(2).normal(size=OBS).astype(np.float32)
    base = np.array([0.3, -0.5, 0.9], dtype=np.float32)
    fast = actor.residual_one(obs, base)
    np.testing.assert_allclose(fast, torch_path(actor, "residual_one", obs, base), rtol=1e-5, atol=1e-6)
    assert np.abs(fast).max() <= actor.config.action_scale


def test_numpy_acting_follows_in_place_steps_and_replaced_weights(torch_path: Callable[..., np.ndarray]) -> None:
    actor = randomised(Actor(ActorConfig(hidden_dims=(16,), gaussian=False), OBS, ACT, normalizer()))
    obs = np.ones(OBS, dtype=np.float32)
    before = actor.act_one(obs)
    optim = torch.optim.Adam(actor.parameters(), lr=0.1)
    (actor(actor.normalize_obs(torch.as_tensor(obs[None]))) ** 2).sum().backward()
    optim.step()  # in place: the views see it
    stepped = actor.act_one(obs)
    assert not np.allclose(before, stepped)
    np.testing.assert_allclose(stepped, torch_path(actor, "act_one", obs), rtol=1e-5, atol=1e-6)
    other = randomised(copy.deepcopy(actor))
    with torch.no_grad():
        for param in other.parameters():
            param.mul_(-1.0)
    actor.load_state_dict(other.state_dict(), assign=True)  # new tensors: the views are rebuilt
    np.testing.assert_allclose(actor.act_one(obs), torch_path(other, "act_one", obs), rtol=1e-5, atol=1e-6)


def test_what_numpy_cannot_run_stays_in_torch() -> None:
    actor = Actor(ActorConfig(hidden_dims=(16,)), OBS, ACT, normalizer())
    assert numpy_forward(actor.double()) is None  # another dtype
    dropout = Actor(ActorConfig(hidden_dims=(16,)), OBS, ACT, normalizer())
    dropout.body = mlp(OBS, 2 * ACT, (16,), dropout=0.1)
    assert numpy_forward(dropout) is None
    obs = np.zeros(OBS, dtype=np.float32)
    assert dropout.eval().act_one(obs).shape == (ACT,)  # acted through torch


@pytest.mark.parametrize("kind", ["mlp", "chunked"])
def test_a_bc_base_gives_one_observation_the_torch_actions(kind: str, torch_path: Callable[..., np.ndarray]) -> None:
    network = build_bc_network(PolicyConfig(kind=kind, hidden_dims=(16, 16)), OBS, ACT, normalizer())
    policy = BCPolicy(randomised(network))  # eval mode: its dropout is off
    obs = np.random.default_rng(4).normal(size=(1, OBS)).astype(np.float32)
    assert numpy_forward(network) is not None
    fast = policy.predict_chunk(obs)
    assert fast.shape == (1, policy.horizon, ACT) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, torch_path(policy.network, "predict", torch.as_tensor(obs)).numpy(),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    network.train()  # dropout on: only torch can draw its masks
    assert numpy_forward(network) is None
