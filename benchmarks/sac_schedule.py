"""SAC against Stable-Baselines3's at UTD 4 with equal work: rlpd moving its actor with every critic update.

``benchmarks.learner_throughput`` compares honing's SAC (rlpd) with SB3's at UTD 1, where both take
one critic and one actor step per env step, and at UTD 4, where they do not: rlpd follows RLPD's
recipe (the actor and α move once per env step, after the 4 critic updates), SB3's SAC moves them
at each of its 4 gradient steps. ``actor_every_update = true`` gives rlpd SAC's own schedule, so at
UTD 4 both do 4 critic, 4 actor and 4 temperature steps per env step. This times, in alternating
rounds, each arm in a new process of its own (as ``learner_throughput --fresh`` does):

- honing rlpd at UTD 4 with ``actor_every_update`` (the equal-work arm) and without it (RLPD's recipe);
- SB3's SAC at UTD 4 (``gradient_steps = 4``);
- both at UTD 1, the headline pair, for reference within the same rounds;
- rlpd with ``parallel_update`` (the critic's and the actor's steps at once, on a core each) at UTD 1,
  and at UTD 4 with ``actor_every_update``: the same work, on both cores;
- with ``--plain``, those two parallel arms again on SB3's own networks (the plain ReLU MLPs of its
  SAC: ``critic_layer_norm`` and ``actor.layer_norm`` false; honing's default has a LayerNorm after
  every hidden layer): the like-for-like architecture.

    python -m benchmarks.sac_schedule     # needs: pip install 'honing[bench]' (Stable-Baselines3)
    python -m benchmarks.sac_schedule --plain --out benchmarks/results/sac_schedule_plain.json \
        --section sac-schedule-plain --title "SAC on SB3's own networks, at UTD 1 and at UTD 4 with equal work"

Writes ``benchmarks/results/sac_schedule.json`` (or ``--out``) and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.common import (
    RESULTS,
    command_line,
    in_fresh_process,
    load_results,
    machine,
    provenance,
    save_results,
    update_section,
)
from benchmarks.learner_throughput import PLAIN, honing_steps_per_s, median, ratio, round_ratios, sb3_steps_per_s
from benchmarks.learners import BATCH, TASK

EQUAL = "honing rlpd actor every update|utd4"
RECIPE = "honing rlpd|utd4"
SB3_4 = "sb3 SAC|utd4"
HONING_1 = "honing rlpd|utd1"
SB3_1 = "sb3 SAC|utd1"
PARALLEL_1 = "honing rlpd parallel|utd1"
PARALLEL_4 = "honing rlpd parallel actor every update|utd4"
TITLE = "SAC at UTD 4 with equal work: rlpd on SAC's own schedule"
PLAIN_1 = "honing rlpd parallel plain|utd1"
PLAIN_4 = "honing rlpd parallel plain actor every update|utd4"


def arms(args: argparse.Namespace) -> dict[str, Callable[[], float | None]]:
    honing = partial(honing_steps_per_s, "rlpd", warmup=args.warmup, mode=args.mode)
    quarter = args.env_steps // 4
    plain = {
        PLAIN_1: partial(honing, utd=1, steps=args.env_steps, options=PLAIN | {"parallel_update": True}),
        PLAIN_4: partial(honing, utd=4, steps=quarter,
                         options=PLAIN | {"actor_every_update": True, "parallel_update": True}),
    } if args.plain else {}  # fmt: skip
    return plain | {
        EQUAL: partial(honing, utd=4, steps=quarter, options={"actor_every_update": True}),
        RECIPE: partial(honing, utd=4, steps=quarter),
        SB3_4: partial(sb3_steps_per_s, "SAC", 4, quarter, args.warmup),
        HONING_1: partial(honing, utd=1, steps=args.env_steps),
        SB3_1: partial(sb3_steps_per_s, "SAC", 1, args.env_steps, args.warmup),
        PARALLEL_1: partial(honing, utd=1, steps=args.env_steps, options={"parallel_update": True}),
        PARALLEL_4: partial(
            honing, utd=4, steps=quarter, options={"actor_every_update": True, "parallel_update": True}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--env-steps", type=int, default=1_000, help="timed env steps at UTD 1 (a quarter at UTD 4)")
    parser.add_argument("--warmup", type=int, default=1_000, help="env steps before updates start (not timed)")
    parser.add_argument("--mode", default="bf16-compiled", help="honing's update mode (benchmarks.learners.MODES)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plain", action="store_true", help="also the parallel arms on SB3's own networks")
    parser.add_argument("--out", default=str(RESULTS / "sac_schedule.json"))
    parser.add_argument("--section", default="sac-schedule", help="BENCHMARKS.md section the report goes to")
    parser.add_argument("--title", default=TITLE, help="the section's heading")
    parser.add_argument("--report-only", action="store_true", help="redo the BENCHMARKS.md section from --out")
    parser.add_argument("--more", action="store_true",
                        help="add these rounds to those in --out (same arms, settings and machine)")  # fmt: skip
    args = parser.parse_args()
    if args.report_only:
        update_section(args.section, report(load_results(Path(args.out)), args.title, Path(args.out).stem))
        return
    runs = arms(args)
    rounds: dict[str, list[float | None]] = {name: [] for name in runs}
    commands = [command_line()]
    if args.more:
        earlier = load_results(Path(args.out))
        same = (set(earlier.get("steps_per_s_rounds", {})), earlier.get("mode"), earlier.get("threads"),
                earlier.get("machine")) == (set(runs), args.mode, args.threads, machine())  # fmt: skip
        if not same:
            raise SystemExit(f"--more: {args.out} holds other arms, settings or another machine; "
                             "run without --more to replace it")  # fmt: skip
        rounds = {name: list(values) for name, values in earlier["steps_per_s_rounds"].items()}
        commands = earlier.get("commands", [earlier["command"]]) + commands
    for round_ in range(len(rounds[EQUAL]), len(rounds[EQUAL]) + args.rounds):  # every arm once per round:
        for name, run in runs.items():  # a drifting machine slows all arms alike
            rounds[name].append(in_fresh_process(args.threads, run))
            print(f"round {round_}: {name}: {rounds[name][-1]} env steps/s", flush=True)
    run_record: dict[str, Any] = {"steps_per_s_rounds": rounds}
    rates = {name: median(values) for name, values in rounds.items()}
    data = {
        "steps_per_s": rates,
        "steps_per_s_rounds": rounds,
        "ratio_utd4_equal_work": ratio(rates[EQUAL], rates[SB3_4]),
        "ratio_utd4_equal_work_rounds": round_ratios(run_record, EQUAL, SB3_4),
        "ratio_utd4_recipe": ratio(rates[RECIPE], rates[SB3_4]),
        "ratio_utd1": ratio(rates[HONING_1], rates[SB3_1]),
        "ratio_utd1_rounds": round_ratios(run_record, HONING_1, SB3_1),
        **arm_ratios(rates, run_record, "parallel", (PARALLEL_1, PARALLEL_4), "alternating", (HONING_1, EQUAL)),
        **(plain_ratios(rates, run_record) if args.plain else {}),
        "mode": args.mode,
        "threads": args.threads,
        "command": " && ".join(commands),
        "commands": commands,
        "machine": machine(),
    }
    save_results(Path(args.out), data)
    update_section(args.section, report(data, args.title, Path(args.out).stem))


def arm_ratios(rates: dict[str, float | None], run_record: dict[str, Any], arm: str, arms: tuple[str, str],
               reference: str, references: tuple[str, str]) -> dict[str, Any]:  # fmt: skip
    """A pair of arms (UTD 1, UTD 4 with equal work) against SB3's SAC (medians, and round by round), and
    round by round against the `reference` pair: the keys :func:`arm_lines` reads."""
    (one, four), (reference_one, reference_four) = arms, references
    return {
        f"ratio_{arm}_utd1": ratio(rates[one], rates[SB3_1]),
        f"ratio_{arm}_utd1_rounds": round_ratios(run_record, one, SB3_1),
        f"ratio_{arm}_utd4_equal_work": ratio(rates[four], rates[SB3_4]),
        f"ratio_{arm}_utd4_equal_work_rounds": round_ratios(run_record, four, SB3_4),
        f"{arm}_over_{reference}_utd1_rounds": round_ratios(run_record, one, reference_one),
        f"{arm}_over_{reference}_utd4_rounds": round_ratios(run_record, four, reference_four),
    }


def plain_ratios(rates: dict[str, float | None], run_record: dict[str, Any]) -> dict[str, Any]:
    """The parallel arms on SB3's networks against SB3's SAC, and against the same arms with LayerNorm."""
    return arm_ratios(rates, run_record, "plain", (PLAIN_1, PLAIN_4), "layernorm", (PARALLEL_1, PARALLEL_4))


def by_round(ratios: list[float]) -> str:
    """The round-by-round ratios' median and range: each round's pair ran minutes apart, not hours."""
    return f"{statistics.median(ratios):.2f}x ({min(ratios)}-{max(ratios)}x)"


def paired(ratios: list[float]) -> str:
    return f"; round by round {by_round(ratios)}"


def arm_lines(data: dict[str, Any], arm: str, reference: str, what: str, over: str) -> list[str]:
    """Two lines for a pair of arms (UTD 1, UTD 4 with equal work), keyed ``ratio_<arm>_...``: against SB3's
    SAC, and round by round against the `reference` arms (``<arm>_over_<reference>_...``); none for runs
    from before the arms existed."""
    if f"ratio_{arm}_utd1" not in data:
        return []
    over_1, over_4 = (data[f"{arm}_over_{reference}_utd{utd}_rounds"] for utd in (1, 4))
    return [
        f"- {what}: UTD 1 / SB3 SAC **{data[f'ratio_{arm}_utd1']}x**{paired(data[f'ratio_{arm}_utd1_rounds'])}; "
        f"UTD 4 with `actor_every_update` (equal work) / SB3 SAC **{data[f'ratio_{arm}_utd4_equal_work']}x**"
        f"{paired(data[f'ratio_{arm}_utd4_equal_work_rounds'])}",
        f"- {over}, round by round: UTD 1 {by_round(over_1)}, UTD 4 with `actor_every_update` {by_round(over_4)}",
    ]


def parallel_lines(data: dict[str, Any]) -> list[str]:
    return arm_lines(data, "parallel", "alternating", "`parallel_update` (the critic's and the actor's steps at once, "
                     "on a core each)", "`parallel_update` over the alternating update")  # fmt: skip


def plain_lines(data: dict[str, Any]) -> list[str]:
    return arm_lines(data, "plain", "layernorm", "On SB3's own networks (no LayerNorm), `parallel_update`",
                     "SB3's networks over honing's LayerNorm ones (both parallel)")  # fmt: skip


def report(data: dict[str, Any], title: str = TITLE, results: str = "sac_schedule") -> str:
    """The BENCHMARKS.md section, headed `title`, naming ``benchmarks/results/<results>.json``."""
    rates = data["steps_per_s"]
    lines = [
        f"### {title}",
        "",
        f"Training env steps/s on {TASK} after 1000 warm-up steps (2x256, 2 critic heads, batch {BATCH}, "
        f"{data['threads']} thread(s), honing {data['mode']}, SB3 float32), medians of "
        f"{len(data['steps_per_s_rounds'][EQUAL])} alternating rounds, every run in a new process of its own. "
        "Actor steps per env step: SB3's SAC one per gradient step; rlpd one per env step (RLPD's recipe) or, "
        "with `actor_every_update = true`, one per critic update, as SB3.",
        "",
        "| arm | critic / actor steps per env step | env steps/s | rounds |",
        "|---|---|---|---|",
    ]
    rows = {EQUAL: ("honing rlpd, `actor_every_update`, UTD 4", "4 / 4"), RECIPE: ("honing rlpd, UTD 4", "4 / 1"),
            SB3_4: ("SB3 SAC, UTD 4", "4 / 4"), HONING_1: ("honing rlpd, UTD 1", "1 / 1"),
            SB3_1: ("SB3 SAC, UTD 1", "1 / 1"), PARALLEL_1: ("honing rlpd, `parallel_update`, UTD 1", "1 / 1"),
            PARALLEL_4: ("honing rlpd, `parallel_update`, `actor_every_update`, UTD 4", "4 / 4"),
            PLAIN_1: ("honing rlpd on SB3's networks, `parallel_update`, UTD 1", "1 / 1"),
            PLAIN_4: ("honing rlpd on SB3's networks, `parallel_update`, `actor_every_update`, UTD 4",
                      "4 / 4")}  # fmt: skip
    for name, rate in rates.items():
        label, steps = rows[name]
        rounds = ", ".join(str(r) for r in data["steps_per_s_rounds"][name])
        lines.append(f"| {label} | {steps} | {rate} | {rounds} |")
    lines += [
        "",
        f"- UTD 4, equal work: rlpd with `actor_every_update` / SB3 SAC **{data['ratio_utd4_equal_work']}x** "
        f"(ratio of the medians){paired(data['ratio_utd4_equal_work_rounds'])}; RLPD's recipe (a quarter of the "
        f"actor steps) / SB3 SAC {data['ratio_utd4_recipe']}x",
        f"- UTD 1 in the same rounds: rlpd / SB3 SAC {data['ratio_utd1']}x{paired(data['ratio_utd1_rounds'])}",
        *parallel_lines(data),
        *plain_lines(data),
        *provenance(data, results),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
