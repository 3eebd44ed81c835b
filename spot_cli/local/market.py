"""The sampler's daily market run locally: the deployed handler in market mode over the moto
fleet (moto answers DescribeSpotPriceHistory), with the advisor's data file served over HTTP on
127.0.0.1, writing as the sampler's stand-in user; then `report --market` checked against the
ground truth of the fleet, the storm and the served file.

moto's price history is one fixed price per offered pool (0.00001 USD, stamped 2006), so every
pool's day is that price, unchanged; the demo's advisor file puts every instance type of the
fleet in the "<5%" bucket but one, in ">20%" (no upper bound), so the flagged pools are by
construction those of the other types whose storm warnings exceed 5 % of a month's
instance-time, and never those of the calm type."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lambda_src.contract import MARKET_MODE, MODE_KEY, SCHEDULED_TIME_KEY
from lambda_src.sampler.handler import build_handler

# The advisor's five buckets, as its file lists them.
ADVISOR_RANGES: tuple[dict[str, Any], ...] = (
    {"index": 0, "label": "<5%", "dots": 0, "max": 5},
    {"index": 1, "label": "5-10%", "dots": 1, "max": 11},
    {"index": 2, "label": "10-15%", "dots": 2, "max": 16},
    {"index": 3, "label": "15-20%", "dots": 3, "max": 22},
    {"index": 4, "label": ">20%", "dots": 4, "max": 100},
)
MOTO_SPOT_PRICE = 0.00001


@dataclass(frozen=True)
class Route:
    """What the local server answers on one path: a status, a body, after a delay."""

    body: bytes
    status: int = 200
    delay_seconds: float = 0.0


def advisor_file(buckets: Mapping[tuple[str, str], int], savings: int = 70) -> bytes:
    """The advisor's data file for (region, instance type) -> range index."""
    regions: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
    for (region, instance_type), index in sorted(buckets.items()):
        regions.setdefault(region, {}).setdefault("Linux", {})[instance_type] = {
            "s": savings,
            "r": index,
        }
    return json.dumps({"ranges": list(ADVISOR_RANGES), "spot_advisor": regions}).encode()


