from __future__ import annotations

from typing import Any

import pytest

from benchmarks.finetune_metaworld import UNRECORDED, aggregate, machines, steps_to
from honing.eval import wilson_interval


def run(curve: list[list[float]], final: float, base: float = 0.5) -> dict:
    return {"base_success": base, "final_success": final, "eval_episodes": 10, "curve": curve, "wall_clock_s": 60.0}


def test_aggregate_means_seeds_and_pools_episodes_for_the_band() -> None:
    runs = {
        "metaworld/push|residual-td3|0": run([[0, 0.5], [5000, 0.8], [10000, 1.0]], 1.0),
        "metaworld/push|residual-td3|1": run([[0, 0.5], [5000, 1.0], [10000, 0.9]], 0.9, base=0.4),
        "metaworld/push|rlpd|0": run([[0, 0.0], [5000, 0.2], [10000, 0.3]], 0.3),
    }
    summary = aggregate(runs)["metaworld/push"]
    td3 = summary["residual-td3"]
    assert td3["curve"] == [[0, 0.5], [5000, pytest.approx(0.9)], [10000, pytest.approx(0.95)]]
    assert td3["curve_ci95"][1] == list(wilson_interval(18, 20))  # 8 + 10 successes of 20 pooled episodes
    assert td3["final_success"] == [1.0, 0.9] and td3["base_success"] == pytest.approx(0.45)
    assert (td3["steps_to_80"], td3["steps_to_90"], td3["steps_to_95"]) == (5000, 5000, 10000)
    assert summary["rlpd"]["steps_to_80"] is None and summary["rlpd"]["seeds"] == 1


def test_steps_to_threshold() -> None:
    assert steps_to([[0, 0.2], [10, 0.89999999999], [20, 0.95]], 0.9) == 10
    assert steps_to([[0, 0.2]], 0.8) is None


def test_machines_counts_runs_per_machine_and_those_that_did_not_record_one() -> None:
    runs = {"a": run([[0, 0.5]], 0.5), "b": run([[0, 0.5]], 0.5) | {"machine": "cpu X"},
            "c": run([[0, 0.5]], 0.5) | {"machine": "cpu X"}}  # fmt: skip
    assert machines(runs) == f"cpu X (2 runs); {UNRECORDED} (1 runs)"


def test_compare_counts_overlapping_evaluations_per_seed_and_pooled_and_names_the_misses() -> None:
    from benchmarks.finetune_compare import compare, curve_overlap

    # 10 episodes: 0/10 and 10/10 have disjoint 95% Wilson intervals, 5/10 and 6/10 overlap.
    assert curve_overlap([[0, 0.5], [5, 0.0]], [[0, 0.6], [5, 1.0], [9, 1.0]], 10) == {
        "evaluations": 2, "overlapping": 1, "misses": [[5, 0.0, 1.0]]}  # fmt: skip
    runs = {
        "t|a|0": run([[0, 0.5], [5, 0.0]], 0.0) | {"wall_clock_s": 100.0},
        "t|b|0": run([[0, 0.5], [5, 1.0]], 1.0) | {"wall_clock_s": 50.0},
        "t|a|1": run([[0, 0.5], [5, 0.2]], 0.2) | {"wall_clock_s": 100.0},
        "t|b|1": run([[0, 0.5], [5, 0.9]], 0.9) | {"wall_clock_s": 70.0},
        "t|a|2": run([[0, 0.5]], 0.5),  # no b run for seed 2: left out, not half-compared
    }
    result = compare(runs, "t", "a", "b")
    assert [s["seed"] for s in result["seeds"]] == [0, 1]
    assert result["wall_clock_ratio"] == pytest.approx(120 / 200)
    assert result["per_seed_overlapping"] == [2, 4]
    assert result["pooled"] == {"evaluations": 2, "overlapping": 1, "misses": [[5, 0.1, 0.95]]}  # 2/20 vs 19/20
    with pytest.raises(SystemExit, match="its arms are: a, b"):
        compare(runs, "t", "a", "c")


