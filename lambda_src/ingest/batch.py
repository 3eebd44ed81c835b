"""One SQS batch, end to end: parse, deduplicate, enrich per region, bulk index, park poison.

Works on the raw Lambda SQS records so it can be driven by the handler, a test or a benchmark
alike. The outcome names exactly the messages SQS must redeliver.

The batch contract: every message is stored, retried, or parked in the DLQ with its reason, and
one bad message never changes the fate of the others. Whatever a record holds, `ingest` returns;
a record too malformed to be reported by message id is named (by position) in `unidentified`."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.contract import NO_ACCESS
from lambda_src.ingest.bulk import SEARCHABLE, BulkIndexer, ItemResult, Verdict
from lambda_src.ingest.cross_account import AccountDirectories, NoAccess
from lambda_src.ingest.dead_letter import DeadLetterQueue, PoisonRecord
from lambda_src.ingest.documents import (
    INSTANCE_NOT_FOUND,
    LOOKUP_FAILED,
    MISSING,
    build_document,
)
from lambda_src.ingest.events import EC2_ONLY, InvalidEvent, SpotEvent, parse_events
from lambda_src.ingest.instances import InstanceDirectory
from lambda_src.ingest.limits import document_problem
from lambda_src.ingest.linking import Linker, prelink

# A reason that starts with this means a record hit an exception nobody foresaw. It is still
# poison (parsing depends on nothing but the body, so a retry fails the same way), and the
# property tests assert that no generated input ever gets here.
UNEXPECTED = "unexpected error"


@dataclass
class BatchOutcome:
    retry: dict[str, str] = field(default_factory=dict)  # message id -> reason
    poisoned: dict[str, str] = field(default_factory=dict)  # message id -> reason (in the DLQ)
    stored_messages: set[str] = field(default_factory=set)  # message ids whose event is stored
    # Records without a usable messageId: they can be neither reported nor deleted by id.
    unidentified: list[str] = field(default_factory=list)
    stored: Counter[tuple[str, str]] = field(default_factory=Counter)  # (event_type, region)
    enrichment_missing: int = 0
    lookup_failures: int = 0
    no_access: int = 0  # events stored without enrichment: their account's role is missing
    duplicates_in_batch: int = 0

    @property
    def stored_total(self) -> int:
        return sum(self.stored.values())


@dataclass
class _Message:
    """An SQS record that can be reported by its message id."""

    message_id: str
    body: str
    receive_count: int


@dataclass
class _Pending:
    event: SpotEvent
    message_ids: list[str]
    bodies: list[str]
    receive_count: int

    def poison(self, reason: str) -> list[PoisonRecord]:
        return [
            PoisonRecord(mid, body, reason)
            for mid, body in zip(self.message_ids, self.bodies, strict=True)
        ]


@dataclass
class _Work:
    """What one batch is turning into: documents to index and records to park."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    owners: list[_Pending] = field(default_factory=list)
    poison: list[PoisonRecord] = field(default_factory=list)


