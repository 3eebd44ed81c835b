"""Events of one instance linked at ingest, so dashboards and the report need no joins.

A `LinkRule` pairs an earlier event type with a later one of the same instance (a rebalance
recommendation and its interruption warning; issue 13 adds a warning and its eviction). The
later event learns how long before it the latest earlier one came; the earlier event learns
whether, and how soon, the earliest later one followed.

How it stays right in any arrival order, batching, concurrency and redelivery:

* Links the batch implies by itself are set before indexing (`prelink`, no request), so a
  pair delivered together costs no update.
* Write first, then link. The batch's documents are indexed with `refresh=wait_for`, then ONE
  search (per batch, not per event) reads every linked event of the batch's instances through
  the write alias, which after a rollover still spans the older indices. Of two invocations
  racing with the two halves of a pair, at least one searches after both writes are visible,
  so the pair is never missed.
* Link values only ever improve as events arrive: a flag goes false -> true, a lead time only
  shrinks (a later rebalance, an earlier warning). Only improvements over what the search read
  are written, as ONE `_bulk` of partial updates per batch, each conditional on the document's
  sequence number (`if_seq_no`/`if_primary_term`): a document changed since it was read is
  a conflict, and its instance is searched again, its documents re-read by id (real time:
  another invocation's updates are invisible to search until the next refresh), and computed
  again (no scripts, which the local node lacks). So a stale view never undoes a better
  value, and redelivery changes nothing.
* A redelivered event is re-indexed without its links (the `index` op replaces the document);
  the same batch's search finds its partners and restores them.
* A failed search or update is reported per instance, and the batch retries the messages of
  those instances: their documents are overwritten (same `_id`) and linked again."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as TransportConnectionError
from opensearchpy.exceptions import TransportError

from lambda_src.ingest.events import RebalanceRecommendation, SpotEviction, SpotInterruptionWarning

PAGE_SIZE = 10_000

# Rounds of search + update for instances whose documents changed between the two.
CONFLICT_ROUNDS = 3


@dataclass(frozen=True)
class LinkRule:
    """`earlier_type` then `later_type` for one instance. Each field name is optional:
    `later_lead` (seconds since the latest earlier event) and `later_flag` (there was one) go
    on the later event; `earlier_flag` (one followed) and `earlier_after` (seconds until the
    earliest later event) go on the earlier one. Flags are false when indexed."""

    earlier_type: str
    later_type: str
    later_lead: str | None = None
    later_flag: str | None = None
    earlier_flag: str | None = None
    earlier_after: str | None = None


REBALANCE_THEN_WARNING = LinkRule(
    earlier_type=RebalanceRecommendation.event_type,
    later_type=SpotInterruptionWarning.event_type,
    later_lead="rebalance_lead_seconds",
    earlier_flag="followed_by_warning",
    earlier_after="warning_after_seconds",
)
# Evictions are the ground truth: did a warning come first, and how long before?
WARNING_THEN_EVICTION = LinkRule(
    earlier_type=SpotInterruptionWarning.event_type,
    later_type=SpotEviction.event_type,
    later_lead="warning_lead_seconds",
    later_flag="warned",
    earlier_flag="eviction_confirmed",
)
REBALANCE_THEN_EVICTION = LinkRule(
    earlier_type=RebalanceRecommendation.event_type,
    later_type=SpotEviction.event_type,
    later_flag="rebalance_recommended",
)
RULES: tuple[LinkRule, ...] = (
    REBALANCE_THEN_WARNING,
    WARNING_THEN_EVICTION,
    REBALANCE_THEN_EVICTION,
)


def initial_fields(event_type: str, rules: Sequence[LinkRule] = RULES) -> dict[str, Any]:
    """The flags a document carries when indexed (false until its partner arrives)."""
    fields: dict[str, Any] = {}
    for rule in rules:
        if event_type == rule.earlier_type and rule.earlier_flag:
            fields[rule.earlier_flag] = False
        if event_type == rule.later_type and rule.later_flag:
            fields[rule.later_flag] = False
    return fields


@dataclass(frozen=True)
class StoredEvent:
    """A linked event as found in the index: where it is, when it was, what links it has."""

    index: str
    doc_id: str
    instance_id: str
    event_type: str
    event_time: datetime
    source: Mapping[str, Any]
    seq_no: int = 0
    primary_term: int = 0


@dataclass(frozen=True)
class LinkUpdate:
    event: StoredEvent
    least: Mapping[str, int]  # field -> seconds: stored unless the stored value is smaller
    flags: tuple[str, ...]  # fields set to true


def _seconds(later: datetime, earlier: datetime) -> int:
    return int((later - earlier).total_seconds())


Links = dict[tuple[str, str], tuple[dict[str, int], set[str]]]


def compute_links(events: Iterable[StoredEvent], rules: Sequence[LinkRule] = RULES) -> Links:
    """The link values each event should carry given all `events`: (index, id) -> (least, flags).

    A pure function of the set of events: the same events in any order give the same links."""
    by_instance: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in events:
        by_instance[event.instance_id].append(event)
    links: Links = defaultdict(lambda: ({}, set()))
    for group in by_instance.values():
        for rule in rules:
            _link_group(group, rule, links)
    return dict(links)


def _link_group(group: list[StoredEvent], rule: LinkRule, links: Links) -> None:
    earlier = sorted(e.event_time for e in group if e.event_type == rule.earlier_type)
    later = sorted(e.event_time for e in group if e.event_type == rule.later_type)
    if not earlier or not later:
        return
    for event in group:
        if event.event_type == rule.later_type:
            # The latest earlier event at or before this one.
            position = bisect.bisect_right(earlier, event.event_time)
            if position:
                least, flags = links[(event.index, event.doc_id)]
                if rule.later_lead:
                    least[rule.later_lead] = _seconds(event.event_time, earlier[position - 1])
                if rule.later_flag:
                    flags.add(rule.later_flag)
        if event.event_type == rule.earlier_type:
            # The earliest later event at or after this one.
            position = bisect.bisect_left(later, event.event_time)
            if position < len(later):
                least, flags = links[(event.index, event.doc_id)]
                if rule.earlier_after:
                    least[rule.earlier_after] = _seconds(later[position], event.event_time)
                if rule.earlier_flag:
                    flags.add(rule.earlier_flag)


def improvements(
    events: Sequence[StoredEvent], rules: Sequence[LinkRule] = RULES
) -> list[LinkUpdate]:
    """The updates that would improve what is stored (nothing when all links are in place)."""
    by_key = {(e.index, e.doc_id): e for e in events}
    updates = []
    for key, (least, flags) in sorted(compute_links(events, rules).items()):
        event = by_key[key]
        better = {
            name: value
            for name, value in least.items()
            if event.source.get(name) is None or event.source[name] > value
        }
        missing = tuple(sorted(name for name in flags if event.source.get(name) is not True))
        if better or missing:
            updates.append(LinkUpdate(event, better, missing))
    return updates


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _from_document(document: Mapping[str, Any]) -> StoredEvent:
    return StoredEvent(
        index="",
        doc_id=document["event_id"],
        instance_id=document["instance_id"],
        event_type=document["event_type"],
        event_time=_parse_time(document["event_time"]),
        source=document,
    )


def prelink(documents: Sequence[dict[str, Any]], rules: Sequence[LinkRule] = RULES) -> None:
    """Set, in place, the links the documents imply among themselves (before indexing)."""
    by_id = {d["event_id"]: d for d in documents if "instance_id" in d}
    for update in improvements([_from_document(d) for d in by_id.values()], rules):
        document = by_id[update.event.doc_id]
        document.update(update.least)
        document.update(dict.fromkeys(update.flags, True))


class Linker:
    """Links the batch's stored documents with the events already in the index."""

    def __init__(
        self,
        client: OpenSearch,
        alias: str,
        rules: Sequence[LinkRule] = RULES,
        *,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.client = client
        self.alias = alias
        self.rules = tuple(rules)
        self.page_size = page_size
        self.types = sorted({t for r in self.rules for t in (r.earlier_type, r.later_type)})
        self.fields = sorted(
            {
                name
                for r in self.rules
                for name in (r.later_lead, r.later_flag, r.earlier_flag, r.earlier_after)
                if name
            }
        )

    def link(self, documents: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        """Link the instances of `documents` (already stored and visible).

        Returns instance id -> reason for the instances whose links could not be written;
        their messages must be retried. Never raises for OpenSearch failures."""
        instances = sorted(
            {d["instance_id"] for d in documents if d.get("event_type") in self.types}
        )
        if not instances:
            return {}
        failed: dict[str, str] = {}
        for round_ in range(CONFLICT_ROUNDS):
            try:
                # After a conflict the search alone would not do: another invocation's link
                # updates are invisible to search until the next refresh, so the same stale
                # sequence numbers would conflict again. Get is real-time.
                stored = self._search(instances, current=round_ > 0)
            except (TransportConnectionError, TransportError) as exc:
                failed.update(dict.fromkeys(instances, f"link search failed: {_describe(exc)}"))
                return failed
            updates = improvements(stored, self.rules)
            if not updates:
                return failed
            refused, conflicts = self._update(updates)
            failed.update(refused)
            instances = sorted(conflicts)
            if not instances:
                return failed
        failed.update(dict.fromkeys(instances, "link update: documents kept changing"))
        return failed

    def _search(self, instances: list[str], *, current: bool = False) -> list[StoredEvent]:
        """The stored events of `instances`; `current`: with their latest source and sequence
        numbers, read by id (real-time) rather than as the last refresh left them."""
        found = self._search_refreshed(instances)
        return self._current(found) if current and found else found

    def _current(self, events: list[StoredEvent]) -> list[StoredEvent]:
        fields = ["instance_id", "event_type", "event_time", *self.fields]
        docs = [{"_index": e.index, "_id": e.doc_id, "_source": fields} for e in events]
        answer = self.client.mget(body={"docs": docs})["docs"]
        current: list[StoredEvent] = []
        for event, doc in zip(events, answer, strict=True):
            if not doc.get("found"):
                continue  # deleted by retention since the search
            current.append(
                replace(
                    event,
                    source=doc["_source"],
                    seq_no=doc["_seq_no"],
                    primary_term=doc["_primary_term"],
                )
            )
        return current

    def _search_refreshed(self, instances: list[str]) -> list[StoredEvent]:
        body: dict[str, Any] = {
            "size": self.page_size,
            "query": {
                "bool": {
                    "filter": [
                        {"terms": {"instance_id": instances}},
                        {"terms": {"event_type": self.types}},
                    ]
                }
            },
            "_source": ["instance_id", "event_type", "event_time", *self.fields],
            "seq_no_primary_term": True,
            # A tie-breaker that is a field, so a (rare) second page can follow search_after.
            "sort": [{"event_time": "asc"}, {"event_id": "asc"}],
        }
        found: list[StoredEvent] = []
        while True:
            hits = self.client.search(index=self.alias, body=body)["hits"]["hits"]
            for hit in hits:
                source = hit["_source"]
                found.append(
                    StoredEvent(
                        index=hit["_index"],
                        doc_id=hit["_id"],
                        instance_id=source["instance_id"],
                        event_type=source["event_type"],
                        event_time=_parse_time(source["event_time"]),
                        source=source,
                        seq_no=hit["_seq_no"],
                        primary_term=hit["_primary_term"],
                    )
                )
            if len(hits) < self.page_size:
                return found
            body["search_after"] = hits[-1]["sort"]

    def _update(self, updates: list[LinkUpdate]) -> tuple[dict[str, str], set[str]]:
        """Failed instances (id -> reason) and instances with conflicts (to compute again)."""
        lines: list[dict[str, Any]] = []
        for update in updates:
            event = update.event
            # The concrete index: through the alias an update would only reach the write index.
            lines.append(
                {
                    "update": {
                        "_index": event.index,
                        "_id": event.doc_id,
                        "if_seq_no": event.seq_no,
                        "if_primary_term": event.primary_term,
                    }
                }
            )
            lines.append({"doc": {**update.least, **dict.fromkeys(update.flags, True)}})
        instances = {u.event.instance_id for u in updates}
        try:
            response = self.client.bulk(body=lines)
        except (TransportConnectionError, TransportError) as exc:
            return dict.fromkeys(instances, f"link update failed: {_describe(exc)}"), set()
        items = response.get("items", [])
        if len(items) != len(updates):
            return dict.fromkeys(instances, "link update: bulk response item count mismatch"), set()
        failed: dict[str, str] = {}
        conflicts: set[str] = set()
        for update, item in zip(updates, items, strict=True):
            outcome = item.get("update", {})
            status = int(outcome.get("status", 0))
            # 404: the document's index was deleted by retention since the search; nothing to do.
            if 200 <= status < 300 or status == 404:
                continue
            if status == 409:
                conflicts.add(update.event.instance_id)
            else:
                failed[update.event.instance_id] = f"link update failed: {status} {_error(outcome)}"
        return failed, conflicts - set(failed)


def _error(outcome: Mapping[str, Any]) -> str:
    error = outcome.get("error")
    if not isinstance(error, dict):
        return str(error or "")
    cause = error.get("caused_by") or {}
    return f"{error.get('type', '')}: {error.get('reason', '')} {cause.get('reason') or ''}"[:500]


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__} {status if isinstance(status, int) else ''}".strip()
