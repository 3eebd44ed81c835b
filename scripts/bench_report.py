#!/usr/bin/env python3
"""Benchmark `spot-insights report` and storage at a large organisation's scale.

For each size N (100,000 and 1,000,000 by default; 5,000,000 with --with-5m) it provisions a
fresh prefix with the custom resource's own code, then loads N documents spread over one year
(8 regions, 40 instance types, 60 capacity groups, ~3% instances EC2 no longer knows) through
the ingest function's own write path: EventBridge-shaped events in SQS-shaped records ->
`BatchIngestor` (parse, `build_document`, `_bulk` through the write alias with
`refresh=wait_for`, linking). Only EC2 is stood in for: a seeded in-memory directory answers
DescribeInstances with what the generator launched. Same seed, same documents.

It prints and writes (--results, default docs/results/bench_report.json, with provenance as
tests/support/bench_results.py writes it): bytes per document (primary
store after a flush), indexing rate, and the report's wall time p50/p95 per window (7d, 90d,
all time) with the shard request cache cleared before every run (a user's `--last 7d` ends at
"now", so it never hits that cache). The machine's load average is recorded with each figure.

Uses OPENSEARCH_URL (+ OPENSEARCH_USER / OPENSEARCH_PASSWORD / OPENSEARCH_CA_CERTS) when set,
otherwise starts and afterwards removes a private node (scripts/opensearch, 512 MB heap).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import statistics
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lambda_src.ingest.batch import BatchIngestor
from lambda_src.ingest.bulk import BulkIndexer
from lambda_src.ingest.search_client import SearchSettings, build_client
from lambda_src.provisioning.local import provision
from spot_cli.events import REBALANCE, WARNING, ec2_event
from spot_cli.opensearch_client import OpenSearchSettings, connect
from spot_cli.report import ReportRequest, build_report
from tests.support.bench_results import default_path, write_results
from tests.support.opensearch_node import running_node

ROOT = Path(__file__).resolve().parents[1]

REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "sa-east-1",
)
FAMILIES = ("m5", "m5a", "m6i", "m6a", "m7i", "c5", "c5a", "c6i", "c6a", "c7i")
FAMILIES += ("r5", "r6i", "r7i", "c6g", "c7g", "m6g", "m7g", "r6g", "g4dn", "i4i")
INSTANCE_TYPES = tuple(f"{f}.{s}" for f in FAMILIES for s in ("large", "xlarge"))  # 40
YEAR = timedelta(days=365)
END = datetime(2026, 11, 30, tzinfo=UTC)  # the generated year ends here ("now" for windows)
WINDOWS: dict[str, timedelta | None] = {"7d": timedelta(days=7), "90d": timedelta(days=90)}
WINDOWS["all"] = None


def capacity_tags(rng: random.Random) -> list[dict[str, str]]:
    """60 capacity groups, tagged as Karpenter, EKS node groups, ASGs and ECS tag them."""
    groups: list[dict[str, str]] = []
    for n in range(20):
        groups.append({"karpenter.sh/nodepool": f"pool-{n}", "eks:eks-cluster-name": "prod"})
    for n in range(15):
        groups.append({"eks:nodegroup-name": f"ng-{n}", "eks:cluster-name": "platform"})
    for n in range(15):
        groups.append({"aws:autoscaling:groupName": f"asg-{n}"})
    for n in range(10):
        groups.append({"aws:ecs:clusterName": f"ecs-{n}"})
    rng.shuffle(groups)
    return groups


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


@dataclass
class Generated:
    event: dict[str, Any]
    instance: dict[str, Any] | None  # None: EC2 no longer knows it


def generate(documents: int, seed: int) -> Iterator[Generated]:
    """`documents` events over the year, day by day in time order (seeded, reproducible):
    per instance a warning, 60% of them after a rebalance 1-30 min earlier, 10% of instances a
    rebalance only, 3% of instances gone from EC2."""
    rng = random.Random(seed)
    groups = capacity_tags(rng)
    per_day = documents / YEAR.days
    made = 0
    start = END - YEAR
    for day in range(YEAR.days):
        quota = round(per_day * (day + 1)) - made
        day_start = start + timedelta(days=day)
        events: list[Generated] = []
        while len(events) < quota:
            region = rng.choice(REGIONS)
            zone = f"{region}{rng.choice('abc')}"
            iid = f"i-{_hex(rng, 17)}"
            warned = day_start + timedelta(seconds=rng.randrange(86_400))
            instance = None
            if rng.random() >= 0.03:
                itype = rng.choice(INSTANCE_TYPES)
                age = timedelta(hours=max(0.2, 24 * 14 * rng.random() ** 3))
                instance = {
                    "InstanceId": iid,
                    "InstanceType": itype,
                    "InstanceLifecycle": "spot",
                    "LaunchTime": warned - age,
                    "Placement": {"AvailabilityZone": zone},
                    "PrivateIpAddress": f"10.{rng.randrange(256)}.{rng.randrange(256)}.9",
                    "ImageId": f"ami-{_hex(rng, 17)}",
                    "Architecture": "arm64" if itype.split(".")[0].endswith("g") else "x86_64",
                    "VpcId": f"vpc-{region}",
                    "SubnetId": f"subnet-{zone}",
                    "Tags": [{"Key": k, "Value": v} for k, v in rng.choice(groups).items()],
                }
            kinds = []
            roll = rng.random()
            if roll < 0.1:
                kinds = [REBALANCE]
            elif roll < 0.64:
                kinds = [REBALANCE, WARNING]
            else:
                kinds = [WARNING]
            for kind in kinds:
                lead = timedelta(seconds=rng.randint(60, 1800)) if kind == REBALANCE else None
                when = (warned - lead) if lead else warned
                event = ec2_event(
                    event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    detail_type=kind,
                    account="111122223333",
                    region=region,
                    availability_zone=zone,
                    instance_id=iid,
                    when=when,
                    instance_action=rng.choices(("terminate", "stop", "hibernate"), (80, 12, 8))[0],
                )
                events.append(Generated(event, instance))
        events = events[:quota]
        events.sort(key=lambda g: g.event["time"])
        made += len(events)
        yield from events


class GeneratedDirectory:
    """EC2 stand-in for the loader: what the generator launched, per batch."""

    def __init__(self) -> None:
        self.instances: dict[str, dict[str, Any]] = {}

    def describe(self, region: str, instance_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {i: self.instances[i] for i in instance_ids if i in self.instances}

    def zone_ids(self, region: str) -> dict[str, str]:
        *words, number = region.split("-")
        short = "".join(word[0] for word in words) + number
        return {f"{region}{letter}": f"{short}-az{n + 1}" for n, letter in enumerate("abc")}


def load(node: Any, alias: str, documents: int, seed: int, batch: int) -> float:
    """Load through BatchIngestor and the function's own client (gzip, pool); returns the
    wall time in seconds."""
    settings = SearchSettings(
        endpoint=node.url,
        user=node.user,
        password=node.password,
        ca_certs=node.ca_certs,
        timeout=300,  # the machine is shared; the function itself uses 20 s
    )
    directory = GeneratedDirectory()
    client = build_client(settings)
    ingestor = BatchIngestor(directory, BulkIndexer(client, alias), None)  # type: ignore[arg-type]
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    loaded = 0

    def flush() -> None:
        nonlocal loaded
        outcome = ingestor.ingest(records)
        if outcome.retry or outcome.poisoned:
            reasons = {**outcome.retry, **outcome.poisoned}
            raise SystemExit(f"load failed: {next(iter(reasons.values()))}")
        loaded += len(records)
        records.clear()
        directory.instances.clear()
        if loaded % (batch * 20) == 0:
            print(f"  {loaded:,} / {documents:,} loaded", file=sys.stderr, flush=True)

    for item in generate(documents, seed):
        if item.instance:
            directory.instances[item.instance["InstanceId"]] = item.instance
        records.append(
            {
                "messageId": item.event["id"],
                "body": json.dumps(item.event),
                "attributes": {"ApproximateReceiveCount": "1"},
            }
        )
        if len(records) >= batch:
            flush()
    if records:
        flush()
    return time.perf_counter() - started


GIB = 2**30
# What a data node's disk keeps free (Amazon OpenSearch Service's documented reserves plus
# the stack's FreeStorageLow alarm, which fires below 25% of one node's disk).
LINUX_RESERVED = 0.05
SERVICE_RESERVED, SERVICE_RESERVED_CAP = 0.20, 20 * GIB
ALARM_HEADROOM = 0.25
RATES_PER_DAY = (2_740, 27_400, 274_000)  # 1M, 10M, 100M events a year


def sizing(bytes_per_document: float) -> list[dict[str, Any]]:
    """Per profile: primary bytes its disks hold with replicas and headroom, as events and as
    days at a few rates."""
    from spot_insights._sizing import SIZINGS  # noqa: PLC0415 - the profiles themselves

    rows = []
    for profile, spec in SIZINGS.items():
        nodes = spec.data_nodes_per_az * spec.availability_zones
        disk = spec.volume_size_gib * GIB
        reserved = min(SERVICE_RESERVED * disk, SERVICE_RESERVED_CAP)
        per_node = disk * (1 - LINUX_RESERVED - ALARM_HEADROOM) - reserved
        primary = nodes * per_node / (1 + spec.replicas)
        events = int(primary / bytes_per_document)
        rows.append(
            {
                "profile": str(profile),
                "data_nodes": nodes,
                "volume_gib": spec.volume_size_gib,
                "replicas": spec.replicas,
                "primary_gib": round(primary / GIB, 1),
                "events": events,
                "days_at": {str(rate): round(events / rate) for rate in RATES_PER_DAY},
            }
        )
    return rows


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def time_reports(client: Any, prefix: str, runs: int) -> dict[str, dict[str, float]]:
    result = {}
    for name, width in WINDOWS.items():
        request = ReportRequest(
            since=END - width if width else None,
            until=END if width else None,
            index_prefix=prefix,
        )
        build_report(client, request)  # warm-up: JIT, field data, file cache
        seconds = []
        for _ in range(runs):
            client.indices.clear_cache(index=f"{prefix}-*", request=True)
            began = time.perf_counter()
            report = build_report(client, request)
            seconds.append(time.perf_counter() - began)
        result[name] = {
            "p50_s": round(statistics.median(seconds), 3),
            "p95_s": round(quantile(seconds, 0.95), 3),
            "runs": runs,
            "warnings": report.warnings,
            "interval": report.interval,
        }
    return result


def store(client: Any, prefix: str) -> tuple[int, int]:
    client.indices.refresh(index=f"{prefix}-*")
    client.indices.flush(index=f"{prefix}-*")
    stats = client.indices.stats(index=f"{prefix}-*", metric="store,docs")["_all"]["primaries"]
    return stats["store"]["size_in_bytes"], stats["docs"]["count"]


def node_facts(client: Any) -> dict[str, Any]:
    """What the shared machine facts (tests/support/bench_results.py) do not say."""
    return {
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "opensearch": client.info()["version"]["number"],
        "opensearch_heap": "512m (scripts/opensearch) unless OPENSEARCH_URL was set",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated N")
    parser.add_argument("--with-5m", action="store_true", help="also 5,000,000 (long)")
    parser.add_argument("--runs", type=int, default=10, help="timed report runs per window")
    parser.add_argument("--batch", type=int, default=10_000, help="SQS records per batch")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--results",
        "--out",
        type=Path,
        default=default_path("bench_report"),
        help="results JSON (default docs/results/bench_report.json)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.with_5m:
        sizes.append(5_000_000)
    figures = []
    with running_node() as node:
        # The CLI's own client, as `spot-insights report` connects.
        client = connect(
            OpenSearchSettings(
                endpoint=node.url,
                user=node.user,
                password=node.password,
                ca_certs=node.ca_certs,
                timeout=300,
            )
        )
        facts = node_facts(client)
        for documents in sizes:
            prefix = f"bench-report-{uuid.uuid4().hex[:8]}"
            provision(node.url, (node.user, node.password), ca_certs=node.ca_certs, prefix=prefix)
            try:
                load_before = os.getloadavg()
                print(f"loading {documents:,} documents into {prefix}-write", file=sys.stderr)
                seconds = load(node, f"{prefix}-write", documents, args.seed, args.batch)
                size, count = store(client, prefix)
                if count != documents:
                    raise SystemExit(f"{count} documents stored, {documents} generated")
                reports = time_reports(client, prefix, args.runs)
                figure = {
                    "documents": documents,
                    "store_bytes": size,
                    "bytes_per_document": round(size / count, 1),
                    "load_seconds": round(seconds, 1),
                    "documents_per_second": round(documents / seconds),
                    "report": reports,
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                }
                figures.append(figure)
                print(json.dumps(figure), flush=True)
            finally:
                client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
                client.indices.delete_index_template(name=prefix, ignore=[404])
    result = {
        "sizes": figures,
        "sizing": sizing(figures[-1]["bytes_per_document"]) if figures else [],
    }
    write_results(
        args.results,
        command=shlex.join(["scripts/bench_report.py", *sys.argv[1:]]),
        figures=result,
        node=facts,
        seed=args.seed,
        batch=args.batch,
    )
    print(f"\n{'N':>10} {'B/doc':>7} {'docs/s':>7}  " + "  ".join(f"{w:>13}" for w in WINDOWS))
    for f in figures:
        cells = "  ".join(f"{r['p50_s']:>5.2f}/{r['p95_s']:<5.2f}s" for r in f["report"].values())
        rate = f"{f['bytes_per_document']:>7} {f['documents_per_second']:>7}"
        print(f"{f['documents']:>10,} {rate}  {cells}")
    print("(report p50/p95 per window)\n")
    print(
        f"{'profile':<11} {'primary GiB':>11} {'events':>12}  days at "
        + ", ".join(f"{r:,}/day" for r in RATES_PER_DAY)
    )
    for row in result["sizing"]:
        days = ", ".join(f"{d:,}" for d in row["days_at"].values())
        print(f"{row['profile']:<11} {row['primary_gib']:>11} {row['events']:>12,}  {days}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
