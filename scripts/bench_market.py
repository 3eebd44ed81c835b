#!/usr/bin/env python3
"""Measure what the market family's documents cost to keep.

Provisions a fresh prefix with the custom resource's own code, then writes `--days` of daily
market runs for `--pools` pools (instance type x AZ ID over 3 regions) through the sampler's own
document builders and bulk writer (`price_documents`, `advisor_documents`, the run record,
`BulkIndexer`), flushes, and prints the primary store's bytes per document and per day.

Uses a private node (scripts/opensearch, 512 MB heap), removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta

from lambda_src.contract import market_index_pattern, market_write_alias
from lambda_src.ingest.bulk import BulkIndexer, Verdict
from lambda_src.provisioning.local import provision
from lambda_src.sampler.advisor import Advice, advisor_documents, bucket_of
from lambda_src.sampler.market import MarketRun
from lambda_src.sampler.market_prices import DayPrice, Pool, price_documents
from spot_cli.opensearch_client import OpenSearchSettings, connect
from tests.support.opensearch_node import running_node

TYPES = ("m5.large", "m5.xlarge", "c5.xlarge", "c6g.large", "r5.large", "m6i.large", "c5.2xlarge")
REGIONS = {"us-east-1": "use1", "us-west-2": "usw2", "eu-west-1": "euw1"}
LABELS = ("<5%", "5-10%", "10-15%", "15-20%", ">20%")


def pools(count: int, rng: random.Random) -> list[Pool]:
    chosen: set[Pool] = set()
    while len(chosen) < count:
        region, short = rng.choice(list(REGIONS.items()))
        chosen.add(Pool(region, rng.choice(TYPES), f"{short}-az{rng.randint(1, 6)}"))
    return sorted(chosen)


def day_documents(chosen: list[Pool], day: date, rng: random.Random) -> list[dict]:
    at = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(minutes=15)
    prices = []
    for pool in chosen:
        low = rng.uniform(0.01, 0.2)
        prices.append(
            DayPrice(pool, "zone", day, low, low * 1.05, low * 1.1, low * 1.02, rng.randint(0, 9))
        )
    kinds = sorted({(p.region, p.instance_type) for p in chosen})
    advice = [
        Advice(region, kind, bucket_of(i % 5, LABELS[i % 5]), rng.randint(40, 90))
        for i, (region, kind) in enumerate(kinds)
    ]
    run = MarketRun(pools=len(chosen))
    run.price_documents = price_documents(prices, at)
    run.advisor_documents = advisor_documents(advice, at.date(), at, "https://advisor.example")
    return run.documents(at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    prefix = f"bench-market-{uuid.uuid4().hex[:6]}"
    rng = random.Random(7)
    chosen = pools(args.pools, rng)
    with running_node() as node:
        provision(node.url, (node.user, node.password), ca_certs=node.ca_certs, prefix=prefix)
        client = connect(
            OpenSearchSettings(
                endpoint=node.url,
                auth="basic",
                user=node.user,
                password=node.password,
                ca_certs=node.ca_certs,
            )
        )
        indexer = BulkIndexer(client, market_write_alias(prefix), id_field="market_id")
        first = date(2026, 9, 1)
        per_day = 0
        for n in range(args.days):
            documents = day_documents(chosen, first + timedelta(days=n), rng)
            per_day = len(documents)
            results = indexer.index(documents)
            if any(r.verdict is not Verdict.STORED for r in results):
                raise SystemExit(f"not stored: {results[0].reason}")
        pattern = market_index_pattern(prefix)
        client.indices.flush(index=pattern)
        stats = client.indices.stats(index=pattern, metric="store,docs")["_all"]["primaries"]
        size, docs = stats["store"]["size_in_bytes"], stats["docs"]["count"]
        client.indices.delete(index=f"{prefix}-*,{prefix}.exposure-*,{pattern}")
        for template in (prefix, f"{prefix}.exposure", f"{prefix}.market"):
            client.indices.delete_index_template(name=template)
    per_doc = size / docs
    print(
        json.dumps(
            {
                "pools": args.pools,
                "days": args.days,
                "documents": docs,
                "documents_per_day": per_day,
                "store_bytes": size,
                "bytes_per_document": round(per_doc, 1),
                "kb_per_day": round(per_doc * per_day / 1000, 1),
                "mb_per_year": round(per_doc * per_day * 365 / 1e6, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
