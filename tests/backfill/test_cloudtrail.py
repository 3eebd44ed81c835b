"""Reading CloudTrail event history: the rate limiter, throttling, pagination, the envelope.

LookupEvents is answered by tests/support/cloudtrail_history.py over HTTP (moto has none)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from lambda_src.contract import CLOUDTRAIL_DETAIL_TYPE, EC2_SOURCE
from spot_cli.backfill_cloudtrail import (
    Backoff,
    EventHistory,
    InvalidToken,
    RateLimiter,
    envelope,
)
from spot_cli.errors import CliError
from tests.support.cloudtrail_history import evictions

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START, END = NOW - timedelta(days=90), NOW


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_limiter_spaces_requests_one_interval_apart_and_counts_time_spent_elsewhere():
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(4):
        limiter.acquire()
        starts.append(clock.now)
    assert [b - a for a, b in itertools.pairwise(starts)] == [0.5, 0.5, 0.5]
    clock.now += 0.3  # the page took 0.3 s to write: only 0.2 s more to wait
    assert limiter.acquire() == pytest.approx(0.2)
    clock.now += 2.0  # idle for longer than an interval: no wait, and no burst credit either
    assert limiter.acquire() == 0
    assert limiter.acquire() == pytest.approx(0.5)


def test_limiter_refuses_a_rate_that_is_not_positive():
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)


def _history(client, *, sleep=None, rate=50.0, backoff=None):
    # A fast limiter unless the test is about pacing: the double does not enforce the limit.
    slept: list[float] = []
    history = EventHistory(
        client,
        RateLimiter(rate),
        backoff=backoff or Backoff(base_seconds=0.01, cap_seconds=0.05),
        rng=random.Random(7),
        sleep=sleep or slept.append,
    )
    return history, slept


def test_pages_follow_next_token_newest_first_and_filter_on_bid_evicted(cloudtrail, lookup):
    double, _ = cloudtrail
    records = evictions("111111111111", "us-east-1", 120, newest=NOW, spacing=timedelta(hours=1))
    other = dict(records[0], eventName="RunInstances", eventID="not-an-eviction")
    double.records["us-east-1"] = [*records, other]
    history, _ = _history(lookup("us-east-1"))
    seen, token, pages = [], None, 0
    while True:
        page = history.page(START, END, token)
        pages += 1
        seen.extend(page.records)
        token = page.next_token
        if token is None:
            break
    assert pages == 3  # 50 + 50 + 20
    assert [r["eventID"] for r in seen] == [r["eventID"] for r in records]
    assert page.oldest == datetime.strptime(records[-1]["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC
    )
    sent = double.pages("us-east-1")[0].body
    assert sent["LookupAttributes"] == [
        {"AttributeKey": "EventName", "AttributeValue": "BidEvictedEvent"}
    ]
    assert (sent["StartTime"], sent["EndTime"]) == (START.timestamp(), END.timestamp())
    assert sent["MaxResults"] == 50


def test_throttling_is_retried_with_growing_backoff_and_counted(cloudtrail, lookup):
    double, _ = cloudtrail
    double.records["eu-west-1"] = evictions(
        "111111111111", "eu-west-1", 3, newest=NOW, spacing=timedelta(minutes=5)
    )
    double.throttle("eu-west-1", 3)
    history, slept = _history(
        lookup("eu-west-1"), backoff=Backoff(base_seconds=1.0, cap_seconds=3.0, max_attempts=8)
    )
    page = history.page(START, END, None)
    assert len(page.records) == 3
    assert page.throttled == 3
    assert history.requests == 4
    # Full jitter within min(cap, base * 2^(n-1)): 1, 2, then capped at 3.
    assert len(slept) == 3
    assert all(0 <= s <= bound for s, bound in zip(slept, (1.0, 2.0, 3.0), strict=True))
    assert [r.answer for r in double.requests] == ["throttled"] * 3 + ["page"]


def test_throttling_beyond_the_backoff_stops_with_one_line(cloudtrail, lookup):
    double, _ = cloudtrail
    double.throttle("eu-west-1", 10)
    history, _ = _history(lookup("eu-west-1"), backoff=Backoff(0.01, 0.01, max_attempts=3))
    with pytest.raises(CliError, match="still throttles after 3 attempts"):
        history.page(START, END, None)
    assert len(double.requests) == 3


def test_botocore_does_not_retry_behind_the_limiter(cloudtrail, lookup):
    """One throttled answer is one request on the wire: the limiter sees every request."""
    double, _ = cloudtrail
    double.throttle("us-east-1", 1)
    with pytest.raises(Exception) as raised:
        lookup("us-east-1").lookup_events()
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert len(double.requests) == 1


def test_an_expired_token_raises_invalid_token(cloudtrail, lookup):
    double, _ = cloudtrail
    double.records["us-east-1"] = evictions(
        "111111111111", "us-east-1", 60, newest=NOW, spacing=timedelta(hours=1)
    )
    history, _ = _history(lookup("us-east-1"))
    first = history.page(START, END, None)
    double.expire_tokens()
    with pytest.raises(InvalidToken):
        history.page(START, END, first.next_token)


def test_requests_of_one_region_are_at_least_half_a_second_apart_on_the_wire(cloudtrail, lookup):
    double, _ = cloudtrail
    double.records["us-east-1"] = evictions(
        "111111111111", "us-east-1", 200, newest=NOW, spacing=timedelta(minutes=10)
    )
    double.throttle("us-east-1", 1)
    history, _ = _history(lookup("us-east-1"), rate=2.0, sleep=lambda s: None)
    token = None
    for _ in range(4):
        token = history.page(START, END, token).next_token
    arrivals = [r.at for r in double.requests]
    assert len(arrivals) == 5  # one throttled retry: it waits its turn like any request
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.45, gaps  # 0.5 s, less the HTTP timing jitter


def test_envelope_is_what_eventbridge_delivers_and_the_same_on_every_run():
    record = evictions("222222222222", "eu-west-1", 1, newest=NOW, spacing=timedelta(0))[0]
    event = envelope(record, "999999999999", "us-east-1")
    assert event["source"] == EC2_SOURCE == "aws.ec2"
    assert event["detail-type"] == CLOUDTRAIL_DETAIL_TYPE == "AWS Service Event via CloudTrail"
    assert event["detail"] is record
    # The record's own account, region and time win over where it was looked up.
    assert (event["account"], event["region"]) == ("222222222222", "eu-west-1")
    assert event["time"] == record["eventTime"]
    assert event["version"] == "0" and event["resources"] == []
    assert envelope(dict(record), "999999999999", "us-east-1")["id"] == event["id"]
    other = dict(record, eventID="another")
    assert envelope(other, "999999999999", "us-east-1")["id"] != event["id"]
