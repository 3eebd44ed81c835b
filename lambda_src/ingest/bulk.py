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
# 400s that are about the index's state, not the document: retrying later can succeed.
_RETRYABLE_400_TYPES = frozenset({"index_closed_exception", "cluster_block_exception"})


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


class BulkIndexer:
    def __init__(
        self, client: OpenSearch, alias: str, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.client = client
        self.alias = alias
        self.max_bytes = max_bytes

    def index(
        self, documents: Sequence[dict[str, Any]], *, refresh: str | None = None
    ) -> list[ItemResult]:
        """One verdict per document, in order. Never raises for OpenSearch failures.
        `refresh="wait_for"` returns once the documents are visible to search (linking)."""
        results: list[ItemResult] = []
        for chunk in self._chunks(documents):
            results.extend(self._send(chunk, refresh))
        return results

    def _chunks(self, documents: Sequence[dict[str, Any]]) -> Iterator[list[bytes]]:
        chunk: list[bytes] = []
        size = 0
        for doc in documents:
            action = json.dumps({"index": {"_id": doc["event_id"]}}, separators=(",", ":"))
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
            # A whole-request error says nothing about the documents themselves.
            status = exc.status_code if isinstance(exc.status_code, int) else 0
            return [ItemResult(Verdict.RETRY, f"request failed: {status} {exc.error}")] * len(lines)
        items = response.get("items", [])
        if len(items) != len(lines):
            return [ItemResult(Verdict.RETRY, "bulk response item count mismatch")] * len(lines)
        results = []
        for item in items:
            outcome = next(iter(item.values()))
            results.append(classify(int(outcome.get("status", 0)), outcome.get("error")))
        return results