@pytest.mark.parametrize("method", ["residual-td3", "rlpd"])
def test_packed_updates_land_where_as_many_single_updates_do(method: str) -> None:
    import torch

    from benchmarks.learners import BATCH, learner, synthetic_replay
    from benchmarks.update_overhead import packed
    from honing.finetune.replay import sample_mixed

    obs_dim, act_dim = 39, 4
    demo, online = synthetic_replay(obs_dim, act_dim)
    agents = []
    for _ in range(2):
        torch.manual_seed(0)
        agents.append(learner(method, (16, 16), 2, obs_dim, act_dim, "eager"))
    single, many = agents
    batches = [sample_mixed(demo, online, BATCH, 0.5, torch.Generator().manual_seed(i)) for i in range(6)]
    for batch in batches:
        single.update(batch)
    queue = iter(batches)
    step = packed(many, 3, lambda: next(queue), compile=False)
    step(), step()
    assert many.critic_updates == single.critic_updates == 6
    for name in single.snapshot_modules:
        a, b = getattr(single, name), getattr(many, name)
        if isinstance(a, torch.Tensor):
            a, b = {"": a}, {"": b}
        else:
            a, b = a.state_dict(), b.state_dict()
        assert all(torch.equal(a[key], b[key]) for key in a), name


def test_throughput_rounds_give_medians_and_round_by_round_ratios() -> None:
    from benchmarks.learner_throughput import median, round_ratios, spread

    run = {"steps_per_s_rounds": {"honing|utd1": [100.0, 140.0, 120.0], "sb3|utd1": [50.0, 80.0, 60.0]}}
    assert median(run["steps_per_s_rounds"]["honing|utd1"]) == 120.0
    assert median([None, None]) is None  # SB3 not installed: no number, not a zero
    assert round_ratios(run, "honing|utd1", "sb3|utd1") == [2.0, 1.75, 2.0]
    assert round_ratios({"steps_per_s": {}}, "honing|utd1", "sb3|utd1") is None  # JSON from before rounds
    assert spread([2.0, 1.75, 2.0]) == " (round by round 1.75-2.0x)" and spread(None) == ""


def throughput_run(**extra: list[float]) -> dict[str, Any]:
    """A learner-throughput run at 2 threads with the rates given (medians of three rounds), plus `extra` arms."""
    from benchmarks.learner_throughput import MODES

    rounds = {"honing rlpd bf16-compiled|utd1": [200.0, 180.0, 220.0], "honing rlpd bf16-compiled|utd4": [80.0] * 3,
              "honing residual-td3 bf16-compiled|utd1": [250.0] * 3,
              "honing residual-td3 bf16-compiled|utd4": [90.0] * 3,
              "honing rlpd bf16-compiled parallel|utd1": [240.0, 200.0, 300.0],
              "honing rlpd bf16-compiled parallel|utd4": [70.0] * 3,
              "sb3 SAC|utd1": [100.0, 100.0, 100.0], "sb3 TD3|utd1": [125.0] * 3, "sb3 SAC|utd4": [20.0] * 3,
              "sb3 TD3|utd4": [45.0] * 3} | extra  # fmt: skip
    entry = {mode: {"updates_per_s": 100.0 + i, "achieved_gflops": 50.0, "flop_utilisation": 0.25}
             for i, mode in enumerate(MODES)}  # fmt: skip
    return {"threads": 2, "peak_gflops": 200.0, "peak_gflops_bf16": 400.0, "steps_per_s_rounds": rounds,
            "steps_per_s": {name: sorted(rates)[1] for name, rates in rounds.items()},
            "learner": {"residual-td3|2x256|E2": {"gflop_per_update": 0.5, **entry}}}  # fmt: skip


THROUGHPUT_META = {"command": "c", "machine": "m", "warmup": 1000, "rounds": 3, "fresh": True}


