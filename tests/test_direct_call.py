"""Compiled updates called directly (``honing.finetune.direct_call``) are torch.compile's, call for call."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from honing.finetune.direct_call import DirectCompiled, structure
from honing.finetune.residual_td3 import ResidualTD3
from honing.finetune.rlpd import RLPD
from tests.test_update_options import batches, learner, parameters


def state(agent: ResidualTD3 | RLPD) -> dict[str, Any]:
    """What a snapshot holds: every module's and optimiser's state, copied."""
    out = {name: copy.deepcopy(getattr(agent, name).state_dict()) for name in agent.snapshot_optimizers}
    for name in agent.snapshot_modules:
        value = getattr(agent, name)
        out[name] = copy.deepcopy(value.state_dict() if isinstance(value, torch.nn.Module) else value.detach())
    return out


def restore(agent: ResidualTD3 | RLPD, saved: dict[str, Any]) -> None:
    """As a resumed run does: weights copied in place, optimiser states replaced by new tensors."""
    for name, value in saved.items():
        target = getattr(agent, name)
        if isinstance(target, torch.Tensor):
            with torch.no_grad():
                target.copy_(value)
        else:
            target.load_state_dict(copy.deepcopy(value))


def optimiser_tensors(agent: ResidualTD3 | RLPD) -> list[torch.Tensor]:
    return [t for name in agent.snapshot_optimizers for s in getattr(agent, name).state.values() for t in s.values()]


@pytest.mark.parametrize(("method", "reshaped"), [("residual-td3", False), ("rlpd", True)])
def test_direct_calls_follow_torch_compile_through_restores_and_new_shapes(method: str, reshaped: bool) -> None:
    """residual-td3 has two graphs (critic only, critic and actor); rlpd, one, also met with smaller batches
    (each new shape costs both learners a compilation)."""
    direct, plain = learner(method, compile=True), learner(method, compile=True)
    assert isinstance(direct._step, DirectCompiled)
    plain._step = torch.compile(plain._contained_step, dynamic=False)  # dynamo (and its guards) on every call
    through_dynamo = 0
    dynamo = direct._step._dynamo

    def counted(*args: Any) -> Any:
        nonlocal through_dynamo
        through_dynamo += 1
        return dynamo(*args)

    direct._step._dynamo = counted
    stream = batches(14)

    def both(batch: dict[str, torch.Tensor]) -> None:
        assert direct.update(batch) == plain.update(batch)  # the same graph: equal to the bit

    for batch in stream[:3]:  # residual-td3 meets both of its graphs (critic only, critic and actor)
        both(batch)
    first_calls = through_dynamo
    assert first_calls == len(direct._step._graphs) > 0
    saved_direct, saved_plain = state(direct), state(plain)
    for batch in stream[3:6]:
        both(batch)
    restore(direct, saved_direct)
    restore(plain, saved_plain)
    for batch in stream[6:9]:  # the restored tensors, read without dynamo
        both(batch)
    assert through_dynamo == first_calls
    if reshaped:
        for batch in stream[9:11]:  # half the rows: the graph no longer fits, dynamo compiles a new one
            both({name: value[:16] for name, value in batch.items()})
        assert through_dynamo > first_calls
    for batch in stream[11:]:
        both(batch)
    assert direct.critic_updates == plain.critic_updates == (14 if reshaped else 12)
    for ours, theirs in zip(parameters(direct), parameters(plain), strict=True):
        assert torch.equal(ours, theirs)
    for ours, theirs in zip(optimiser_tensors(direct), optimiser_tensors(plain), strict=True):
        assert torch.equal(ours, theirs)


class Accumulator:
    """A stand-in learner: its step changes a tensor of its own in place and reports on it."""

    def __init__(self) -> None:
        self.total = torch.zeros(4)

    def step(self, batch: dict[str, torch.Tensor], echo: bool) -> dict[str, torch.Tensor]:
        self.total.add_(batch["x"] * 2)
        metrics = {"sum": self.total.sum(), "max": batch["x"].max()}
        if echo:  # an input returned as is: not one of the graph's outputs, so this graph cannot be verified
            metrics["x"] = batch["x"]
        return metrics


def test_an_unverifiable_graph_and_a_changed_input_stay_with_dynamo() -> None:
    accumulator, reference = Accumulator(), Accumulator()
    direct = DirectCompiled(accumulator.step)
    xs = [torch.arange(4, dtype=torch.float32) * (i + 1) for i in range(9)]
    for i, x in enumerate(xs):
        echo = i >= 6
        batch = {"x": x.double() if i == 3 else x}  # one call in another dtype: the graph's check refuses it
        got, expected = direct(batch, echo), reference.step(batch, echo)
        assert list(got) == list(expected)
        for name in expected:
            assert torch.equal(got[name], expected[name]), (i, name)
        assert torch.equal(accumulator.total, reference.total), i
    assert set(direct._graphs) == {structure(({"x": xs[0]}, False))}
    assert direct._unverified == {structure(({"x": xs[0]}, True))}


def test_the_call_structure_picks_the_graph() -> None:
    tensor = torch.zeros(2)
    critic_only = structure(({"obs": tensor}, {"heads": tensor}, None, (tensor,), None))
    with_actor = structure(({"obs": tensor}, {"heads": tensor}, "rl", (tensor,), (tensor,)))
    assert critic_only != with_actor
    assert structure(({"obs": tensor, "eps": tensor},)) != structure(({"obs": tensor},))
    assert structure(({"obs": torch.ones(3)}, 0.5)) == structure(({"obs": tensor}, 0.5))
