"""The training loop with its compiled update behind dynamo against called directly, side by side.

``honing.finetune.direct_call`` calls a learner's compiled graphs without dynamo's frame hook and
guard check once their first call has verified how to gather their inputs and name their outputs
(``benchmarks.update_levers`` bounded what that could save on the update alone). This measures it
where it counts, on the loop: metaworld/pick-place at UTD 1, rlpd and residual-td3 (2x256, batch
256, 2 critic heads), one warmed-up worker process per (method, arm) taking turns
(``benchmarks.loop_arms``). The ``dynamo`` arm is honing with ``torch.compile`` in place of
``DirectCompiled``, as before this change.

    python -m benchmarks.direct_call --rounds 20 --steps 200

Writes ``benchmarks/results/direct_call.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
from contextlib import AbstractContextManager
from typing import Any
from unittest import mock

import torch

from benchmarks.common import RESULTS, provenance, save_results, update_section
from benchmarks.loop_arms import add_loop_arguments, caption, results, serve, side_by_side, spread
from honing.finetune import fused

METHODS = ("rlpd", "residual-td3")
ARMS = ("dynamo", "direct")


def calling(arm: str) -> AbstractContextManager[Any]:
    """``direct`` is honing as it is; ``dynamo`` compiles the update with plain ``torch.compile``."""
    if arm == "direct":
        return contextlib.nullcontext()
    return mock.patch.object(fused, "DirectCompiled", lambda step: torch.compile(step, dynamic=False))


def report(data: dict[str, Any]) -> str:
    rows = [f"| {method} | {data['loop_steps_per_s'][method]['dynamo']:.1f} | "
            f"{data['loop_steps_per_s'][method]['direct']:.1f} | {spread(data['ratio_rounds'][method])} |"
            for method in METHODS]  # fmt: skip
    return "\n".join([
        "### The compiled update called directly",
        "",
        caption(data),
        "",
        "| method | loop env steps/s, through dynamo | loop env steps/s, called directly | direct / dynamo by round |",
        "|---|---|---|---|",
        *rows,
        "",
        *provenance(data, "direct_call"),
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_loop_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        serve(calling, *args.worker, args)
        return
    rates = side_by_side("benchmarks.direct_call", ARMS, METHODS, args)
    data = results(rates, args, before="dynamo", after="direct")
    save_results(RESULTS / "direct_call.json", data)
    body = report(data)
    update_section("direct-call", body)
    print(body)


if __name__ == "__main__":
    main()