def test_throughput_headline_takes_rlpds_parallel_arm_and_residual_td3_only_its_own() -> None:
    from benchmarks.common import ROOT
    from benchmarks.learner_throughput import end_to_end_arms, report, summary, table

    run = throughput_run()
    data = summary([run])
    assert end_to_end_arms([run]) == ["bf16-compiled", "bf16-compiled parallel"]
    assert data["honing_mode"] == "bf16-compiled parallel" and data["ratio_vs_sb3"] == 2.4
    assert data["ratio_vs_sb3_rounds"] == [2.4, 2.0, 3.0]
    assert data["honing_mode_utd4"] == "bf16-compiled" and data["ratio_vs_sb3_utd4"] == 4.0  # the faster at UTD 4
    assert data["residual_td3_mode"] == "bf16-compiled" and data["ratio_residual_td3_vs_sb3_td3"] == 2.0
    rows = table([run], end_to_end_arms([run]))
    assert "| honing rlpd bf16-compiled parallel | 240.0 | 70.0 |" in rows
    assert "residual-td3 bf16-compiled parallel" not in rows  # never run: no row of dashes
    meta = THROUGHPUT_META
    assert data["ratio_vs_sb3_layernorm"] == 2.4  # no plain arm: the LayerNorm figure is the headline
    assert "SB3's own networks" not in report([run], data | meta, ROOT / "x.json")
    assert "`parallel` rows: rlpd with `parallel_update`" in report([run], data | meta, ROOT / "x.json")
    for name in [name for name in run["steps_per_s_rounds"] if "parallel" in name]:
        del run["steps_per_s"][name], run["steps_per_s_rounds"][name]
    assert "`parallel` rows" not in report([run], summary([run]) | meta, ROOT / "x.json")  # only where there are some


def test_throughput_headline_on_sb3s_networks_keeps_the_layernorm_figure_beside_it() -> None:
    from benchmarks.common import ROOT
    from benchmarks.learner_throughput import end_to_end_arms, report, summary, table

    run = throughput_run(**{"honing rlpd bf16-compiled parallel plain|utd1": [330.0, 250.0, 300.0]})
    data = summary([run])
    assert end_to_end_arms([run])[-1] == "bf16-compiled parallel plain"
    assert data["honing_mode"] == "bf16-compiled parallel plain" and data["ratio_vs_sb3"] == 3.0
    assert data["ratio_vs_sb3_rounds"] == [3.3, 2.5, 3.0]
    # the default networks' figure: the fastest arm that is not plain, with its own rounds
    assert data["honing_mode_layernorm"] == "bf16-compiled parallel" and data["ratio_vs_sb3_layernorm"] == 2.4
    assert data["ratio_vs_sb3_layernorm_rounds"] == [2.4, 2.0, 3.0]
    assert data["honing_mode_utd4"] == "bf16-compiled"  # plain runs at UTD 1 only
    assert "| honing rlpd bf16-compiled parallel plain | 300.0 | — |" in table([run], end_to_end_arms([run]))
    text = report([run], data | THROUGHPUT_META, ROOT / "x.json")
    assert "`plain` rows: rlpd on SB3's own networks" in text
    assert "**3.0x** (round by round 2.5-3.3x) on SB3's own networks; with honing's default LayerNorm " in text
    assert "(bf16-compiled parallel) 2.4x (round by round 2.0-3.0x)" in text


def test_run_profile_books_each_sample_to_its_phase() -> None:
    from benchmarks.run_profile import phase

    run = ["<module>", "run_one", "finetune"]
    assert phase(["<module>", "prepare_base", "train_bc"]) is None  # outside the fine-tuning call
    assert phase([*run, "OffPolicyRun.train", "RunTracker.record", "evaluate", "fork_map"]) == (
        "evaluation (periodic and final)"
    )
    assert phase([*run, "OffPolicyRun.learn", "RLPD.update", "ConvertFrame.__call__", "_compile"]) == "compilation"
    assert phase([*run, "OffPolicyRun.advance", "OffPolicyRun.learn", "RLPD.update"]) == "updates"
    assert phase([*run, "OffPolicyRun.advance", "Collector.next", "SawyerXYZEnv.step"]) == "env side: acting"
    assert phase([*run, "OffPolicyRun.advance", "OffPolicyRun.log_train"]) == "other"


