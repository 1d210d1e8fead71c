"""Video frames with the model's own shadow map against one sized to the frame, side by side.

``honing eval --video`` renders every step of an episode offscreen. Profiled on the software
renderer this machine has (Mesa llvmpipe through EGL), rendering was 83% of a 2-episode video
of metaworld/pick-place, and most of a frame was the 4096x4096 shadow map Meta-World's model asks
for, drawn again for each frame whatever the frame's size. ``honing.eval.video.size_frames`` caps
the map at the power of two at or above twice the frame's side (at least 512). This times frames
both ways at two sizes, in alternating rounds, and reports how far the two images are apart.

    python -m benchmarks.render_speed

Writes ``benchmarks/results/render_speed.json`` and a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from benchmarks.common import RESULTS, command_line, machine, provenance, save_results, update_section
from honing.eval.video import select_gl_backend, size_frames
from honing.tasks import get_task

TASK = "metaworld/pick-place"


def frame_env(size: int, sized: bool) -> Any:
    """The task's env rendering `size`-pixel frames, its shadow map sized to them or the model's own."""
    env = get_task(TASK).make_env(sparse=True, render_mode="rgb_array")
    renderer = env.unwrapped.mujoco_renderer
    if sized:
        size_frames(env, size)
    else:
        renderer.width = renderer.height = size
    env.reset(seed=0)
    for _ in range(20):  # the arm away from its start pose, the same in both
        env.step(np.full(env.action_space.shape, 0.5, dtype=np.float32))
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[96, 480], help="frame sides in pixels")
    parser.add_argument("--frames", type=int, default=20, help="frames per arm and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--out", default=str(RESULTS / "render_speed.json"))
    args = parser.parse_args()
    backend = select_gl_backend()  # before MuJoCo is imported
    rows = []
    for size in args.sizes:
        # one env alive at a time: with two, Gymnasium's renderers leave each other's GL context
        # current, and both frames and times come out mixed up
        shadow: dict[str, int] = {}
        images: dict[str, np.ndarray] = {}
        ms: dict[str, list[float]] = {"model": [], "sized": []}
        for _ in range(args.rounds):
            for name in ms:
                env = frame_env(size, sized=name == "sized")
                shadow[name] = int(env.unwrapped.model.vis.quality.shadowsize)
                images[name] = env.render().astype(np.int16)  # builds the renderer
                start = time.perf_counter()
                for _ in range(args.frames):
                    env.render()
                ms[name].append(1000 * (time.perf_counter() - start) / args.frames)
                env.close()
        median = {name: round(statistics.median(values), 1) for name, values in ms.items()}
        difference = np.abs(images["model"] - images["sized"])
        rows.append({"size": size, "shadowsize": shadow, "ms_per_frame": median,
                     "ms_per_frame_rounds": {n: [round(v, 1) for v in vs] for n, vs in ms.items()},
                     "speedup": round(median["model"] / median["sized"], 2),
                     "mean_abs_pixel_difference": round(float(difference.mean()), 3),
                     "max_abs_pixel_difference": int(difference.max())})  # fmt: skip
        print(rows[-1], flush=True)
    data = {"task": TASK, "gl_backend": backend, "rows": rows, "command": command_line(), "machine": machine()}
    save_results(args.out, data)
    update_section("render-speed", report(data))


def report(data: dict[str, Any]) -> str:
    lines = [
        "## Video frames: the shadow map sized to the frame",
        "",
        f"{data['task']} frames rendered offscreen (MUJOCO_GL={data['gl_backend']}), ms per frame, median of "
        "alternating rounds, each arm in an env of its own; pixel difference over 0-255 RGB values of the same "
        "state rendered both ways. With no GPU, OpenGL here is a software renderer: the shadow pass is drawn "
        "on the CPU for every frame (`honing eval --video`), so a map sized to the frame "
        "(`honing.eval.video.size_frames`) saves that share of a video's time; with a GPU the pass is cheap.",
        "",
        "| frame | model's shadow map | ms | sized shadow map | ms | speed-up | mean / max pixel difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in data["rows"]:
        shadow, ms = row["shadowsize"], row["ms_per_frame"]
        lines.append(f"| {row['size']}x{row['size']} | {shadow['model']} | {ms['model']} | {shadow['sized']} | "
                     f"{ms['sized']} | {row['speedup']}x | {row['mean_abs_pixel_difference']} / "
                     f"{row['max_abs_pixel_difference']} |")  # fmt: skip
    lines += ["", *provenance(data, "render_speed")]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
