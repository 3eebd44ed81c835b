"""One SQS batch, end to end: parse, deduplicate, enrich per region, bulk index, park poison.

Works on the raw Lambda SQS records so it can be driven by the handler, a test or a benchmark
alike. The outcome names exactly the messages SQS must redeliver."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.ingest.bulk import BulkIndexer, Verdict
from lambda_src.ingest.dead_letter import DeadLetterQueue, PoisonRecord
from lambda_src.ingest.documents import LOOKUP_FAILED, MISSING, build_document
from lambda_src.ingest.events import InvalidEvent, SpotEvent, parse_event
from lambda_src.ingest.instances import InstanceDirectory
from lambda_src.ingest.linking import REFRESH, Linker, prelink


@dataclass
class BatchOutcome:
    retry: dict[str, str] = field(default_factory=dict)  # message id -> reason
    poisoned: dict[str, str] = field(default_factory=dict)  # message id -> reason (in the DLQ)
    stored: Counter[tuple[str, str]] = field(default_factory=Counter)  # (event_type, region)
    enrichment_missing: int = 0
    lookup_failures: int = 0
    duplicates_in_batch: int = 0

    @property
    def stored_total(self) -> int:
        return sum(self.stored.values())


@dataclass
class _Pending:
    event: SpotEvent
    message_ids: list[str]
    bodies: list[str]
    receive_count: int


def _receive_count(record: Mapping[str, Any]) -> int:
    try:
        return int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        return 1


class BatchIngestor:
    def __init__(
        self,
        directory: InstanceDirectory,
        indexer: BulkIndexer,
        dead_letters: DeadLetterQueue | None,
        *,
        enrichment_max_attempts: int = 3,
        linker: Linker | None = None,
    ) -> None:
        self.directory = directory
        self.indexer = indexer
        self.dead_letters = dead_letters
        # Events of one instance are linked after they are stored (see linking.py).
        self.linker = linker or Linker(indexer.client, indexer.alias)
        # After this many receives a failing EC2 lookup no longer holds the event back: it is
        # indexed with what it carries (enrichment: missing, reason lookup_failed).
        self.enrichment_max_attempts = enrichment_max_attempts

    def ingest(self, records: Sequence[Mapping[str, Any]]) -> BatchOutcome:
        outcome = BatchOutcome()
        poison: list[PoisonRecord] = []
        pending = self._parse(records, poison, outcome)
        documents, owners = self._enrich(pending, outcome)
        prelink(documents)
        results = self.indexer.index(documents, refresh=REFRESH)
        stored: list[tuple[_Pending, dict[str, Any]]] = []
        for item, document, result in zip(owners, documents, results, strict=True):
            if result.verdict is Verdict.STORED:
                stored.append((item, document))
                outcome.stored[(item.event.detail_type, item.event.region)] += 1
                if document.get("enrichment") == MISSING:
                    outcome.enrichment_missing += 1
            elif result.verdict is Verdict.RETRY:
                outcome.retry.update(dict.fromkeys(item.message_ids, result.reason))
            else:
                poison.extend(
                    PoisonRecord(mid, body, result.reason)
                    for mid, body in zip(item.message_ids, item.bodies, strict=True)
                )
        self._link(stored, outcome)
        self._park(poison, outcome)
        return outcome

    def _link(self, stored: list[tuple[_Pending, dict[str, Any]]], outcome: BatchOutcome) -> None:
        # A stored event whose links could not be written is retried: re-indexing it under the
        # same _id adds no duplicate, and its redelivery links it again.
        unlinked = self.linker.link([document for _, document in stored])
        for item, document in stored:
            reason = unlinked.get(document["instance_id"])
            if reason:
                outcome.retry.update(dict.fromkeys(item.message_ids, reason))

    def _parse(
        self,
        records: Sequence[Mapping[str, Any]],
        poison: list[PoisonRecord],
        outcome: BatchOutcome,
    ) -> list[_Pending]:
        by_event: dict[str, _Pending] = {}
        for record in records:
            message_id = record["messageId"]
            body = record.get("body") or ""
            try:
                event = parse_event(json.loads(body))
            except json.JSONDecodeError as exc:
                poison.append(PoisonRecord(message_id, body, f"invalid JSON: {exc.msg}"))
                continue
            except InvalidEvent as exc:
                poison.append(PoisonRecord(message_id, body, f"invalid event: {exc}"))
                continue
            receives = _receive_count(record)
            known = by_event.get(event.event_id)
            if known is None:
                by_event[event.event_id] = _Pending(event, [message_id], [body], receives)
            else:
                # EventBridge delivers at least once: the same event twice in one batch is
                # indexed once and both messages share its fate.
                outcome.duplicates_in_batch += 1
                known.message_ids.append(message_id)
                known.bodies.append(body)
                known.receive_count = max(known.receive_count, receives)
        return list(by_event.values())

    def _enrich(
        self, pending: list[_Pending], outcome: BatchOutcome
    ) -> tuple[list[dict[str, Any]], list[_Pending]]:
        by_region: dict[str, list[_Pending]] = defaultdict(list)
        for item in pending:
            by_region[item.event.region].append(item)
        documents: list[dict[str, Any]] = []
        owners: list[_Pending] = []
        for region, items in by_region.items():
            try:
                instances = self.directory.describe(region, (i.event.instance_id for i in items))
            except (BotoCoreError, ClientError) as exc:
                outcome.lookup_failures += 1
                reason = f"DescribeInstances failed in {region}: {exc}"
                for item in items:
                    if item.receive_count < self.enrichment_max_attempts:
                        outcome.retry.update(dict.fromkeys(item.message_ids, reason))
                    else:
                        documents.append(
                            build_document(
                                item.event,
                                None,
                                self._zone_ids(region),
                                missing_reason=LOOKUP_FAILED,
                            )
                        )
                        owners.append(item)
                continue
            zone_ids = self._zone_ids(region)
            for item in items:
                documents.append(
                    build_document(item.event, instances.get(item.event.instance_id), zone_ids)
                )
                owners.append(item)
        return documents, owners

    def _zone_ids(self, region: str) -> dict[str, str]:
        # The AZ id is a nicety: without it the document is still complete enough to index.
        try:
            return self.directory.zone_ids(region)
        except (BotoCoreError, ClientError):
            return {}

    def _park(self, poison: list[PoisonRecord], outcome: BatchOutcome) -> None:
        if not poison:
            return
        if self.dead_letters is None:
            # Without a DLQ to write to, SQS's own redrive policy is the way out.
            outcome.retry.update({p.message_id: f"poison (no DLQ set): {p.reason}" for p in poison})
            return
        unsent = self.dead_letters.send(poison)
        for record in poison:
            if record.message_id in unsent:
                outcome.retry[record.message_id] = f"poison, DLQ send failed: {record.reason}"
            else:
                outcome.poisoned[record.message_id] = record.reason
