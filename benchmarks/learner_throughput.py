"""Learner throughput: how close honing's updates come to the machine's peak, and how it compares to SB3.

Measured in one run on one machine, for every thread count asked for:

- the machine's float32 and bfloat16 matmul peaks (GFLOP/s, the best of a few square sizes): the
  references (bfloat16 is many times float32 on CPUs with AMX, about the same or slower without);
- honing's update rate for residual-td3 and rlpd at 2x256 and 3x512, batch 256, ensembles of 2 and
  10 heads, on synthetic replay of Meta-World's dimensions, in four modes: float32 eager and with
  ``compile=true`` (torch.compile), and the same with ``precision="bfloat16"`` (autocast), timed
  alternately in short rounds so all see the same machine: updates/s,
  GFLOP per update (counted by ``torch.utils.flop_counter`` on the eager update, forward and
  backward; compiling does the same maths) and achieved GFLOP/s;
- end-to-end training env steps/s on metaworld/pick-place at UTD 1 and 4 (honing's own off-policy
  loop: env step, base action, exploration, replay, updates), measured after the warm-up, in the
  modes of ``--modes``, and, at 2 threads or more, in the modes of ``--async-modes`` with both
  cores split (``async_actor = true``: the env in an actor process on one core, the learner on
  the others; the ``async`` rows), and in the modes of ``--parallel-modes`` as rlpd with
  ``parallel_update`` (its critic's and actor's steps at once, a core each; the ``parallel`` rows),
  and in the modes of ``--plain-modes`` at UTD 1 as rlpd on SB3's own networks: the plain ReLU
  MLPs of SB3's SAC, without the LayerNorm that honing's actor and critic have by default
  (``critic_layer_norm = false``, ``actor.layer_norm = false``; ``parallel_update`` too at 2+
  threads; the ``plain`` rows);
  every arm, SB3's included, once per round for ``--rounds``
  rounds, medians reported (single runs in a row let the VM's drift, up to ~1.5x over an hour,
  land on one arm); with ``--fresh`` each of those runs starts its own Python process, as a
  training run does, instead of following the earlier arms in this one;
- Stable-Baselines3's SAC (and TD3, the like-for-like algorithm for residual-td3) on the same task,
  network size (2x256, 2 critics), batch, UTD and thread count.

``ratio_vs_sb3`` is honing's SAC (rlpd, 2 heads, 2x256, in its fastest arm, ``parallel`` and ``plain`` included)
over SB3's SAC (float32, eager: SB3 has no mixed-precision option) at UTD 1; ``ratio_vs_sb3_layernorm``
the same with honing's default LayerNorm networks, which do more work per update than SB3's (a
LayerNorm forward and backward after every hidden layer). UTD 1 is the one UTD where the two do the same
updates (at UTD > 1 rlpd moves its actor once per env step, SB3's SAC once per gradient step; the
like-for-like UTD 4 figure is residual-td3 against SB3's TD3, both with an actor delay of 2); ``flop_utilisation`` is
residual-td3's achieved GFLOP/s at 2x256 / 2 heads in that mode over the peak of that mode's
precision, both at the thread count of the headline (the last of ``--threads``). With ``--profile``, the
torch profiler's op table for each mode's updates (2x256, 2 heads) is written next to the results;
``--profile-only`` writes just those tables (minutes, not the whole benchmark's tens of minutes).

    python -m benchmarks.learner_throughput            # needs: pip install 'honing[bench]'
    python -m benchmarks.learner_throughput --profile-only --threads 1 2

A run on another machine kept beside the headline goes to a JSON and a section of its own
(``--out``, ``--section``, ``--title``; ``--report-only`` redoes a section from its JSON).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import (
    RESULTS,
    ROOT,
    command_line,
    in_fresh_process,
    load_results,
    machine,
    save_results,
    update_section,
)
from benchmarks.learners import BATCH, LEARNERS, MODES, TASK, advance, learner, synthetic_replay, training_loop
from honing.finetune.replay import sample_mixed
from honing.tasks import get_task

SIZES = {"2x256": (256, 256), "3x512": (512, 512, 512)}
ENSEMBLES = (2, 10)


def peak_gflops(seconds: float = 3.0, dtype: torch.dtype = torch.float32) -> float:
    """Best matmul rate in `dtype` over a few square sizes: what the cores can do at best."""
    best = 0.0
    for size in (512, 1024, 2048):
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        for _ in range(3):
            a @ b
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            a @ b
            count += 1
        best = max(best, 2 * size**3 * count / (time.perf_counter() - start) / 1e9)
    return round(best, 1)


def alternated(steps: dict[str, Callable[[], Any]], seconds: float, rounds: int = 5) -> dict[str, float]:
    """Calls per second of each step, timed in alternating rounds (the same machine state for all)."""
    for step in steps.values():
        for _ in range(10):  # warm-up (and compilation)
            step()
    counts, spent = dict.fromkeys(steps, 0), dict.fromkeys(steps, 0.0)
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            while time.perf_counter() - start < seconds / rounds:
                step()
                counts[name] += 1
            spent[name] += time.perf_counter() - start
    return {name: counts[name] / spent[name] for name in steps}


def measure_learner(method: str, hidden: tuple[int, ...], ensemble: int, seconds: float) -> dict[str, Any]:
    obs_dim, act_dim = get_task(TASK).spaces()
    demo, online = synthetic_replay(obs_dim, act_dim)
    generator = torch.Generator().manual_seed(0)
    torch._dynamo.reset()  # every configuration compiles from scratch, like a fresh run
    agents = {mode: learner(method, hidden, ensemble, obs_dim, act_dim, mode) for mode in MODES}
    with FlopCounterMode(display=False) as counter:  # 4 eager updates: whole actor-delay cycles
        for _ in range(4):
            agents["eager"].update(sample_mixed(demo, online, BATCH, 0.5, generator))
    gflop = counter.get_total_flops() / 4 / 1e9

    def stepper(agent: Any) -> Callable[[], Any]:
        return lambda: agent.update(sample_mixed(demo, online, BATCH, 0.5, generator))

    rates = alternated({mode: stepper(agent) for mode, agent in agents.items()}, seconds)
    return {"gflop_per_update": round(gflop, 4)} | {
        mode: {"updates_per_s": round(rate, 1), "achieved_gflops": round(rate * gflop, 1)}
        for mode, rate in rates.items()
    }


def profile_learner(method: str, mode: str, path: Path) -> None:
    """The torch profiler's op table for 100 updates at 2x256, 2 heads, in `mode`.

    Compiled modes name inductor's fused C++ kernels in the table (``enable_kernel_profile``), so
    what the graph spends outside the matmuls is visible rather than one opaque compiled region.
    """
    import torch._inductor.config as inductor_config

    obs_dim, act_dim = get_task(TASK).spaces()
    demo, online = synthetic_replay(obs_dim, act_dim)
    generator = torch.Generator().manual_seed(0)
    # a fresh cache, as in a run: graphs left by earlier agents would make every call check their
    # guards first (dynamo's cache lookup then read ~0.8 ms a call in these tables, a profiling artefact)
    torch._dynamo.reset()
    with inductor_config.patch({"cpp.enable_kernel_profile": True}):
        agent = learner(method, SIZES["2x256"], 2, obs_dim, act_dim, mode)
        for _ in range(20):  # compiles here (residual-td3: both the critic-only and the critic+actor graph)
            agent.update(sample_mixed(demo, online, BATCH, 0.5, generator))
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(100):
                agent.update(sample_mixed(demo, online, BATCH, 0.5, generator))
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=45)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {method} {mode}, 2x256, 2 heads, batch {BATCH}, {torch.get_num_threads()} thread(s), "
                    "100 updates\n"
                    f"# {command_line()}\n# {machine()}\n\n{table}\n")  # fmt: skip


def honing_steps_per_s(method: str, utd: int, steps: int, warmup: int, mode: str = "eager",
                       async_actor: bool = False, max_policy_lag: int = 2,
                       options: dict[str, Any] | None = None) -> float:  # fmt: skip
    """Training env steps/s of honing's loop after `warmup` steps and 50 untimed updating steps
    (the untimed steps absorb compilation); see :func:`training_loop`."""
    loop, actor = training_loop(method, utd, warmup + 50 + steps, warmup, mode, async_actor, max_policy_lag,
                                options)  # fmt: skip
    start = 0.0
    try:
        while loop.step < loop.config.steps:
            advance(loop, actor)
            if loop.step == warmup + 50:
                start = time.perf_counter()
    finally:
        if actor:
            actor.close()
        loop.collector.close()
    return round(steps / (time.perf_counter() - start), 1)


def sb3_steps_per_s(algo: str, utd: int, steps: int, warmup: int) -> float | None:
    """Training env steps/s of Stable-Baselines3's SAC or TD3 after `warmup` steps; None without SB3."""
    try:
        import stable_baselines3 as sb3
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError:
        print("stable-baselines3 is not installed (pip install 'honing[bench]'); skipping its measurements")
        return None

    class Clock(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.start = 0.0

        def _on_step(self) -> bool:
            if self.num_timesteps == warmup + 50:
                self.start = time.perf_counter()
            return True

    env = get_task(TASK).make_env(sparse=True)
    kwargs: dict[str, Any] = {"policy_kwargs": {"net_arch": [256, 256]}, "batch_size": BATCH, "train_freq": 1,
                              "gradient_steps": utd, "learning_starts": warmup, "device": "cpu", "seed": 0}  # fmt: skip
    model = getattr(sb3, algo)("MlpPolicy", env, **kwargs)
    clock = Clock()
    model.learn(warmup + 50 + steps, callback=clock)
    env.close()
    return round(steps / (time.perf_counter() - clock.start), 1)


def measure(threads: int, args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(threads)
    print(f"[{threads} thread(s)]", flush=True)
    result: dict[str, Any] = {"threads": threads, "peak_gflops": peak_gflops(),
                              "peak_gflops_bf16": peak_gflops(dtype=torch.bfloat16)}  # fmt: skip
    print(f"  peak {result['peak_gflops']} GFLOP/s float32, {result['peak_gflops_bf16']} bfloat16", flush=True)
    result["learner"] = {}
    for method in LEARNERS:
        for size, hidden in SIZES.items():
            for ensemble in ENSEMBLES:
                key = f"{method}|{size}|E{ensemble}"
                entry = measure_learner(method, hidden, ensemble, args.seconds)
                for mode, (_, precision) in MODES.items():
                    peak = result["peak_gflops_bf16" if precision == "bfloat16" else "peak_gflops"]
                    entry[mode]["flop_utilisation"] = round(entry[mode]["achieved_gflops"] / peak, 3)
                result["learner"][key] = entry
                print(f"  {key}: {entry}", flush=True)
    runs: list[tuple[str, Callable[[], float | None]]] = []
    for utd in (1, 4):
        steps = args.env_steps // utd
        runs += [(f"honing {m} {mode}|utd{utd}", partial(honing_steps_per_s, m, utd, steps, args.warmup, mode))
                 for m in LEARNERS for mode in args.modes]  # fmt: skip
        if threads > 1:  # the actor process (or rlpd's side thread) takes a core, the learner the rest
            for m in LEARNERS:
                for mode in args.async_modes:
                    run = partial(honing_steps_per_s, m, utd, steps, args.warmup, mode, True)
                    runs.append((f"honing {m} {mode} async|utd{utd}", partial(split_cores, threads, run)))
            runs += [(f"honing rlpd {mode} parallel|utd{utd}",  # rlpd only: the critic's and actor's steps at once
                      partial(honing_steps_per_s, "rlpd", utd, steps, args.warmup, mode,
                              options={"parallel_update": True})) for mode in args.parallel_modes]  # fmt: skip
        if utd == 1:  # SB3's networks: the like-for-like architecture (UTD 1: where rlpd and SB3 do the same steps)
            for mode in args.plain_modes:
                arm, options = plain_arm(mode, threads)
                runs.append((f"honing rlpd {arm}|utd1", partial(honing_steps_per_s, "rlpd", 1, steps, args.warmup,
                                                                 mode, options=options)))  # fmt: skip
        runs += [(f"sb3 {algo}|utd{utd}", partial(sb3_steps_per_s, algo, utd, steps, args.warmup))
                 for algo in ("SAC", "TD3")]  # fmt: skip
    rounds: dict[str, list[float | None]] = {name: [] for name, _ in runs}
    for round_ in range(args.rounds):  # every arm once per round: a drifting machine slows all arms alike
        for name, measure_one in runs:
            rounds[name].append(in_fresh_process(threads, measure_one) if args.fresh else measure_one())
            print(f"  round {round_}: {name}: {rounds[name][-1]} env steps/s", flush=True)
    result["steps_per_s_rounds"] = rounds
    result["steps_per_s"] = {name: median(rates) for name, rates in rounds.items()}
    if args.profile:
        profile_all(threads)
    return result


PLAIN = {"critic_layer_norm": False, "actor.layer_norm": False}
"""rlpd's options for SB3's SAC networks: Linear-ReLU stacks, no LayerNorm (honing's default has it)."""


def plain_arm(mode: str, threads: int) -> tuple[str, dict[str, Any]]:
    """The arm name and rlpd options for SB3's networks in `mode`: with ``parallel_update`` at 2+ threads."""
    if threads > 1:
        return f"{mode} parallel plain", PLAIN | {"parallel_update": True}
    return f"{mode} plain", dict(PLAIN)


def split_cores(threads: int, run: Callable[[], float]) -> float:
    """`run` with the learner on ``threads - 1`` torch threads (the actor process has the last core)."""
    torch.set_num_threads(threads - 1)
    try:
        return run()
    finally:
        torch.set_num_threads(threads)


def profile_all(threads: int) -> None:
    """Every mode's op table at `threads` (eager's file has no mode suffix, as before the other modes had any)."""
    torch.set_num_threads(threads)
    for method in LEARNERS:
        for mode in MODES:
            suffix = "" if mode == "eager" else f"-{mode}"
            profile_learner(method, mode, RESULTS / "profiles" / f"{method}{suffix}-{threads}thread.txt")


def median(rates: list[float | None]) -> float | None:
    """The median of a configuration's rounds (None where it was not measured, e.g. SB3 not installed)."""
    return None if None in rates or not rates else round(statistics.median(rates), 1)  # type: ignore[type-var]


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def round_ratios(run: dict[str, Any], arm: str, baseline: str) -> list[float] | None:
    """`arm` over `baseline` round by round (each pair measured minutes apart, not hours): their range
    says how far the median ratio can be trusted; None for JSON written before rounds were kept."""
    rounds = run.get("steps_per_s_rounds")
    if rounds is None:
        return None
    pairs = zip(rounds[arm], rounds[baseline], strict=True)
    return [r for a, b in pairs if (r := ratio(a, b)) is not None]


def fastest(options: dict[str, float | None]) -> str:
    """The key with the highest rate."""
    return max(options, key=lambda name: options[name] or 0.0)


def table(runs: list[dict[str, Any]], modes: list[str]) -> str:
    rows = ["| threads | method | network | heads | GFLOP/update | " + " | ".join(f"{m} updates/s" for m in MODES)
            + " | fastest / eager | its GFLOP/s | of its peak |", "|---" * (8 + len(MODES)) + "|"]  # fmt: skip
    for run in runs:
        for key, entry in run["learner"].items():
            method, size, heads = key.split("|")
            best = entry[fastest({mode: entry[mode]["updates_per_s"] for mode in MODES})]
            rows.append(f"| {run['threads']} | {method} | {size} | {heads[1:]} | {entry['gflop_per_update']:.3f} | "
                        + " | ".join(str(entry[mode]["updates_per_s"]) for mode in MODES) + " | "
                        f"{best['updates_per_s'] / entry['eager']['updates_per_s']:.2f}x | {best['achieved_gflops']} | "
                        f"{100 * best['flop_utilisation']:.0f}% |")  # fmt: skip
    rows += ["", "| threads | peak GFLOP/s float32 / bfloat16 | learner (2x256, 2 critics) | UTD 1 env steps/s | "
             "UTD 4 env steps/s |", "|---|---|---|---|---|"]  # fmt: skip
    names = [f"honing {m} {arm}" for m in LEARNERS for arm in modes] + ["sb3 TD3", "sb3 SAC"]
    for run in runs:
        for name in names:
            rates = [run["steps_per_s"].get(f"{name}|utd{utd}") for utd in (1, 4)]
            if name.startswith("honing ") and rates == [None, None]:  # not run: async and parallel at 1 thread,
                continue  # parallel for residual-td3
            rows.append(f"| {run['threads']} | {run['peak_gflops']} / {run.get('peak_gflops_bf16', '—')} | {name} | "
                        + " | ".join("—" if r is None else str(r) for r in rates) + " |")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch thread counts to measure; the last is the headline")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=5.0, help="timing window per learner configuration")
    parser.add_argument("--env-steps", type=int, default=1_500, help="timed env steps at UTD 1 (divided by UTD)")
    parser.add_argument("--warmup", type=int, default=1_000, help="env steps before updates start (not timed)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of the end-to-end runs; medians are reported")  # fmt: skip
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES),
                        help="modes of the end-to-end env-steps/s runs (the learner table has all four)")  # fmt: skip
    parser.add_argument("--async-modes", nargs="*", choices=list(MODES), default=["compiled", "bf16-compiled"],
                        help="modes also run with the actor process (at 2+ threads; none: --async-modes)")  # fmt: skip
    parser.add_argument("--parallel-modes", nargs="*", choices=list(MODES), default=[],
                        help="modes also run as rlpd with parallel_update (at 2+ threads; default none)")  # fmt: skip
    parser.add_argument("--plain-modes", nargs="*", choices=list(MODES), default=[],
                        help="modes also run at UTD 1 as rlpd on SB3's networks, without LayerNorm (with "
                             "parallel_update at 2+ threads; default none)")  # fmt: skip
    parser.add_argument("--fresh", action="store_true",
                        help="run every end-to-end arm in a new process of its own (as a training run is)")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="also write torch profiler tables")
    parser.add_argument("--profile-only", action="store_true",
                        help="write the profiler tables for --threads, then stop (no timings, no JSON)")  # fmt: skip
    parser.add_argument("--out", default=str(RESULTS / "learner_throughput.json"))
    parser.add_argument("--report-only", action="store_true", help="redo the summary and table from --out")
    parser.add_argument("--section", default="learner-throughput",
                        help="BENCHMARKS.md section the report goes to (one per machine's run kept)")  # fmt: skip
    parser.add_argument("--title", default="## Learner throughput", help="the section's heading, with its level")
    args = parser.parse_args()
    if args.profile_only:
        for threads in args.threads:
            profile_all(threads)
        return

    out = Path(args.out)
    if args.report_only:  # the JSON's own runs, command and machine: only the summary and table are redone
        saved = load_results(out)
        runs, meta = list(saved["honing"].values()), {k: saved[k] for k in ("command", "machine")}
        meta["warmup"] = saved.get("warmup", args.warmup)
        meta["rounds"] = saved.get("rounds", 1)
        meta["fresh"] = saved.get("fresh", False)
    else:
        runs = [measure(threads, args) for threads in args.threads]
        meta = {"command": command_line(), "machine": machine(), "warmup": args.warmup, "rounds": args.rounds,
                "fresh": args.fresh}  # fmt: skip
    data = summary(runs) | meta
    save_results(out, data)
    update_section(args.section, report(runs, data, out, args.title))
    print(table(runs, end_to_end_arms(runs)))


