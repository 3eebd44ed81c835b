#!/usr/bin/env python3
"""Benchmark the ingest handler against the moto server and a real local OpenSearch node.

For N events (half Spot interruption warnings, half rebalance recommendations, two per
instance, one region), delivered in batches of 1,000 as the construct's event source does, it
prints: EC2 API calls (and the target ceil(unique/200) per batch + one DescribeAvailabilityZones
per region per container), Auto Scaling calls, OpenSearch requests (counted at the wire by a
forwarding proxy), handler time per event, and documents lost or duplicated after a faulty
first delivery under each fault (10% of items throttled with a per-item 429, every request
answered 503, the node unreachable), the redelivery of exactly the reported messages, and a
redelivery of everything. Import time
of the handler module is measured in fresh interpreters.

The handler is built as the demo builds it (`build_handler` with an `IngestConfig` and a boto3
session whose clients call the moto server); the process environment is left as it is.

Uses OPENSEARCH_URL (+ OPENSEARCH_USER / OPENSEARCH_PASSWORD / OPENSEARCH_CA_CERTS) when set,
otherwise starts and afterwards removes a private node with scripts/opensearch.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import boto3
import requests
from moto.server import ThreadedMotoServer

from lambda_src.ingest.config import IngestConfig
from lambda_src.ingest.handler import Handler, build_handler
from lambda_src.ingest.search_client import SearchSettings
from spot_cli.local.servers import local_session
from tests.ingest.calls import count_calls
from tests.ingest.events import rebalance, redeliver, spot_warning, sqs_event, sqs_record
from tests.ingest.fault_proxy import FaultProxy
from tests.ingest.instances import launch
from tests.support.bench_results import default_path, read_results, write_results
from tests.support.figures import render_bench_ingest
from tests.support.lambda_context import fake_context
from tests.support.opensearch_node import OpenSearchNode, running_node
from tests.support.ports import free_port
from tests.support.search_index import SearchIndex, create_index

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
BATCH = 1000
MAX_REDELIVERIES = 3
FILTER_LIMIT = 200


def import_time_ms(runs: int) -> tuple[float, float]:
    """Median and max cumulative import time of the handler module, fresh interpreter each."""
    samples = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import lambda_src.ingest.handler"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        for line in result.stderr.splitlines():
            if line.rstrip().endswith("| lambda_src.ingest.handler"):
                samples.append(int(line.split("|")[1]) / 1000)
    return statistics.median(samples), max(samples)


def function_config(endpoint: str, alias: str, node: OpenSearchNode) -> IngestConfig:
    """The function's configuration, held as an object: writing to `alias` through `endpoint`
    with the node's user. Its logs only at ERROR and no metrics (it would print them)."""
    return IngestConfig(
        search=SearchSettings(
            endpoint=endpoint.rstrip("/"),
            user=node.user or None,
            password=node.password or None,
            region=REGION,
        ),
        index_alias=alias,
        log_level="ERROR",
        metrics_enabled=False,
    )


def container(
    config: IngestConfig, moto_url: str, session: boto3.session.Session | None = None
) -> Handler:
    """A new execution environment (fresh clients and caches) whose AWS calls go to moto."""
    return build_handler(config, session or local_session(moto_url, REGION))


def invoke(handler: Handler, records: list[dict]) -> tuple[set[str], float]:
    started = time.perf_counter()
    response = handler(sqs_event(records), fake_context())
    elapsed = time.perf_counter() - started
    return {f["itemIdentifier"] for f in response["batchItemFailures"]}, elapsed


def deliver(handler: Handler, batches: list[list[dict]], label: str) -> tuple[float, float, int]:
    """Invoke the handler per batch. A batch can fail without an injected fault on a loaded
    machine (a request timing out): SQS would deliver the reported messages again, so this
    does too, counts them, and gives up only when a record keeps failing.

    Returns handler seconds, the first invocation's seconds, and records redelivered."""
    seconds, first, retried = 0.0, None, 0
    for batch in batches:
        failed, elapsed = invoke(handler, batch)
        seconds += elapsed
        first = elapsed if first is None else first
        records = batch
        for _ in range(MAX_REDELIVERIES):
            if not failed:
                break
            retried += len(failed)
            records = redeliver([r for r in records if r["messageId"] in failed])
            failed, elapsed = invoke(handler, records)
            seconds += elapsed
        if failed:
            raise SystemExit(f"{label}: {len(failed)} records failed {MAX_REDELIVERIES + 1} times")
    return seconds, first or 0.0, retried