def _receive_count(record: Mapping[str, Any]) -> int:
    """ApproximateReceiveCount, or 1 when absent or unreadable: the count only decides when
    a failing EC2 lookup stops holding an event back, and SQS's redrive policy bounds retries
    whatever it says."""
    attributes = record.get("attributes")
    if not isinstance(attributes, Mapping):
        return 1
    try:
        return max(1, int(attributes.get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError, OverflowError):  # None, "inf", float("inf")
        return 1


def _shown(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def _as_text(value: Any) -> str:
    """A body that is not a string, as text the DLQ can hold."""
    try:
        return json.dumps(value, ensure_ascii=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        return _shown(value, 100_000)


def _decode(body: str, accepted_sources: frozenset[str]) -> tuple[SpotEvent, ...]:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"invalid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise InvalidEvent("invalid JSON: nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise InvalidEvent(f"invalid JSON: {exc}") from exc
    try:
        return parse_events(data, accepted_sources)
    except InvalidEvent as exc:
        raise InvalidEvent(f"invalid event: {exc}") from exc


class BatchIngestor:
    def __init__(
        self,
        directory: InstanceDirectory,
        indexer: BulkIndexer,
        dead_letters: DeadLetterQueue | None,
        *,
        enrichment_max_attempts: int = 3,
        linker: Linker | None = None,
        accepted_sources: frozenset[str] = EC2_ONLY,
        accounts: AccountDirectories | None = None,
    ) -> None:
        self.directory = directory
        # Each event is looked up in its own account (hub and spokes); by default all in ours.
        self.accounts = accounts or AccountDirectories(directory)
        self.indexer = indexer
        self.dead_letters = dead_letters
        # Events of one instance are linked after they are stored (see linking.py).
        self.linker = linker or Linker(indexer.client, indexer.alias)
        # After this many receives a failing EC2 lookup no longer holds the event back: it is
        # indexed with what it carries (enrichment: missing, reason lookup_failed).
        self.enrichment_max_attempts = enrichment_max_attempts
        self.accepted_sources = accepted_sources

    def ingest(self, records: Sequence[Any]) -> BatchOutcome:
        outcome = BatchOutcome()
        work = _Work()
        messages = self._identify(records, work, outcome)
        pending = self._parse(messages, work, outcome)
        self._enrich(pending, work, outcome)
        prelink(work.documents)
        # The link search that follows must see what was just written.
        results = self.indexer.index(work.documents, refresh=SEARCHABLE)
        stored = self._settle(work, results, outcome)
        self._link(stored, outcome)
        self._park(_one_fate_per_message(work.poison, outcome), outcome)
        # A record of several documents (an eviction of several instances) is stored only when
        # all of them are: one retried or parked document decides the fate of the whole record.
        outcome.stored_messages.difference_update(outcome.retry, outcome.poisoned)
        return outcome

    def _link(self, stored: list[tuple[_Pending, dict[str, Any]]], outcome: BatchOutcome) -> None:
        # A stored event whose links could not be written is retried: re-indexing it under the
        # same _id adds no duplicate, and its redelivery links it again.
        unlinked = self.linker.link([document for _, document in stored])
        for item, document in stored:
            reason = unlinked.get(document["instance_id"])
            if reason:
                # One fate per message: retried, not stored (its document exists, its links not).
                outcome.retry.update(dict.fromkeys(item.message_ids, reason))
                outcome.stored_messages.difference_update(item.message_ids)

    def _identify(
        self, records: Sequence[Any], work: _Work, outcome: BatchOutcome
    ) -> list[_Message]:
        """Records Lambda would never send (a local poller, a redrive tool or a future producer
        might) get a defined path here: poison when they have a message id to report, else a
        named entry in `outcome.unidentified` with the record parked in the DLQ."""
        messages: list[_Message] = []
        bodies: dict[str, Any] = {}
        for position, record in enumerate(records):
            if not isinstance(record, Mapping):
                self._unidentified(
                    position, f"is not an object: {_shown(record, 100)}", record, work, outcome
                )
                continue
            message_id, body = record.get("messageId"), record.get("body")
            if not isinstance(message_id, str) or not message_id:
                self._unidentified(
                    position, f"has no usable messageId ({_shown(message_id)})", body, work, outcome
                )
                continue
            if message_id in bodies:
                # Same id and body: the same message twice, reported once. Another body under
                # a known id cannot be reported apart from the first, so it is parked.
                if not (isinstance(body, str) and bodies[message_id] == body):
                    self._unidentified(
                        position, f"repeats messageId {_shown(message_id)}", body, work, outcome
                    )
                continue
            bodies[message_id] = body
            if not isinstance(body, str):
                reason = f"body is a {type(body).__name__}, not a string"
                work.poison.append(PoisonRecord(message_id, _as_text(body), reason))
                continue
            messages.append(_Message(message_id, body, _receive_count(record)))
        return messages

    @staticmethod
    def _unidentified(
        position: int, problem: str, content: Any, work: _Work, outcome: BatchOutcome
    ) -> None:
        body = content if isinstance(content, str) else _as_text(content)
        work.poison.append(PoisonRecord(None, body, f"Records[{position}] {problem}"))

    def _parse(
        self, messages: list[_Message], work: _Work, outcome: BatchOutcome
    ) -> list[_Pending]:
        by_event: dict[str, _Pending] = {}
        for message in messages:
            try:
                events = _decode(message.body, self.accepted_sources)
            except InvalidEvent as exc:
                work.poison.append(PoisonRecord(message.message_id, message.body, str(exc)))
                continue
            except Exception as exc:  # see UNEXPECTED
                reason = f"{UNEXPECTED}: {type(exc).__name__}: {exc}"
                work.poison.append(PoisonRecord(message.message_id, message.body, reason))
                continue
            for event in events:
                known = by_event.get(event.event_id)
                if known is None:
                    by_event[event.event_id] = _Pending(
                        event, [message.message_id], [message.body], message.receive_count
                    )
                else:
                    # EventBridge delivers at least once: the same event twice in one batch is
                    # indexed once and both messages share its fate.
                    outcome.duplicates_in_batch += 1
                    known.message_ids.append(message.message_id)
                    known.bodies.append(message.body)
                    known.receive_count = max(known.receive_count, message.receive_count)
        return list(by_event.values())

    def _enrich(self, pending: list[_Pending], work: _Work, outcome: BatchOutcome) -> None:
        by_place: dict[tuple[str, str], list[_Pending]] = defaultdict(list)
        for item in pending:
            by_place[(item.event.account, item.event.region)].append(item)
        for (account, region), items in by_place.items():
            directory: InstanceDirectory | None = None
            try:
                directory = self.accounts.for_account(account)
                instances = directory.describe(region, (i.event.instance_id for i in items))
            except NoAccess:
                # Never dropped: indexed with what the event carries, counted for the metric.
                outcome.no_access += len(items)
                for item in items:
                    self._add_document(item, None, {}, work, NO_ACCESS)
                continue
            except (BotoCoreError, ClientError) as exc:
                outcome.lookup_failures += 1
                reason = f"EC2 lookup failed in {account} {region}: {exc}"
                for item in items:
                    if item.receive_count < self.enrichment_max_attempts:
                        self._hold_back(item, reason, work, outcome)
                    else:
                        zone_ids = self._zone_ids(directory, region) if directory else {}
                        self._add_document(item, None, zone_ids, work, LOOKUP_FAILED)
                continue
            zone_ids = self._zone_ids(directory, region)
            for item in items:
                self._add_document(item, instances.get(item.event.instance_id), zone_ids, work)

    @staticmethod
    def _hold_back(item: _Pending, reason: str, work: _Work, outcome: BatchOutcome) -> None:
        """Retry for enrichment only what could be stored later: an event whose own fields
        OpenSearch would refuse is poison now, not after ENRICHMENT_MAX_ATTEMPTS receives."""
        problem = document_problem(item.event.event_id, build_document(item.event, None, {}))
        if problem:
            work.poison.extend(item.poison(f"invalid document: {problem}"))
        else:
            outcome.retry.update(dict.fromkeys(item.message_ids, reason))

    @staticmethod
    def _add_document(
        item: _Pending,
        instance: dict[str, Any] | None,
        zone_ids: dict[str, str],
        work: _Work,
        missing_reason: str = INSTANCE_NOT_FOUND,
    ) -> None:
        """Build and check one event's document; what OpenSearch would refuse is poison now,
        before it can fail a request that carries other documents."""
        try:
            document = build_document(item.event, instance, zone_ids, missing_reason=missing_reason)
        except Exception as exc:  # the event's content, not the batch, is at fault
            work.poison.extend(item.poison(f"{UNEXPECTED}: {type(exc).__name__}: {exc}"))
            return
        problem = document_problem(item.event.event_id, document)
        if problem:
            work.poison.extend(item.poison(f"invalid document: {problem}"))
            return
        work.documents.append(document)
        work.owners.append(item)

    @staticmethod
    def _zone_ids(directory: InstanceDirectory, region: str) -> dict[str, str]:
        # The AZ id is a nicety: without it the document is still complete enough to index.
        try:
            return directory.zone_ids(region)
        except (BotoCoreError, ClientError):
            return {}

    @staticmethod
    def _settle(
        work: _Work, results: list[ItemResult], outcome: BatchOutcome
    ) -> list[tuple[_Pending, dict[str, Any]]]:
        """Each indexed event's verdict becomes the fate of every message that carried it.
        Returns the stored events with their documents, for linking."""
        stored: list[tuple[_Pending, dict[str, Any]]] = []
        for item, document, result in zip(work.owners, work.documents, results, strict=True):
            if result.verdict is Verdict.STORED:
                stored.append((item, document))
                outcome.stored[(item.event.event_type, item.event.region)] += 1
                outcome.stored_messages.update(item.message_ids)
                if document.get("enrichment") == MISSING:
                    outcome.enrichment_missing += 1
            elif result.verdict is Verdict.RETRY:
                outcome.retry.update(dict.fromkeys(item.message_ids, result.reason))
            else:
                work.poison.extend(item.poison(result.reason))
        return stored

    def _park(self, poison: list[PoisonRecord], outcome: BatchOutcome) -> None:
        if not poison:
            return
        if self.dead_letters is None:
            # Without a DLQ to write to, SQS's own redrive policy is the way out.
            unparked = set(range(len(poison)))
            prefix = "poison (no DLQ set)"
        else:
            unparked = self.dead_letters.send(poison)
            prefix = "poison, DLQ send failed"
        for position, record in enumerate(poison):
            if record.message_id is None:
                parked = "could not be parked" if position in unparked else "parked in the DLQ"
                outcome.unidentified.append(f"{record.reason}; {parked}")
            elif position in unparked:
                outcome.retry[record.message_id] = f"{prefix}: {record.reason}"
            else:
                outcome.poisoned[record.message_id] = record.reason


def _one_fate_per_message(poison: list[PoisonRecord], outcome: BatchOutcome) -> list[PoisonRecord]:
    """A message whose documents got different verdicts: retried if any of them is (the whole
    record comes back, and re-indexing its stored documents under the same ids adds nothing),
    else parked once, with the first reason."""
    kept: list[PoisonRecord] = []
    parked: set[str] = set()
    for record in poison:
        if record.message_id is not None:
            if record.message_id in outcome.retry or record.message_id in parked:
                continue
            parked.add(record.message_id)
        kept.append(record)
    return kept
