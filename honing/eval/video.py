"""Videos of evaluation episodes: the same fixed-seed initial states as ``evaluate``, one mp4 each.

MuJoCo tasks render offscreen through OpenGL: ``MUJOCO_GL=egl`` (a GPU driver) or ``osmesa``
(software; Debian/Ubuntu package ``libosmesa6``). MuJoCo picks its backend when it is first
imported, so :func:`select_gl_backend` must run before any task is built; it probes each backend
in a subprocess and raises a clear error when none renders. The outcome is in each file name
(``episode-000-seed123-success.mp4``) and drawn as a green (success) or red bar along the top.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from honing import seeding
from honing.errors import HoningError
from honing.policies.base import Policy
from honing.runs.atomic import ordinary_permissions
from honing.tasks import Task, get_task

GL_BACKENDS = ("egl", "osmesa")
PROBE = (
    "import mujoco; m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\"1\"/></worldbody></mujoco>');"
    "r = mujoco.Renderer(m, 16, 16); r.update_scene(mujoco.MjData(m)); r.render()"
)


def gl_works(backend: str) -> bool:
    """Whether MuJoCo can render offscreen with `backend` (tried in a fresh process)."""
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, timeout=120)
    return probe.returncode == 0


def select_gl_backend() -> str:
    """Set ``MUJOCO_GL`` to a backend that renders here (keeping one the user set), or explain what to install."""
    chosen = os.environ.get("MUJOCO_GL")
    for backend in [chosen] if chosen else GL_BACKENDS:
        if gl_works(backend):
            os.environ["MUJOCO_GL"] = backend
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            return backend
    tried = f"MUJOCO_GL={chosen}" if chosen else "MUJOCO_GL=egl and osmesa"
    raise HoningError(
        f"no OpenGL for offscreen rendering ({tried} failed); install the software renderer "
        "(apt-get install libosmesa6) or a GPU driver with EGL, then retry --video"
    )


def needs_gl(task: Task) -> bool:
    return not task.id.startswith("toy/")


@dataclass
class VideoEpisode:
    path: Path
    seed: int
    success: bool
    length: int


def _write_mp4(frames: list[np.ndarray], path: Path, fps: int) -> None:
    """Encode H.264 through imageio-ffmpeg into a temporary file, then rename: never half a video."""
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise HoningError("videos need imageio and imageio-ffmpeg: pip install 'honing[video]'") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(suffix=".mp4", dir=path.parent, prefix=f".{path.stem}.")
    os.close(handle)
    try:
        with imageio.get_writer(tmp, fps=fps, codec="libx264", macro_block_size=16, ffmpeg_log_level="error") as out:
            for frame in frames:
                out.append_data(frame)
        ordinary_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mark(frame: np.ndarray, success: bool | None) -> np.ndarray:
    """Upscale tiny frames (so codecs accept them) and draw the outcome bar once it is known."""
    frame = np.asarray(frame, dtype=np.uint8)
    if frame.shape[0] < 128:
        scale = -(-128 // frame.shape[0])
        frame = frame.repeat(scale, axis=0).repeat(scale, axis=1)
    if success is not None:
        frame = frame.copy()
        frame[: max(4, frame.shape[0] // 40)] = (0, 200, 0) if success else (220, 0, 0)
    return frame


def size_frames(env: object, size: int | None) -> None:
    """Square frames of `size` pixels for Gymnasium MuJoCo envs (their renderer is built at the first
    frame), and a shadow map sized to the frames.

    MuJoCo models ask for 4096x4096 shadow maps (Meta-World's do), drawn again for every frame: with
    a software renderer (llvmpipe, OSMesa) that pass is most of a small frame's cost. A map twice the
    frame's side (at least 512) looks the same (a 480-pixel Meta-World frame differs by 0.05/255 on
    average) and renders ~1.4-1.7x faster there (``python -m benchmarks.render_speed``).
    """
    unwrapped = getattr(env, "unwrapped", env)
    renderer = getattr(unwrapped, "mujoco_renderer", None)
    if renderer is None:
        return
    if size is not None:
        renderer.width = renderer.height = size
    model = getattr(unwrapped, "model", None)
    side = max(getattr(renderer, "width", None) or 0, getattr(renderer, "height", None) or 0)
    if model is not None and side:
        wanted = max(512, 1 << (2 * side - 1).bit_length())  # the power of two at or above twice the side
        model.vis.quality.shadowsize = min(int(model.vis.quality.shadowsize), wanted)


def record_videos(
    policy: Policy,
    task: Task | str,
    out_dir: str | Path,
    episodes: int = 2,
    seed: int = 0,
    fps: int | None = None,
    size: int | None = None,
) -> list[VideoEpisode]:
    """Roll out the first `episodes` evaluation episodes of `seed` and write one mp4 per episode.

    `size` sets square MuJoCo frames of that many pixels (default: the env's own, 480 on Meta-World).
    """
    if episodes <= 0:
        raise HoningError(f"--video needs a positive number of episodes, got {episodes}")
    task = get_task(task) if isinstance(task, str) else task
    out_dir = Path(out_dir)
    env = task.make_env(sparse=True, render_mode="rgb_array")
    size_frames(env, size)
    fps = fps or int(env.metadata.get("render_fps", 20))
    written = []
    try:
        for index, episode_seed in enumerate(seeding.episode_seeds(seed, "eval", episodes)):
            policy.reset()
            obs, _ = env.reset(seed=episode_seed)
            frames, success, steps = [env.render()], False, 0
            while True:
                action = policy.act(obs[None])[0]
                obs, _, terminated, truncated, info = env.step(action)
                success, steps = success or bool(info["is_success"]), steps + 1
                frames.append(env.render())
                if terminated or truncated:
                    break
            marked = [_mark(f, None) for f in frames[:-1]] + [_mark(frames[-1], success)] * max(1, fps // 2)
            name = f"episode-{index:03d}-seed{episode_seed}-{'success' if success else 'failure'}.mp4"
            _write_mp4(marked, out_dir / name, fps)
            written.append(VideoEpisode(out_dir / name, episode_seed, success, steps))
    finally:
        env.close()
    return written
