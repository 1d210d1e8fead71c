"""A learner's whole update as one function of tensors, so ``torch.compile`` can fuse all of it.

Why: written as module calls, ``backward()`` and ``optimizer.step()``, an update can only be
compiled module by module, and the Python between the pieces (autograd bookkeeping, optimiser
dispatch, kernel launches for every elementwise op) costs as much as the maths on a CPU core.
Here the gradients come from ``torch.func`` and Adam is a few ``_foreach`` ops applied in place to
the optimiser's own state, so target, critic step, actor step, temperature step and Polyak
averaging form one graph (measured, BENCHMARKS.md, learner throughput). Eager runs execute the
same function with autograd and torch's fused Adam kernel in place of torch.func (same maths, and
faster without a compiler); the random draws happen outside it, on the learner's generator, so
both consume the same stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn

from honing.finetune.common import OffPolicyConfig
from honing.finetune.direct_call import DirectCompiled
from honing.finetune.updates import require_compiler, warn_slow_precision

Metrics = dict[str, torch.Tensor]
AdamTensors = tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], torch.Tensor]
"""(params, exp_avg, exp_avg_sq, step, scales) of one optimiser, in parameter order; `scales` holds the
coming step's ``lr / (1 - β1^t)`` and ``sqrt(1 - β2^t)`` (see :func:`adam_tensors`)."""
LossFn = Callable[[Callable[..., Any]], tuple[torch.Tensor, Metrics]]
"""A loss of the module being trained, given as a callable that runs it with the differentiated weights."""


class Bound(nn.Module):
    """`module.method` as a module's ``forward``, so ``torch.func.functional_call`` can swap its weights."""

    def __init__(self, module: nn.Module, method: str) -> None:
        super().__init__()
        self.module, self.method = module, method

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.module, self.method)(*args, **kwargs)


class Trained:
    """A module (or bound method) with its Adam optimiser, differentiated and stepped functionally."""

    def __init__(self, module: nn.Module, optim: torch.optim.Adam) -> None:
        self.module, self.optim = module, optim
        self.names = [name for name, _ in module.named_parameters()]
        self.params = [param for _, param in module.named_parameters()]
        group = optim.param_groups[0]
        if len(optim.param_groups) != 1 or [id(p) for p in group["params"]] != [id(p) for p in self.params]:
            raise ValueError("Trained needs one Adam parameter group holding the module's parameters in order")
        self.lr, self.betas, self.eps = float(group["lr"]), tuple(group["betas"]), float(group["eps"])

    def adam_tensors(self) -> AdamTensors:
        return adam_tensors(self.optim)

    def step(self, loss_fn: LossFn, state: AdamTensors) -> tuple[torch.Tensor, Metrics]:
        """Minimise ``loss_fn(module_with_these_weights)`` by one Adam step; returns its loss and metrics.

        `loss_fn` receives a callable that runs the module with the differentiated weights; any
        other network it calls is read as a constant (only this module's gradients are computed).
        """

        def loss_of(weights: dict[str, torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, Metrics]]:
            def module(*args: Any, **kwargs: Any) -> Any:
                return torch.func.functional_call(self.module, weights, args, kwargs)

            loss, metrics = loss_fn(module)
            return loss, (loss, metrics)

        if torch.compiler.is_compiling():  # dynamo traces torch.func.grad into the graph, not autograd.grad
            by_name, (loss, metrics) = torch.func.grad(loss_of, has_aux=True)(dict(zip(self.names, self.params,
                                                                                        strict=True)))  # fmt: skip
            grads = [by_name[name] for name in self.names]
        else:  # eager: autograd on the module itself, without torch.func's per-op wrapping (measured faster)
            with torch.enable_grad():
                loss, metrics = loss_fn(self.module)
                grads = list(torch.autograd.grad(loss, self.params))
            metrics = {name: value.detach() for name, value in metrics.items()}
        adam_(state, grads, self.lr, self.betas, self.eps)
        return loss.detach(), metrics


