"""`spot-insights backfill`'s options: bad values are refused in one line before anything runs."""

from __future__ import annotations

import pytest

from spot_cli.main import main


@pytest.mark.parametrize("days", ["0", "91", "-3", "seven", "1.5"])
def test_days_outside_cloudtrails_history_are_refused_in_one_line(days, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["backfill", "--days", days, "--regions", "us-east-1"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "--days must be a whole number from 1 to 90 (CloudTrail keeps 90 days" in error
    assert repr(days) in error


@pytest.mark.parametrize(
    ("option", "value", "what"),
    [
        ("--regions", "us-east-1,Mars", "region names"),
        ("--regions", ",", "region names"),
        ("--accounts", "12345", "12-digit account ids"),
    ],
)
def test_bad_regions_and_accounts_are_refused_in_one_line(option, value, what, capsys):
    args = ["backfill", "--regions", "us-east-1", option, value]
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"not a comma-separated list of {what}" in error


def test_accounts_need_a_role_name(capsys):
    code = main(["backfill", "--regions", "us-east-1", "--accounts", "111111111111"])
    assert code == 1
    assert capsys.readouterr().err == (
        "spot-insights backfill: error: --accounts needs --role-name "
        "(the role to assume in each account)\n"
    )


def test_days_and_regions_are_required_forms_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["backfill", "--help"])
    out = capsys.readouterr().out
    for option in ("--days", "--regions", "--accounts", "--role-name", "--state", "--restart"):
        assert option in out


def test_the_summary_table_names_each_account_and_region(capsys, tmp_path):
    from spot_cli.backfill import BackfillSummary, RegionSummary  # noqa: PLC0415
    from spot_cli.commands.backfill import _print  # noqa: PLC0415

    summary = BackfillSummary("2026-09-01T00:00:00+00:00", "2026-11-30T00:00:00+00:00")
    summary.regions = [
        RegionSummary("111111111111", "us-east-1", "done", 3, 120, 121, 121, 0, 2, 5),
        RegionSummary("111111111111", "eu-west-1", "failed", reason="AccessDenied: no"),
    ]
    summary.seconds, summary.write_seconds = 12.5, 4.0
    _print(summary, tmp_path / "state.json")
    out = capsys.readouterr().out  # piped: plain text
    assert "\x1b[" not in out
    assert "Backfill 2026-09-01T00:00:00+00:00 .. 2026-11-30T00:00:00+00:00" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["111111111111", "us-east-1", "done", "3", "120", "121", "121"] in lines
    assert ["111111111111", "eu-west-1", "failed", "0", "0", "0", "0"] in lines
    assert "120 evictions read, 121 stored, 2 throttled requests retried" in out