def test_idle_caches_reads_a_warm_step_and_the_ratio_round_by_round() -> None:
    from benchmarks.idle_caches import Phases, ratios, timing

    class Scripted(Phases):
        """Phase times given per round (seconds): in the loop, alone, and the loop's seconds per step."""

        names = ("act", "learn")

        def __init__(self, name: str, script: list[tuple[dict[str, float], dict[str, float], float]]) -> None:
            super().__init__(name)
            self.script = iter(script)

        def run(self, steps: int, inside: dict[str, list[float]], alone: dict[str, list[float]]) -> float:
            cold, warm, step = next(self.script)
            for phase in self.names:
                inside[phase] += [cold[phase]] * steps
                alone[phase] += [warm[phase]] * steps
            return step

    honing = Scripted("honing", [({"act": 2e-3, "learn": 5e-3}, {"act": 1e-3, "learn": 5e-3}, 8e-3),
                                 ({"act": 2e-3, "learn": 4e-3}, {"act": 1e-3, "learn": 4e-3}, 7e-3)])  # fmt: skip
    sb3 = Scripted("sb3", [({"act": 2e-3, "learn": 14e-3}, {"act": 1e-3, "learn": 14e-3}, 16e-3)] * 2)
    for _ in range(2):
        for loop in (honing, sb3):
            loop.measure(3)
    loops = [honing.result(), sb3.result()]
    # a warm step: the loop's step with each timed phase at its cost alone, the untimed 1 ms kept
    assert [r["warm"] for r in loops[0]["rounds"]] == pytest.approx([7.0, 6.0])
    assert loops[0]["warm_ms_per_step"] == pytest.approx(6.5) and loops[0]["inside_ms"]["act"] == pytest.approx(2.0)
    assert ratios(loops, "step") == pytest.approx([2.0, 16 / 7])
    assert ratios(loops, "warm") == pytest.approx([15 / 7, 2.5])

    class Thing:
        def work(self, x: int) -> int:
            return 2 * x

    thing, seconds = Thing(), []
    with timing(thing, "work", seconds):
        assert thing.work(3) == 6
    assert len(seconds) == 1 and thing.work(4) == 8 and "work" not in vars(thing)  # the method is back


def test_sac_schedule_reads_the_parallel_arms_round_by_round() -> None:
    from benchmarks import sac_schedule as s

    rounds = {s.EQUAL: [50.0, 40.0, 60.0], s.RECIPE: [80.0, 70.0, 90.0], s.SB3_4: [20.0, 10.0, 20.0],
              s.HONING_1: [200.0, 100.0, 220.0], s.SB3_1: [100.0, 50.0, 100.0],
              s.PARALLEL_1: [220.0, 150.0, 220.0], s.PARALLEL_4: [60.0, 40.0, 66.0]}  # fmt: skip
    run = {"steps_per_s_rounds": rounds}
    data = {"steps_per_s": {name: s.median(values) for name, values in rounds.items()}, "steps_per_s_rounds": rounds,
            "ratio_utd4_equal_work": 2.5, "ratio_utd4_equal_work_rounds": s.round_ratios(run, s.EQUAL, s.SB3_4),
            "ratio_utd4_recipe": 4.0, "ratio_utd1": 2.0, "ratio_utd1_rounds": s.round_ratios(run, s.HONING_1, s.SB3_1),
            "ratio_parallel_utd1": 2.2, "ratio_parallel_utd1_rounds": s.round_ratios(run, s.PARALLEL_1, s.SB3_1),
            "ratio_parallel_utd4_equal_work": 3.0,
            "ratio_parallel_utd4_equal_work_rounds": s.round_ratios(run, s.PARALLEL_4, s.SB3_4),
            "parallel_over_alternating_utd1_rounds": s.round_ratios(run, s.PARALLEL_1, s.HONING_1),
            "parallel_over_alternating_utd4_rounds": s.round_ratios(run, s.PARALLEL_4, s.EQUAL),
            "mode": "bf16-compiled", "threads": 2, "command": "python -m benchmarks.sac_schedule",
            "machine": "m"}  # fmt: skip
    text = s.report(data)
    # parallel UTD 1 over SB3 per round: 2.2, 3.0, 2.2 -> median 2.2, range 2.2-3.0; over alternating 1.1, 1.5, 1.0
    assert "UTD 1 / SB3 SAC **2.2x**; round by round 2.20x (2.2-3.0x)" in text
    assert "round by round: UTD 1 1.10x (1.0-1.5x)" in text
    assert "UTD 4 with `actor_every_update` 1.10x (1.0-1.2x)" in text  # 60/50, 40/40, 66/60
    old = {key: value for key, value in data.items() if "parallel" not in key}
    assert s.parallel_lines(old) == []  # a run from before the parallel arms has no such lines
    assert s.plain_lines(data) == [] and "sac_schedule.json" in text  # a run without --plain


