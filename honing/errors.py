"""User-facing errors.

Every problem a user can cause (a typo in a task id, a missing dataset, a config key that does
not exist) is raised as a :class:`HoningError` with one line that names the problem and the fix.
The CLI prints it as ``honing: error: ...`` instead of a traceback from deep inside a library.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HoningError(Exception):
    """Base class for errors caused by bad input; the message is shown to the user as is."""


class ConfigError(HoningError):
    """A config file or override names an unknown key or a value of the wrong type."""


class TaskError(HoningError):
    """A task id is unknown, or an environment cannot serve as a honing task."""


class DatasetError(HoningError):
    """A dataset is missing, corrupt, empty, or does not match the task."""


class CheckpointError(HoningError):
    """A policy checkpoint is missing, corrupt, or incompatible."""


class DivergenceError(HoningError):
    """Training produced a non-finite loss or Q-value; the run stopped before saving it."""


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return a ' (did you mean ...?)' hint, or '' when nothing is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.5)
    if not matches:
        return ""
    return " (did you mean " + ", ".join(repr(m) for m in matches) + "?)"
