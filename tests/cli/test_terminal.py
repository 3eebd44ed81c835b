"""Tables and progress bars (rich) read the same when piped: plain text, no ANSI codes, a bar
only as its final line; styles and redraws are for terminals."""

import subprocess
import sys
from pathlib import Path

from spot_cli.terminal import plain_text, table

ROOT = Path(__file__).resolve().parents[2]


def _piped(code):
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )


def test_piped_tables_are_plain_aligned_text():
    result = _piped(
        "from spot_cli.terminal import show, table\n"
        "rows = [['terminate', 1200], ['stop', 7]]\n"
        "show([table('Instance action', ['action', 'warnings'], rows),"
        " table('Instance types', ['instance type', 'warnings'], [])])\n"
    )
    assert "\x1b" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[:2] == ["Instance action", "action      warnings"]
    assert set(lines[2]) == {"─"}
    # Numbers right-aligned under their header, text left-aligned; no trailing blanks.
    assert lines[3:5] == ["terminate       1200", "stop               7"]
    assert lines[5:] == ["", "Instance types", "instance type   warnings", lines[8], "(no data)"]


def test_piped_progress_bar_prints_only_its_final_line():
    result = _piped(
        "from spot_cli.terminal import ProgressBar\n"
        "bar = ProgressBar('ingest', 40)\n"
        "for done in range(0, 41, 10):\n"
        "    bar.update(done, f'{done} retried')\n"
        "bar.finish('queues drained')\n"
    )
    assert "\x1b" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ingest ")
    assert " 40/40 " in lines[0]
    assert lines[0].endswith("queues drained")


def test_long_titles_are_never_wrapped_to_the_table():
    text = plain_text([table("Rebalance lead time (warning minus the latest one)", ["s", "v"], [])])
    assert text.splitlines()[0] == "Rebalance lead time (warning minus the latest one)"