def test_sac_schedule_reads_the_plain_arms_against_sb3_and_against_layernorm() -> None:
    from benchmarks import sac_schedule as s

    rounds = {s.PARALLEL_1: [220.0, 150.0, 220.0], s.PARALLEL_4: [60.0, 40.0, 66.0], s.SB3_1: [100.0, 50.0, 100.0],
              s.SB3_4: [20.0, 10.0, 20.0], s.PLAIN_1: [330.0, 150.0, 264.0], s.PLAIN_4: [66.0, 48.0, 66.0]}  # fmt: skip
    rates = {name: s.median(values) for name, values in rounds.items()}
    ratios = s.plain_ratios(rates, {"steps_per_s_rounds": rounds})
    assert ratios["ratio_plain_utd1"] == 2.64 and ratios["ratio_plain_utd1_rounds"] == [3.3, 3.0, 2.64]
    assert ratios["ratio_plain_utd4_equal_work"] == 3.3
    assert ratios["ratio_plain_utd4_equal_work_rounds"] == [3.3, 4.8, 3.3]
    assert ratios["plain_over_layernorm_utd1_rounds"] == [1.5, 1.0, 1.2]
    assert ratios["plain_over_layernorm_utd4_rounds"] == [1.1, 1.2, 1.0]
    lines = s.plain_lines(ratios)
    assert "UTD 1 / SB3 SAC **2.64x**; round by round 3.00x (2.64-3.3x)" in lines[0]
    assert "equal work) / SB3 SAC **3.3x**; round by round 3.30x (3.3-4.8x)" in lines[0]
    assert lines[1].endswith("UTD 1 1.20x (1.0-1.5x), UTD 4 with `actor_every_update` 1.10x (1.0-1.2x)")


def test_pooled_rounds_takes_every_round_of_both_runs_pair_by_pair() -> None:
    from benchmarks.pooled_rounds import SOURCES, pooled

    def run(source: str, plain: list[float], normed: list[float], sb3: list[float]) -> dict[str, Any]:
        return {"steps_per_s_rounds": dict(zip(SOURCES[source], (plain, normed, sb3), strict=True))}

    records = {"learner_throughput": run("learner_throughput", [300.0, 200.0], [200.0, 200.0], [100.0, 100.0]),
               "sac_schedule_plain": run("sac_schedule_plain", [150.0], [300.0], [50.0])}  # fmt: skip
    pairs = pooled(records)
    assert pairs["SB3's networks / SB3 SAC"] == {"rounds": [3.0, 2.0, 3.0], "median": 3.0, "min": 2.0, "max": 3.0}
    assert pairs["LayerNorm / SB3 SAC"]["rounds"] == [2.0, 2.0, 6.0]
    assert pairs["SB3's networks / LayerNorm"] == {"rounds": [1.5, 1.0, 0.5], "median": 1.0, "min": 0.5, "max": 1.5}


