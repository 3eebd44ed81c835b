"""`--last` / `--since` / `--until` mean the same window in every form of `report` (tables,
`--rates`, `--scorecard`, `--html`): one function, spot_cli.commands.options.report_window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spot_cli.commands.options import report_window
from spot_cli.main import build_parser, main

UNTIL = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _args(*argv: str):
    return build_parser().parse_args(["report", *argv])


def test_last_ends_at_until_or_now():
    assert report_window(_args("--last", "6h", "--until", "2026-12-01T12:00:00Z")) == (
        UNTIL - timedelta(hours=6),
        UNTIL,
    )
    since, until = report_window(_args("--last", "1h"))
    assert until - since == timedelta(hours=1)
    assert abs(datetime.now(UTC) - until) < timedelta(minutes=1)


def test_an_open_end_stays_open_unless_the_caller_draws_a_fixed_span():
    since = "2026-12-01T06:00:00Z"
    assert report_window(_args("--since", since)) == (UNTIL - timedelta(hours=6), None)
    assert report_window(_args()) == (None, None)
    assert report_window(_args("--until", "2026-12-01T12:00:00Z")) == (None, UNTIL)
    start, end = report_window(_args("--since", since), open_end_is_now=True)
    assert start == UNTIL - timedelta(hours=6)
    assert abs(datetime.now(UTC) - end) < timedelta(minutes=1)


@pytest.mark.parametrize("form", [[], ["--rates"], ["--scorecard"], ["--html", "x.html"]])
def test_every_report_form_refuses_an_empty_window(form, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["report", *form, "--since", "2026-12-01T12:00:00Z", "--until", "2026-12-01T11:00:00Z"]
    # No endpoint is reachable: the window is refused before anything is asked of OpenSearch.
    code = main([*argv, "--endpoint", "https://127.0.0.1:9", "--user", "u"])
    assert code != 0
    assert "--since must be before --until" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
