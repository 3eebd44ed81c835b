"""`spot-insights redrive`: move the dead-letter queue's messages back to their queue."""

from __future__ import annotations

import argparse
from typing import Any

from spot_cli.commands.options import positive
from spot_cli.errors import CliError

NAME = "redrive"


def register(commands: Any) -> None:
    parser = commands.add_parser(NAME, help="move the DLQ's messages back to the queue")
    parser.add_argument("--dlq", required=True, help="dead-letter queue URL, ARN or name")
    parser.add_argument("--queue", help="destination (default: the DLQ's source queue)")
    parser.add_argument("--region")
    parser.add_argument("--method", choices=("move-task", "copy"), default="move-task")
    parser.add_argument("--max-per-second", type=positive)
    parser.add_argument("--no-wait", action="store_true")


def run(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415

    from spot_cli.redrive import copy_back, depth, move_task, resolve_queue, source_queue  # noqa: PLC0415
    from spot_cli.terminal import ProgressBar  # noqa: PLC0415

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
