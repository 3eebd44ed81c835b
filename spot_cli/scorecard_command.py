"""`spot-insights report --scorecard`: the rebalance scorecard as tables or JSON.

Kept apart from `commands/report.py` so that the command imports nothing heavy up front
(the scorecard's module pulls in rich and the report's queries only when it runs)."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from typing import Any

from spot_cli.errors import CliError

# A rebalance recommendation counts as a correct signal when its warning came within this:
# AWS's own node termination handler reports leads from 17 minutes to 8 h 42 min
# (aws-node-termination-handler #141); two hours is longer than a node pool needs to replace
# an instance and short enough that a rebalance hours before an unrelated reclaim is a miss.
DEFAULT_HORIZON = timedelta(hours=2)


def horizon(value: str) -> timedelta:
    """`--horizon`: a duration like 30m, 2h or 1d, longer than zero."""
    # Imported here: spot_cli.commands imports this module while it initialises.
    from spot_cli.commands.options import duration  # noqa: PLC0415

    parsed = duration(value)
    if parsed <= timedelta(0):
        raise argparse.ArgumentTypeError(f"the horizon must be longer than zero: {value!r}")
    return parsed


def show_scorecard(client: Any, request: Any, args: argparse.Namespace) -> int:
    """Print the scorecard of `request` (a report.ReportRequest) with `args.horizon`."""
    from spot_cli.scorecard import ScorecardRequest, build_scorecard, scorecard_tables  # noqa: PLC0415
    from spot_cli.terminal import show  # noqa: PLC0415

    try:
        scorecard = build_scorecard(client, ScorecardRequest(request, args.horizon))
    except LookupError as exc:  # report.NoIndexError
        raise CliError(f"{exc} (is --index-prefix right?)") from exc
    if args.json:
        print(json.dumps(scorecard.to_dict(), indent=2))
    else:
        show(scorecard_tables(scorecard))
    return 0
