from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from honing.runs import atomic_directory, atomic_write_text


def test_atomic_directory_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("one")
    assert (target / "a.txt").read_text() == "one"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("two")
        raise RuntimeError("crash in the middle of a write")
    assert (target / "a.txt").read_text() == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    with atomic_directory(target) as tmp:
        (tmp / "b.txt").write_text("three")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]


def test_atomic_write_text(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "x" / "f.json", "{}")
    assert (tmp_path / "x" / "f.json").read_text() == "{}"
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["f.json"]


def test_a_kill_between_the_two_renames_is_recovered(tmp_path: Path) -> None:
    from honing.runs.atomic import atomic_directory, recover_directory

    target = tmp_path / "last"
    with atomic_directory(target) as tmp:
        (tmp / "weights").write_text("v1")
    (tmp_path / ".last.old-4242").mkdir()  # what a kill right after the first rename leaves ...
    (target / "weights").rename(tmp_path / ".last.old-4242" / "weights")
    target.rmdir()  # ... with the new copy not yet renamed in
    assert recover_directory(target) and (target / "weights").read_text() == "v1"
    assert not recover_directory(target)  # nothing left to recover


def test_atomic_writes_get_the_mode_of_an_ordinary_new_file(tmp_path: Path) -> None:
    """Temporary files are private (0600); the results they become must not be."""
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "report.html", "<html></html>")
        with atomic_directory(tmp_path / "dataset") as tmp:
            (tmp / "x").write_text("1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "dataset").stat().st_mode) == 0o755