def adam_tensors(optim: torch.optim.Adam) -> AdamTensors:
    """`optim`'s parameters and state, the state created as ``torch.optim.Adam`` would on its first step.

    Gathered anew for every update, outside any compiled graph: loading a snapshot replaces
    these tensors, and a checkpoint must save exactly what the update moved. The bias corrections
    of the coming step are worked out here, in double precision as torch's Adam does, and enter
    the graph as a tensor: computed inside it from the step count, inductor inlined ``β^t`` into
    the elementwise loop as two scalar ``pow`` calls per vector of 16 weights, and the compiled
    Adam step took 3-4x as long as torch's fused kernel (``python -m benchmarks.adam_kernel``).
    Reading the step count is a host sync on a GPU; the update reads its metrics back anyway.
    """
    params: list[torch.Tensor] = [param for group in optim.param_groups for param in group["params"]]
    exp_avg, exp_avg_sq, step = [], [], []
    for param in params:
        state = optim.state[param]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32, device=param.device)
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        exp_avg.append(state["exp_avg"])
        exp_avg_sq.append(state["exp_avg_sq"])
        step.append(state["step"])
    group = optim.param_groups[0]
    beta1, beta2 = group["betas"]
    t = float(step[0]) + 1.0  # the step about to be taken; every parameter's count is the same
    scales = [float(group["lr"]) / (1.0 - beta1**t), math.sqrt(1.0 - beta2**t)]
    return params, exp_avg, exp_avg_sq, step, torch.tensor(scales, device=params[0].device)


def adam_(state: AdamTensors, grads: list[torch.Tensor], lr: float, betas: tuple[float, float], eps: float) -> None:
    """Adam (Kingma & Ba 2015, as ``torch.optim.Adam`` without weight decay) applied in place."""
    params, exp_avg, exp_avg_sq, step, scales = state
    beta1, beta2 = betas
    torch._foreach_add_(step, 1.0)
    if not torch.compiler.is_compiling():  # eager: torch's own fused kernel, one pass over each tensor
        torch._fused_adam_(params, grads, exp_avg, exp_avg_sq, [], step, lr=lr, beta1=beta1, beta2=beta2,
                           weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)  # fmt: skip
        return
    # compiled: inductor cannot take the fused kernel's in-place outputs, but fuses these ops itself
    torch._foreach_lerp_(exp_avg, grads, 1.0 - beta1)
    torch._foreach_mul_(exp_avg_sq, beta2)
    torch._foreach_addcmul_(exp_avg_sq, grads, grads, 1.0 - beta2)
    step_size, bias_correction2_sqrt = scales[0], scales[1]
    for param, m, v in zip(params, exp_avg, exp_avg_sq, strict=True):
        param.sub_(step_size * m / (v.sqrt() / bias_correction2_sqrt + eps))


class FusedUpdate:
    """Mixin for learners whose update is ``fused_step``: compiled whole, or run as is (eager)."""

    _precision: tuple[str, torch.dtype] | None = None

    def prepare_update(self, config: OffPolicyConfig, device: torch.device) -> None:
        """Compile ``fused_step`` if `config` asks (static shapes: the batch never changes in a run), for this
        learner alone, its compiled graphs called without dynamo's guards (``honing.finetune.direct_call``)."""
        require_compiler(config, device)
        warn_slow_precision(config, device)
        self._precision = (device.type, torch.bfloat16) if config.precision == "bfloat16" else None
        self._step: Callable[..., Metrics] = (
            DirectCompiled(self._contained_step) if config.compile else self._contained_step
        )

    @contextmanager
    def update_precision(self) -> Iterator[None]:
        """The arithmetic of the update's forward passes: bfloat16 autocast, or float32.

        Without autocast's weight cache: within one update the critic is read again after its
        optimiser step, and a cached bfloat16 copy would be its old weights.
        """
        if self._precision is None:
            with nullcontext():
                yield
            return
        device_type, dtype = self._precision
        with torch.autocast(device_type, dtype=dtype, cache_enabled=False):
            yield

    def fused_step(self, *args: Any) -> Metrics:
        """The whole update on tensors (random draws passed in); returns 0-d metric tensors."""
        raise NotImplementedError

    def _contained_step(self, *args: Any) -> Metrics:
        with torch.no_grad(), self.update_precision():
            return self.fused_step(*args)

    def run_step(self, *args: Any) -> dict[str, float]:
        """One update; the metrics cross to Python in a single read."""
        return to_floats(self._step(*args))

    def settle(self) -> dict[str, float]:
        """Wait for update work still running in the background and return its metrics ({} if none).

        An update may leave a step running on a side thread while the loop acts (rlpd's
        ``parallel_update``); the loop settles before anything else reads the learner (a snapshot, an
        evaluation, the end of the run), and the next update settles first.
        """
        return {}


def to_floats(metrics: Metrics) -> dict[str, float]:
    """0-d metric tensors as floats, read in one go (one device sync, not one per metric)."""
    if not metrics:
        return {}
    values = torch.stack([value.detach().float() for value in metrics.values()]).tolist()
    return dict(zip(metrics, values, strict=True))
