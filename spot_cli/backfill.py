"""`spot-insights backfill`: the evictions CloudTrail still holds (90 days), written as the
product writes live ones.

For every account and region: LookupEvents pages (spot_cli.backfill_cloudtrail), each record
wrapped into the event EventBridge delivers and handed, one page as one batch, to the ingest
function's own batch code (`lambda_src.ingest.batch.BatchIngestor`, built from an
`IngestConfig` as the deployed function builds it). Documents, enrichment, linking with warnings
and document ids are therefore production's: a rerun rewrites the same documents, and an
eviction that also arrived live stays one document.

After each page whose events are stored the state file records the page's NextToken
(spot_cli.backfill_state); a run that stops (Ctrl-C, an error) resumes after the last stored
page, and a finished account and region is skipped. LookupEvents returns newest events first,
so when CloudTrail refuses a saved NextToken (tokens expire) the run starts a new query that
ends at the oldest event already stored: nothing is skipped, and the events read twice are
rewritten under the same ids."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from spot_cli.backfill_cloudtrail import BATCH_EVENTS, EventHistory, InvalidToken, Page, envelope
from spot_cli.backfill_state import BackfillState, RegionState
from spot_cli.errors import CliError

# Redeliveries of a record the ingest code asked to retry (as SQS would redeliver it), with
# ApproximateReceiveCount rising so that a failing EC2 lookup stops holding an eviction back
# after IngestConfig.enrichment_max_attempts, as it does live.
MAX_DELIVERIES = 5
MESSAGE_ID_PREFIX = "backfill-"


@dataclass
class RegionSummary:
    account: str
    region: str
    status: str = "pending"  # done | skipped (finished before) | failed | interrupted
    pages: int = 0
    events: int = 0
    stored: int = 0
    enrichment_missing: int = 0
    poisoned: int = 0
    throttled: int = 0
    requests: int = 0
    token_restarts: int = 0
    reason: str | None = None


@dataclass
class BackfillSummary:
    start: str
    end: str
    regions: list[RegionSummary] = field(default_factory=list)
    seconds: float = 0.0
    write_seconds: float = 0.0

    def totals(self) -> dict[str, int]:
        keys = ("pages", "events", "stored", "enrichment_missing", "poisoned", "throttled")
        return {k: sum(getattr(r, k) for r in self.regions) for k in keys}

    def to_dict(self) -> dict[str, Any]:
        totals = self.totals()
        return {
            "window": {"start": self.start, "end": self.end},
            **totals,
            "seconds": round(self.seconds, 2),
            "write_seconds": round(self.write_seconds, 2),
            # Through the write path alone (CloudTrail's pacing excluded).
            "events_per_second_written": (
                round(totals["events"] / self.write_seconds, 1) if self.write_seconds else None
            ),
            "regions": [asdict(r) for r in self.regions],
        }


@dataclass(frozen=True)
class WriteResult:
    stored: int
    enrichment_missing: int
    poisoned: int


class DocumentWriter:
    """Envelopes -> the ingest batch code, as SQS batches whose failed records are redelivered."""

    def __init__(
        self,
        ingestor: Any,
        *,
        max_deliveries: int = MAX_DELIVERIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ingestor = ingestor
        self.max_deliveries = max_deliveries
        self._sleep = sleep
        self.seconds = 0.0

    def write(self, envelopes: Sequence[dict[str, Any]]) -> WriteResult:
        """Store every envelope, or raise CliError naming why one was not stored."""
        started = time.monotonic()
        try:
            return self._write(envelopes)
        finally:
            self.seconds += time.monotonic() - started

    def _write(self, envelopes: Sequence[dict[str, Any]]) -> WriteResult:
        pending = {f"{MESSAGE_ID_PREFIX}{e['id']}": json.dumps(e) for e in envelopes}
        stored = missing = poisoned = 0
        for delivery in range(1, self.max_deliveries + 1):
            if not pending:
                break
            outcome = self.ingestor.ingest(
                [sqs_record(mid, body, delivery) for mid, body in pending.items()]
            )
            stored += outcome.stored_total
            missing += outcome.enrichment_missing
            poisoned += len(outcome.poisoned)
            if outcome.unidentified:  # cannot happen with the ids above; never silently
                raise CliError(f"records not stored: {outcome.unidentified[0]}")
            pending = {mid: body for mid, body in pending.items() if mid in outcome.retry}
            if pending and delivery < self.max_deliveries:
                self._sleep(min(2.0**delivery, 10.0))
            elif pending:
                reason = outcome.retry[next(iter(pending))]
                raise CliError(
                    f"{len(pending)} events not stored after {delivery} deliveries: {reason}"
                )
        return WriteResult(stored, missing, poisoned)


def sqs_record(message_id: str, body: str, receive_count: int) -> dict[str, Any]:
    """The record Lambda's SQS event source would pass for this message."""
    return {
        "messageId": message_id,
        "receiptHandle": message_id,
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # SQS's checksum, not security
        "eventSource": "aws:sqs",
    }


