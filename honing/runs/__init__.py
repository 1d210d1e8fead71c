"""Run directories, metrics and atomic file writes."""

from honing.runs.atomic import atomic_directory, atomic_write_bytes, atomic_write_text
from honing.runs.rundir import RunDir, read_metrics

__all__ = ["RunDir", "atomic_directory", "atomic_write_bytes", "atomic_write_text", "read_metrics"]
