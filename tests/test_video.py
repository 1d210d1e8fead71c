"""``honing eval --video N``: playable mp4s of the first N evaluation episodes, outcome in the name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from honing.cli import main
from honing.data import collect_demos
from honing.policies import BCConfig, PolicyConfig, train_bc

imageio = pytest.importorskip("imageio.v2", reason="videos need imageio (pip install 'honing[video]')")
pytest.importorskip("imageio_ffmpeg", reason="videos need imageio-ffmpeg (pip install 'honing[video]')")


def _frames(path: Path) -> list[np.ndarray]:
    with imageio.get_reader(path) as reader:
        return list(reader.iter_data())


def _check_videos(folder: Path, count: int, results: Path | None = None) -> None:
    videos = sorted(folder.glob("*.mp4"))
    assert len(videos) == count
    for index, video in enumerate(videos):
        assert video.name.startswith(f"episode-{index:03d}-seed")
        frames = _frames(video)
        assert len(frames) > 5 and frames[0].ndim == 3 and frames[0].std() > 0  # decodes, and is not blank
        bar = frames[-1][1, frames[-1].shape[1] // 2].astype(int)  # the outcome bar on the last frame
        if video.stem.endswith("-success"):
            assert bar[1] > 150 and bar[0] < 80, bar
        else:
            assert video.stem.endswith("-failure") and bar[0] > 150 and bar[1] < 80, bar


def test_eval_video_on_toy_reach(reach_bc_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval.json"
    assert main(["eval", str(reach_bc_run), "--episodes", "4", "--video", "2", "--out", str(out)]) == 0
    assert capsys.readouterr().out.count("video (") == 2
    _check_videos(tmp_path / "videos" / "eval", 2)


def _gl_available() -> str | None:
    from honing.eval.video import GL_BACKENDS, gl_works

    return next((backend for backend in GL_BACKENDS if gl_works(backend)), None)


def test_eval_video_on_metaworld_pick_place(tmp_path: Path) -> None:
    backend = _gl_available()
    if backend is None:
        pytest.skip("no OpenGL for MuJoCo offscreen rendering (MUJOCO_GL=egl/osmesa); apt-get install libosmesa6")
    collect_demos("metaworld/pick-place", episodes=2, noise=0.0, seed=0, out=tmp_path / "demos")
    train_bc(tmp_path / "demos", BCConfig(steps=20, policy=PolicyConfig(hidden_dims=(16,))), out=tmp_path / "bc")
    command = [sys.executable, "-m", "honing", "eval", str(tmp_path / "bc"), "--episodes", "1", "--video", "2",
               "--video-size", "96", "--num-envs", "1", "--out", str(tmp_path / "eval.json")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)  # fresh MuJoCo: GL chosen at import
    assert done.returncode == 0, done.stderr
    _check_videos(tmp_path / "videos" / "eval", 2)


def test_no_gl_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from honing.errors import HoningError
    from honing.eval.video import select_gl_backend

    monkeypatch.setenv("MUJOCO_GL", "no-such-backend")
    with pytest.raises(HoningError, match=r"MUJOCO_GL=no-such-backend failed\); install .*libosmesa6"):
        select_gl_backend()


@pytest.mark.parametrize(("size", "shadow"), [(96, 512), (480, 1024), (None, 1024)])
def test_the_shadow_map_follows_the_frame_size(size: int | None, shadow: int) -> None:
    from honing.eval.video import size_frames
    from honing.tasks import get_task

    env = get_task("metaworld/pick-place").make_env(sparse=True, render_mode="rgb_array")  # no GL until a frame
    try:
        assert env.unwrapped.model.vis.quality.shadowsize == 4096  # Meta-World's own
        size_frames(env, size)
        assert env.unwrapped.model.vis.quality.shadowsize == shadow  # None: the env's 480-pixel frames
    finally:
        env.close()
