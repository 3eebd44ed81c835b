"""Reading CloudTrail event history for Spot evictions: `LookupEvents` filtered on
`BidEvictedEvent`, one page at a time, within CloudTrail's rate limit.

CloudTrail documents the limit as 2 `LookupEvents` requests per second per account and region;
`RateLimiter` spaces the requests of one account and region at least 1/rate apart (the time a
page spends being written counts towards the gap, so a slow write costs no extra wait). A
`ThrottlingException` is retried with exponential backoff and jitter; botocore's own retries are
off for this client so that the limiter and the backoff here are the only ones in play.

A record is turned into the event EventBridge itself delivers for a CloudTrail service event
(source aws.ec2, detail-type "AWS Service Event via CloudTrail", detail = the record), so that
the ingest code sees exactly what it sees live."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambda_src.contract import BID_EVICTED_EVENT_NAME, CLOUDTRAIL_DETAIL_TYPE, EC2_SOURCE
from spot_cli.errors import CliError

# What CloudTrail keeps in its event history (and what LookupEvents can reach).
HISTORY_DAYS = 90
# CloudTrail's documented LookupEvents limit, per account and region.
REQUESTS_PER_SECOND = 2.0
PAGE_SIZE = 50  # the most LookupEvents returns per page
# Pages are written in batches of at least this many events: each batch costs one `_bulk` and
# one refresh wait (linking needs the documents searchable), so batches of one page would make
# the write path, not CloudTrail's limit, the bottleneck. Progress is saved per batch; Ctrl-C
# loses at most the pages read since (read again on resume).
BATCH_EVENTS = 500
THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException"})
# A NextToken CloudTrail no longer accepts (expired, or from another query).
INVALID_TOKEN = "InvalidNextTokenException"
# envelope ids: uuid5 of the CloudTrail event id, so a rerun puts the same envelope.
_ENVELOPE_NAMESPACE = uuid.UUID("7d0f5c1e-2b1a-4d43-9f3e-5a7c0b8e2f61")


class RateLimiter:
    """At most `rate` acquisitions per second: each waits until 1/rate after the previous one.

    Thread-safe; `clock` and `sleep` are injectable so the spacing can be tested exactly."""

    def __init__(
        self,
        rate: float = REQUESTS_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._next = float("-inf")
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> float:
        """Block until a request may start; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
            self.waited += wait
        return wait


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter for throttled requests."""

    base_seconds: float = 1.0
    cap_seconds: float = 20.0
    max_attempts: int = 8

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after the `attempt`-th throttled try (1-based)."""
        return rng.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]  # the CloudTrail records (parsed CloudTrailEvent)
    next_token: str | None
    oldest: datetime | None  # the oldest EventTime on the page
    throttled: int  # ThrottlingExceptions answered before this page came


class InvalidToken(Exception):
    """CloudTrail no longer accepts the NextToken (it expires; the caller restarts the query)."""


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class EventHistory:
    """`LookupEvents` for BidEvictedEvent in one account and region, behind its rate limiter."""

    def __init__(
        self,
        client: Any,
        limiter: RateLimiter,
        *,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.requests = 0

    def page(self, start: datetime, end: datetime, token: str | None) -> Page:
        """One page, newest events first (LookupEvents' order). Raises InvalidToken when the
        token is refused, CliError when throttling outlasts the backoff."""
        request: dict[str, Any] = {
            "LookupAttributes": [
                {"AttributeKey": "EventName", "AttributeValue": BID_EVICTED_EVENT_NAME}
            ],
            "StartTime": start,
            "EndTime": end,
            "MaxResults": PAGE_SIZE,
        }
        if token:
            request["NextToken"] = token
        throttled = 0
        while True:
            self.limiter.acquire()
            self.requests += 1
            try:
                response = self.client.lookup_events(**request)
            except Exception as exc:
                code = error_code(exc)
                if code == INVALID_TOKEN:
                    raise InvalidToken(str(exc)) from exc
                if code not in THROTTLED:
                    raise
                throttled += 1
                if throttled >= self.backoff.max_attempts:
                    raise CliError(
                        f"CloudTrail still throttles after {throttled} attempts; "
                        "run the same command again to resume"
                    ) from exc
                self._sleep(self.backoff.delay(throttled, self._rng))
                continue
            records, oldest = [], None
            for event in response.get("Events", []):
                records.append(json.loads(event["CloudTrailEvent"]))
                when = event.get("EventTime")
                if isinstance(when, datetime) and (oldest is None or when < oldest):
                    oldest = when
            return Page(records, response.get("NextToken") or None, oldest, throttled)


def lookup_client(session: Any, region: str, endpoint_url: str | None = None) -> Any:
    """A CloudTrail client without botocore's retries (EventHistory paces and retries).

    `endpoint_url` None: the usual resolution (AWS_ENDPOINT_URL_CLOUDTRAIL included)."""
    from botocore.config import Config  # noqa: PLC0415 - start-up time

    return session.client(
        "cloudtrail",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def envelope(record: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """The EventBridge event for a CloudTrail service-event record, as EventBridge delivers it
    (the record is the detail; account, region and time come from the record)."""
    account = str(record.get("recipientAccountId") or account)
    region = str(record.get("awsRegion") or region)
    event_id = str(record.get("eventID") or "")
    key = f"{account}:{region}:{event_id or json.dumps(record, sort_keys=True)}"
    return {
        "version": "0",
        "id": str(uuid.uuid5(_ENVELOPE_NAMESPACE, key)),
        "detail-type": CLOUDTRAIL_DETAIL_TYPE,
        "source": EC2_SOURCE,
        "account": account,
        "time": str(record.get("eventTime") or _now()),
        "region": region,
        "resources": [],
        "detail": record,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
