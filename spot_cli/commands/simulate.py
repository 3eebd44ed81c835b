"""`spot-insights simulate`: synthetic interruption warnings on a real account's bus."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lambda_src.contract import SIMULATION_SOURCE
from spot_cli.commands.options import duration, positive
from spot_cli.errors import CliError

NAME = "simulate"


def register(commands: Any) -> None:
    parser = commands.add_parser(
        NAME, help="put synthetic interruption warnings on a real account's bus"
    )
    parser.add_argument("--count", type=positive, default=10)
    parser.add_argument("--region", default=None, help="default: the session's region")
    parser.add_argument("--bus", default="default")
    parser.add_argument(
        "--source", default=SIMULATION_SOURCE, help="only the stack's test rule accepts it"
    )
    parser.add_argument("--instance-id", action="append", default=[], dest="instance_ids")
    parser.add_argument(
        "--discover", action="store_true", help="use running Spot instances of the account"
    )
    parser.add_argument("--action", choices=("terminate", "stop", "hibernate"), default="terminate")
    parser.add_argument(
        "--rebalance-lead", type=duration, help="also send a rebalance this long before"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the events, send nothing")


def run(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415

    from spot_cli.simulate import fabricated_targets, simulate, simulated_events  # noqa: PLC0415
    from spot_cli.terminal import ProgressBar  # noqa: PLC0415

    session = boto3.session.Session()
    region = args.region or session.region_name
    if not region:
        raise CliError("no region: pass --region or set AWS_REGION")
    if args.dry_run:
        events = simulated_events(
            fabricated_targets(region, args.count, seed=0),
            args.count,
            account="123456789012",
            region=region,
            source=args.source,
            rebalance_lead=args.rebalance_lead,
            action=args.action,
        )
        print(json.dumps(events, indent=2))
        return 0
    total = args.count * (2 if args.rebalance_lead else 1)
    bar = ProgressBar("simulate", total)
    ids = simulate(
        session,
        count=args.count,
        region=region,
        bus=args.bus,
        source=args.source,
        instance_ids=args.instance_ids,
        discover=args.discover,
        rebalance_lead=args.rebalance_lead,
        action=args.action,
        progress=bar.advance,
    )
    bar.finish(f"source {args.source} on bus {args.bus} in {region}")
    print(f"put {len(ids)} events; the stack's test rule forwards source {args.source}")
    return 0