def test_side_by_side_ratio_is_total_steps_over_total_time_and_a_drift_moves_both_arms_alike() -> None:
    from benchmarks.sac_side_by_side import compare, summary

    # honing 500 steps in 2 s, SB3 150 steps in 1.8 s: 250 against 83.3 env steps/s, 3x; cycle 2 is a slow
    # moment of the machine (everything at half speed), which leaves the cycle's ratio where it was
    honing, sb3 = [2.0, 4.0, 2.0], [1.8, 3.6, 1.8]
    out = compare((500, 150), (honing, sb3))
    assert out["ratio"] == 3.0 and out["ci95"] == [3.0, 3.0] and out["cycles"] == [3.0, 3.0, 3.0]
    # cycles that disagree: the interval widens around the ratio of totals, not the mean of the ratios
    noisy = compare((500, 150), ([2.0, 2.5, 1.6], sb3))
    assert noisy["ratio"] == round((1500 / 6.1) / (450 / 7.2), 2)
    assert noisy["ci95"][0] < noisy["ratio"] < noisy["ci95"][1]
    assert noisy["cycles"] == [3.0, 4.8, 3.75] and noisy["median_cycle"] == 3.75
    table = summary(["plain", "layernorm", "sb3"], {"plain": 500, "layernorm": 500, "sb3": 150},
                    {"plain": honing, "layernorm": [2.4, 4.8, 2.4], "sb3": sb3})  # fmt: skip
    assert table["steps_per_s"] == {"plain": 187.5, "layernorm": 156.2, "sb3": 62.5}
    assert set(table["ratios"]) == {"plain/sb3", "layernorm/sb3", "plain/layernorm"}
    assert table["ratios"]["plain/layernorm"]["ratio"] == 1.2


def test_side_by_side_cycles_rotate_the_first_arm_drop_the_first_cycle_and_name_a_dead_worker() -> None:
    from benchmarks.sac_side_by_side import run_cycles
    from tests.stand_in_worker import stamping_worker

    steps = {"a": 1, "b": 1, "c": 1}
    stamps = run_cycles(["a", "b", "c"], steps, 3, 0, "eager", 1, pause=0.0, worker=stamping_worker)
    assert [len(stamps[arm]) for arm in "abc"] == [3, 3, 3]  # cycles 1-3; cycle 0 ran but is not kept
    orders = ["".join(sorted("abc", key=lambda arm: stamps[arm][cycle])) for cycle in range(3)]
    assert orders == ["bca", "cab", "abc"]
    with pytest.raises(SystemExit, match="the dies arm's worker exited in cycle 2"):
        run_cycles(["a", "dies"], {"a": 1, "dies": 1}, 5, 0, "eager", 1, pause=0.0, worker=stamping_worker)


def test_side_by_side_pool_joins_the_cycles_of_the_runs_that_timed_both_arms() -> None:
    from benchmarks.sac_side_by_side import pool, summary

    def side_by_side(seconds: dict[str, list[float]]) -> dict[str, Any]:
        steps = {arm: 150 if arm.startswith("sb3") else 500 for arm in seconds}
        return {**summary(list(seconds), steps, seconds), "seconds": seconds, "burst_steps": steps, "machine": "cpu X"}

    early = side_by_side({"plain": [2.0, 2.0], "sb3": [1.8, 1.8]})  # 3x in both cycles
    later = side_by_side({"plain": [2.0, 2.5], "layernorm": [2.5, 2.5], "sb3": [1.5, 1.5]})  # 2.5x and 2x
    pooled = pool({"early.json": early, "later.json": later})
    both = pooled["ratios"]["plain/sb3"]
    assert both["runs"] == ["early.json", "later.json"] and both["cycles"] == [3.0, 3.0, 2.5, 2.0]
    assert both["ratio"] == round((2000 / 8.5) / (600 / 6.6), 2)  # all four cycles' steps over their time
    assert pooled["ratios"]["layernorm/sb3"]["runs"] == ["later.json"] and pooled["machines"] == ["cpu X"]
    later["burst_steps"]["sb3"] = 100
    with pytest.raises(SystemExit, match="plain/sb3 differ in size"):
        pool({"early.json": early, "later.json": later})


def test_parallel_step_profile_parts_on_the_loops_thread_add_up_to_the_step() -> None:
    import collections

    from benchmarks.parallel_step_profile import PARTS, per_step_ms

    # 100 env steps in 0.4 s: 4 ms a step, of which the timed parts on the loop's thread took 3.5 ms
    clock = collections.Counter({"actor": 0.24, "wait": 0.01, "env": 0.08, "explore": 0.01, "sample": 0.006,
                                 "ingest": 0.004, "critic": 0.3})  # fmt: skip
    ms = per_step_ms(clock, 0.4, 100)
    assert list(ms) == list(PARTS) and ms["rest"] == 0.5 and ms["critic"] == 3.0
    assert sum(value for name, value in ms.items() if name != "critic") == pytest.approx(4.0)