def end_to_end_arms(runs: list[dict[str, Any]]) -> list[str]:
    """The honing arms that were run end to end (modes, then modes with the actor process), in run order."""
    names = [key.split("|")[0].split(" ", 2)[2] for run in runs for key in run["steps_per_s"]
             if key.startswith("honing ")]  # fmt: skip
    return list(dict.fromkeys(names))


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline figures at the last thread count: honing's fastest arm against SB3, and utilisation."""
    head = runs[-1]
    rates = head["steps_per_s"]

    def best(method: str, utd: int, plain: bool = True) -> str:
        """The fastest arm among those this method ran (parallel and plain are rlpd's alone)."""
        arms = [arm for arm in end_to_end_arms(runs) if plain or not is_plain(arm)]
        return fastest({arm: rates[key] for arm in arms if (key := f"honing {method} {arm}|utd{utd}") in rates})

    rlpd, rlpd4, td3, td3_4 = best("rlpd", 1), best("rlpd", 4), best("residual-td3", 1), best("residual-td3", 4)
    rlpd_normed = best("rlpd", 1, plain=False)
    learner_entry = head["learner"]["residual-td3|2x256|E2"]
    flop_mode = fastest({mode: learner_entry[mode]["updates_per_s"] for mode in MODES})
    float32_mode = fastest({mode: learner_entry[mode]["updates_per_s"] for mode in ("eager", "compiled")})
    return {
        "peak_gflops": head["peak_gflops"],
        "peak_gflops_bf16": head["peak_gflops_bf16"],
        "honing": {str(run["threads"]): run for run in runs},
        "sb3_sac_steps_per_s": rates["sb3 SAC|utd1"],
        "honing_steps_per_s": rates[f"honing rlpd {rlpd}|utd1"],
        "honing_mode": rlpd,
        "ratio_vs_sb3": ratio(rates[f"honing rlpd {rlpd}|utd1"], rates["sb3 SAC|utd1"]),
        "ratio_vs_sb3_rounds": round_ratios(head, f"honing rlpd {rlpd}|utd1", "sb3 SAC|utd1"),
        "ratio_vs_sb3_layernorm": ratio(rates[f"honing rlpd {rlpd_normed}|utd1"], rates["sb3 SAC|utd1"]),
        "ratio_vs_sb3_layernorm_rounds": round_ratios(head, f"honing rlpd {rlpd_normed}|utd1", "sb3 SAC|utd1"),
        "honing_mode_layernorm": rlpd_normed,
        "ratio_vs_sb3_eager": ratio(rates.get("honing rlpd eager|utd1"), rates["sb3 SAC|utd1"]),
        "ratio_vs_sb3_utd4": ratio(rates[f"honing rlpd {rlpd4}|utd4"], rates["sb3 SAC|utd4"]),
        "honing_mode_utd4": rlpd4,
        "ratio_residual_td3_vs_sb3_td3": ratio(rates[f"honing residual-td3 {td3}|utd1"], rates["sb3 TD3|utd1"]),
        "ratio_residual_td3_vs_sb3_td3_rounds": round_ratios(head, f"honing residual-td3 {td3}|utd1", "sb3 TD3|utd1"),
        "residual_td3_mode": td3,
        "ratio_residual_td3_vs_sb3_td3_utd4": ratio(rates[f"honing residual-td3 {td3_4}|utd4"], rates["sb3 TD3|utd4"]),
        "residual_td3_mode_utd4": td3_4,
        "flop_utilisation": learner_entry[flop_mode]["flop_utilisation"],
        "flop_utilisation_mode": flop_mode,
        "flop_utilisation_float32": learner_entry[float32_mode]["flop_utilisation"],
        "headline_threads": head["threads"],
    }


