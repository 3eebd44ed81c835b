#!/usr/bin/env python3
"""Dashboard query times: every saved panel's searches (as spot_cli.dashboard_panels sends them,
the same translation the panel tests check) timed on a local node holding N documents spread
over a year, with the dashboard's default range (last 7 days) and a 90-day range.

    .venv/bin/python scripts/bench_dashboard.py                 # 100,000 documents
    .venv/bin/python scripts/bench_dashboard.py --docs 1000000  # a large organisation's year
    .venv/bin/python scripts/bench_dashboard.py --port 9200 --keep  # reuse an index loaded before

Uses the node named by OPENSEARCH_URL (+ OPENSEARCH_USER / OPENSEARCH_PASSWORD /
OPENSEARCH_CA_CERTS), as the other benchmarks do; else, with --port, the project's long-running
node on that port (started if needed, left running: what --keep reuses); else a private node
started for the run and removed afterwards.
Documents are seeded and carry every mapped field the panels read, including the ingest-time
link fields. Prints p50/p95 wall time per panel (the whole request, Other-bucket search
included) and writes them with their provenance to --results (docs/results/bench_dashboard.json;
scripts/figures.py puts them into docs/dashboards.md)."""

from __future__ import annotations

import argparse
import random
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch, helpers

from lambda_src.provisioning.index_setup import load_mapping
from spot_cli.dashboard_panels import TimeRange, load_dashboard, run_panel
from spot_cli.local.servers import local_opensearch
from spot_cli.opensearch_client import OpenSearchSettings, connect
from tests.support.bench_results import default_path, read_results, write_results
from tests.support.figures import render_bench_dashboard
from tests.support.opensearch_node import running_node

WARNING = "EC2 Spot Instance Interruption Warning"
REBALANCE = "EC2 Instance Rebalance Recommendation"
REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2",
           "ap-northeast-1", "sa-east-1")  # fmt: skip
FAMILIES = ("m5", "m6i", "m7g", "c5", "c6g", "c7i", "r5", "r6g", "t3", "i4i")
SIZES = ("large", "xlarge", "2xlarge", "4xlarge")


def _doc(rng: random.Random, now: datetime, number: int, mapped: set[str]) -> dict[str, Any]:
    region = rng.choice(REGIONS)
    zone = rng.randint(1, 3)
    family, size = rng.choice(FAMILIES), rng.choice(SIZES)
    group = f"group-{rng.randint(1, 60)}"
    event_type = WARNING if rng.random() < 0.6 else REBALANCE
    when = now - timedelta(seconds=rng.randint(0, 365 * 86400))
    doc: dict[str, Any] = {
        "event_id": f"bench-{number}",
        "event_type": event_type,
        "event_time": when.isoformat().replace("+00:00", "Z"),
        "ingested_at": when.isoformat().replace("+00:00", "Z"),
        "account": f"1111222233{rng.randint(10, 29)}",
        "region": region,
        "availability_zone": f"{region}{'abc'[zone - 1]}",
        "instance_id": f"i-{rng.getrandbits(68):017x}",
        "enrichment": "full" if rng.random() < 0.97 else "missing",
    }
    if doc["enrichment"] == "missing":
        doc.update(enrichment_reason="instance_not_found", capacity_group="unknown")
        return {k: v for k, v in doc.items() if k in mapped}
    doc.update(
        availability_zone_id=f"{region[:2]}{region.split('-')[1][:1]}{region[-1]}-az{zone}",
        instance_type=f"{family}.{size}",
        instance_family=family,
        instance_size=size,
        capacity_group=group,
        runtime_seconds=int(rng.expovariate(1 / 20000)),
        lifecycle="spot",
    )
    doc["pool"] = f"{doc['instance_type']}:{doc['availability_zone_id']}"
    kind = rng.random()
    if kind < 0.4:
        doc.update(eks_cluster=f"eks-{rng.randint(1, 5)}", karpenter_nodepool=group)
    elif kind < 0.7:
        doc["asg_name"] = group
    elif kind < 0.85:
        doc["ecs_cluster"] = f"ecs-{rng.randint(1, 5)}"
    if event_type == WARNING:
        doc["instance_action"] = rng.choices(("terminate", "stop", "hibernate"), (80, 12, 8))[0]
        if rng.random() < 0.6:
            doc["rebalance_lead_seconds"] = rng.randint(60, 1800)
    else:
        followed = rng.random() < 0.8
        doc["followed_by_warning"] = followed
        if followed:
            doc["warning_after_seconds"] = rng.randint(60, 1800)
    return {k: v for k, v in doc.items() if k in mapped}


