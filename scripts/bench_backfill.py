#!/usr/bin/env python3
"""Benchmark `spot-insights backfill`: evictions from CloudTrail's event history through the
ingest code into a real local OpenSearch node.

    scripts/bench_backfill.py [--events 1000] [--regions us-east-1,eu-west-1] [--results PATH]

CloudTrail is tests/support/cloudtrail_history.py on 127.0.0.1 (moto has no LookupEvents),
EC2 and STS are a moto server, OpenSearch the local node (started and stopped here unless
OPENSEARCH_URL names one). The command runs as a user would run it (`spot-insights backfill
--json` in its own process, its environment passed, not written into this one's) and its
summary is recorded: pages, requests, seconds in total and in the write path, events per
second written. The total is paced by CloudTrail's limit of 2 requests per second per region
(50 events per page): the write path's rate is what the product decides."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lambda_src.provisioning.local import provision
from spot_cli.local.servers import moto_server
from tests.support.bench_results import default_path, write_results
from tests.support.cloudtrail_history import CloudTrailDouble, evictions, serve
from tests.support.opensearch_node import running_node

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"  # moto's default account: the caller's own


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="evictions per region")
    parser.add_argument("--regions", default="us-east-1,eu-west-1")
    parser.add_argument("--results", type=Path, default=default_path("bench_backfill"))
    args = parser.parse_args(argv)
    regions = args.regions.split(",")
    newest = datetime.now(UTC) - timedelta(hours=1)
    double = CloudTrailDouble(
        records={
            region: evictions(
                ACCOUNT, region, args.events, newest=newest, spacing=timedelta(minutes=120)
            )
            for region in regions
        }
    )
    prefix = f"bench-backfill-{uuid.uuid4().hex[:6]}"
    with (
        running_node() as node,
        moto_server() as moto_url,
        serve(double) as cloudtrail,
        tempfile.TemporaryDirectory() as state_dir,
    ):
        provision(node.url, (node.user, node.password), ca_certs=node.ca_certs, prefix=prefix)
        command = [
            str(ROOT / ".venv/bin/spot-insights"),
            "backfill",
            "--days",
            "90",
            "--regions",
            args.regions,
            "--endpoint",
            node.url,
            "--user",
            node.user,
            "--ca-certs",
            str(node.ca_certs),
            "--index-prefix",
            prefix,
            "--state",
            str(Path(state_dir) / "state.json"),
            "--json",
        ]
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ENDPOINT_URL_CLOUDTRAIL": cloudtrail.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": regions[0],
            "OPENSEARCH_PASSWORD": node.password,
        }
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return result.returncode
        summary = json.loads(result.stdout)
        client = node.client()
        client.indices.refresh(index=f"{prefix}-*")
        documents = client.count(index=f"{prefix}-*")["count"]
        client.indices.delete(index=f"{prefix}-*")
        client.indices.delete_index_template(name=prefix, ignore=[404])
    figures = {
        "regions": len(regions),
        "events": summary["events"],
        "documents": documents,
        "pages": summary["pages"],
        "requests": sum(r["requests"] for r in summary["regions"]),
        "seconds": summary["seconds"],
        "write_seconds": summary["write_seconds"],
        "events_per_second_written": summary["events_per_second_written"],
        "enrichment_missing": summary["enrichment_missing"],
    }
    print(json.dumps(figures, indent=2))
    write_results(
        args.results,
        command=shlex.join(["scripts/bench_backfill.py", *argv]),
        figures=figures,
    )
    return 0 if documents == summary["events"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
