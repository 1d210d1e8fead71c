"""``honing`` command line: parse arguments, call the public API, print results.

No logic lives here beyond argument handling: one module per family of subcommands (pipeline,
finetune, tools), each with its ``cmd_*`` functions and the parsers that call them. Bad input
raised as a HoningError is printed as one line, ``honing: error: ...``, with exit status 2, and
honing's own warnings as one line, ``honing: warning: ...``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from honing._version import __version__
from honing.cli import finetune, pipeline, tools
from honing.errors import HoningError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="honing",
        description="Turn a handful of demonstrations into a policy that reliably succeeds.",
    )
    parser.add_argument("--version", action="version", version=f"honing {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = (
        pipeline.add_tasks, pipeline.add_demos, pipeline.add_bc, pipeline.add_eval, tools.add_report,
        finetune.add_finetune, tools.add_shield, tools.add_data, tools.add_sweep, pipeline.add_quickstart,
    )  # fmt: skip
    for add in commands:
        add(sub)
    return parser


def one_line_warnings(show: Callable[..., None]) -> Callable[..., None]:
    """`show` (``warnings.showwarning``) with honing's own warnings printed as one line,
    ``honing: warning: ...``, as its errors are; a warning from anywhere else goes to `show`."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

    def shown(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
              line: str | None = None) -> None:  # fmt: skip
        if os.path.abspath(filename).startswith(package):
            print(f"honing: warning: {message}", file=file or sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    return shown


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():  # restores Python's own display when the command returns
            warnings.showwarning = one_line_warnings(warnings.showwarning)
            return int(args.func(args))
    except HoningError as exc:
        print(f"honing: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("honing: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at interpreter exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
