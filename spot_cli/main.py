"""`spot-insights`: simulate, report, redrive, demo, preflight.

Heavy imports (boto3, opensearch-py, moto) happen inside the subcommands so `--help` and
argument errors stay fast. Every expected failure becomes one line on stderr and exit code 1
(2 for usage errors, from argparse); tracebacks are reserved for bugs, and `--debug` shows them."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from spot_cli import preflight
from spot_cli.errors import CliError

PROG = "spot-insights"
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, not the usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


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


def _add_opensearch(parser: argparse.ArgumentParser) -> None:
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
    group.add_argument("--index-prefix", default="spot-interruptions")
    group.add_argument("--timeout", type=float, default=15.0, help="request timeout in seconds")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Spot Interruption Insights command line.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    simulate = commands.add_parser(
        "simulate", help="put synthetic interruption warnings on a real account's bus"
    )
    simulate.add_argument("--count", type=positive, default=10)
    simulate.add_argument("--region", default=None, help="default: the session's region")
    simulate.add_argument("--bus", default="default")
    simulate.add_argument(
        "--source", default="spot-insights.simulate", help="only the stack's test rule accepts it"
    )
    simulate.add_argument("--instance-id", action="append", default=[], dest="instance_ids")
    simulate.add_argument(
        "--discover", action="store_true", help="use running Spot instances of the account"
    )
    simulate.add_argument(
        "--action", choices=("terminate", "stop", "hibernate"), default="terminate"
    )
    simulate.add_argument(
        "--rebalance-lead", type=duration, help="also send a rebalance this long before"
    )
    simulate.add_argument("--dry-run", action="store_true", help="print the events, send nothing")

    report = commands.add_parser("report", help="the dashboard's numbers as tables or JSON")
    _add_opensearch(report)
    window = report.add_mutually_exclusive_group()
    window.add_argument("--last", type=duration, help="e.g. 24h (default: all time)")
    window.add_argument("--since", type=timestamp)
    report.add_argument("--until", type=timestamp)
    for option, dest in (
        ("--region", "region"),
        ("--az", "availability_zone"),
        ("--instance-type", "instance_type"),
        ("--family", "instance_family"),
        ("--capacity-group", "capacity_group"),
        ("--account", "account"),
    ):
        report.add_argument(option, dest=dest, action="append", default=[], help="repeatable")
    report.add_argument("--top", type=positive, default=10)
    report.add_argument("--json", action="store_true")
    report.add_argument(
        "--html", metavar="FILE", help="write the dashboard's panels as one offline HTML page"
    )

    redrive = commands.add_parser("redrive", help="move the DLQ's messages back to the queue")
    redrive.add_argument("--dlq", required=True, help="dead-letter queue URL, ARN or name")
    redrive.add_argument("--queue", help="destination (default: the DLQ's source queue)")
    redrive.add_argument("--region")
    redrive.add_argument("--method", choices=("move-task", "copy"), default="move-task")
    redrive.add_argument("--max-per-second", type=positive)
    redrive.add_argument("--no-wait", action="store_true")

    demo = commands.add_parser("demo", help="the whole pipeline locally, without an AWS account")
    demo.add_argument("--events", type=positive, default=5000)
    demo.add_argument("--poison", type=int, default=6)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--regions", default="us-east-1,us-west-2,eu-west-1")
    demo.add_argument("--batch-size", type=positive, default=100)
    demo.add_argument("--batching-window", type=float, default=1.0)
    demo.add_argument("--concurrency", type=positive, default=2)
    demo.add_argument("--handler", default=None, help="module:function of the ingest handler")
    demo.add_argument("--provisioner", default=None, help="module:function (settings, prefix)")
    demo.add_argument("--port", type=positive, default=9200, help="local OpenSearch port")
    demo.add_argument("--index-prefix", default="spot-interruptions")
    demo.add_argument(
        "--keep", action="store_true", help="keep earlier runs' documents (default: start empty)"
    )
    demo.add_argument("--stop", action="store_true", help="stop OpenSearch at the end")
    demo.add_argument("--json", action="store_true")

    preflight.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CliError as exc:
        return _fail(exc, args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # boto, opensearch-py and network errors: one clear line
        if args.debug:
            raise
        return _fail(CliError(describe_error(exc)), args)


def _fail(exc: CliError, args: argparse.Namespace) -> int:
    print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
    return exc.exit_code


def describe_error(exc: BaseException) -> str:
    """One line for the usual suspects, without importing their libraries up front."""
    kind = type(exc).__name__
    module = type(exc).__module__
    if module.startswith("opensearchpy"):
        status = getattr(exc, "status_code", None)
        info = getattr(exc, "info", None)
        if kind in {"ConnectionError", "ConnectionTimeout", "SSLError"}:
            cause = getattr(exc, "error", "") or kind
            return f"cannot reach OpenSearch ({kind}: {str(cause)[:200]})"
        reason = info.get("error", info) if isinstance(info, dict) else info
        return f"OpenSearch answered {status}: {str(reason)[:300]}"
    if kind in {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"}:
        return f"cannot reach the AWS endpoint: {exc}"
    if kind in {"NoCredentialsError", "PartialCredentialsError", "NoRegionError"}:
        return str(exc)
    if kind == "ClientError":
        error = getattr(exc, "response", {}).get("Error", {})
        return f"{error.get('Code', 'AWS error')}: {error.get('Message', exc)}"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{kind}: {first_line}" if first_line else kind


# -- commands ------------------------------------------------------------------------------------


def _opensearch_settings(args: argparse.Namespace) -> Any:
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


def cmd_report(args: argparse.Namespace) -> int:
    if args.html:  # the saved dashboard's panels as a page: spot_cli/html_report.py
        from spot_cli.html_report import html_command  # noqa: PLC0415

        return html_command(args)
    from spot_cli.opensearch_client import connect  # noqa: PLC0415
    from spot_cli.report import FILTER_FIELDS, ReportRequest, build_report, render  # noqa: PLC0415

    until = args.until or (datetime.now(UTC) if args.last else None)
    since = args.since or (until - args.last if args.last and until else None)
    if since and until and since >= until:
        raise CliError("--since must be before --until")
    request = ReportRequest(
        since=since,
        until=until,
        filters={name: getattr(args, name) for name in FILTER_FIELDS if getattr(args, name)},
        top=args.top,
        index_prefix=args.index_prefix,
    )
    try:
        report = build_report(connect(_opensearch_settings(args)), request)
    except LookupError as exc:  # report.NoIndexError, without importing it up front
        raise CliError(f"{exc} (is --index-prefix right?)") from exc
    print(json.dumps(report.to_dict(), indent=2) if args.json else render(report))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415

    from spot_cli.progress import ProgressBar  # noqa: PLC0415
    from spot_cli.simulate import (  # noqa: PLC0415
        fabricated_targets,
        simulate,
        simulated_events,
    )

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


def cmd_redrive(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415

    from spot_cli.progress import ProgressBar  # noqa: PLC0415
    from spot_cli.redrive import copy_back, depth, move_task, resolve_queue, source_queue  # noqa: PLC0415

    sqs = boto3.session.Session().client("sqs", region_name=args.region)
    dlq_url, dlq_arn = resolve_queue(sqs, args.dlq)
    dest_url, dest_arn = (
        resolve_queue(sqs, args.queue) if args.queue else source_queue(sqs, dlq_url)
    )
    bar = ProgressBar("redrive", depth(sqs, dlq_url))

    def progress(moved: int, total: int) -> None:
        bar.total = max(total, bar.total)
        bar.update(moved)

    if args.method == "copy":
        result = copy_back(sqs, dlq_url, dest_url, progress=progress)
    else:
        try:
            result = move_task(
                sqs,
                dlq_arn,
                dest_arn if args.queue else None,
                max_per_second=args.max_per_second,
                wait=not args.no_wait,
                progress=progress,
            )
        except Exception as exc:
            if _unsupported(exc):
                raise CliError(
                    "this SQS endpoint does not support message move tasks; use --method copy"
                ) from exc
            raise
    bar.finish(result.status.lower())
    if result.status not in {"COMPLETED", "RUNNING"}:
        raise CliError(f"move task {result.status}: {result.failure_reason or 'no reason given'}")
    print(f"moved {result.moved} messages to {dest_url} ({result.method}, {result.status})")
    return 0


def _unsupported(exc: BaseException) -> bool:
    response = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in {"InvalidAction", "UnsupportedOperation", "500"} or status == 500


def cmd_demo(args: argparse.Namespace) -> int:
    from spot_cli.demo_command import run_demo_command  # noqa: PLC0415

    return run_demo_command(args)


COMMANDS = {
    "simulate": cmd_simulate,
    "report": cmd_report,
    "redrive": cmd_redrive,
    "demo": cmd_demo,
    "preflight": preflight.run,
}