def load(client: Any, index: str, count: int, seed: int) -> float:
    mapping = load_mapping()
    client.indices.delete(index=index, ignore_unavailable=True)
    client.indices.create(
        index=index,
        body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}, "mappings": mapping},
    )
    rng = random.Random(seed)
    now = datetime.now(UTC)
    started = time.perf_counter()
    mapped = set(mapping["properties"])
    actions = ({"_index": index, "_source": _doc(rng, now, n, mapped)} for n in range(count))
    helpers.bulk(client, actions, chunk_size=5000, request_timeout=120)
    client.indices.refresh(index=index)
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=600)
    return time.perf_counter() - started


def _warnings_between(window: TimeRange) -> dict[str, Any]:
    span = {"gte": window.start.isoformat(), "lte": window.end.isoformat()}
    filters = [{"range": {"event_time": span}}, {"term": {"event_type": WARNING}}]
    return {"query": {"bool": {"filter": filters}}}


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * percent / 100))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per panel and range")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--port", type=int, help="a long-running node's port (make opensearch: 9200)"
    )
    parser.add_argument("--index", default="bench-dashboard-000001")
    parser.add_argument("--keep", action="store_true", help="reuse an already loaded index")
    parser.add_argument(
        "--results",
        type=Path,
        default=default_path("bench_dashboard"),
        help="where the figures go as JSON (default: docs/results/bench_dashboard.json)",
    )
    args = parser.parse_args(argv)
    command = shlex.join(["scripts/bench_dashboard.py", *(sys.argv[1:] if argv is None else argv)])
    if args.port is not None:
        return run(connect(local_opensearch(args.port).settings), args, command)
    with running_node() as node:
        settings = OpenSearchSettings(
            endpoint=node.url, user=node.user, password=node.password, ca_certs=node.ca_certs
        )
        return run(connect(settings), args, command)


def run(client: OpenSearch, args: argparse.Namespace, command: str) -> int:
    if not (args.keep and client.indices.exists(index=args.index)):
        seconds = load(client, args.index, args.docs, args.seed)
        print(f"loaded {args.docs:,} documents in {seconds:.1f}s")
    stored = client.count(index=args.index)["count"]
    size = client.indices.stats(index=args.index)["_all"]["primaries"]["store"]["size_in_bytes"]
    print(f"{stored:,} documents, {size / 2**20:.1f} MiB ({size / max(stored, 1):.0f} B/doc)")
    board = load_dashboard()
    now = datetime.now(UTC)
    ranges = {
        "default (now-7d)": TimeRange.parse(board.time_from, board.time_to, now),
        "90 days": TimeRange(now - timedelta(days=90), now),
    }
    print(f"\n{'panel':58} {'range':17} {'p50 ms':>8} {'p95 ms':>8} {'docs':>9}")
    worst = 0.0
    rows: list[dict[str, Any]] = []
    warnings_in_range = {
        label: client.count(index=args.index, body=_warnings_between(w))["count"]
        for label, w in ranges.items()
    }
    for panel in board.panels:
        for label, window in ranges.items():
            timings = []
            result = None
            for _ in range(args.runs + 2):
                started = time.perf_counter()
                result = run_panel(client, panel, board.pattern, window, index=args.index)
                timings.append((time.perf_counter() - started) * 1000)
            timings = timings[2:]  # two warm-up runs
            p95 = _percentile(timings, 95)
            worst = max(worst, p95)
            assert result is not None
            p50 = statistics.median(timings)
            rows.append(
                {"panel": panel.title, "range": label, "p50_ms": round(p50, 1),
                 "p95_ms": round(p95, 1), "documents": result.total}
            )  # fmt: skip
            print(f"{panel.title[:58]:58} {label:17} {p50:8.1f} {p95:8.1f} {result.total:9,}")
    print(f"\nslowest panel p95: {worst:.1f} ms (goal: every panel p95 < 1000 ms)")
    figures = {
        "documents": stored,
        "index_bytes": size,
        "runs": args.runs,
        "warnings_in_range": warnings_in_range,
        "panels": rows,
    }
    record = write_results(
        args.results,
        command=command,
        figures=figures,
    )
    print(render_bench_dashboard(read_results(record)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
