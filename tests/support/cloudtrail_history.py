"""CloudTrail's LookupEvents on 127.0.0.1 (moto has no LookupEvents): the JSON protocol botocore
speaks, answered from recorded-shape BidEvictedEvent records per region, with the service's
behaviour that the backfill relies on:

- events newest first, filtered by StartTime <= EventTime <= EndTime (both inclusive);
- NextToken pagination; a token is valid only with the parameters of the query that issued it,
  and `expire_tokens()` makes every token issued so far invalid (InvalidNextTokenException);
- `throttle(region, n)`: the next n requests answer ThrottlingException (HTTP 400);
- `fail(region, n)`: the next n requests answer InternalFailure (HTTP 500);
- `hold(region, after_pages)`: once `after_pages` pages were served there, requests wait until
  `release()` (to interrupt a run in mid-read).

Every request is recorded with its arrival time (monotonic) so tests can check the pacing."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import LoopbackServer

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"


def eviction_record(
    account: str, region: str, instance_ids: list[str], when: datetime
) -> dict[str, Any]:
    """A BidEvictedEvent record as CloudTrail writes it (AwsServiceEvent from EC2)."""
    return {
        "eventVersion": "1.08",
        "userIdentity": {"accountId": account, "invokedBy": "ec2.amazonaws.com"},
        "eventTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "BidEvictedEvent",
        "awsRegion": region,
        "sourceIPAddress": "ec2.amazonaws.com",
        "userAgent": "ec2.amazonaws.com",
        "requestParameters": None,
        "responseElements": None,
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": account,
        "serviceEventDetails": {"instanceIdSet": instance_ids},
        "eventCategory": "Management",
    }


def evictions(
    account: str, region: str, count: int, *, newest: datetime, spacing: timedelta
) -> list[dict[str, Any]]:
    """`count` single-instance evictions, `spacing` apart, the newest at `newest`."""
    return [
        eviction_record(account, region, [f"i-{uuid.uuid4().hex[:17]}"], newest - spacing * n)
        for n in range(count)
    ]


@dataclass
class Request:
    region: str
    at: float
    body: dict[str, Any]
    answer: str  # "page" | "throttled" | "failed" | "invalid-token"
    access_key: str = ""  # who signed it (an assumed role's session has its own key)


@dataclass
class _Query:
    start: float | None
    end: float | None
    offset: int
    generation: int


@dataclass
class CloudTrailDouble:
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region -> records
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, _Query] = {}
        self._generation = 0
        self._throttle: dict[str, int] = defaultdict(int)
        self._fail: dict[str, int] = defaultdict(int)
        self._held: dict[str, int] = {}
        self._released = threading.Event()
        self.waiting = threading.Event()  # a held request has arrived

    # --- scripting ---------------------------------------------------------------------
    def throttle(self, region: str, times: int) -> None:
        self._throttle[region] += times

    def fail(self, region: str, times: int) -> None:
        self._fail[region] += times

    def expire_tokens(self) -> None:
        with self._lock:
            self._generation += 1

    def hold(self, region: str, after_pages: int = 0) -> None:
        self._held[region] = after_pages
        self._released.clear()

    def release(self) -> None:
        self._held.clear()
        self._released.set()

    def pages(self, region: str) -> list[Request]:
        return [r for r in self.requests if r.region == region and r.answer == "page"]

    # --- serving -----------------------------------------------------------------------
    def answer(
        self, region: str, body: dict[str, Any], access_key: str = ""
    ) -> tuple[int, dict[str, Any]]:
        if region in self._held and len(self.pages(region)) >= self._held[region]:
            self.waiting.set()
            self._released.wait(60)
        with self._lock:
            request = Request(region, time.monotonic(), body, "page", access_key)
            self.requests.append(request)
            if self._throttle[region]:
                self._throttle[region] -= 1
                request.answer = "throttled"
                return 400, _error("ThrottlingException", "Rate exceeded")
            if self._fail[region]:
                self._fail[region] -= 1
                request.answer = "failed"
                return 500, _error("InternalFailure", "injected failure")
            return self._page(region, body, request)

    def _page(
        self, region: str, body: dict[str, Any], request: Request
    ) -> tuple[int, dict[str, Any]]:
        start, end = body.get("StartTime"), body.get("EndTime")
        token = body.get("NextToken")
        if token:
            query = self._tokens.get(token)
            if (
                query is None
                or query.generation != self._generation
                or (query.start, query.end) != (start, end)
            ):
                request.answer = "invalid-token"
                return 400, _error("InvalidNextTokenException", "Invalid NextToken")
            offset = query.offset
        else:
            offset = 0
        attributes = body.get("LookupAttributes") or []
        wanted = {a["AttributeValue"] for a in attributes if a["AttributeKey"] == "EventName"}
        matching = [
            r
            for r in self.records.get(region, [])
            if (not wanted or r["eventName"] in wanted)
            and (start is None or _epoch(r) >= start)
            and (end is None or _epoch(r) <= end)
        ]
        matching.sort(key=_epoch, reverse=True)
        size = int(body.get("MaxResults") or 50)
        page = matching[offset : offset + size]
        response: dict[str, Any] = {
            "Events": [
                {
                    "EventId": r["eventID"],
                    "EventName": r["eventName"],
                    "ReadOnly": "false",
                    "EventTime": _epoch(r),
                    "EventSource": r["eventSource"],
                    "Resources": [],
                    "CloudTrailEvent": json.dumps(r),
                }
                for r in page
            ]
        }
        if offset + size < len(matching):
            next_token = uuid.uuid4().hex
            self._tokens[next_token] = _Query(start, end, offset + size, self._generation)
            response["NextToken"] = next_token
        return 200, response


def _epoch(record: dict[str, Any]) -> float:
    when = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return when.timestamp()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"__type": code, "message": message}


def serve(double: CloudTrailDouble) -> LoopbackServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name for the POST handler
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.headers.get("X-Amz-Target") != TARGET:
                status, payload = 400, _error("UnknownOperationException", "not LookupEvents")
            else:
                region, access_key = _scope(self.headers)
                status, payload = double.answer(region, body, access_key)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return LoopbackServer(Handler)


def _scope(headers: Any) -> tuple[str, str]:
    """Region and access key from SigV4's Credential=AKID/date/REGION/cloudtrail/aws4_request."""
    authorization = headers.get("Authorization", "")
    scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    return (scope[2] if len(scope) > 2 else "unknown"), scope[0]
