"""Does a bfloat16 update learn as well as a float32 one? A critic fitting fixed targets, both ways.

The question behind ``precision = "bfloat16"``: the update's forward passes see bfloat16 copies of
the weights (8 significant bits), so a small Adam step may not change what the network computes.
Here residual-td3's own critic (2x256 LayerNorm heads, batch 256, Adam at its default learning
rate) fits the same smooth targets on Meta-World's dimensions from the same initialisation, once
per precision, under the learner's own ``update_precision()`` (so with the autocast honing uses).
The fit is measured on all points, in float32 (how acting reads the critic) and in bfloat16 (how
the next update reads it).

    python -m benchmarks.precision_fit
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, ROOT, command_line, machine, save_results, update_section
from honing.data.normalization import Normalizer
from honing.finetune.residual_td3 import ResidualTD3, ResidualTD3Config
from honing.policies.ensemble import CriticEnsemble

OBS, ACT, POINTS, BATCH = 39, 4, 4096, 256
PRECISIONS = ("float32", "bfloat16")


def mse(q: torch.Tensor, targets: torch.Tensor) -> float:
    return round((q - targets).pow(2).mean().item(), 7)


def fit(precision: str, updates: int, every: int) -> list[dict[str, float]]:
    """Mean squared error to the targets every `every` updates: read in float32 and in bfloat16."""
    generator = torch.Generator().manual_seed(0)
    obs, action = torch.randn(POINTS, OBS, generator=generator), torch.rand(POINTS, ACT, generator=generator) * 2 - 1
    torch.manual_seed(1)
    with torch.no_grad():  # a smooth function of (obs, action) in about [0, 1], like sparse-reward Q values
        targets = CriticEnsemble(OBS + ACT, (64,), 1)(obs, action)[0] * 0.5 + 0.5
    torch.manual_seed(0)
    agent = ResidualTD3(ResidualTD3Config(precision=precision), OBS, ACT, Normalizer.identity(OBS, ACT),
                        torch.device("cpu"))  # fmt: skip
    sampler = torch.Generator().manual_seed(2)
    curve = []
    for update in range(updates + 1):
        if update % every == 0:
            with torch.no_grad():
                read_exact = agent.critic(obs, action)  # outside the update: float32, as acting reads it
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    read_mixed = agent.critic(obs, action)
            curve.append({"updates": update, "mse_float32": mse(read_exact, targets),
                          "mse_bfloat16": mse(read_mixed, targets)})  # fmt: skip
        if update == updates:
            break
        index = torch.randint(0, POINTS, (BATCH,), generator=sampler)
        with agent.update_precision():
            loss = (agent.critic(obs[index], action[index]) - targets[index]).pow(2).mean(dim=1).sum()
        agent.critic_optim.zero_grad(set_to_none=True)
        loss.backward()
        agent.critic_optim.step()
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--out", default=str(RESULTS / "precision_fit.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    curves: dict[str, Any] = {precision: fit(precision, args.updates, args.every) for precision in PRECISIONS}
    out = Path(args.out)
    save_results(out, {"curves": curves, "command": command_line(), "machine": machine()})
    rows = ["| updates | float32 training, float32 read | bfloat16 training, float32 read | "
            "bfloat16 training, bfloat16 read |", "|---|---|---|---|"]  # fmt: skip
    for exact, mixed in zip(curves["float32"], curves["bfloat16"], strict=True):
        rows.append(f"| {exact['updates']} | {exact['mse_float32']:.2e} | {mixed['mse_float32']:.2e} | "
                    f"{mixed['mse_bfloat16']:.2e} |")  # fmt: skip
    body = (
        "## Mixed precision: does a bfloat16 update still learn?\n\n"
        f"residual-td3's critic (2x256, 2 LayerNorm heads, Adam lr 3e-4, batch {BATCH}) fits fixed smooth targets "
        f"in [0, 1] on {POINTS} points of Meta-World's dimensions, from the same initialisation, trained with "
        "`precision` float32 or bfloat16; mean squared error over all points, read in either precision.\n\n"
        + "\n".join(rows)
        + f"\n\n- Command: `{command_line()}`\n- Machine: {machine()}\n- Raw results: `{os.path.relpath(out, ROOT)}`\n"
    )  # fmt: skip
    update_section("precision-fit", body)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
