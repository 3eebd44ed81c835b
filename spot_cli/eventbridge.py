"""PutEvents for events shaped as EventBridge delivers them: `simulate` puts them on a real
account's bus, the local storm on moto's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from spot_cli.events import parse_time

PUT_EVENTS_BATCH = 10  # the PutEvents limit


class PutEventsError(RuntimeError):
    """Entries EventBridge kept rejecting."""


def _entry(event: Mapping[str, Any], bus: str) -> dict[str, Any]:
    return {
        "EventBusName": bus,
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": list(event["resources"]),
        "Time": parse_time(event["time"]),
    }


def put_events(
    events_client: Any, events: list[Mapping[str, Any]], attempts: int = 5, bus: str = "default"
) -> dict[str, str]:
    """PutEvents in batches of ten, retrying only the failed entries of a batch; returns the
    generated event id -> the id EventBridge assigned (the one a queue's message carries)."""
    assigned: dict[str, str] = {}
    reason = ""
    for start in range(0, len(events), PUT_EVENTS_BATCH):
        pending = list(events[start : start + PUT_EVENTS_BATCH])
        for _ in range(attempts):
            entries = events_client.put_events(Entries=[_entry(e, bus) for e in pending])["Entries"]
            failed = []
            for event, entry in zip(pending, entries, strict=True):
                if entry.get("EventId"):
                    assigned[event["id"]] = entry["EventId"]
                else:
                    failed.append(event)
                    reason = f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}"
            pending = failed
            if not pending:
                break
        if pending:
            raise PutEventsError(f"PutEvents kept failing for {len(pending)} events ({reason})")
    return assigned