def is_plain(arm: str) -> bool:
    """Whether an arm ran on SB3's networks (no LayerNorm) rather than honing's default ones."""
    return arm.endswith(" plain")


def spread(ratios: list[float] | None) -> str:
    """`` (rounds: a-b)``: the per-round range of a median ratio, where rounds were kept."""
    return f" (round by round {min(ratios)}-{max(ratios)}x)" if ratios else ""


def report(runs: list[dict[str, Any]], data: dict[str, Any], out: Path, title: str = "## Learner throughput") -> str:
    """The BENCHMARKS.md section: what was measured, the tables, the headline."""
    rlpd, td3, flop_mode = data["honing_mode"], data["residual_td3_mode"], data["flop_utilisation_mode"]
    parallel = ("; `parallel` rows: rlpd with `parallel_update`, its critic's and actor's steps at once on a core "
                "each, the actor's step reading the critic from before this update's critic step: the same steps "
                "as SB3's SAC, taken simultaneously instead of one after the other"
                if any(" parallel" in arm for arm in end_to_end_arms(runs)) else "")  # fmt: skip
    plain = ("; `plain` rows: rlpd on SB3's own networks, the plain ReLU MLPs of its SAC (`critic_layer_norm = "
             "false`, `actor.layer_norm = false`), where honing's default puts a LayerNorm after every hidden layer "
             "of the actor and the critic heads (RLPD's critic): the like-for-like architecture, and less work per "
             "update than the default" if any(is_plain(arm) for arm in end_to_end_arms(runs)) else "")  # fmt: skip
    normed = (f" on SB3's own networks; with honing's default LayerNorm networks ({data['honing_mode_layernorm']}) "
              f"{data['ratio_vs_sb3_layernorm']}x{spread(data.get('ratio_vs_sb3_layernorm_rounds'))}"
              if is_plain(rlpd) else "")  # fmt: skip
    return (
        f"{title}\n\n"
        f"Updates on synthetic replay with {TASK}'s dimensions (batch {BATCH}) in four modes (float32 eager and "
        "compiled, bfloat16 autocast eager and compiled), timed in alternating rounds; end-to-end training env "
        f"steps/s on {TASK} after {data['warmup']} warm-up steps, median of {data['rounds']} alternating round(s)"
        + (", every run in a new process of its own " if data.get("fresh") else " ")
        + f"(2x256, 2 critic heads, batch {BATCH}, the same "
        "for SB3, which runs float32; `async` rows: the env in an actor process on one core, the learner on the "
        "other core(s), `max_policy_lag = 2`"
        + parallel
        + plain
        + "). GFLOP per update counted by torch's flop counter (forward + "
        "backward); peaks: best float32 and bfloat16 matmul; a mode's utilisation is against its own "
        "precision's peak.\n\n"
        + table(runs, end_to_end_arms(runs))
        + f"\n\n- {data['headline_threads']} thread(s), UTD 1: honing SAC (rlpd, {rlpd}) / SB3 SAC "
        f"**{data['ratio_vs_sb3']}x**{spread(data.get('ratio_vs_sb3_rounds'))}"
        + normed
        + (f" (eager float32 {data['ratio_vs_sb3_eager']}x)" if data.get("ratio_vs_sb3_eager") else "")
        + f"; residual-td3 ({td3}) / SB3 TD3 {data['ratio_residual_td3_vs_sb3_td3']}x"
        f"{spread(data.get('ratio_residual_td3_vs_sb3_td3_rounds'))}\n"
        f"- UTD 4: residual-td3 ({data['residual_td3_mode_utd4']}) / SB3 TD3 "
        f"{data['ratio_residual_td3_vs_sb3_td3_utd4']}x (the same work: both move the actor every 2nd critic "
        f"update); rlpd ({data['honing_mode_utd4']}) / SB3 SAC {data['ratio_vs_sb3_utd4']}x, which is *not* "
        "equal work: rlpd moves its actor once per env step (RLPD's recipe: UTD counts critic updates), SB3's "
        "SAC at every gradient step, 4x as many actor updates (the equal-work pair, rlpd with "
        "`actor_every_update`: `python -m benchmarks.sac_schedule`, "
        "[below](#sac-at-utd-4-with-equal-work-rlpd-on-sacs-own-schedule))\n"
        f"- residual-td3's learner at 2x256 ({flop_mode}) uses "
        f"{100 * data['flop_utilisation']:.0f}% of its precision's matmul peak (float32 at best: "
        f"{100 * data['flop_utilisation_float32']:.0f}% of the float32 peak)\n"
        f"- Command: `{data['command']}`\n- Machine: {data['machine']}\n"
        f"- Raw results: `{os.path.relpath(out, ROOT)}`\n"
    )  # fmt: skip


if __name__ == "__main__":
    main()
