"""Acting through torch against acting in NumPy: one exploration forward, and the whole loop.

The off-policy loop acts on one observation per env step. Timed inside the loop on a 2-core
Zen 4 VM (rlpd, bfloat16-compiled, UTD 1), the exploration forward took ~0.45 ms of a ~6 ms step,
three times its cost alone: the update just before it has evicted the actor's weights and torch's
dispatch code from the caches. ``honing.policies.numpy_forward`` runs the acting forward of the
MLP actors as a few NumPy calls on views of their weights. This measures, on metaworld/pick-place
with the learners of ``benchmarks.learners`` (2x256, batch 256, 2 critic heads):

- one ``explore()`` call, alone, for rlpd (Gaussian actor) and residual-td3 (residual actor on a
  base action), torch and NumPy alternating in one process: microseconds per call;
- the training loop's env steps/s at UTD 1 in the given mode and thread count: one worker process
  per (method, arm), each with its own loop warmed up (compiled) and waiting; the parent then lets
  one worker at a time run ``--steps`` env steps, cycling through all of them for ``--rounds``
  rounds, so both arms see the same machine state (the VM's speed drifts by tens of percent between
  runs minutes apart; run in fresh processes one after the other, 3 rounds of these arms gave ratios
  from 0.86 to 1.25). Medians, and the ratio round by round.

The torch arm is honing with ``numpy_forward`` answering "not here" (as on a GPU): the same code
path a CUDA actor takes.

    python -m benchmarks.acting_forward
    python -m benchmarks.acting_forward --rounds 20 --steps 200 --mode bf16-compiled --threads 2

Writes ``benchmarks/results/acting_forward.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from contextlib import AbstractContextManager
from functools import partial
from typing import Any
from unittest import mock

import numpy as np
import torch

from benchmarks.common import RESULTS, provenance, save_results, update_section
from benchmarks.learners import TASK, demo_episodes, learner
from benchmarks.loop_arms import add_loop_arguments, caption, results, serve, side_by_side, spread
from honing.data.normalization import Normalizer
from honing.policies import actor as actor_module
from honing.policies import bc_policy as bc_module
from honing.policies import residual_policy as residual_module
from honing.policies.bc_policy import BCPolicy, build_bc_network
from honing.policies.policy_config import PolicyConfig
from honing.tasks import get_task

METHODS = ("rlpd", "residual-td3")
ARMS = ("torch", "numpy")


def acting(arm: str) -> AbstractContextManager[Any]:
    """Acting as `arm` says: ``numpy`` is honing as it is; ``torch`` refuses the NumPy forward."""
    stack = contextlib.ExitStack()
    if arm == "torch":
        for module in (actor_module, residual_module, bc_module):
            stack.enter_context(mock.patch.object(module, "numpy_forward", lambda _: None))
    return stack


def acting_us(what: str, calls: int, rounds: int) -> dict[str, float]:
    """Microseconds per call, per arm (median of alternating rounds): an untrained learner's
    ``explore()`` (`what` a method), or the default BC base's action for one observation (``bc-base``)."""
    task = get_task(TASK)
    obs_dim, act_dim = task.spaces()
    env = task.make_env(sparse=True)
    obs, _ = env.reset(seed=0)
    env.close()
    if what == "bc-base":
        normalizer = Normalizer.from_episodes(demo_episodes())
        base = BCPolicy(build_bc_network(PolicyConfig(), obs_dim, act_dim, normalizer))
        call = partial(base.predict_chunk, obs[None])
    else:
        agent = learner(what, (256, 256), 2, obs_dim, act_dim, "eager")
        call = partial(agent.explore, obs, np.zeros(act_dim, dtype=np.float32))
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for _ in range(rounds):
        for arm in ARMS:
            with acting(arm):
                for _ in range(calls // 10):  # warm
                    call()
                start = time.perf_counter()
                for _ in range(calls):
                    call()
                times[arm].append((time.perf_counter() - start) / calls * 1e6)
    return {arm: round(statistics.median(values), 1) for arm, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_loop_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        serve(acting, *args.worker, args)
        return
    torch.set_num_threads(1)
    alone = {what: acting_us(what, 2000, 5) for what in (*METHODS, "bc-base")}
    for what, us in alone.items():
        print(f"acting alone, {what}: torch {us['torch']} us, numpy {us['numpy']} us", flush=True)
    rates = side_by_side("benchmarks.acting_forward", ARMS, METHODS, args)
    data: dict[str, Any] = {"explore_us_alone": alone, **results(rates, args, before="torch", after="numpy")}
    save_results(RESULTS / "acting_forward.json", data)
    update_section("acting-forward", report(data))


def report(data: dict[str, Any]) -> str:
    rows = []
    for method in METHODS:
        alone, loop = data["explore_us_alone"][method], data["loop_steps_per_s"][method]
        rows.append(f"| {method} | {alone['torch']:.0f} | {alone['numpy']:.0f} | {loop['torch']:.1f} | "
                    f"{loop['numpy']:.1f} | {loop['numpy'] / loop['torch']:.2f}x | "
                    f"{spread(data['ratio_rounds'][method])} |")  # fmt: skip
    return "\n".join([
        "### Acting in NumPy",
        "",
        caption(data),
        "",
        "| method | explore() alone, torch (us) | explore() alone, NumPy (us) | loop env steps/s, torch acting "
        "| loop env steps/s, NumPy acting | ratio of medians | ratio by round |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"The default BC base's action for one observation (residual-td3 asks for one every env step): "
        f"{data['explore_us_alone']['bc-base']['torch']:.0f} us through torch, "
        f"{data['explore_us_alone']['bc-base']['numpy']:.0f} us in NumPy (alone).",
        "",
        *provenance(data, "acting_forward"),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
