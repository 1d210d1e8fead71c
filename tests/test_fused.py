"""The functional update pieces match the torch modules and optimisers they replace."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from torch import nn

from honing.finetune.fused import Bound, Trained


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 2))

    def shifted(self, x: torch.Tensor, shift: float) -> torch.Tensor:
        return self.net(x) + shift


def _pair(lr: float = 3e-3) -> tuple[Scaled, torch.optim.Adam, Scaled, torch.optim.Adam]:
    torch.manual_seed(0)
    ours = Scaled()
    reference = Scaled()
    reference.load_state_dict(ours.state_dict())
    betas = (0.8, 0.95)
    return (ours, torch.optim.Adam(ours.parameters(), lr=lr, betas=betas, eps=1e-6),
            reference, torch.optim.Adam(reference.parameters(), lr=lr, betas=betas, eps=1e-6))  # fmt: skip


@pytest.mark.parametrize("as_compiled", [False, True], ids=["eager-autograd", "compiled-torch-func"])
def test_a_functional_step_is_torch_adam_on_autograd_gradients(
    monkeypatch: pytest.MonkeyPatch, as_compiled: bool
) -> None:
    # the compiled branches (torch.func.grad, foreach Adam) are plain tensor ops: run them eagerly
    if as_compiled:
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    ours, ours_optim, reference, reference_optim = _pair()
    trained = Trained(Bound(ours, "shifted"), ours_optim)
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        x, y = torch.randn(16, 3, generator=generator), torch.randn(16, 2, generator=generator)

        def loss_fn(module: Callable[..., torch.Tensor], x: torch.Tensor = x, y: torch.Tensor = y) -> tuple:
            loss = (module(x, 0.5) - y).square().mean()
            return loss, {"loss": loss}

        with torch.no_grad():  # as in a learner's update: torch.func.grad differentiates regardless
            loss, metrics = trained.step(loss_fn, trained.adam_tensors())
        reference_optim.zero_grad()
        expected = (reference.shifted(x, 0.5) - y).square().mean()
        expected.backward()
        reference_optim.step()
        torch.testing.assert_close(loss, expected.detach())
        assert set(metrics) == {"loss"}
    for (name, ours_param), reference_param in zip(ours.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(ours_param, reference_param, msg=name)
    # the optimiser state is torch's own format: it saves, reloads and steps on
    for state, reference_state in zip(ours_optim.state.values(), reference_optim.state.values(), strict=True):
        assert state["step"].dtype == reference_state["step"].dtype and float(state["step"]) == 5.0
        torch.testing.assert_close(state["exp_avg_sq"], reference_state["exp_avg_sq"])


def test_trained_refuses_an_optimiser_over_other_parameters() -> None:
    ours, _, _, reference_optim = _pair()
    with pytest.raises(ValueError, match="one Adam parameter group"):
        Trained(ours, reference_optim)
    split = torch.optim.Adam([{"params": list(ours.parameters())[:2]}, {"params": list(ours.parameters())[2:]}])
    with pytest.raises(ValueError, match="one Adam parameter group"):
        Trained(ours, split)


def test_the_compiled_adam_continues_from_a_loaded_optimiser_state(monkeypatch: pytest.MonkeyPatch) -> None:
    # the bias corrections are worked out from the optimiser's step count before the graph: after
    # a snapshot is loaded (state replaced, step 3) they must be step 4's, as in torch's Adam
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    ours, ours_optim, reference, reference_optim = _pair()
    generator = torch.Generator().manual_seed(2)
    data = [(torch.randn(16, 3, generator=generator), torch.randn(16, 2, generator=generator)) for _ in range(5)]
    for x, y in data[:3]:
        reference_optim.zero_grad()
        (reference.shifted(x, 0.5) - y).square().mean().backward()
        reference_optim.step()
    ours.load_state_dict(reference.state_dict())
    ours_optim.load_state_dict(copy.deepcopy(reference_optim.state_dict()))  # a snapshot's own tensors
    trained = Trained(Bound(ours, "shifted"), ours_optim)
    for x, y in data[3:]:
        with torch.no_grad():
            trained.step(lambda module, x=x, y=y: ((module(x, 0.5) - y).square().mean(), {}), trained.adam_tensors())
        reference_optim.zero_grad()
        (reference.shifted(x, 0.5) - y).square().mean().backward()
        reference_optim.step()
    for ours_param, reference_param in zip(ours.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(ours_param, reference_param)
