"""`spot-insights backfill`: the Spot evictions in CloudTrail's event history (up to 90 days),
written through the ingest function's own code; resumable (see spot_cli/backfill.py)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lambda_src.ingest.events import REGION
from spot_cli.backfill_cloudtrail import BATCH_EVENTS, HISTORY_DAYS
from spot_cli.commands.options import add_opensearch, opensearch_settings, positive
from spot_cli.errors import CliError

NAME = "backfill"
_ACCOUNT = re.compile(r"\d{12}")


def days(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= HISTORY_DAYS:
        raise argparse.ArgumentTypeError(
            f"--days must be a whole number from 1 to {HISTORY_DAYS} "
            f"(CloudTrail keeps {HISTORY_DAYS} days of event history), got {value!r}"
        )
    return number


def _listed(pattern: re.Pattern[str], what: str) -> Any:
    def parse(value: str) -> list[str]:
        items = [item.strip() for item in value.split(",") if item.strip()]
        bad = [item for item in items if not pattern.fullmatch(item)]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"not a comma-separated list of {what}: {value!r}")
        return list(dict.fromkeys(items))

    return parse


def register(commands: Any) -> None:
    parser = commands.add_parser(
        NAME, help="index the Spot evictions CloudTrail still holds (up to 90 days)"
    )
    parser.add_argument("--days", type=days, default=HISTORY_DAYS, help="1-90 (default 90)")
    parser.add_argument(
        "--regions",
        type=_listed(REGION, "region names"),
        required=True,
        help="comma-separated, e.g. us-east-1,eu-west-1",
    )
    parser.add_argument(
        "--accounts",
        type=_listed(_ACCOUNT, "12-digit account ids"),
        help="comma-separated; each is read through --role-name (default: the caller's account)",
    )
    parser.add_argument(
        "--role-name",
        help="role assumed in each of --accounts: cloudtrail:LookupEvents, "
        "ec2:DescribeInstances, ec2:DescribeAvailabilityZones, trusting the caller",
    )
    parser.add_argument(
        "--state",
        type=Path,
        help="resume file (default: $XDG_STATE_HOME/spot-insights/backfill.json)",
    )
    parser.add_argument("--restart", action="store_true", help="ignore the state file's progress")
    parser.add_argument(
        "--dlq", help="dead-letter queue URL for records that cannot be indexed (else they stop)"
    )
    parser.add_argument(
        "--batch-events",
        type=positive,
        default=BATCH_EVENTS,
        help=f"pages are written (and progress saved) in batches of at least this many events "
        f"(default {BATCH_EVENTS}; a page holds up to 50)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_opensearch(parser)


def run(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415 - start-up time

    from lambda_src.contract import write_alias  # noqa: PLC0415
    from lambda_src.ingest.config import IngestConfig  # noqa: PLC0415
    from lambda_src.ingest.runtime import Runtime  # noqa: PLC0415
    from lambda_src.ingest.search_client import SearchSettings  # noqa: PLC0415
    from spot_cli.backfill import DocumentWriter, Target, run_backfill, window  # noqa: PLC0415
    from spot_cli.backfill_cloudtrail import EventHistory, RateLimiter, lookup_client  # noqa: PLC0415
    from spot_cli.backfill_state import BackfillState, default_path  # noqa: PLC0415

    if args.accounts and not args.role_name:
        raise CliError("--accounts needs --role-name (the role to assume in each account)")
    settings = opensearch_settings(args)
    basic = settings.resolved_auth() == "basic"
    if basic and not (settings.user and settings.password):
        raise CliError("basic auth needs a user and a password (OPENSEARCH_USER/_PASSWORD)")
    session = boto3.session.Session()
    home = session.client("sts").get_caller_identity()["Account"]
    config = IngestConfig(
        search=SearchSettings(
            endpoint=settings.endpoint.rstrip("/"),
            user=settings.user if basic else None,
            password=settings.password if basic else None,
            ca_certs=settings.ca_certs,
            region=settings.region,
            timeout=settings.timeout,
        ),
        index_alias=write_alias(args.index_prefix),
        dead_letter_queue_url=args.dlq,
        # The product's cross-account lookups (credentials cached and refreshed per account)
        # with the backfill's role; its sessions also read each account's event history.
        spoke_role_name=args.role_name if args.accounts else None,
        home_account=home,
        log_level="CRITICAL",
        metrics_enabled=False,
    )
    ingestor = Runtime.from_config(config, session).ingestor

    def history(account: str, region: str) -> Any:
        account_session = ingestor.accounts.for_account(account).session
        return lambda: EventHistory(lookup_client(account_session, region), RateLimiter())

    targets = [
        Target(account, region, history(account, region))
        for account in args.accounts or [home]
        for region in args.regions
    ]
    path = args.state or default_path()
    state = BackfillState(path, args.days) if args.restart else BackfillState.load(path, args.days)
    start, end = window(args.days, datetime.now(UTC))
    bar = _Progress(len(targets))
    try:
        summary = run_backfill(
            targets,
            state,
            DocumentWriter(ingestor),
            start,
            end,
            batch_events=args.batch_events,
            progress=bar.update,
        )
    except KeyboardInterrupt:
        bar.finish("interrupted")
        print(
            f"interrupted; progress is saved in {path}: run the same command to resume",
            file=sys.stderr,
        )
        return 130
    bar.finish("done")
    if args.json:
        print(json.dumps({"state": str(path), **summary.to_dict()}, indent=2))
    else:
        _print(summary, path)
    failed = [r for r in summary.regions if r.status == "failed"]
    for region in failed:
        print(f"{region.account}/{region.region}: {region.reason}", file=sys.stderr)
    return 1 if failed else 0


class _Progress:
    """One bar over the accounts and regions; the note names the one being read."""

    def __init__(self, total: int) -> None:
        from spot_cli.terminal import ProgressBar  # noqa: PLC0415

        self._bar = ProgressBar(NAME, total)
        self._finished: set[tuple[str, str]] = set()

    def update(self, region: Any) -> None:
        if region.status != "pending":
            self._finished.add((region.account, region.region))
        note = f"{region.account}/{region.region}: {region.pages} pages, {region.events} evictions"
        self._bar.update(len(self._finished), note)

    def finish(self, note: str) -> None:
        self._bar.finish(note)


def _print(summary: Any, path: Path) -> None:
    from spot_cli.terminal import show, table  # noqa: PLC0415

    rows = [
        (r.account, r.region, r.status, r.pages, r.events, r.stored, r.enrichment_missing)
        for r in summary.regions
    ]
    headers = ("account", "region", "status", "pages", "evictions", "stored", "not enriched")
    totals = summary.to_dict()
    show(
        [
            table(f"Backfill {summary.start} .. {summary.end}", headers, rows, left=(0, 1, 2)),
            f"{totals['events']} evictions read, {totals['stored']} stored, "
            f"{totals['throttled']} throttled requests retried; "
            f"{totals['seconds']} s (writing {totals['write_seconds']} s); state: {path}",
        ]
    )
