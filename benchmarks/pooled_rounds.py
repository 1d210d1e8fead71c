"""The UTD 1 round ratios of the runs on SB3's own networks, pooled over the two benchmarks that ran them.

``benchmarks.learner_throughput --plain-modes`` and ``benchmarks.sac_schedule --plain`` both time
rlpd with ``parallel_update`` on SB3's networks (no LayerNorm) and on honing's LayerNorm ones,
beside SB3's SAC, at UTD 1, once per round. A single run's median on a noisy VM can land far from
the next run's (3.26x and 2.46x within hours), so this reads both JSONs and states each ratio
over all their rounds together: median and range. It runs nothing.

    python -m benchmarks.pooled_rounds

Writes ``benchmarks/results/pooled_rounds.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.common import RESULTS, load_results, save_results, update_section
from benchmarks.learner_throughput import round_ratios

SOURCES = {  # JSON -> (SB3's networks arm, LayerNorm arm, SB3 SAC arm), all parallel_update at UTD 1
    "learner_throughput": ("honing rlpd bf16-compiled parallel plain|utd1", "honing rlpd bf16-compiled parallel|utd1",
                           "sb3 SAC|utd1"),
    "sac_schedule_plain": ("honing rlpd parallel plain|utd1", "honing rlpd parallel|utd1", "sb3 SAC|utd1"),
}  # fmt: skip
PAIRS = {"SB3's networks / SB3 SAC": (0, 2), "LayerNorm / SB3 SAC": (1, 2), "SB3's networks / LayerNorm": (0, 1)}


def pooled(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per pair of arms: every round's ratio over all `records` (a run's ``steps_per_s_rounds`` each), median, range."""
    out = {}
    for pair, (a, b) in PAIRS.items():
        ratios = [r for source, run in records.items()
                  for r in round_ratios(run, SOURCES[source][a], SOURCES[source][b]) or []]  # fmt: skip
        out[pair] = {"rounds": ratios, "median": round(statistics.median(ratios), 2), "min": min(ratios),
                     "max": max(ratios)}  # fmt: skip
    return out


def main() -> None:
    throughput = load_results(RESULTS / "learner_throughput.json")
    records = {"learner_throughput": throughput["honing"][str(throughput["headline_threads"])],
               "sac_schedule_plain": load_results(RESULTS / "sac_schedule_plain.json")}  # fmt: skip
    data = {"pairs": pooled(records), "sources": [f"benchmarks/results/{name}.json" for name in records],
            "command": "python -m benchmarks.pooled_rounds"}  # fmt: skip
    save_results(RESULTS / "pooled_rounds.json", data)
    lines = ["### SB3's networks and LayerNorm, round by round over both runs", "",
             "rlpd with `parallel_update` at UTD 1 on metaworld/pick-place, every round of "
             + " and ".join(f"`{s}`" for s in data["sources"]) + " (each pair of arms timed in the same round).", "",
             "| ratio | rounds | median | range |", "|---|---|---|---|"]  # fmt: skip
    for pair, entry in data["pairs"].items():
        lines.append(f"| {pair} | {len(entry['rounds'])} | {entry['median']}x | {entry['min']}-{entry['max']}x |")
    lines += ["", f"- Command: `{data['command']}` (reads the two JSONs; runs nothing)",
              "- Raw results: `benchmarks/results/pooled_rounds.json`"]  # fmt: skip
    update_section("pooled-rounds", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