@dataclass(frozen=True)
class Target:
    """One account and region to read, with how to read it."""

    account: str
    region: str
    history: Callable[[], EventHistory]  # built only when the region is read


def window(days: int, now: datetime) -> tuple[datetime, datetime]:
    # Whole seconds: the state file round-trips them and CloudTrail has no finer times.
    end = now.replace(microsecond=0)
    return end - timedelta(days=days), end


def run_backfill(
    targets: Sequence[Target],
    state: BackfillState,
    writer: DocumentWriter,
    start: datetime,
    end: datetime,
    *,
    batch_events: int = BATCH_EVENTS,
    progress: Callable[[RegionSummary], None] | None = None,
) -> BackfillSummary:
    """Read every target, one after the other; a target that fails is named in the summary
    and the others still run. KeyboardInterrupt propagates after the state is saved."""
    summary = BackfillSummary(start.isoformat(), end.isoformat())
    started = time.monotonic()
    try:
        for target in targets:
            result = RegionSummary(target.account, target.region)
            summary.regions.append(result)
            region_state = state.region(target.account, target.region, start, end)
            if region_state.done:
                result.status = "skipped"
                result.pages, result.events = region_state.pages, region_state.events
                if progress:
                    progress(result)
                continue
            state.save()  # the window, fixed from the first request on
            try:
                _read_region(
                    target,
                    region_state,
                    state,
                    writer,
                    result,
                    batch_events=batch_events,
                    progress=progress,
                )
            except KeyboardInterrupt:
                result.status = "interrupted"
                raise
            except CliError as exc:
                result.status, result.reason = "failed", str(exc)
            except Exception as exc:  # one account's AccessDenied must not stop the others
                from spot_cli.main import describe_error  # noqa: PLC0415 - import cycle

                result.status, result.reason = "failed", describe_error(exc)
            if progress:
                progress(result)
    finally:
        summary.seconds = time.monotonic() - started
        summary.write_seconds = writer.seconds
    return summary


@dataclass
class _Batch:
    """Pages read but not yet written: written together (one `_bulk`, one refresh wait for
    linking), then recorded in the state file as one step."""

    envelopes: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    throttled: int = 0
    next_token: str | None = None
    oldest: datetime | None = None  # pages come newest first: the last page's oldest

    def add(self, page: Page, account: str, region: str) -> None:
        self.envelopes.extend(envelope(r, account, region) for r in page.records)
        self.pages += 1
        self.throttled += page.throttled
        self.next_token = page.next_token
        self.oldest = page.oldest or self.oldest


def _read_region(
    target: Target,
    region_state: RegionState,
    state: BackfillState,
    writer: DocumentWriter,
    result: RegionSummary,
    *,
    batch_events: int,
    progress: Callable[[RegionSummary], None] | None,
) -> None:
    history = target.history()
    token = region_state.next_token
    batch = _Batch()
    try:
        while True:
            query_start, query_end = region_state.window()
            try:
                page = history.page(query_start, query_end, token)
            except InvalidToken:
                if token is None:
                    raise CliError("CloudTrail refused a query without a NextToken") from None
                _store(batch, region_state, state, writer, result, progress=progress)
                batch = _Batch()
                # The token expired: a new query ending at the oldest event stored so far
                # reads on from where the old one stopped (EndTime is inclusive, so events of
                # that very second are read again and rewritten under the same ids).
                token = region_state.next_token = None
                region_state.query_end = region_state.oldest_stored or region_state.query_end
                region_state.restarts += 1
                result.token_restarts += 1
                state.save()
                continue
            batch.add(page, target.account, target.region)
            token = page.next_token
            if len(batch.envelopes) >= batch_events or token is None:
                _store(batch, region_state, state, writer, result, progress=progress)
                batch = _Batch()
            if token is None:
                result.status = "done"
                return
    finally:
        result.requests = history.requests


def _store(
    batch: _Batch,
    region_state: RegionState,
    state: BackfillState,
    writer: DocumentWriter,
    result: RegionSummary,
    *,
    progress: Callable[[RegionSummary], None] | None,
) -> None:
    """Write the batch, then record it (and its last page's NextToken) in the state file."""
    if not batch.pages:
        return
    written = writer.write(batch.envelopes)
    for counts in (result, region_state):
        counts.pages += batch.pages
        counts.events += len(batch.envelopes)
    result.stored += written.stored
    result.enrichment_missing += written.enrichment_missing
    result.poisoned += written.poisoned
    result.throttled += batch.throttled
    region_state.next_token = batch.next_token
    if batch.oldest is not None:
        region_state.oldest_stored = batch.oldest.isoformat()
    region_state.done = batch.next_token is None
    state.save()
    if progress:
        progress(result)
