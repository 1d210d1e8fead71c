"""Single source of the package version (recorded in datasets and checkpoints)."""

__version__ = "0.1.0"
