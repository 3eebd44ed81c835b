"""`report --market`: Spot prices per pool, the advisor's bucket per instance type and region,
and the pools whose observed monthly interruption rate exceeds their bucket.

Observed monthly interruption rate of a pool: interruption warnings / (instance-hours / 720),
as a percentage: the share of the pool's sampled instance-time interrupted per 30 days, which
is what the advisor's bucket estimates (the share of instances interrupted per month). The
warnings and instance-hours are `spot_cli.rates`' own aggregation by pool over the window.

The market family (`<prefix>.market-*`, written daily by the sampler) holds three record types:
`spot_price` (a pool's price figures for one UTC day), `advisor_bucket` (a region and instance
type's bucket on one day) and `market_run` (what a daily run read, and why the advisor's file
was not read). The advisor context is stale when its newest document is over 2 days old."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import RenderableType

from lambda_src.contract import (
    ADVISOR_RECORD,
    DEFAULT_INDEX_PREFIX,
    PRICE_RECORD,
    exposure_index_pattern,
    market_index_pattern,
)
from spot_cli.rates import MAX_KEYS, RatesRequest, build_rates
from spot_cli.report import NoIndexError, SectionError
from spot_cli.terminal import table

HOURS_PER_MONTH = 720  # 30 days: the advisor's "per month"
DEFAULT_WINDOW = timedelta(days=30)
STALE_AFTER = timedelta(days=2)
PRICE_DAYS = timedelta(days=30)
RUN_RECORD = "market_run"


@dataclass(frozen=True)
class MarketRequest:
    since: datetime | None = None
    until: datetime | None = None
    # The rates' filters (spot_cli.report.FILTER_FIELDS): they narrow the pools listed.
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    index_prefix: str = DEFAULT_INDEX_PREFIX
    now: datetime | None = None


@dataclass(frozen=True)
class AdvisorRow:
    region: str
    instance_type: str
    bucket: str
    lower_percent: float
    upper_percent: float | None
    savings_percent: int | None
    day: str


@dataclass(frozen=True)
class PoolRow:
    pool: str
    region: str | None
    currency: str | None
    last_price: float | None
    last_price_day: str | None
    # Mean of the daily time-weighted averages of the days starting in the 30 days before the
    # window's end.
    average_price: float | None
    warnings: int
    instance_hours: float
    # 100 x warnings / (instance-hours / 720); None without instance-hours.
    monthly_interruption_percent: float | None
    advisor_bucket: str | None
    advisor_upper_percent: float | None
    flagged: bool


@dataclass(frozen=True)
class Market:
    since: str
    until: str
    pools: list[PoolRow]
    advisor: list[AdvisorRow]
    newest_advisor_at: str | None
    advisor_age_hours: float | None
    advisor_stale: bool
    last_run_at: str | None
    last_run_advisor_error: str | None

    @property
    def flagged(self) -> list[PoolRow]:
        return [row for row in self.pools if row.flagged]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"flagged": [row.pool for row in self.flagged]}


def monthly_percent(warnings: int, instance_hours: float) -> float | None:
    """Share of instance-time interrupted per 30 days, in percent."""
    if instance_hours <= 0:
        return None
    return round(100 * warnings * HOURS_PER_MONTH / instance_hours, 3)


def exceeds(percent: float | None, upper: float | None) -> bool:
    """Above the bucket's upper bound (">20%" has none, so nothing exceeds it)."""
    return percent is not None and upper is not None and percent > upper


def _newest(sort_field: str, source: Sequence[str]) -> dict[str, Any]:
    return {"top_hits": {"size": 1, "sort": [{sort_field: "desc"}], "_source": list(source)}}


