"""Spot price history per pool and day: the figures of a day from its price changes, and one
region's paginated DescribeSpotPriceHistory. moto answers the API without pagination, time
window or price changes (one fixed price stamped 2006), so the pagination and window semantics
run against recorded responses (botocore Stubber) shaped like EC2's."""

from datetime import UTC, date, datetime

import boto3
import pytest
from botocore.stub import Stubber

from lambda_src.ingest.instances import InstanceDirectory
from lambda_src.sampler.market_prices import (
    PAGE_SIZE,
    Pool,
    currency,
    day_price,
    price_documents,
    region_prices,
)

DAY = date(2026, 11, 30)
POOL = Pool("us-east-1", "m5.large", "use1-az4")
NEXT = datetime(2026, 12, 1, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 30) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_the_price_in_effect_at_midnight_opens_the_day_and_the_average_is_time_weighted():
    points = [
        (datetime(2026, 11, 28, 7, tzinfo=UTC), 0.030),  # in effect at 00:00
        (datetime(2026, 11, 27, 7, tzinfo=UTC), 0.090),  # older: not the opening price
        (at(6), 0.040),
        (at(18), 0.020),
        (NEXT.replace(hour=3), 0.500),  # the next day's
    ]
    price = day_price(POOL, "us-east-1a", DAY, points)
    assert price is not None
    assert (price.minimum, price.maximum, price.last) == (0.020, 0.040, 0.020)
    # 6 h at 0.030, 12 h at 0.040, 6 h at 0.020.
    assert price.average == pytest.approx((6 * 0.030 + 12 * 0.040 + 6 * 0.020) / 24)
    assert price.changes == 2


def test_a_day_without_changes_keeps_its_price_and_a_pool_without_any_has_none():
    steady = day_price(POOL, "us-east-1a", DAY, [(datetime(2006, 1, 2, tzinfo=UTC), 0.00001)])
    assert steady is not None
    assert (steady.minimum, steady.average, steady.maximum, steady.last, steady.changes) == (
        0.00001,
        0.00001,
        0.00001,
        0.00001,
        0,
    )
    assert day_price(POOL, "us-east-1a", DAY, []) is None
    assert day_price(POOL, "us-east-1a", DAY, [(NEXT.replace(hour=1), 1.0)]) is None
    # A pool first priced mid-day is averaged over the hours it had a price.
    late = day_price(POOL, "us-east-1a", DAY, [(at(12), 0.010), (at(18), 0.030)])
    assert late is not None and late.average == pytest.approx(0.020)


def test_one_region_is_read_in_pages_and_priced_per_pool_by_az_id(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    directory = InstanceDirectory(boto3.session.Session(region_name="us-east-1"))
    client = directory.client("us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "describe_availability_zones",
        {
            "AvailabilityZones": [
                {"ZoneName": "us-east-1a", "ZoneId": "use1-az4"},
                {"ZoneName": "us-east-1b", "ZoneId": "use1-az6"},
            ]
        },
        {"AllAvailabilityZones": True},
    )
    request = {
        "InstanceTypes": ["c5.large", "m5.large"],
        "ProductDescriptions": ["Linux/UNIX"],
        "StartTime": at(0),
        "EndTime": NEXT,
        "MaxResults": PAGE_SIZE,
    }

    def entry(kind, zone, price, when, product="Linux/UNIX"):
        return {
            "InstanceType": kind,
            "AvailabilityZone": zone,
            "SpotPrice": str(price),
            "Timestamp": when,
            "ProductDescription": product,
        }

    stub.add_response(
        "describe_spot_price_history",
        {
            "SpotPriceHistory": [
                entry("m5.large", "us-east-1a", 0.04, at(12)),
                entry("m5.large", "us-east-1a", 0.03, datetime(2026, 11, 29, 20, tzinfo=UTC)),
                # A zone no pool uses, and another product: left out.
                entry("m5.large", "us-east-1c", 9.99, at(1)),
                entry("m5.large", "us-east-1a", 9.99, at(2), "SUSE Linux"),
            ],
            "NextToken": "page-2",
        },
        request,
    )
    stub.add_response(
        "describe_spot_price_history",
        {"SpotPriceHistory": [entry("c5.large", "us-east-1b", 0.02, at(3))]},
        {**request, "NextToken": "page-2"},
    )
    pools = [POOL, Pool("us-east-1", "c5.large", "use1-az6"), Pool("us-west-2", "m5.large", "x")]
    with stub:
        prices, pages = region_prices(directory, "us-east-1", pools, DAY)
    stub.assert_no_pending_responses()
    assert pages == 2
    by_pool = {p.pool: p for p in prices}
    assert set(by_pool) == {POOL, Pool("us-east-1", "c5.large", "use1-az6")}
    m5 = by_pool[POOL]
    assert (m5.availability_zone, m5.minimum, m5.maximum, m5.last) == (
        "us-east-1a",
        0.03,
        0.04,
        0.04,
    )
    assert m5.average == pytest.approx(0.035)
    c5 = by_pool[Pool("us-east-1", "c5.large", "use1-az6")]
    assert (c5.average, c5.changes) == (0.02, 1)

    docs = price_documents(prices, NEXT.replace(minute=15))
    assert {d["pool"] for d in docs} == {"m5.large:use1-az4", "c5.large:use1-az6"}
    m5_doc = next(d for d in docs if d["pool"] == "m5.large:use1-az4")
    assert m5_doc["availability_zone_id"] == "use1-az4"
    assert m5_doc["availability_zone"] == "us-east-1a"
    assert (m5_doc["day"], m5_doc["currency"], m5_doc["price_last"]) == ("2026-11-30", "USD", 0.04)
    # Named by day and pool: a rerun of the day overwrites.
    assert [d["market_id"] for d in docs] == [
        d["market_id"] for d in price_documents(prices, at(23))
    ]


def test_currency_follows_the_partition():
    assert currency("us-east-1") == "USD"
    assert currency("cn-north-1") == "CNY"
