"""The sampler's daily market run: Spot prices of the pools in use and the advisor's buckets.

The daily schedule invokes the sampler function with `{"mode": "market"}` next to the
scheduled time. The run counts the fleet exactly as a tick does (`fleet_count.sample`, so the
pools are those running now, in every sampled account), then stores in the market family:

- per pool, the previous UTC day's price figures (`market_prices`; a complete day);
- per region and instance type, the advisor's bucket of the day (`advisor`);
- one `market_run` document per day saying what the run read and what failed, so that a
  report can say why the context is stale.

The advisor file is outside AWS: when it cannot be fetched or read, the prices are still
stored and the run succeeds (a retry minutes later rarely helps; tomorrow's run tries again);
the report says the advisor context is stale. A failure to read prices or store documents
raises after storing what it could, so Lambda retries the run (documents are named by day)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.contract import MARKET_MODE
from lambda_src.ingest.cross_account import AccountDirectories
from lambda_src.sampler.advisor import AdvisorError, advisor_documents, fetch, parse
from lambda_src.sampler.fleet_count import sample
from lambda_src.sampler.market_prices import pools_of, price_documents, region_prices

RUN_RECORD = "market_run"


@dataclass(frozen=True)
class MarketSettings:
    advisor_url: str
    advisor_timeout_seconds: float


@dataclass
class MarketRun:
    pools: int = 0
    price_documents: list[dict[str, Any]] = field(default_factory=list)
    advisor_documents: list[dict[str, Any]] = field(default_factory=list)
    describe_pages: int = 0
    price_pages: int = 0
    advisor_bytes: int = 0
    # Why the advisor's buckets are missing today (None: they were read).
    advisor_error: str | None = None
    advisor_problems: list[str] = field(default_factory=list)
    # (account or "home", region) -> reason: counting or pricing failed there.
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def documents(self, at: datetime) -> list[dict[str, Any]]:
        return [*self.price_documents, *self.advisor_documents, self.run_document(at)]

    def run_document(self, at: datetime) -> dict[str, Any]:
        day = at.date().isoformat()
        doc = {
            "market_id": hashlib.sha256(f"{RUN_RECORD}|{day}".encode()).hexdigest(),
            "record_type": RUN_RECORD,
            "day": day,
            "sampled_at": at.isoformat().replace("+00:00", "Z"),
            "pools": self.pools,
            "price_documents": len(self.price_documents),
            "advisor_documents": len(self.advisor_documents),
            "advisor_error": self.advisor_error,
            "advisor_problems": self.advisor_problems[:20] or None,
        }
        return {k: v for k, v in doc.items() if v is not None}

    def summary(self) -> dict[str, Any]:
        return {
            "mode": MARKET_MODE,
            "pools": self.pools,
            "price_documents": len(self.price_documents),
            "advisor_documents": len(self.advisor_documents),
            "describe_pages": self.describe_pages,
            "price_pages": self.price_pages,
            "advisor_bytes": self.advisor_bytes,
            "advisor_error": self.advisor_error,
            "advisor_problems": len(self.advisor_problems),
        }


def market_run(
    directories: AccountDirectories,
    accounts: tuple[str, ...],
    regions: tuple[str, ...],
    settings: MarketSettings,
    at: datetime,
) -> MarketRun:
    """Read today's market context for the pools in use (nothing is stored here)."""
    tick = sample(directories, accounts, regions)
    run = MarketRun(describe_pages=tick.pages, failures=dict(tick.failures))
    pools = pools_of(tick.counts)
    run.pools = len(pools)
    price_day = (at - timedelta(days=1)).date()
    prices = []
    for region in regions:
        try:
            found, pages = region_prices(directories.home, region, pools, price_day)
        except (ClientError, BotoCoreError) as exc:
            run.failures[("home", region)] = f"DescribeSpotPriceHistory: {exc}"[:300]
            continue
        prices += found
        run.price_pages += pages
    run.price_documents = price_documents(prices, at)
    wanted = {(p.region, p.instance_type) for p in pools}
    if wanted:
        try:
            raw = fetch(settings.advisor_url, timeout=settings.advisor_timeout_seconds)
            run.advisor_bytes = len(raw)
            parsed = parse(raw, wanted)
        except AdvisorError as exc:
            run.advisor_error = str(exc)[:500]
        else:
            run.advisor_problems = parsed.problems
            run.advisor_documents = advisor_documents(
                parsed.advice, at.date(), at, settings.advisor_url
            )
    return run
