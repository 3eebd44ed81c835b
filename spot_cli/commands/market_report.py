"""`spot-insights report --market`: the market context tables or JSON (spot_cli/market.py)."""

from __future__ import annotations

import argparse
import json

from spot_cli.commands.options import opensearch_settings, report_window
from spot_cli.errors import CliError


def run_market(args: argparse.Namespace) -> int:
    from spot_cli.market import MarketRequest, build_market, market_tables  # noqa: PLC0415
    from spot_cli.opensearch_client import connect  # noqa: PLC0415
    from spot_cli.report import FILTER_FIELDS  # noqa: PLC0415
    from spot_cli.terminal import show  # noqa: PLC0415

    # An open end is now, as the market report's prices and staleness are read up to it.
    since, until = report_window(args, open_end_is_now=True)
    request = MarketRequest(
        since=since,
        until=until,
        filters={name: getattr(args, name) for name in FILTER_FIELDS if getattr(args, name)},
        index_prefix=args.index_prefix,
    )
    try:
        market = build_market(connect(opensearch_settings(args)), request)
    except LookupError as exc:  # report.NoIndexError
        raise CliError(f"{exc} (is --index-prefix right?)") from exc
    if args.json:
        print(json.dumps(market.to_dict(), indent=2))
    else:
        show(market_tables(market, args.top))
    return 0
