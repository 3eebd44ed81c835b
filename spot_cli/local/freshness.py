"""Freshness: how long an event takes from PutEvents to searchable.

Start: the SQS `SentTimestamp` of the event's message. EventBridge (moto here) delivers to the
queue inside the PutEvents call, so it is a moment of that call: at most one call's duration
(100 events) after the call was sent. A redelivered message keeps its first SentTimestamp, so
retries count.

Searchable: the moment the ingest handler returned a batch that did not name the message as a
failure. The handler's `_bulk` uses `refresh=wait_for`, which returns only once a refresh has
made the documents visible to search, so a search issued at that moment finds the event.

Both are wall-clock readings of this machine (moto's clock is this process's `time.time()`)."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from spot_cli.local.poller import Handler

PERCENTS = (50, 95, 99)


class FreshnessRecorder:
    """Wraps the handler the pollers invoke; keeps event id -> seconds to searchable."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {}

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        response = self._handler(event, context)
        done = time.time()
        failed = {
            item.get("itemIdentifier")
            for item in (response or {}).get("batchItemFailures", [])
            if isinstance(item, Mapping)
        }
        measured: dict[str, float] = {}
        for record in event.get("Records", []):
            if record.get("messageId") in failed:
                continue
            event_id, sent = _event_id(record.get("body")), _sent_seconds(record)
            if event_id and sent is not None:
                measured[event_id] = done - sent
        with self._lock:
            self.seconds.update(measured)
        return response

    def summary(self, event_ids: Iterable[str]) -> dict[str, Any]:
        """p50/p95/p99 (linear interpolation between ranks) over `event_ids` (the storm's,
        without the poison records)."""
        values = sorted(self.seconds[i] for i in event_ids if i in self.seconds)
        return freshness_summary(values)


def freshness_summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"events": 0}
    cuts = (
        statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    )
    return {
        "events": len(values),
        **{f"p{p}": round(cuts[p - 1], 2) for p in PERCENTS},
        "max": round(max(values), 2),
    }


def _event_id(body: Any) -> str | None:
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _sent_seconds(record: Mapping[str, Any]) -> float | None:
    attributes = record.get("attributes")
    try:
        return int(attributes["SentTimestamp"]) / 1000.0  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None