def market_queries(
    prefix: str, since: datetime, until: datetime
) -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (index pattern, body): prices by pool over the window, the newest advice per
    region and instance type, the newest run, and each sampled pool's region."""
    market = market_index_pattern(prefix)
    # Prices: the days that start in the 30 days up to `until`, whatever the rates' window (a
    # day is priced after it ends, so a window of hours would often hold no price at all). As
    # instants, not dates, so the dashboard's market panel can ask the same from its time
    # picker's end (scripts/build_dashboard.py `market_spec`).
    day_range = {"gte": (until - PRICE_DAYS).isoformat(), "lt": until.isoformat()}
    days = {"range": {"day": day_range | {"format": "strict_date_optional_time"}}}
    terms = {"size": MAX_KEYS}
    return {
        "prices": (
            market,
            {
                "size": 0,
                "query": {"bool": {"filter": [{"term": {"record_type": PRICE_RECORD}}, days]}},
                "aggs": {
                    "by_pool": {
                        "terms": {"field": "pool", **terms},
                        "aggs": {
                            "average": {"avg": {"field": "price_avg"}},
                            "newest": _newest("day", ["day", "price_last", "currency", "region"]),
                        },
                    }
                },
            },
        ),
        "advisor": (
            market,
            {
                "size": 0,
                "query": {"term": {"record_type": ADVISOR_RECORD}},
                "aggs": {
                    "newest_at": {"max": {"field": "sampled_at"}},
                    "by_region": {
                        "terms": {"field": "region", **terms},
                        "aggs": {
                            "by_type": {
                                "terms": {"field": "instance_type", **terms},
                                "aggs": {"newest": _newest("sampled_at", ["*"])},
                            }
                        },
                    },
                },
            },
        ),
        "runs": (
            market,
            {
                "size": 1,
                "query": {"term": {"record_type": RUN_RECORD}},
                "sort": [{"sampled_at": "desc"}],
            },
        ),
        "regions": (
            exposure_index_pattern(prefix),
            {
                "size": 0,
                "query": {
                    "range": {"sampled_at": {"gte": since.isoformat(), "lt": until.isoformat()}}
                },
                "aggs": {
                    "by_pool": {
                        "terms": {"field": "pool", **terms},
                        "aggs": {"region": {"terms": {"field": "region", "size": 1}}},
                    }
                },
            },
        ),
    }


def build_market(client: Any, request: MarketRequest) -> Market:
    now = request.now or datetime.now(UTC)
    until = request.until or now
    since = request.since or until - DEFAULT_WINDOW
    rates = build_rates(
        client,
        RatesRequest(
            since=since, until=until, filters=request.filters, index_prefix=request.index_prefix
        ),
    )
    queries = market_queries(request.index_prefix, since, until)
    body: list[Mapping[str, Any]] = []
    for index, query in queries.values():
        body += [{"index": index}, query]
    answers = dict(zip(queries, client.msearch(body=body)["responses"], strict=True))
    for name, answer in answers.items():
        if "error" in answer:
            raise SectionError(f"market: {name}", answer["error"])
        if "hits" not in answer or (name != "runs" and "aggregations" not in answer):
            raise NoIndexError(f"no index matches {queries[name][0]} (has the market run run?)")

    advisor = _advisor_rows(answers["advisor"]["aggregations"])
    newest_ms = answers["advisor"]["aggregations"]["newest_at"]["value"]
    newest = datetime.fromtimestamp(newest_ms / 1000, UTC) if newest_ms is not None else None
    runs = answers["runs"]["hits"]["hits"]
    last_run = runs[0]["_source"] if runs else {}
    return Market(
        since=since.isoformat(),
        until=until.isoformat(),
        pools=_pool_rows(answers, rates.by["pool"], advisor, bool(request.filters)),
        advisor=advisor,
        newest_advisor_at=newest.isoformat() if newest else None,
        advisor_age_hours=round((now - newest).total_seconds() / 3600, 1) if newest else None,
        advisor_stale=newest is None or now - newest > STALE_AFTER,
        last_run_at=last_run.get("sampled_at"),
        last_run_advisor_error=last_run.get("advisor_error"),
    )


