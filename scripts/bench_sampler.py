#!/usr/bin/env python3
"""Measure what the exposure sampler's documents cost to keep, and `report --rates` to run.

Provisions a fresh prefix with the custom resource's own code, then writes `--days` of ticks
(every `--interval` minutes) for `--groups` groups (account x region x pool x capacity group)
through the sampler's own document builder and bulk writer (`exposure_documents`,
`BulkIndexer`), flushes, and prints the primary store's bytes per document, the storage per day
for 100 groups, and the wall time of `build_rates` over the whole span (p50 of `--runs`).

Uses OPENSEARCH_URL (+ OPENSEARCH_USER / OPENSEARCH_PASSWORD / OPENSEARCH_CA_CERTS) when set,
otherwise starts and afterwards removes a private node (scripts/opensearch, 512 MB heap).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from lambda_src.contract import exposure_index_pattern, exposure_write_alias
from lambda_src.ingest.bulk import BulkIndexer, Verdict
from lambda_src.provisioning.local import provision
from lambda_src.sampler.fleet_count import Group, Tick, exposure_documents
from spot_cli.opensearch_client import OpenSearchSettings, connect
from spot_cli.rates import RatesRequest, build_rates
from tests.support.opensearch_node import running_node

TYPES = ("m5.large", "m5.xlarge", "c5.xlarge", "c6g.large", "r5.large", "m6i.large")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


def groups(count: int, seed: int = 3) -> list[Group]:
    rng = random.Random(seed)
    result: set[Group] = set()
    while len(result) < count:
        region = rng.choice(REGIONS)
        zone = f"{region}{rng.choice('abc')}"
        result.add(
            Group(
                account=rng.choice(("111111111111", "222222222222")),
                region=region,
                availability_zone=zone,
                availability_zone_id=f"use1-az{rng.randint(1, 6)}",
                instance_type=rng.choice(TYPES),
                capacity_group=f"group-{rng.randint(1, 40)}",
            )
        )
    return sorted(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--interval", type=int, default=10, help="minutes")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    interval = args.interval * 60
    prefix = f"bench-sampler-{uuid.uuid4().hex[:6]}"
    with running_node() as node:
        admin = (node.user, node.password)
        provision(node.url, admin, ca_certs=node.ca_certs, prefix=prefix)
        settings = OpenSearchSettings(
            endpoint=node.url,
            auth="basic",
            user=node.user,
            password=node.password,
            ca_certs=node.ca_certs,
        )
        client = connect(settings)
        indexer = BulkIndexer(client, exposure_write_alias(prefix), id_field="sample_id")
        rng = random.Random(5)
        chosen = groups(args.groups)
        start = datetime(2026, 11, 1, tzinfo=UTC)
        ticks = args.days * 86400 // interval
        began = time.monotonic()
        batch: list[dict] = []
        for n in range(ticks):
            tick = Tick(counts=Counter({g: rng.randint(1, 400) for g in chosen}))
            batch += exposure_documents(tick, start + timedelta(seconds=n * interval), interval)
            if len(batch) >= 5000 or n == ticks - 1:
                results = indexer.index(batch)
                if any(r.verdict is not Verdict.STORED for r in results):
                    raise SystemExit(f"not stored: {results[0].reason}")
                batch = []
        load_seconds = time.monotonic() - began
        pattern = exposure_index_pattern(prefix)
        client.indices.flush(index=pattern)
        stats = client.indices.stats(index=pattern, metric="store,docs")["_all"]["primaries"]
        size, docs = stats["store"]["size_in_bytes"], stats["docs"]["count"]
        timings = []
        request = RatesRequest(index_prefix=prefix)
        for _ in range(args.runs):
            client.indices.clear_cache(index=pattern, request=True)
            began = time.monotonic()
            build_rates(client, request)
            timings.append(time.monotonic() - began)
        client.indices.delete(index=f"{prefix}-*,{pattern}")
        client.indices.delete_index_template(name=f"{prefix}.exposure")
        client.indices.delete_index_template(name=prefix)
    per_doc = size / docs
    figure = {
        "documents": docs,
        "groups": args.groups,
        "interval_minutes": args.interval,
        "store_bytes": size,
        "bytes_per_document": round(per_doc, 1),
        "mb_per_day_100_groups": round(per_doc * 100 * 86400 / interval / 1e6, 2),
        "documents_per_second": round(docs / load_seconds),
        "rates_seconds_p50": round(statistics.median(timings), 3),
    }
    print(json.dumps(figure, indent=2))


if __name__ == "__main__":
    main()
