"""Every row of docs/errors.md: the bad input gets its one-line message, never a traceback."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from honing.cli import main
from tests.bad_inputs import build

TABLE = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
ROW = re.compile(r"^\| (\d+) \| ([^|]+) \| `honing ([^`]+)` \| `(.+)` \|$")


def rows() -> list[tuple[str, str, str, str]]:
    found = [ROW.match(line) for line in TABLE.read_text().splitlines()]
    return [(m[1], m[2].strip(), m[3], m[4].replace("\\|", "|")) for m in found if m]


def test_the_table_lists_at_least_thirty_bad_inputs() -> None:
    table = rows()
    assert len(table) >= 30
    assert [int(number) for number, *_ in table] == list(range(1, len(table) + 1))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    build(root)
    return root


@pytest.mark.parametrize(("number", "what", "command", "message"), rows(), ids=lambda v: v if v.isdigit() else "")
def test_bad_input_gets_its_message(
    number: str, what: str, command: str, message: str, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [part.replace("{tmp}", str(scratch)) for part in shlex.split(command)]
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse rejects malformed values itself (usage line + error)
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2, f"row {number} ({what}): exit status {status}"
    assert "Traceback" not in err
    assert message.replace("{tmp}", str(scratch)) in err, f"row {number} ({what}) printed: {err}"
    if "usage:" not in err:
        assert err.count("\n") == 1 and err.startswith("honing: error: ")
