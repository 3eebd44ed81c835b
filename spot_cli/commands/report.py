"""`spot-insights report`: the dashboard's numbers as tables, JSON, or one offline HTML page."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lambda_src.contract import index_pattern
from spot_cli.commands.options import (
    add_opensearch,
    duration,
    opensearch_settings,
    positive,
    report_window,
    timestamp,
)
from spot_cli.errors import CliError
from spot_cli.scorecard_command import DEFAULT_HORIZON, horizon, show_scorecard

NAME = "report"
# option -> report filter field (repeatable options; spot_cli.report.FILTER_FIELDS names them).
_FILTERS = (
    ("--region", "region"),
    ("--az", "availability_zone"),
    ("--instance-type", "instance_type"),
    ("--family", "instance_family"),
    ("--capacity-group", "capacity_group"),
    ("--account", "account"),
)


def register(commands: Any) -> None:
    parser = commands.add_parser(NAME, help="the dashboard's numbers as tables or JSON")
    add_opensearch(parser)
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--last", type=duration, help="e.g. 24h (default: all time)")
    window.add_argument("--since", type=timestamp)
    parser.add_argument("--until", type=timestamp)
    for option, dest in _FILTERS:
        parser.add_argument(option, dest=dest, action="append", default=[], help="repeatable")
    parser.add_argument("--top", type=positive, default=10)
    parser.add_argument("--json", action="store_true")
    # Issue 14: how good rebalance recommendations are as a signal (spot_cli/scorecard.py).
    parser.add_argument(
        "--scorecard", action="store_true", help="rebalance precision, recall and lead time"
    )
    parser.add_argument(
        "--horizon",
        type=horizon,
        default=DEFAULT_HORIZON,
        help="--scorecard: a rebalance followed by a warning within this is a hit (default 2h)",
    )
    parser.add_argument(
        "--rates",
        action="store_true",
        help="warnings per 1,000 instance-hours (needs the exposure sampler's data)",
    )
    parser.add_argument(
        "--market",
        action="store_true",
        help="Spot prices, advisor buckets, pools above their bucket (default window 30 days)",
    )
    parser.add_argument(
        "--html", metavar="FILE", help="write the dashboard's panels as one offline HTML page"
    )


def run(args: argparse.Namespace) -> int:
    if args.html:
        return _html(args)
    if args.market:
        from spot_cli.commands.market_report import run_market  # noqa: PLC0415

        return run_market(args)
    if args.rates:
        from spot_cli.commands.rates_report import run_rates  # noqa: PLC0415

        return run_rates(args)
    from spot_cli.opensearch_client import connect  # noqa: PLC0415
    from spot_cli.report import FILTER_FIELDS, ReportRequest, build_report, tables  # noqa: PLC0415
    from spot_cli.terminal import show  # noqa: PLC0415

    since, until = report_window(args)
    request = ReportRequest(
        since=since,
        until=until,
        filters={name: getattr(args, name) for name in FILTER_FIELDS if getattr(args, name)},
        top=args.top,
        index_prefix=args.index_prefix,
    )
    if args.scorecard:
        return show_scorecard(connect(opensearch_settings(args)), request, args)
    try:
        report = build_report(connect(opensearch_settings(args)), request)
    except LookupError as exc:  # report.NoIndexError, without importing it up front
        raise CliError(f"{exc} (is --index-prefix right?)") from exc
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        show(tables(report))
    return 0


def _html(args: argparse.Namespace) -> int:
    """`report --html FILE`: the saved dashboard's panels, with the report's window and filters."""
    from spot_cli.dashboard_panels import TimeRange  # noqa: PLC0415
    from spot_cli.html_report import write_html  # noqa: PLC0415
    from spot_cli.opensearch_client import connect  # noqa: PLC0415
    from spot_cli.report import FILTER_FIELDS  # noqa: PLC0415

    since, until = report_window(args, open_end_is_now=True)
    window = TimeRange(since, until) if since and until else None
    selections = {
        FILTER_FIELDS[name]: getattr(args, name) for name in FILTER_FIELDS if getattr(args, name)
    }
    try:
        summary = write_html(
            connect(opensearch_settings(args)),
            Path(args.html),
            index=index_pattern(args.index_prefix),
            window=window,
            selections=selections,
        )
    except LookupError as exc:  # dashboard_panels.NoIndexError
        raise CliError(f"{exc} (is --index-prefix right?)") from exc
    print(f"wrote {summary.panels} panels to {summary.path}")
    return 0
