"""How much the levers left after the fused update could still buy rlpd at UTD 1: upper bounds, side by side.

Issue 7 asks for 3x SB3 SAC's env steps/s at equal work; the loop reached ~2.3x. The profiles
(BENCHMARKS.md, learner throughput) leave three kinds of time outside the matmuls, and this bounds
what removing each could give, each arm against the plain update in interleaved rounds (rlpd,
``precision=bfloat16, compile=true``, 2x256, 2 critic heads, batch 256, synthetic replay of
Meta-World pick-place's dimensions):

- **guards**: dynamo's guard check before every call (``guard_filter_fn`` dropping all of them:
  unsafe with several learners in one process, measured only as a bound);
- **direct**: the compiled graph called on its inputs without dynamo at all (the learner's own
  host side, draws and Adam state gathering included): the most a per-learner compiled artifact
  could save;
- **split**: SAC's update cut in two halves run at once in two one-thread processes, the critic
  step (target, critic, Polyak) in one and the actor and temperature steps in the other, with a
  barrier per update. That is SAC with simultaneous actor and critic steps (the actor reading the
  pre-step critic), and this arm leaves out the weight exchange between the processes, so it is
  an upper bound for a two-process learner, not a learner; ``+ env`` puts one Meta-World
  pick-place step (exploration included) in the actor's half and compares with the synchronous
  loop's env step followed by the 2-thread update.

    python -m benchmarks.update_levers --rounds 12

Writes ``benchmarks/results/update_levers.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from typing import Any

import numpy as np

from benchmarks.common import RESULTS, command_line, machine, provenance, save_results, update_section

METHOD, WIDTH, HEADS = "rlpd", (256, 256), 2
ARMS = ("update", "guards skipped", "direct", "split", "env + update", "split + env")
SPLIT = ("critic", "actor")
ROLES = {"update": "plain", "env + update": "plain", "guards skipped": "unguarded", "direct": "direct"}
BASELINE = {"guards skipped": "update", "direct": "update", "split": "update", "split + env": "env + update"}


def build(role: str) -> dict[str, Callable[[], None]]:
    """The timed callables of one worker (2 threads; 1 for the "critic" and "actor" halves).

    Every dynamo-compiled learner has a process of its own: learners of one class share their
    compiled code object, and a call would first try (and fail) the other learners' guards, or,
    with the guards skipped, run through another learner's entry.
    """
    import torch
    from torch._inductor.compile_fx import compile_fx

    from benchmarks.learners import BATCH, TASK, learner, synthetic_replay
    from honing.finetune.fused import Metrics, adam_
    from honing.finetune.replay import sample_mixed
    from honing.tasks import get_task

    torch.set_num_threads(1 if role in SPLIT else 2)
    obs_dim, act_dim = get_task(TASK).spaces()
    demo, online = synthetic_replay(obs_dim, act_dim)
    generator = torch.Generator().manual_seed(0)

    def compiled(guards: bool = True) -> tuple[Any, dict[str, Any]]:
        """An rlpd learner whose update dynamo compiles with inductor, the compiled graph kept."""
        captured: dict[str, Any] = {}

        def backend(gm: torch.fx.GraphModule, inputs: list[torch.Tensor]) -> Callable[..., Any]:
            captured["graph"], captured["inputs"] = compile_fx(gm, inputs), list(inputs)
            return captured["graph"]

        agent = learner(METHOD, WIDTH, HEADS, obs_dim, act_dim, "bf16")  # autocast; compiled here
        agent.config.compile = True
        skip = {} if guards else {"guard_filter_fn": lambda entries: [False] * len(entries)}
        agent._step = torch._dynamo.optimize(backend, **skip)(agent._contained_step)
        return agent, captured

    def stepper(agent: Any) -> Callable[[], None]:
        return lambda: agent.update(sample_mixed(demo, online, BATCH, 0.5, generator))

    def with_env(agent: Any, step: Callable[[], None]) -> Callable[[], None]:
        env = get_task(TASK).make_env()
        obs = env.reset(seed=0)[0]
        no_base = np.zeros(act_dim, np.float32)

        def env_then(step: Callable[[], None] = step) -> None:
            nonlocal obs
            obs, _, terminated, truncated, _ = env.step(agent.explore(obs.astype(np.float32), no_base))
            if terminated or truncated:
                obs = env.reset()[0]
            step()

        return env_then

    if role == "plain":
        plain, _ = compiled()
        return {"update": stepper(plain), "env + update": with_env(plain, stepper(plain))}
    if role == "unguarded":
        return {"guards skipped": stepper(compiled(guards=False)[0])}
    if role == "direct":
        direct, captured = compiled()
        through_dynamo = direct._step

        def naming(*args: Any) -> Metrics:  # the compiling call, through dynamo: it names the outputs
            metrics = through_dynamo(*args)
            captured["keys"] = list(metrics)
            return metrics

        direct._step = naming
        stepper(direct)()
        graph, inputs, keys = captured["graph"], captured["inputs"], captured["keys"]
        direct._step = lambda *args: dict(zip(keys, graph(*inputs), strict=True))
        return {"direct": stepper(direct)}

    agent, _ = compiled()
    if role == "critic":
        agent.config.utd = 10**9  # never an actor step: the critic-only graph
        step = stepper(agent)
        return {"split": step, "split + env": step}

    def actor_half(batch: dict[str, torch.Tensor], draws: dict[str, torch.Tensor], critic_state: Any,
                   actor_state: Any = None, alpha_state: Any = None) -> Metrics:  # fmt: skip
        """rlpd's actor and temperature steps as in its ``fused_step``, without the critic step."""
        alpha = agent.log_alpha.exp()

        def actor_loss(sample: Callable[..., Any]) -> tuple[torch.Tensor, Metrics]:
            action, log_prob = sample(batch["obs"], eps=draws["eps"])
            loss = (alpha * log_prob - agent.critic(batch["obs"], action).mean(dim=0)).mean()
            return loss, {"log_prob": log_prob.detach()}

        loss, out = agent.trained_actor.step(actor_loss, actor_state)
        group = agent.alpha_optim.param_groups[0]
        adam_(alpha_state, [-(out["log_prob"] + agent.target_entropy).mean()], float(group["lr"]),
              tuple(group["betas"]), float(group["eps"]))  # fmt: skip
        return {"actor_loss": loss}

    agent.fused_step = actor_half
    step = stepper(agent)
    return {"split": step, "split + env": with_env(agent, step)}