@contextmanager
def serve(routes: Mapping[str, Route]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) answering `routes` (else 404); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path, Route(b"not found", 404))
            if route.delay_seconds:
                time.sleep(route.delay_seconds)
            try:
                self.send_response(route.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, *_args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_market(config: Any, session: Any, at: datetime) -> dict[str, Any]:
    """Invoke the sampler handler once in market mode (`config`: a SamplerConfig)."""
    from spot_cli.local.lambda_context import LambdaContext  # noqa: PLC0415
    from spot_cli.local.moto_lifecycle import teach_moto_instance_lifecycle  # noqa: PLC0415

    teach_moto_instance_lifecycle()
    handle = build_handler(config, session)
    event = {SCHEDULED_TIME_KEY: at.isoformat(), MODE_KEY: MARKET_MODE}
    return handle(event, LambdaContext("spot-insights-sampler", config.regions[0]))


def demo_buckets(fleet: Any) -> tuple[dict[tuple[str, str], int], str]:
    """Every (region, type) of the fleet in "<5%" but the most common type, in ">20%"."""
    counts = Counter(i.instance_type for i in fleet.instances if i.instance_type)
    calm = counts.most_common(1)[0][0]
    buckets = {
        (i.region, i.instance_type): (4 if i.instance_type == calm else 0)
        for i in fleet.instances
        if i.instance_type
    }
    return buckets, calm


def expected_monthly_percent(
    result: Any,
    accounts: Sequence[str],
    hours_per_instance: float,
    since: datetime,
    until: datetime,
) -> dict[str, float]:
    """Ground truth per pool: the storm's warnings of sampled instances in the window over the
    fleet's instance-hours in sampled accounts, as 100 x warnings x 720 / instance-hours."""
    from spot_cli.events import WARNING, parse_time  # noqa: PLC0415

    fleet = result.fleet
    sampled = [i for i in fleet.instances if i.account in accounts]
    pools = Counter(f"{i.instance_type}:{i.availability_zone_id}" for i in sampled)
    ids = {i.instance_id: i for i in sampled}
    warned = Counter(
        f"{ids[e['detail']['instance-id']].instance_type}:"
        f"{ids[e['detail']['instance-id']].availability_zone_id}"
        for e in result.storm.events
        if e["detail-type"] == WARNING
        and e["detail"]["instance-id"] in ids
        and since <= parse_time(e["time"]) < until
    )
    return {
        pool: 100 * warned[pool] * 720 / (count * hours_per_instance)
        for pool, count in pools.items()
    }


def truth_problems(
    market: Any, expected: Mapping[str, float], buckets: Mapping[tuple[str, str], int]
) -> list[str]:
    """What in `report --market` differs from the ground truth (empty: all agrees)."""
    problems = []
    rows = {r.pool: r for r in market.pools}
    for pool, percent in expected.items():
        row = rows.get(pool)
        if row is None:
            problems.append(f"pool {pool} missing from the market report")
            continue
        # The rates round instance-hours to 0.001 h: a relative 1e-4 is well above that.
        if (
            row.monthly_interruption_percent is None
            or abs(row.monthly_interruption_percent - percent) > 0.01 + 1e-4 * percent
        ):
            problems.append(
                f"{pool}: observed monthly rate {row.monthly_interruption_percent}, "
                f"ground truth {percent:.3f}"
            )
        if row.last_price != MOTO_SPOT_PRICE or row.average_price != MOTO_SPOT_PRICE:
            problems.append(f"{pool}: price {row.last_price}/{row.average_price}, moto's 0.00001")
        index = buckets.get((row.region or "", pool.partition(":")[0]))
        upper = ADVISOR_RANGES[index]["label"] if index is not None else None
        if row.advisor_bucket != upper:
            problems.append(f"{pool}: advisor bucket {row.advisor_bucket}, served {upper}")
        should = index == 0 and percent > 5
        if row.flagged != should:
            problems.append(f"{pool}: flagged {row.flagged}, ground truth {should}")
    if market.advisor_stale:
        problems.append("advisor context reported stale right after the market run")
    return problems


def demo_market(
    admin: Any,
    session: Any,
    prefix: str,
    result: Any,
    rates: Any,
    *,
    organisation: Any = None,
) -> Any:
    """The demo's market context: one market run (the deployed handler, through the spoke roles
    of `organisation`'s accounts as the demo's sampler) against the served advisor file, then
    `report --market` over the rates' window, checked against ground truth; RuntimeError names
    what differs. Returns the Market."""
    from lambda_src.contract import SPOKE_ROLE_NAME  # noqa: PLC0415

    accounts: Sequence[str] = organisation.with_role if organisation else ()
    spoke_role_name = SPOKE_ROLE_NAME if organisation else None
    home_account = organisation.hub_account if organisation else None
    from spot_cli.local.sampler import sampler_user, ticks  # noqa: PLC0415
    from spot_cli.market import MarketRequest, build_market  # noqa: PLC0415
    from spot_cli.opensearch_client import connect  # noqa: PLC0415

    since = datetime.fromisoformat(rates.since)
    until = datetime.fromisoformat(rates.until)
    buckets, _calm = demo_buckets(result.fleet)
    writer = sampler_user(admin)
    with serve({"/spot-advisor-data.json": Route(advisor_file(buckets))}) as url:
        config = market_config(
            writer,
            prefix,
            result.fleet.regions,
            f"{url}/spot-advisor-data.json",
            accounts=accounts,
            spoke_role_name=spoke_role_name,
            home_account=home_account,
        )
        run_market(config, session, until)
    now = until + timedelta(minutes=1)
    market = build_market(
        connect(admin), MarketRequest(since=since, until=until, index_prefix=prefix, now=now)
    )
    interval = 600  # the demo replays the sampler at its default interval
    scheduled = ticks(since, until, interval)
    sampled = [home_account or result.fleet.account, *accounts]
    expected = expected_monthly_percent(
        result, sampled, len(scheduled) * interval / 3600, since, until
    )
    problems = truth_problems(market, expected, buckets)
    if problems:
        raise RuntimeError(f"market context against ground truth: {'; '.join(problems[:5])}")
    return market


def market_config(
    writer: Any,
    prefix: str,
    regions: Sequence[str],
    advisor_url: str,
    *,
    accounts: Sequence[str] = (),
    spoke_role_name: str | None = None,
    home_account: str | None = None,
    advisor_timeout_seconds: float = 10.0,
) -> Any:
    """The sampler's configuration for a local market run, writing as `writer` (settings of
    the sampler's stand-in user, `spot_cli.local.sampler.sampler_user`)."""
    from lambda_src.contract import exposure_write_alias, market_write_alias  # noqa: PLC0415
    from lambda_src.ingest.search_client import SearchSettings  # noqa: PLC0415
    from lambda_src.sampler.config import SamplerConfig  # noqa: PLC0415

    return SamplerConfig(
        search=SearchSettings(
            endpoint=writer.endpoint,
            user=writer.user,
            password=writer.password,
            ca_certs=writer.ca_certs,
        ),
        regions=tuple(regions),
        index_alias=exposure_write_alias(prefix),
        accounts=tuple(accounts),
        spoke_role_name=spoke_role_name,
        home_account=home_account,
        log_level="WARNING",
        market_alias=market_write_alias(prefix),
        advisor_url=advisor_url,
        advisor_timeout_seconds=advisor_timeout_seconds,
    )
