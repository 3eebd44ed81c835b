"""Option types and option groups shared by several subcommands."""

from __future__ import annotations

import argparse
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from lambda_src.contract import DEFAULT_INDEX_PREFIX
from spot_cli.errors import CliError

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(value: str) -> timedelta:
    match = _DURATION.match(value.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration like 30m, 6h or 7d: {value!r}")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return number


def report_window(
    args: argparse.Namespace, *, open_end_is_now: bool = False
) -> tuple[datetime | None, datetime | None]:
    """`--last` / `--since` / `--until` as (since, until), None where the window is open.
    `--last` ends at `--until` or now; with `open_end_is_now` a `--since` without `--until`
    also ends now (a page drawn for a fixed span). Raises CliError for an empty window."""
    ends_now = args.last or (open_end_is_now and args.since)
    until = args.until or (datetime.now(UTC) if ends_now else None)
    since = args.since or (until - args.last if args.last and until else None)
    if since and until and since >= until:
        raise CliError("--since must be before --until")
    return since, until


def add_opensearch(parser: argparse.ArgumentParser) -> None:
    """Where the domain or node is and how to sign in (read by `opensearch_settings`)."""
    group = parser.add_argument_group("OpenSearch")
    group.add_argument(
        "--endpoint",
        default=os.environ.get("OPENSEARCH_URL"),
        help="https URL of the domain or node (default: $OPENSEARCH_URL)",
    )
    group.add_argument(
        "--auth",
        choices=("auto", "sigv4", "basic"),
        default="auto",
        help="auto: basic when a user is given, else SigV4",
    )
    group.add_argument("--user", default=os.environ.get("OPENSEARCH_USER"))
    group.add_argument(
        "--password-env",
        default="OPENSEARCH_PASSWORD",
        help="environment variable holding the password (never pass it on the command line)",
    )
    group.add_argument("--ca-certs", default=os.environ.get("OPENSEARCH_CA_CERTS"))
    group.add_argument("--signing-region", help="SigV4 region (default: from the endpoint)")
    group.add_argument("--index-prefix", default=DEFAULT_INDEX_PREFIX)
    group.add_argument("--timeout", type=float, default=15.0, help="request timeout in seconds")


def opensearch_settings(args: argparse.Namespace) -> Any:
    from spot_cli.opensearch_client import OpenSearchSettings  # noqa: PLC0415

    if not args.endpoint:
        raise CliError("no endpoint: pass --endpoint or set OPENSEARCH_URL")
    return OpenSearchSettings(
        endpoint=args.endpoint,
        auth=args.auth,
        user=args.user,
        password=os.environ.get(args.password_env),
        ca_certs=args.ca_certs,
        region=args.signing_region,
        timeout=args.timeout,
    )
