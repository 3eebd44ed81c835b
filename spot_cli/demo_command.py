"""The `demo` subcommand: wires local servers, the injected provisioner and handler, the
pipeline run and the report together, and prints the outcome."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from spot_cli.dashboard_panels import TimeRange
from spot_cli.demo import (
    DEFAULT_HANDLER,
    DEFAULT_PROVISIONER,
    LocalOpenSearch,
    aws_environment,
    check_importable,
    handler_environment,
    load_callable,
    local_opensearch,
    moto_server,
    resolve_handler,
    stop_opensearch,
)
from spot_cli.errors import CliError
from spot_cli.html_report import write_html
from spot_cli.local_pipeline import RegionalPipeline, create_pipelines
from spot_cli.opensearch_client import connect
from spot_cli.pipeline_run import RunResult, RunSettings, run_pipeline, window_of
from spot_cli.poller import EventSourceSettings
from spot_cli.report import Report, ReportRequest, build_report, render
from spot_cli.storm import StormSettings


def run_demo_command(args: argparse.Namespace) -> int:
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    if not regions:
        raise CliError("--regions needs at least one region")
    if args.poison < 0:
        raise CliError("--poison cannot be negative")
    try:
        source = EventSourceSettings(
            batch_size=args.batch_size,
            batching_window_seconds=args.batching_window,
            maximum_concurrency=args.concurrency,
            max_seconds=1800,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    provisioner = load_callable(args.provisioner or DEFAULT_PROVISIONER)
    handler_path = args.handler or DEFAULT_HANDLER
    # Fail before starting anything; the module itself is imported once its environment is set.
    check_importable(handler_path)
    local = local_opensearch(args.port)
    prefix = args.index_prefix
    admin = connect(local.settings)
    if not args.keep:
        _start_empty(admin, local, prefix)
    writer = provisioner(local.settings, prefix) or local.settings
    errors: list[BaseException] = []
    saved = dict(os.environ)
    run_settings = RunSettings(
        storm=StormSettings(events=args.events, seed=args.seed, poison=args.poison),
        regions=regions,
        source=source,
        index_prefix=prefix,
        show_progress=not args.json,
    )
    with moto_server() as moto_url:
        try:
            os.environ.update(aws_environment(moto_url, regions[0]))
            pipelines = create_pipelines(regions, run_settings.queue)
            # Set before the handler is imported: handlers read their environment at import.
            os.environ.update(
                handler_environment(writer, f"{prefix}-write", pipelines[regions[0]].dlq_url)
            )
            result, report, page = _run(
                handler_path=handler_path,
                client=admin,
                run_settings=run_settings,
                pipelines=pipelines,
                errors=errors,
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
    summary = result.summary() | {"handler_errors": len(errors)}

    if args.json:
        print(json.dumps({"run": summary, "report": report.to_dict(), "html": page}, indent=2))
    else:
        print(render(report))
        print()
        _print_run(result, errors)
        print(f"Dashboard page (the saved dashboard's panels, opens offline): {page}")
    if args.stop and local.started_port:
        stop_opensearch(local.started_port)
        print("OpenSearch stopped.", file=sys.stderr)
    else:
        _print_access(local.settings, local.started_port)
    return _verdict(result)


def _start_empty(client: Any, local: LocalOpenSearch, prefix: str) -> None:
    """Each run's checks and report cover exactly its own storm. Only the project's own local
    node is ever emptied; a cluster named by OPENSEARCH_URL is never written over."""
    if local.started_port is not None:
        client.indices.delete(
            index=f"{prefix}-*", ignore_unavailable=True, expand_wildcards="open,closed"
        )
        return
    if client.indices.exists(index=f"{prefix}-*", allow_no_indices=False):
        raise CliError(
            f"{local.settings.endpoint} already has {prefix}-* indices; pass another "
            "--index-prefix, or --keep to add to them"
        )


def _run(
    *,
    handler_path: str,
    client: Any,
    run_settings: RunSettings,
    pipelines: dict[str, RegionalPipeline],
    errors: list[BaseException],
) -> tuple[RunResult, Report, str]:
    handler = resolve_handler(handler_path)
    with warnings.catch_warnings():
        # The demo disables the function's metrics; Powertools then warns on every invocation.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        result = run_pipeline(
            handler, client, run_settings, on_handler_error=errors.append, pipelines=pipelines
        )
    since, until = window_of(result.storm, result.fleet)
    report = build_report(
        client, ReportRequest(since=since, until=until, index_prefix=run_settings.index_prefix)
    )
    page = Path(tempfile.gettempdir()) / f"spot-insights-{run_settings.index_prefix}.html"
    write_html(client, page, index=f"{run_settings.index_prefix}-*", window=TimeRange(since, until))
    return result, report, str(page)


def _print_run(result: RunResult, errors: list[BaseException]) -> None:
    summary = result.summary()
    print(
        f"{summary['events']} events ({summary['poison_records']} poison records) from "
        f"{summary['instances']} instances in {len(result.pipelines)} regions: "
        f"{summary['indexed']} documents indexed, "
        f"{sum(result.dlq_depth.values())} messages in the dead-letter queues."
    )
    seconds = summary["seconds"]
    print(
        f"Throughput: {summary['events_per_second']} events/s while draining "
        f"({seconds['drain']}s; publish {seconds['publish']}s, setup {seconds['setup']}s, "
        f"total {seconds['total']}s); {summary['invocations']} handler invocations, "
        f"{summary['failed_records']} record failures retried."
    )
    if errors:
        print(f"The handler raised {len(errors)} times; first: {errors[0]!r}", file=sys.stderr)


def _print_access(settings: Any, port: int | None) -> None:
    stop = f"scripts/opensearch stop --port {port}" if port else "scripts/opensearch stop"
    print(
        f"\nData: {settings.endpoint}  user {settings.user}; the password is in "
        "$OPENSEARCH_INITIAL_ADMIN_PASSWORD or the local default (scripts/opensearch env prints "
        f"it). Stop the node with: {stop}",
        # stderr keeps --json output parseable.
        file=sys.stderr,
    )


def _verdict(result: RunResult) -> int:
    problems = []
    if result.missing_event_ids:
        problems.append(f"{len(result.missing_event_ids)} events were not indexed")
    if result.indexed < result.events:
        problems.append(f"only {result.indexed} of {result.events} documents indexed")
    dead = sum(result.dlq_depth.values())
    if dead != len(result.storm.poison):
        problems.append(f"{dead} messages in the DLQs, expected {len(result.storm.poison)}")
    if problems:
        raise CliError("; ".join(problems))
    return 0
