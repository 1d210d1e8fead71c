"""The compiled update's Adam: bias corrections inside the graph against passed in, beside torch's fused kernel.

The kernel-level profile of the bfloat16-compiled rlpd update (``benchmarks/results/profiles``)
showed the fused kernels that end with Adam among the largest non-matmul rows, and the generated
C++ showed why: with the bias corrections ``1 - β^t`` computed inside the graph from the step
count, inductor inlines them into the elementwise loop, so every vector of 16 weights pays two
scalar ``std::pow`` calls. honing now works them out once per step before the graph
(``honing.finetune.fused.adam_tensors``). This times, on the parameter tensors of an rlpd learner
(2x256 actor and 2-head critic, ~0.24 M weights), in alternating rounds:

- ``pow in graph``: the previous formulation (``(v / (1 - β2^t)).sqrt() + eps``, ``lr / (1 - β1^t)``
  as tensor ops of the step count), compiled;
- ``scales passed in``: honing's ``adam_`` with ``adam_tensors``' scales, compiled;
- ``torch fused``: ``torch._fused_adam_``, eager (what honing's eager update runs): the reference.

    python -m benchmarks.adam_kernel --threads 1 2

Writes ``benchmarks/results/adam_kernel.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, ROOT, command_line, machine, save_results, update_section
from benchmarks.learner_throughput import SIZES, alternated
from benchmarks.learners import TASK, learner
from honing.finetune.fused import AdamTensors, adam_, adam_tensors
from honing.tasks import get_task

ARMS = ("pow in graph", "scales passed in", "torch fused")


def pow_in_graph(state: AdamTensors, grads: list[torch.Tensor], lr: float, betas: tuple[float, float],
                 eps: float) -> None:  # fmt: skip
    """Adam as honing compiled it before: the bias corrections from the step tensors, inside the graph."""
    params, exp_avg, exp_avg_sq, step, _ = state
    beta1, beta2 = betas
    torch._foreach_add_(step, 1.0)
    torch._foreach_lerp_(exp_avg, grads, 1.0 - beta1)
    torch._foreach_mul_(exp_avg_sq, beta2)
    torch._foreach_addcmul_(exp_avg_sq, grads, grads, 1.0 - beta2)
    for param, m, v, t in zip(params, exp_avg, exp_avg_sq, step, strict=True):
        denom = (v / (1.0 - beta2**t)).sqrt_().add_(eps)
        param.sub_(m * (lr / (1.0 - beta1**t)) / denom)


def torch_fused(state: AdamTensors, grads: list[torch.Tensor], lr: float, betas: tuple[float, float],
                eps: float) -> None:  # fmt: skip
    params, exp_avg, exp_avg_sq, step, _ = state
    torch._foreach_add_(step, 1.0)
    torch._fused_adam_(params, grads, exp_avg, exp_avg_sq, [], step, lr=lr, beta1=betas[0], beta2=betas[1],
                       weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)  # fmt: skip


def arm(name: str) -> tuple[Callable[[], None], int]:
    """One Adam step over a fresh rlpd learner's critic and actor per call, and the weights it moves."""
    obs_dim, act_dim = get_task(TASK).spaces()
    agent = learner("rlpd", SIZES["2x256"], 2, obs_dim, act_dim, "eager")
    optims = [agent.critic_optim, agent.actor_optim]
    generator = torch.Generator().manual_seed(0)
    grads = [[torch.randn(p.shape, generator=generator) for p in o.param_groups[0]["params"]] for o in optims]
    settings = [(float(o.param_groups[0]["lr"]), tuple(o.param_groups[0]["betas"]), float(o.param_groups[0]["eps"]))
                for o in optims]  # fmt: skip
    rule = {"pow in graph": pow_in_graph, "scales passed in": adam_, "torch fused": torch_fused}[name]

    def steps(states: list[AdamTensors]) -> None:
        with torch.no_grad():  # as in a learner's update
            for state, grad, (lr, betas, eps) in zip(states, grads, settings, strict=True):
                rule(state, grad, lr, betas, eps)  # type: ignore[arg-type]

    run = steps if name == "torch fused" else torch.compile(steps, dynamic=False)
    weights = sum(p.numel() for o in optims for p in o.param_groups[0]["params"])
    return (lambda: run([adam_tensors(o) for o in optims])), weights


def measure(seconds: float) -> dict[str, Any]:
    torch._dynamo.reset()
    arms = {name: arm(name) for name in ARMS}
    rates = alternated({name: step for name, (step, _) in arms.items()}, seconds)
    weights = next(iter(arms.values()))[1]
    return {"weights": weights, "us_per_step": {name: round(1e6 / rate, 1) for name, rate in rates.items()}}


def report(data: dict[str, Any], out: Path) -> str:
    rows = ["| threads | " + " | ".join(f"{name} (us per step)" for name in ARMS) + " | pow in graph / passed in |",
            "|---|" + "---|" * (len(ARMS) + 1)]  # fmt: skip
    for threads, entry in data["results"].items():
        us = entry["us_per_step"]
        rows.append(f"| {threads} | " + " | ".join(f"{us[name]:.0f}" for name in ARMS)
                    + f" | {us['pow in graph'] / us['scales passed in']:.1f}x |")  # fmt: skip
    weights = next(iter(data["results"].values()))["weights"]
    return (
        "### The compiled Adam step\n\n"
        f"One Adam step over rlpd's critic and actor ({weights:,} weights: 2x256, 2 critic heads), in "
        "alternating rounds; the state is gathered per step as in a learner's update.\n\n"
        + "\n".join(rows)
        + f"\n\n- Command: `{data['command']}`\n- Machine: {data['machine']}\n"
        f"- Raw results: `{os.path.relpath(out, ROOT)}`\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts")
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per arm, over all rounds")
    parser.add_argument("--out", default=str(RESULTS / "adam_kernel.json"))
    args = parser.parse_args()
    results = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        results[str(threads)] = measure(args.seconds)
        print(threads, results[str(threads)], flush=True)
    out = Path(args.out)
    data = {"results": results, "command": command_line(), "machine": machine()}
    save_results(out, data)
    update_section("adam-kernel", report(data, out))
    print(report(data, out))


if __name__ == "__main__":
    main()
