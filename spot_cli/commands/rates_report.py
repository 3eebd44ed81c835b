"""`spot-insights report --rates`: the rates tables or JSON (spot_cli/rates.py)."""

from __future__ import annotations

import argparse
import json

from spot_cli.commands.options import opensearch_settings, report_window
from spot_cli.errors import CliError


def run_rates(args: argparse.Namespace) -> int:
    from spot_cli.opensearch_client import connect  # noqa: PLC0415
    from spot_cli.rates import RatesRequest, build_rates, rate_tables  # noqa: PLC0415
    from spot_cli.report import FILTER_FIELDS  # noqa: PLC0415
    from spot_cli.terminal import show  # noqa: PLC0415

    since, until = report_window(args)
    request = RatesRequest(
        since=since,
        until=until,
        filters={name: getattr(args, name) for name in FILTER_FIELDS if getattr(args, name)},
        index_prefix=args.index_prefix,
    )
    try:
        rates = build_rates(connect(opensearch_settings(args)), request)
    except LookupError as exc:  # report.NoIndexError
        raise CliError(f"{exc} (is --index-prefix right?)") from exc
    if args.json:
        print(json.dumps(rates.to_dict(), indent=2))
    else:
        show(rate_tables(rates, args.top))
    return 0