def run_case(
    n: int, moto_url: str, config: IngestConfig, proxy: FaultProxy, index: SearchIndex
) -> dict[str, object]:
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    session = local_session(moto_url, REGION)
    calls = count_calls(session)  # before the handler's clients exist
    handler = container(config, moto_url, session)
    proxy.requests.clear()
    proxy.bulk_bodies.clear()
    proxy.faults.throttle_ids = set()

    instances = launch(math.ceil(n / 2), session=local_session(moto_url, REGION))
    records = []
    for instance in instances:
        records.append(sqs_record(spot_warning(instance)))
        records.append(sqs_record(rebalance(instance)))
    records = records[:n]
    batches = [records[i : i + BATCH] for i in range(0, n, BATCH)]
    target = sum(
        math.ceil(len({json.loads(r["body"])["detail"]["instance-id"] for r in b}) / FILTER_LIMIT)
        for b in batches
    )

    handler_seconds, first_invocation_seconds, retried = deliver(handler, batches, f"N={n}")
    clean: dict[str, object] = {
        "events": n,
        "unique_instances": math.ceil(n / 2),
        "ec2": calls["ec2:DescribeInstances"],
        "zones": calls["ec2:DescribeAvailabilityZones"],
        "autoscaling": sum(v for k, v in calls.items() if k.startswith("autoscaling:")),
        "bulk": proxy.requests["POST _bulk"],
        # Linking reads the batch's linked events back with one search per batch (linking.py).
        "link_searches": proxy.requests["POST _search"],
        "other_os": sum(proxy.requests.values())
        - proxy.requests["POST _bulk"]
        - proxy.requests["POST _search"],
        "max_bulk_mb": round(max(proxy.bulk_bodies) / 1e6, 2),
        "ms_per_event": round(handler_seconds * 1000 / n, 2),
        "records_retried": retried,
        "first_invocation_seconds": round(first_invocation_seconds, 2),
        "target": target,
    }

    clean["faults"] = {
        name: fault_case(
            n,
            name,
            records=records,
            batches=batches,
            config=config,
            moto_url=moto_url,
            index=index,
            proxy=proxy,
        )
        for name in FAULTS
    }
    return clean


FAULTS = ("10% items 429", "every request 503", "node unreachable")


def fault_case(
    n: int,
    name: str,
    *,
    records: list[dict],
    batches: list[list[dict]],
    config: IngestConfig,
    moto_url: str,
    index: SearchIndex,
    proxy: FaultProxy,
) -> tuple[int, int, int]:
    """First delivery under the fault, then SQS's redelivery of exactly the reported messages,
    then the whole set once more (at-least-once). Returns (reported, lost, duplicated)."""
    prefix = f"{index.prefix}-f{n}-{FAULTS.index(name)}"
    create_index(index.client, prefix)
    faulty = SearchIndex(index.client, prefix)
    config = replace(config, index_alias=faulty.alias)
    faulty_config = config
    if name == FAULTS[0]:
        proxy.faults.throttle_ids = {json.loads(r["body"])["id"] for r in records[::10]}
    elif name == FAULTS[1]:
        proxy.faults.status_for_all = 503
    else:
        unreachable = f"http://127.0.0.1:{free_port()}"
        faulty_config = replace(config, search=replace(config.search, endpoint=unreachable))
    handler = container(faulty_config, moto_url)
    reported: list[dict] = []
    for batch in batches:
        failed, _ = invoke(handler, batch)
        reported.extend(r for r in batch if r["messageId"] in failed)

    proxy.faults.throttle_ids = set()
    proxy.faults.status_for_all = None
    handler = container(config, moto_url)
    for redelivery in (redeliver(reported), *(redeliver(b) for b in batches)):
        chunks = [redelivery[i : i + BATCH] for i in range(0, len(redelivery), BATCH)]
        deliver(handler, chunks, f"N={n} {name}: redelivery")
    expected = {json.loads(r["body"])["id"] for r in records}
    stored = set(faulty.documents())
    result = (len(reported), len(expected - stored), faulty.count() - len(expected))
    index.client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--import-runs", type=int, default=7)
    parser.add_argument(
        "--results",
        type=Path,
        default=default_path("bench_ingest"),
        help="where the figures go as JSON (default: docs/results/bench_ingest.json)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    median_ms, max_ms = import_time_ms(args.import_runs)
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    moto_url = f"http://127.0.0.1:{moto_port}"
    rows = []
    try:
        with running_node() as node:
            client = node.client()
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            create_index(client, prefix)
            index = SearchIndex(client, prefix)
            try:
                with FaultProxy(node.url, (node.user, node.password), node.ca_certs) as proxy:
                    config = function_config(proxy.url, index.alias, node)
                    for n in sizes:
                        print(f"running N={n}...", file=sys.stderr, flush=True)
                        rows.append(run_case(n, moto_url, config, proxy, index))
            finally:
                client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    finally:
        moto.stop()

    figures = {
        "import_ms": {"median": round(median_ms), "max": round(max_ms), "runs": args.import_runs},
        "fault_cases": list(FAULTS),
        "sizes": rows,
    }
    record = write_results(
        args.results,
        command=shlex.join(["scripts/bench_ingest.py", *sys.argv[1:]]),
        figures=figures,
    )
    print(render_bench_ingest(read_results(record)))


if __name__ == "__main__":
    main()