def _advisor_rows(aggs: Mapping[str, Any]) -> list[AdvisorRow]:
    rows = []
    for region in aggs["by_region"]["buckets"]:
        for kind in region["by_type"]["buckets"]:
            doc = kind["newest"]["hits"]["hits"][0]["_source"]
            rows.append(
                AdvisorRow(
                    region=str(region["key"]),
                    instance_type=str(kind["key"]),
                    bucket=doc["advisor_bucket"],
                    lower_percent=doc["advisor_lower_percent"],
                    upper_percent=doc.get("advisor_upper_percent"),
                    savings_percent=doc.get("advisor_savings_percent"),
                    day=doc["day"],
                )
            )
    return rows


def _pool_rows(
    answers: Mapping[str, Any], rates: Sequence[Any], advisor: list[AdvisorRow], filtered: bool
) -> list[PoolRow]:
    prices = {str(b["key"]): b for b in answers["prices"]["aggregations"]["by_pool"]["buckets"]}
    regions = {
        str(b["key"]): str(b["region"]["buckets"][0]["key"])
        for b in answers["regions"]["aggregations"]["by_pool"]["buckets"]
        if b["region"]["buckets"]
    }
    observed = {row.key: row for row in rates if ":" in row.key}
    # With filters, only the pools the filtered rates cover; else every priced pool too.
    names = set(observed) if filtered else set(observed) | set(prices)
    buckets = {(a.region, a.instance_type): a for a in advisor}
    rows = []
    for name in names:
        price = prices.get(name)
        newest = price["newest"]["hits"]["hits"][0]["_source"] if price else {}
        region = regions.get(name) or newest.get("region")
        rate = observed.get(name)
        warnings, hours = (rate.warnings, rate.instance_hours) if rate else (0, 0.0)
        percent = monthly_percent(warnings, hours)
        bucket = buckets.get((region or "", name.partition(":")[0]))
        upper = bucket.upper_percent if bucket else None
        rows.append(
            PoolRow(
                pool=name,
                region=region,
                currency=newest.get("currency"),
                last_price=newest.get("price_last"),
                last_price_day=newest.get("day"),
                average_price=round(price["average"]["value"], 6) if price else None,
                warnings=warnings,
                instance_hours=hours,
                monthly_interruption_percent=percent,
                advisor_bucket=bucket.bucket if bucket else None,
                advisor_upper_percent=upper,
                flagged=exceeds(percent, upper),
            )
        )
    # Flagged first, then by how far the observed rate runs.
    return sorted(
        rows, key=lambda r: (not r.flagged, -(r.monthly_interruption_percent or 0), r.pool)
    )


# -- rendering ----------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 5) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def market_tables(market: Market, top: int | None = None) -> list[RenderableType]:
    if market.newest_advisor_at is None:
        freshness = "no advisor data: market context is stale"
    else:
        state = "STALE" if market.advisor_stale else "fresh"
        freshness = f"{state} (newest {market.newest_advisor_at}, {market.advisor_age_hours} h old)"
    status = [
        ["window", f"{market.since} .. {market.until}"],
        ["advisor context", freshness],
        ["last market run", market.last_run_at or "-"],
        ["last run's advisor error", market.last_run_advisor_error or "-"],
        ["pools flagged (observed rate above the advisor's bucket)", len(market.flagged)],
    ]
    return [
        table("Market context", ["item", "value"], status),
        table(
            "Pools: Spot price, observed monthly interruption rate and the advisor's bucket",
            [
                "pool",
                "last price",
                "30-day avg",
                "warnings",
                "instance-hours",
                "monthly %",
                "advisor",
                "flag",
            ],
            [
                [
                    r.pool,
                    f"{_num(r.last_price)} {r.currency or ''}".strip(),
                    _num(r.average_price),
                    r.warnings,
                    f"{r.instance_hours:.1f}",
                    _num(r.monthly_interruption_percent, 2),
                    r.advisor_bucket or "-",
                    "ABOVE" if r.flagged else "",
                ]
                for r in market.pools[:top]
            ],
            left=(0, 6, 7),
        ),
        table(
            "Spot Instance Advisor: interruption frequency by instance type and region",
            ["region", "instance type", "bucket", "savings %", "day"],
            [
                [a.region, a.instance_type, a.bucket, a.savings_percent or "-", a.day]
                for a in market.advisor[:top]
            ],
            left=(0, 1, 2),
        ),
    ]
