"""`spot-insights demo`: the whole pipeline on one machine, no AWS account.

Starts (or reuses) the local OpenSearch node and a moto server in this process (so the fleet's
launch times can be backdated), provisions the index with the deploy-time provisioning code,
runs the storm through the pipeline into the real ingest handler, checks that every event was
indexed once, prints the report, and says how to reach the data. The machinery is in
spot_cli/local/; this module owns the options, the wiring and the output."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_src.contract import (
    DEFAULT_INDEX_PREFIX,
    SPOKE_ROLE_NAME,
    exposure_index_pattern,
    index_pattern,
    market_index_pattern,
    write_alias,
)
from spot_cli.commands.options import positive
from spot_cli.errors import CliError

if TYPE_CHECKING:  # annotations only: these modules load boto3 and opensearch-py
    from spot_cli.local.capture_path import RegionalPipeline
    from spot_cli.local.moto_replica import MotoReplica
    from spot_cli.local.organisation import Organisation
    from spot_cli.local.pipeline import RunResult, RunSettings
    from spot_cli.local.poller import Handler
    from spot_cli.local.servers import LocalOpenSearch
    from spot_cli.opensearch_client import OpenSearchSettings
    from spot_cli.report import Report

NAME = "demo"


def register(commands: Any) -> None:
    parser = commands.add_parser(NAME, help="the whole pipeline locally, without an AWS account")
    parser.add_argument("--events", type=positive, default=5000)
    parser.add_argument("--poison", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--regions", default="us-east-1,us-west-2,eu-west-1")
    # Hub and spokes: the first account is the hub (its region the first region); every account
    # runs Spot in every region and forwards to the hub bus; the last member has no spoke role.
    # 1: one account, a queue per region, no hub bus.
    parser.add_argument("--accounts", type=positive, default=3)
    # Lambda's event source mapping allows batches up to 10,000 with a window; each batch costs
    # the ingest function one refresh wait, so fewer, larger batches drain a storm faster. Two
    # environments per queue: one's refresh wait overlaps the other's work; the queue's
    # visibility timeout covers the longest batch (docs/local-run.md, "The poller").
    parser.add_argument("--batch-size", type=positive, default=500)
    parser.add_argument("--batching-window", type=float, default=2.0)
    parser.add_argument("--concurrency", type=positive, default=2)
    parser.add_argument("--port", type=positive, default=9200, help="local OpenSearch port")
    parser.add_argument("--index-prefix", default=DEFAULT_INDEX_PREFIX)
    parser.add_argument(
        "--keep", action="store_true", help="keep earlier runs' documents (default: start empty)"
    )
    parser.add_argument("--stop", action="store_true", help="stop OpenSearch at the end")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: boto3, opensearch-py and moto load only for this command.
    from spot_cli.local.capture_path import QueueSettings  # noqa: PLC0415
    from spot_cli.local.pipeline import RunSettings  # noqa: PLC0415
    from spot_cli.local.poller import EventSourceSettings  # noqa: PLC0415
    from spot_cli.local.provisioning import provision_local  # noqa: PLC0415
    from spot_cli.local.servers import (  # noqa: PLC0415
        local_opensearch,
        moto_server,
        stop_opensearch,
    )
    from spot_cli.local.storm import StormSettings  # noqa: PLC0415
    from spot_cli.opensearch_client import connect  # noqa: PLC0415
    from spot_cli.report import tables  # noqa: PLC0415
    from spot_cli.terminal import show  # noqa: PLC0415

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
            function_timeout_seconds=QueueSettings().function_timeout_seconds,
            # Each poller thread invokes its own execution environment (PerThreadEnvironments).
            thread_safe_handler=True,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    local = local_opensearch(args.port)
    prefix = args.index_prefix
    admin = connect(local.settings)
    if not args.keep:
        _start_empty(admin, local, prefix)
    writer = provision_local(local.settings, prefix)
    errors: list[BaseException] = []
    run_settings = RunSettings(
        storm=StormSettings(events=args.events, seed=args.seed, poison=args.poison),
        regions=regions,
        source=source,
        index_prefix=prefix,
        show_progress=not args.json,
    )
    with moto_server(gate_assume_role=True) as moto_url:
        result, report, page, insights, market = _run_in_moto(
            moto_url,
            accounts=args.accounts,
            writer=writer,
            admin=local.settings,
            run_settings=run_settings,
            errors=errors,
        )
    summary = result.summary() | {"handler_errors": len(errors)}

    if args.json:
        print(
            json.dumps(
                {
                    "run": summary,
                    "report": report.to_dict(),
                    "rates": insights.rates.to_dict(),
                    "scorecard": insights.scorecard.to_dict(),
                    "insights_check": {"figures": insights.compared, "problems": insights.problems},
                    "market": market.to_dict(),
                    "html": page,
                },
                indent=2,
            )
        )
    else:
        from spot_cli.market import market_tables  # noqa: PLC0415
        from spot_cli.rates import rate_tables  # noqa: PLC0415
        from spot_cli.scorecard import scorecard_tables  # noqa: PLC0415

        show([*tables(report), *rate_tables(insights.rates, top=10)])
        show(scorecard_tables(insights.printed_scorecard()))
        show(market_tables(market, top=10))
        print()
        _print_run(result, errors)
        print(insights.line())
        print(f"Dashboard page (the saved dashboard's panels, opens offline): {page}")
    if args.stop and local.started_port:
        stop_opensearch(local.started_port)
        print("OpenSearch stopped.", file=sys.stderr)
    else:
        _print_access(local.settings, local.started_port)
    return _verdict(result, report, insights.problems)


def _run_in_moto(
    moto_url: str,
    *,
    accounts: int,
    writer: OpenSearchSettings,
    admin: OpenSearchSettings,
    run_settings: RunSettings,
    errors: list[BaseException],
) -> tuple[RunResult, Report, str, Any, Any]:
    """The organisation (with more than one account), the capture path and the run, in moto."""
    from spot_cli.dashboard_panels import TimeRange  # noqa: PLC0415
    from spot_cli.html_report import write_html  # noqa: PLC0415
    from spot_cli.local.capture_path import create_hub_capture, create_pipelines  # noqa: PLC0415
    from spot_cli.local.ingest import (  # noqa: PLC0415
        LocalFunction,
        PerThreadEnvironments,
        ingest_handler,
    )
    from spot_cli.local.insights_check import demo_insights  # noqa: PLC0415
    from spot_cli.local.moto_replica import MotoReplica  # noqa: PLC0415
    from spot_cli.local.organisation import create_organisation  # noqa: PLC0415
    from spot_cli.local.pipeline import window_of  # noqa: PLC0415
    from spot_cli.local.sampler import demo_rates  # noqa: PLC0415 - issue 14's sampler
    from spot_cli.local.servers import local_session  # noqa: PLC0415
    from spot_cli.opensearch_client import connect  # noqa: PLC0415

    home = run_settings.regions[0]
    session = local_session(moto_url, home)
    organisation = None
    if accounts > 1:
        organisation = create_organisation(
            session,
            lambda credentials: local_session(moto_url, home, assumed=credentials),
            accounts,
        )
        hub = create_hub_capture(organisation.sessions, run_settings.regions, run_settings.queue)
        pipelines = {hub.region: hub}
    else:
        pipelines = create_pipelines(run_settings.regions, run_settings.queue, session=session)
    function = LocalFunction(
        writer,
        write_alias(run_settings.index_prefix),
        pipelines[home].dlq_url,
        spoke_role_name=SPOKE_ROLE_NAME if organisation else None,
        home_account=organisation.hub_account if organisation else None,
    )
    # A session per environment: boto3 sessions must not be shared between threads. Its EC2
    # and STS calls go to a copy of moto in another process (the other core), forked once the
    # fleet exists (spot_cli/local/moto_replica.py).
    replica = MotoReplica(gate_assume_role=True)

    def replica_session() -> Any:
        return local_session(
            moto_url,
            home,
            endpoints=replica.endpoints,
            endpoints_read_timeout=replica.read_timeout,
        )

    handler = PerThreadEnvironments(lambda: ingest_handler(function, replica_session()))
    with replica:
        result, report, page = _run(
            handler,
            connect(admin),
            run_settings,
            pipelines,
            session=session,
            errors=errors,
            organisation=organisation,
            replica=replica,
        )
        # Issue 14: the sampler replayed over the storm's window, through the same spoke roles
        # as the ingest function, so every account with the role has its instance-hours. It
        # lists the unchanged fleet, so it reads the replica too.
        rates = demo_rates(
            admin,
            replica_session(),
            run_settings.index_prefix,
            result,
            accounts=organisation.with_role if organisation else (),
            spoke_role_name=SPOKE_ROLE_NAME if organisation else None,
            home_account=organisation.hub_account if organisation else None,
        )
    # Issue 14: the scorecard too, both against the storm's ground truth.
    insights = demo_insights(connect(admin), rates, result, run_settings.index_prefix)
    # Issue 14's market context: one daily market run, checked against ground truth.
    from spot_cli.local.market import demo_market  # noqa: PLC0415

    try:
        market = demo_market(
            admin, session, run_settings.index_prefix, result, rates, organisation=organisation
        )
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc
    # The page after all three, with the very objects the terminal prints.
    write_html(
        connect(admin),
        Path(page),
        index=index_pattern(run_settings.index_prefix),
        window=TimeRange(*window_of(result.storm, result.fleet)),
        rates=rates,
        scorecard=insights.printed_scorecard(),
        market=market,
    )
    return result, report, page, insights, market


def _start_empty(client: Any, local: LocalOpenSearch, prefix: str) -> None:
    """Each run's checks and report cover exactly its own storm. Only the project's own local
    node is ever emptied; a cluster named by OPENSEARCH_URL is never written over."""
    pattern = index_pattern(prefix)
    if local.started_port is not None:
        for family in (pattern, exposure_index_pattern(prefix), market_index_pattern(prefix)):
            client.indices.delete(
                index=family, ignore_unavailable=True, expand_wildcards="open,closed"
            )
        return
    if client.indices.exists(index=pattern, allow_no_indices=False):
        raise CliError(
            f"{local.settings.endpoint} already has {pattern} indices; pass another "
            "--index-prefix, or --keep to add to them"
        )


def _run(
    handler: Handler,
    client: Any,
    run_settings: RunSettings,
    pipelines: dict[str, RegionalPipeline],
    *,
    session: Any,
    errors: list[BaseException],
    organisation: Organisation | None = None,
    replica: MotoReplica | None = None,
) -> tuple[RunResult, Report, str]:
    from spot_cli.local.pipeline import run_pipeline, window_of  # noqa: PLC0415
    from spot_cli.report import ReportRequest, build_report  # noqa: PLC0415

    result = run_pipeline(
        handler,
        client,
        run_settings,
        session,
        on_handler_error=errors.append,
        pipelines=pipelines,
        organisation=organisation,
        replica=replica,
    )
    since, until = window_of(result.storm, result.fleet)
    prefix = run_settings.index_prefix
    report = build_report(client, ReportRequest(since=since, until=until, index_prefix=prefix))
    page = Path(tempfile.gettempdir()) / f"spot-insights-{prefix}.html"  # written after rates
    return result, report, str(page)


def _print_run(result: RunResult, errors: list[BaseException]) -> None:
    summary = result.summary()
    print(
        f"{summary['events']} events ({summary['poison_records']} poison records) from "
        f"{summary['instances']} instances in {len(result.fleet.regions)} regions and "
        f"{len(result.fleet.accounts)} accounts: "
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
    if result.evictions:
        print(result.evictions.line())
    fresh = summary["freshness_seconds"]
    if fresh.get("events"):
        print(
            f"Freshness, PutEvents to searchable over {fresh['events']} events: "
            f"p50 {fresh['p50']}s, p95 {fresh['p95']}s, p99 {fresh['p99']}s (max {fresh['max']}s)."
        )
    if result.enrichment and result.organisation:
        org = result.organisation
        for account, entry in summary["accounts"]["by_account"].items():
            role = "spoke role" if entry["spoke_role"] else "NO spoke role"
            hub = " (hub)" if account == org.hub_account else ""
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(entry["documents"].items()))
            print(f"Account {account}{hub}, {role}: {counts}")
        print(
            f"Enrichment against ground truth: {len(result.enrichment.wrong)} documents differ "
            f"from what the fleet and the accounts' roles say."
        )
    if errors:
        print(f"The handler raised {len(errors)} times; first: {errors[0]!r}", file=sys.stderr)


def _print_access(settings: OpenSearchSettings, port: int | None) -> None:
    stop = f"scripts/opensearch stop --port {port}" if port else "scripts/opensearch stop"
    print(
        f"\nData: {settings.endpoint}  user {settings.user}; the password is in "
        "$OPENSEARCH_INITIAL_ADMIN_PASSWORD or the local default (scripts/opensearch env prints "
        f"it). Stop the node with: {stop}",
        # stderr keeps --json output parseable.
        file=sys.stderr,
    )


def _verdict(result: RunResult, report: Report, insights: list[str]) -> int:
    problems = list(insights)
    missed = report.missed_warnings
    if result.evictions and result.indexed == result.documents:
        # The index holds this run alone (no --keep leftovers): the report's section must say
        # what the storm did.
        truth = (result.evictions.instances, result.evictions.without_warning)
        if (missed.evictions, missed.without_warning) != truth:
            problems.append(
                f"the report counts {missed.without_warning} of {missed.evictions} evictions "
                f"without a warning; the storm had {truth[1]} of {truth[0]}"
            )
    if result.missing_event_ids:
        problems.append(f"{len(result.missing_event_ids)} events were not indexed")
    if result.indexed < result.documents:
        problems.append(f"only {result.indexed} of {result.documents} documents indexed")
    if result.evictions:
        problems += result.evictions.problems()
    dead = sum(result.dlq_depth.values())
    if dead != len(result.storm.poison):
        problems.append(f"{dead} messages in the DLQs, expected {len(result.storm.poison)}")
    if result.enrichment and result.enrichment.wrong:
        problems.append(
            f"{len(result.enrichment.wrong)} documents are not enriched as ground truth says "
            f"(first: {result.enrichment.wrong[0]})"
        )
    if problems:
        raise CliError("; ".join(problems))
    return 0