def serve(role: str, conn: Connection, barrier: Barrier) -> None:
    """A worker: build, warm up, then time `n` calls of an arm whenever asked."""
    arms = build(role)
    for arm in arms.values():
        for _ in range(20):
            if role in SPLIT:
                barrier.wait()
            arm()
    conn.send("ready")
    while (order := conn.recv()) is not None:
        arm, n = order
        for _ in range(5):  # back in the caches after the other arms
            if role in SPLIT:
                barrier.wait()
            arms[arm]()
        start = time.perf_counter()
        for _ in range(n):
            if role in SPLIT:
                barrier.wait()
            arms[arm]()
        conn.send(time.perf_counter() - start)


def measure(rounds: int, n: int) -> dict[str, list[float]]:
    """Milliseconds per update (or per env step + update) of every arm, one value per round."""
    context = mp.get_context("spawn")
    barrier = context.Barrier(2)
    conns, workers = {}, []
    for role in ("plain", "unguarded", "direct", *SPLIT):
        ours, theirs = context.Pipe()
        worker = context.Process(target=serve, args=(role, theirs, barrier), daemon=True)
        worker.start()
        conns[role], workers = ours, [*workers, worker]
    for conn in conns.values():
        conn.recv()
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for _ in range(rounds):
        for arm in ARMS:
            roles = list(SPLIT) if arm.startswith("split") else [ROLES[arm]]
            for role in roles:
                conns[role].send((arm, n))
            times[arm].append(max(conns[role].recv() for role in roles) / n * 1000)
    for conn in conns.values():
        conn.send(None)
    for worker in workers:
        worker.join(timeout=30)
    return times


def summarise(times: dict[str, list[float]]) -> dict[str, Any]:
    """Each arm's median, and each lever's speed-up over its baseline by round (median, quartiles)."""
    out: dict[str, Any] = {"ms": {arm: statistics.median(values) for arm, values in times.items()}, "speedup": {}}
    for arm, base in BASELINE.items():
        ratios = sorted(b / a for a, b in zip(times[arm], times[base], strict=True))
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        out["speedup"][arm] = {"median": statistics.median(ratios), "q1": q1, "q3": q3, "rounds": ratios}
    return out


def report(data: dict[str, Any]) -> str:
    speedup, ms = data["summary"]["speedup"], data["summary"]["ms"]
    rows = [f"| {arm} | {BASELINE[arm]} | {ms[BASELINE[arm]]:.2f} | {ms[arm]:.2f} | "
            f"{s['median']:.2f}x ({s['q1']:.2f}-{s['q3']:.2f}x) |" for arm, s in speedup.items()]  # fmt: skip
    return "\n".join([
        "### What the levers left could buy (upper bounds)",
        "",
        f"rlpd, bfloat16-compiled, 2x256, {HEADS} critic heads, batch 256, synthetic replay; {data['rounds']} "
        f"interleaved rounds of {data['n']} calls, in worker processes (the plain arms on 2 threads, each "
        "split half on 1 thread; every compiled learner in a process of its own). `split` leaves out the "
        "weight exchange a two-process learner would need, "
        "and its maths is SAC with simultaneous actor and critic steps: a bound, not a learner.",
        "",
        "| lever | against | ms, against | ms, lever | speed-up by round (quartiles) |",
        "|---|---|---|---|---|",
        *rows,
        "",
        *provenance(data, "update_levers"),
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--calls", type=int, default=100, help="calls timed per arm and round")
    args = parser.parse_args()
    times = measure(args.rounds, args.calls)
    data = {"command": command_line(), "machine": machine(), "rounds": args.rounds, "n": args.calls,
            "times_ms": times, "summary": summarise(times)}  # fmt: skip
    save_results(RESULTS / "update_levers.json", data)
    body = report(data)
    update_section("update-levers", body)
    print(body)


if __name__ == "__main__":
    main()
