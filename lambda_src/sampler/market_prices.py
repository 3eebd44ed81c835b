"""Spot price history per pool and UTC day: min, time-weighted average, max and last price.

One paginated `DescribeSpotPriceHistory` per region (Linux/UNIX, the region's used instance
types, the day's window) in the home account: a price belongs to an AZ, which the API names by
the home account's AZ *names*; documents carry the AZ ID too, because names differ between
accounts and the pools of spoke accounts arrive as AZ IDs. Cost per day: one call per region
per 1,000 price changes of the used types (a few pages at most).

The API returns the changes inside the window and the price in effect at its start (stamped
earlier); that one opens the day, so a day without a change still has its price."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from lambda_src.contract import PRICE_RECORD
from lambda_src.ingest.instances import InstanceDirectory

PRODUCT = "Linux/UNIX"
# The VPC variant is what EC2-Classic-era accounts (and moto) report for the same product.
PRODUCTS = frozenset({PRODUCT, f"{PRODUCT} (Amazon VPC)"})
PAGE_SIZE = 1000


@dataclass(frozen=True, order=True)
class Pool:
    """A Spot capacity pool: an instance type in an AZ (by ID) of a region."""

    region: str
    instance_type: str
    availability_zone_id: str


@dataclass(frozen=True)
class DayPrice:
    pool: Pool
    availability_zone: str  # the home account's name for the AZ (what the API answered with)
    day: date
    minimum: float
    average: float
    maximum: float
    last: float
    changes: int  # price changes stamped inside the day


def currency(region: str) -> str:
    """Spot prices are in US dollars, in the China regions in yuan."""
    return "CNY" if region.startswith("cn-") else "USD"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def day_price(
    pool: Pool, zone: str, day: date, points: Iterable[tuple[datetime, float]]
) -> DayPrice | None:
    """The day's figures from `points` (timestamp, price), any order. None when no price was in
    effect during the day (no point at or before its end)."""
    start, end = day_bounds(day)
    ordered = sorted(p for p in points if p[0] < end)
    if not ordered:
        return None
    opening = [p for p in ordered if p[0] <= start]
    inside = [p for p in ordered if p[0] > start]
    # The price in effect at the start, else the day starts with its first change.
    steps = ([(start, opening[-1][1])] if opening else []) + inside
    weighted = 0.0
    for (at, price), (following, _) in zip(steps, [*steps[1:], (end, 0.0)], strict=True):
        weighted += price * (following - at).total_seconds()
    covered = (end - steps[0][0]).total_seconds()
    prices = [price for _, price in steps]
    return DayPrice(
        pool=pool,
        availability_zone=zone,
        day=day,
        minimum=min(prices),
        average=round(weighted / covered, 6),
        maximum=max(prices),
        last=prices[-1],
        changes=len(inside),
    )


def region_prices(
    directory: InstanceDirectory, region: str, pools: Iterable[Pool], day: date
) -> tuple[list[DayPrice], int]:
    """The day's prices of `pools` (all in `region`) and the pages read."""
    pools = [p for p in pools if p.region == region]
    if not pools:
        return [], 0
    names = {zone_id: name for name, zone_id in directory.zone_ids(region).items()}
    start, end = day_bounds(day)
    paginator = directory.client(region).get_paginator("describe_spot_price_history")
    pages = paginator.paginate(
        InstanceTypes=sorted({p.instance_type for p in pools}),
        ProductDescriptions=[PRODUCT],
        StartTime=start,
        EndTime=end,
        PaginationConfig={"PageSize": PAGE_SIZE},
    )
    wanted = {(p.instance_type, names.get(p.availability_zone_id)): p for p in pools}
    points: dict[Pool, list[tuple[datetime, float]]] = defaultdict(list)
    count = 0
    for page in pages:
        count += 1
        for entry in page.get("SpotPriceHistory", []):
            if entry.get("ProductDescription") not in PRODUCTS:
                continue
            pool = wanted.get((entry.get("InstanceType"), entry.get("AvailabilityZone")))
            if pool is not None:
                points[pool].append((_utc(entry["Timestamp"]), float(entry["SpotPrice"])))
    result = []
    for pool, pool_points in sorted(points.items()):
        price = day_price(pool, names[pool.availability_zone_id], day, pool_points)
        if price is not None:
            result.append(price)
    return result, count


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def price_documents(prices: Iterable[DayPrice], sampled_at: datetime) -> list[dict[str, Any]]:
    """One document per pool and day; its id is the day and the pool, so a rerun overwrites."""
    at = sampled_at.isoformat().replace("+00:00", "Z")
    documents = []
    for price in prices:
        pool = price.pool
        key = "|".join((PRICE_RECORD, price.day.isoformat(), *vars(pool).values()))
        documents.append(
            {
                "market_id": hashlib.sha256(key.encode()).hexdigest(),
                "record_type": PRICE_RECORD,
                "day": price.day.isoformat(),
                "sampled_at": at,
                "region": pool.region,
                "instance_type": pool.instance_type,
                "availability_zone_id": pool.availability_zone_id,
                "availability_zone": price.availability_zone,
                "pool": f"{pool.instance_type}:{pool.availability_zone_id}",
                "product_description": PRODUCT,
                "currency": currency(pool.region),
                "price_min": price.minimum,
                "price_avg": price.average,
                "price_max": price.maximum,
                "price_last": price.last,
                "price_changes": price.changes,
            }
        )
    return documents


def pools_of(counts: Mapping[Any, int]) -> set[Pool]:
    """The pools of a fleet count (`fleet_count.Tick.counts`), whichever account they are in."""
    return {
        Pool(g.region, g.instance_type, g.availability_zone_id)
        for g in counts
        if g.instance_type and g.availability_zone_id
    }
