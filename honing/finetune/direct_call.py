"""A learner's compiled update, called without dynamo in front of it once dynamo has compiled it.

Why: ``torch.compile`` puts dynamo's frame hook and guard check before every call, and for an
update that takes ~100 tensors (weights, Adam moments, batch) that check cost 1.09x the update
when skipped outright, and calling the compiled graph directly 1.16x, side by side (rlpd 2x256,
``python -m benchmarks.update_levers``). Skipping dynamo's guards is unsafe in general (learners of
one class share a code object, so a second learner could run the first one's graph), so this keeps
one compiled graph per learner instance and per call structure, and replaces the guards by what an
update can actually change between calls:

- which tensors it reads: the graph's inputs are gathered anew on every call from the places
  dynamo read them (its sources: ``self.critic....weight``, ``args[2][1][0]``), so an optimiser
  state or weights swapped in by a snapshot restore are what the next call reads;
- their dtype, device, shape, strides and ``requires_grad``, checked on every call; any
  difference sends that call back through dynamo, which recompiles as it must;
- the call's structure (which arguments are None, which strings, which dict keys), the key of
  the compiled graph to use.

What the graph took as constants when it was traced (the learner's config, learning rates) is
fixed for a learner's life in honing. A graph is used directly only once its first call has shown
that the gathered inputs are the very tensors dynamo passed and that the graph's outputs are, in
order, the values of the metrics dict the update returned; otherwise every call goes through
dynamo as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch._inductor.compile_fx import compile_fx

Metrics = dict[str, torch.Tensor]
Signature = list[tuple[torch.dtype, torch.device, torch.Size, tuple[int, ...], bool]]


@dataclass
class Graph:
    """One compiled graph, with how to gather its inputs and name its outputs."""

    run: Callable[..., Sequence[torch.Tensor]]
    gather: Callable[[dict[str, Any]], tuple[torch.Tensor, ...]]
    signature: Signature
    names: list[str]


class DirectCompiled:
    """``torch.compile(step)`` for one learner, whose graphs are called directly after their first call.

    `step` is the learner's bound update method; it returns a dict of metric tensors. With
    `release_gil`, inductor writes the whole graph as one C++ function that runs without Python's
    global interpreter lock (``cpp_wrapper``), so two graphs can run on two threads at once; its own
    Python wrapper would hold the lock through every fused kernel it calls.
    """

    def __init__(self, step: Callable[..., Metrics], release_gil: bool = False) -> None:
        self._owner = step.__self__  # type: ignore[attr-defined]  # dynamo's L['self']
        parameters = inspect.signature(step).parameters.values()
        self._named = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self._rest = next((p.name for p in parameters if p.kind == p.VAR_POSITIONAL), None)
        self._dynamo = torch.compile(step, dynamic=False, backend=self._compile)
        self._graphs: dict[tuple[Any, ...], Graph] = {}
        self._unverified: set[tuple[Any, ...]] = set()  # structures whose graph failed verification: dynamo
        self._first: dict[str, Any] = {}
        self._patches = {"cpp_wrapper": True} if release_gil else None

    def goes_direct(self, *args: Any) -> bool:
        """Whether a call with these arguments would run a verified graph without dynamo (as far as its
        structure tells; a changed tensor underneath still sends that call back through dynamo)."""
        return structure(args) in self._graphs

    def __call__(self, *args: Any) -> Metrics:
        key = structure(args)
        graph = self._graphs.get(key)
        if graph is not None:
            inputs = graph.gather(self._locals(args))
            if signature(inputs) == graph.signature:
                return dict(zip(graph.names, graph.run(*inputs), strict=True))
            del self._graphs[key]  # something changed under it: dynamo decides (and recompiles if it must)
        if key in self._unverified:
            return self._dynamo(*args)
        self._first.clear()
        metrics = self._dynamo(*args)
        if self._first.get("outputs") is not None:
            graph = self._verified(args, metrics)
            if graph is not None:
                self._graphs[key] = graph
            else:
                self._unverified.add(key)
        self._first.clear()  # no references to this call's tensors beyond it
        return metrics

    def _locals(self, args: tuple[Any, ...]) -> dict[str, Any]:
        """The step's frame as dynamo's sources name it (``L['self']``, ``L['batch']``, ``L['args']``)."""
        frame = {"self": self._owner, **dict(zip(self._named, args, strict=False))}
        if self._rest is not None:
            frame[self._rest] = args[len(self._named) :]
        return frame

    def _compile(self, gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]) -> Callable[..., Any]:
        """The inductor backend, keeping what the first call of the graph needs to be verified."""
        run = compile_fx(gm, example_inputs, config_patches=self._patches)
        placeholders = gm.graph.find_nodes(op="placeholder")
        sources = [getattr(node.meta.get("grapharg"), "source", None) for node in placeholders]
        names = [source.name for source in sources] if None not in sources else None
        first = self._first

        def call(*inputs: torch.Tensor) -> Any:
            outputs = run(*inputs)
            if names is not None and "outputs" not in first:
                first.update(run=run, sources=names, inputs=inputs, outputs=outputs)
            return outputs

        return call

    def _verified(self, args: tuple[Any, ...], metrics: Metrics) -> Graph | None:
        """The graph of this first call, if its inputs and outputs map as they must; else None."""
        first = self._first
        try:
            gather = eval("lambda L: (" + "".join(f"{name}, " for name in first["sources"]) + ")", {})
            inputs = gather(self._locals(args))
        except Exception:  # a source this module cannot read back: stay with dynamo
            return None
        same_inputs = len(inputs) == len(first["inputs"]) and all(
            a is b for a, b in zip(inputs, first["inputs"], strict=True)
        )
        outputs = list(first["outputs"])
        same_outputs = len(outputs) == len(metrics) and all(
            a is b for a, b in zip(outputs, metrics.values(), strict=True)
        )
        if not (same_inputs and same_outputs and all(isinstance(x, torch.Tensor) for x in inputs)):
            return None
        return Graph(first["run"], gather, signature(inputs), list(metrics))


def structure(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """What picks the graph: None, str, bool and number arguments by value, dicts by keys, sequences by length."""
    key: list[Any] = []
    for arg in args:
        if arg is None or isinstance(arg, str | bool | int | float):
            key.append(arg)
        elif isinstance(arg, dict):
            key.append(("dict", *arg))
        elif isinstance(arg, list | tuple):
            key.append((type(arg).__name__, len(arg)))
        else:
            key.append(type(arg).__name__)
    return tuple(key)


def signature(tensors: Sequence[torch.Tensor]) -> Signature:
    return [(t.dtype, t.device, t.shape, t.stride(), t.requires_grad) for t in tensors]
