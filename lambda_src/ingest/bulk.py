"""`_bulk` through the write alias, chunked by size, with a verdict for every document.

Each document is indexed with `_id` = its event id, so a redelivered or retried record overwrites
itself instead of adding a duplicate. `require_alias=true` makes a missing alias fail the items
instead of auto-creating a stray index named like the alias."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as TransportConnectionError
from opensearchpy.exceptions import TransportError

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
# `refresh` for writes whose readers follow at once: `index` returns once the documents are
# searchable (the next scheduled refresh, at most `index.refresh_interval` later), not sooner.
SEARCHABLE = "wait_for"
# 400s that are about the index's state, not the document: retrying later can succeed.
_RETRYABLE_400_TYPES = frozenset({"index_closed_exception", "cluster_block_exception"})
# Whole-request 400s that one document in the request can cause (an `_id` over 512 bytes, a
# body OpenSearch cannot parse). The request is split in halves until the culprits stand alone.
_DOCUMENT_400_TYPES = frozenset(
    {
        "action_request_validation_exception",
        "illegal_argument_exception",
        "mapper_parsing_exception",
        "not_x_content_exception",
        "parse_exception",
        "x_content_parse_exception",
        "json_parse_exception",
    }
)
# Extra requests one `index` call may spend on splitting. k culprits among n documents take
# about 2k·log2(n); a refusal that is not about documents at all stops here and is retried.
MAX_SPLIT_REQUESTS = 64


class Verdict(Enum):
    STORED = "stored"
    RETRY = "retry"  # throttled, server error, timeout, connection: SQS redelivers
    POISON = "poison"  # the document itself is rejected: retrying cannot help


@dataclass(frozen=True)
class ItemResult:
    verdict: Verdict
    reason: str = ""


def classify(status: int, error: Any) -> ItemResult:
    """Map one bulk item's status (and error object) to a verdict."""
    if 200 <= status < 300:
        return ItemResult(Verdict.STORED)
    error_type = error.get("type", "") if isinstance(error, dict) else str(error or "")
    reason = f"{status} {error_type}".strip()
    if isinstance(error, dict) and error.get("reason"):
        reason = f"{reason}: {error['reason']}"[:500]
    if status == 400 and error_type not in _RETRYABLE_400_TYPES:
        return ItemResult(Verdict.POISON, reason)
    # 429, 5xx, and 401/403/404 (security or a missing alias: a deployment problem that a
    # fix resolves) are retried; SQS moves them to the DLQ after maxReceiveCount.
    return ItemResult(Verdict.RETRY, reason)


class _DocumentRefusal(Exception):
    """The whole request was refused with a 400 that one of its documents may have caused."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BulkIndexer:
    def __init__(
        self,
        client: OpenSearch,
        alias: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        id_field: str = "event_id",
    ) -> None:
        self.client = client
        self.alias = alias
        self.max_bytes = max_bytes
        # The document field that is its `_id` (the exposure sampler's is `sample_id`).
        self.id_field = id_field

    def index(
        self, documents: Sequence[dict[str, Any]], *, refresh: str | None = None
    ) -> list[ItemResult]:
        """One verdict per document, in order. Never raises for OpenSearch failures.
        `refresh=SEARCHABLE` returns once the documents are visible to search."""
        results: list[ItemResult] = []
        budget = [MAX_SPLIT_REQUESTS]
        for chunk in self._chunks(documents):
            results.extend(self._send_narrowing(chunk, budget, refresh))
        return results

    def _send_narrowing(
        self, lines: list[bytes], budget: list[int], refresh: str | None
    ) -> list[ItemResult]:
        """`_send`, and when one document fails the whole request, the documents that did not
        cause it still get their own verdict: halves are sent until the culprit is alone."""
        try:
            return self._send(lines, refresh)
        except _DocumentRefusal as refusal:
            if len(lines) == 1:
                return [ItemResult(Verdict.POISON, refusal.reason)]
            if budget[0] < 2:
                return [ItemResult(Verdict.RETRY, refusal.reason)] * len(lines)
            budget[0] -= 2
            middle = len(lines) // 2
            return self._send_narrowing(lines[:middle], budget, refresh) + self._send_narrowing(
                lines[middle:], budget, refresh
            )

    def _chunks(self, documents: Sequence[dict[str, Any]]) -> Iterator[list[bytes]]:
        chunk: list[bytes] = []
        size = 0
        for doc in documents:
            action = json.dumps({"index": {"_id": doc[self.id_field]}}, separators=(",", ":"))
            line = f"{action}\n{json.dumps(doc, separators=(',', ':'))}\n".encode()
            if chunk and size + len(line) > self.max_bytes:
                yield chunk
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            yield chunk

    def _send(self, lines: list[bytes], refresh: str | None = None) -> list[ItemResult]:
        body = b"".join(lines)
        params = {"require_alias": "true", **({"refresh": refresh} if refresh else {})}
        try:
            response = self.client.bulk(body=body, index=self.alias, params=params)
        except TransportConnectionError as exc:  # includes timeouts and TLS failures
            return [ItemResult(Verdict.RETRY, f"connection: {type(exc).__name__}")] * len(lines)
        except TransportError as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else 0
            reason = f"request failed: {status} {exc.error}"
            if status == 400 and exc.error in _DOCUMENT_400_TYPES:
                raise _DocumentRefusal(_with_detail(reason, exc.info)) from exc
            # Any other whole-request error says nothing about the documents themselves.
            return [ItemResult(Verdict.RETRY, reason)] * len(lines)
        items = response.get("items", [])
        if len(items) != len(lines):
            return [ItemResult(Verdict.RETRY, "bulk response item count mismatch")] * len(lines)
        results = []
        for item in items:
            outcome = next(iter(item.values()))
            results.append(classify(int(outcome.get("status", 0)), outcome.get("error")))
        return results


def _with_detail(reason: str, info: Any) -> str:
    error = info.get("error") if isinstance(info, dict) else None
    detail = error.get("reason") if isinstance(error, dict) else None
    return f"{reason}: {detail}"[:500] if detail else reason
