"""What OpenSearch would refuse in a document, checked before it is sent.

Most refusals come back per item in the `_bulk` response and concern that document alone. Some
fail the whole request instead (an `_id` over 512 bytes: 400 action_request_validation_exception
for every document in it), so one record would hold back all the others. Checking here turns
each of those into a poison record with a reason while the rest of the batch is indexed; the
bulk indexer bisects whatever still slips through."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# OpenSearch's limit on `_id` (IndexRequest validation), in UTF-8 bytes.
MAX_ID_BYTES = 512
# Lucene's limit on one indexed term; a longer keyword value fails its document.
MAX_KEYWORD_BYTES = 32766


def _utf8_size(value: str) -> int | None:
    """Size in UTF-8 bytes, or None when the text holds a lone surrogate (JSON can carry one
    as a \\ud800 escape; it has no UTF-8 form, so OpenSearch would store something else)."""
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def document_problem(document_id: str, document: Mapping[str, Any]) -> str | None:
    """Why OpenSearch would refuse this document, or None when it can be sent."""
    size = _utf8_size(document_id)
    if size is None:
        return "id is not valid Unicode (lone surrogate)"
    if size > MAX_ID_BYTES:
        return f"id is {size} bytes long; OpenSearch accepts at most {MAX_ID_BYTES}"
    for name, value in document.items():
        if not isinstance(value, str):
            continue
        size = _utf8_size(value)
        if size is None:
            return f"{name} is not valid Unicode (lone surrogate)"
        if size > MAX_KEYWORD_BYTES:
            return f"{name} is {size} bytes long; OpenSearch indexes at most {MAX_KEYWORD_BYTES}"
    return None
