"""In-process stand-ins for OpenSearch, SQS and EC2, fast enough to run thousands of generated
batches through the real BatchIngestor, BulkIndexer and DeadLetterQueue.

Each fake enforces what its service enforces, so the ingestor cannot pass by sending something
the real one would refuse: the OpenSearch fake checks every document against the strict mapping
in dashboards/index-mapping.json and refuses a whole request for an `_id` over 512 bytes (as
OpenSearch 2.19 does); the SQS fake checks SendMessageBatch's limits. test_batch_properties.py
replays a sample through the real node to confirm the OpenSearch fake's verdicts."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from opensearchpy.exceptions import RequestError

from tests.support.search_index import MAPPING

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?")
_SQS_TEXT = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


def _keyword(value: Any) -> str | None:
    if not isinstance(value, str):
        return "not a string"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "lone surrogate"
    return "immense term" if size > 32766 else None


def _date(value: Any) -> str | None:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return "not strict_date_optional_time"
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "not a date"
    return None


def _ip(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "not an IP address"
    return None


def _long(value: Any) -> str | None:
    ok = type(value) is int and -(2**63) <= value < 2**63
    return None if ok else "not a long"


def _boolean(value: Any) -> str | None:
    return None if type(value) is bool else "not a boolean"


_CHECKS = {"keyword": _keyword, "date": _date, "ip": _ip, "long": _long, "boolean": _boolean}


def mapping_problem(document: dict[str, Any]) -> str | None:
    """Why the strict mapping refuses the document (as OpenSearch would), or None."""
    properties = MAPPING["properties"]
    for name, value in document.items():
        if name not in properties:
            return f"strict_dynamic_mapping_exception: {name}"
        problem = _CHECKS[properties[name]["type"]](value)
        if problem:
            return f"{name}: {problem}"
    return None


def id_problem(document_id: str) -> str | None:
    try:
        size = len(document_id.encode("utf-8"))
    except UnicodeEncodeError:
        return "lone surrogate in _id"
    return "id is too long" if size > 512 else None


@dataclass
class FakeOpenSearch:
    """`client.bulk` as BulkIndexer calls it."""

    throttle_ids: set[str] = field(default_factory=set)  # item 429
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (_id, why) mapping refusals
    requests_refused: int = 0
    requests: int = 0
    sent_ids: list[str] = field(default_factory=list)

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        """The linker's one search per batch: `terms` filters on stored documents, sorted,
        with `_seq_no`/`_primary_term` (every document is at sequence number 0 here)."""
        filters = body["query"]["bool"]["filter"]
        wanted = {name: set(values) for f in filters for name, values in f["terms"].items()}
        hits = [
            {
                "_index": "fake-000001",
                "_id": doc_id,
                "_source": document,
                "_seq_no": 0,
                "_primary_term": 1,
                "sort": [document["event_time"], document["event_id"]],
            }
            for doc_id, document in self.stored.items()
            if all(document.get(name) in values for name, values in wanted.items())
        ]
        hits.sort(key=lambda hit: hit["sort"])
        after = body.get("search_after")
        if after is not None:
            hits = [hit for hit in hits if hit["sort"] > after]
        return {"hits": {"hits": hits[: body.get("size", 10)]}}

    def _update(self, lines: list[dict[str, Any]]) -> dict[str, Any]:
        items = []
        for action, change in zip(lines[::2], lines[1::2], strict=True):
            document = self.stored.get(action["update"]["_id"])
            if document is None:
                items.append({"update": {"status": 404}})
                continue
            problem = mapping_problem({**document, **change["doc"]})
            if problem:
                items.append({"update": {"status": 400, "error": {"type": problem}}})
                continue
            document.update(change["doc"])
            items.append({"update": {"status": 200}})
        return {"errors": False, "items": items}

    def bulk(
        self,
        body: bytes | list[dict[str, Any]],
        index: str | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self.requests += 1
        if isinstance(body, list):  # the linker's partial updates
            return self._update(body)
        lines = body.decode().splitlines()
        pairs = [(json.loads(lines[i]), json.loads(lines[i + 1])) for i in range(0, len(lines), 2)]
        for action, _ in pairs:
            if id_problem(action["index"]["_id"]) == "id is too long":
                self.requests_refused += 1
                raise RequestError(
                    400,
                    "action_request_validation_exception",
                    {"error": {"type": "action_request_validation_exception", "reason": "id"}},
                )
        items = []
        for action, document in pairs:
            document_id = action["index"]["_id"]
            self.sent_ids.append(document_id)
            problem = id_problem(document_id) or mapping_problem(document)
            if document_id in self.throttle_ids:
                items.append({"index": {"status": 429, "error": {"type": "es_rejected"}}})
            elif problem:
                self.refused.append((document_id, problem))
                error = {"type": "mapper_parsing_exception", "reason": problem}
                items.append({"index": {"status": 400, "error": error}})
            else:
                self.stored[document_id] = document
                items.append({"index": {"status": 201}})
        return {"errors": False, "items": items}


@dataclass
class FakeSqs:
    """`send_message_batch` with SQS's limits; entries whose source message id is in
    `reject_sources` are refused one by one (as SQS does with a per-entry failure)."""

    reject_sources: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [entry["Id"] for entry in Entries]
        total = sum(len(entry["MessageBody"].encode()) for entry in Entries)
        if not 1 <= len(Entries) <= 10 or len(set(ids)) != len(ids) or total > 262_144:
            raise ClientError({"Error": {"Code": "BatchRequestTooLong"}}, "SendMessageBatch")
        successful, failed = [], []
        for entry in Entries:
            texts = [entry["MessageBody"]] + [
                a["StringValue"] for a in entry["MessageAttributes"].values()
            ]
            source = entry["MessageAttributes"].get("ingest-source-message-id", {})
            if not entry["MessageBody"] or not all(_SQS_TEXT.fullmatch(t) for t in texts):
                failed.append({"Id": entry["Id"], "Code": "InvalidMessageContents"})
            elif source.get("StringValue") in self.reject_sources:
                failed.append({"Id": entry["Id"], "Code": "InternalError"})
            else:
                self.messages.append(entry)
                successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}


@dataclass
class FakeDirectory:
    """InstanceDirectory: the instances EC2 knows; regions whose lookups fail."""

    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing_regions: set[str] = field(default_factory=set)

    def describe(self, region: str, instance_ids: Any) -> dict[str, dict[str, Any]]:
        if region in self.failing_regions:
            raise ClientError({"Error": {"Code": "RequestLimitExceeded"}}, "DescribeInstances")
        return {i: self.instances[i] for i in set(instance_ids) if i in self.instances}

    def zone_ids(self, region: str) -> dict[str, str]:
        return {f"{region}a": "az1"}
