"""Hypothesis strategies: SQS batches mixing valid EventBridge events with malformed records of
every class the ingest path must survive. Each generated record carries its class and the fate
the batch contract promises it (`valid`: stored; `poison`: parked in the DLQ with a reason;
`unidentified`: no usable message id, named in the outcome and parked)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from tests.ingest.events import REBALANCE, WARNING, sqs_record

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2", "us-gov-west-1")
KNOWN_INSTANCES = tuple(f"i-0{n:016x}" for n in range(1, 9))  # FakeDirectory knows these
UNKNOWN_INSTANCES = ("i-0deadbeefdeadbeef", "i-12345678")


# Lambda's bodies passed SQS's character check: no control characters, surrogates, U+FFFE/FFFF.
SQS_CHARACTERS = st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="\ufffe\uffff")


@dataclass
class Generated:
    record: Any
    kind: str  # valid | poison | unidentified | repeat (same message delivered twice)
    label: str  # the class, for the statistics in docs/ingest.md


def _event_ids() -> st.SearchStrategy[str]:
    return st.one_of(
        st.uuids().map(str),
        st.text(min_size=1, max_size=40)
        .filter(lambda s: s.strip())
        .map(lambda s: f"{s}-{uuid.uuid4()}"),
        # Exactly 512 bytes, the longest id OpenSearch takes (still unique per event).
        st.uuids().map(lambda u: f"{u}{'é' * 238}"),
    )


def _times() -> st.SearchStrategy[str]:
    zones = st.one_of(
        st.just(UTC),
        st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    )
    return st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=zones,
    ).map(lambda t: t.isoformat().replace("+00:00", "Z"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
not_strings = json_values.filter(lambda v: not isinstance(v, str))


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    instance = draw(st.sampled_from(KNOWN_INSTANCES + UNKNOWN_INSTANCES))
    region = draw(st.sampled_from(REGIONS))
    warning = draw(st.booleans())
    detail: dict[str, Any] = {"instance-id": instance}
    if warning:
        detail["instance-action"] = draw(st.sampled_from(["terminate", "stop", "hibernate"]))
    resources = draw(
        st.one_of(
            st.just([f"arn:aws:ec2:{region}b:instance/{instance}"]),
            st.just([f"arn:aws:ec2:{region}:123456789012:instance/{instance}"]),
            st.lists(json_values, max_size=3),
            json_values,
        )
    )
    event = {
        "version": "0",
        "id": draw(_event_ids()),
        "detail-type": WARNING if warning else REBALANCE,
        "source": "aws.ec2",
        "account": draw(st.one_of(st.just("123456789012"), st.text(min_size=1).filter(str.strip))),
        "time": draw(_times()),
        "region": region,
        "resources": resources,
        "detail": detail,
    }
    if draw(st.booleans()):
        event["extra"] = draw(json_values)  # fields the model does not know are ignored
    return event


def _set(path: tuple[str, ...], value: Any) -> Any:
    def mutate(event: dict[str, Any]) -> dict[str, Any]:
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return event

    return mutate


def _drop(path: tuple[str, ...]) -> Any:
    def mutate(event: dict[str, Any]) -> dict[str, Any]:
        target = event
        for key in path[:-1]:
            target = target[key]
        target.pop(path[-1], None)
        return event

    return mutate


# Malformed bodies built from a valid event: (class, strategy of mutations).
BODY_MUTATIONS: dict[str, st.SearchStrategy[Any]] = {
    "source not a string or not aws.ec2": st.one_of(
        not_strings, st.text(max_size=10).filter(lambda s: s != "aws.ec2")
    ).map(lambda v: _set(("source",), v)),
    "detail-type unhashable/unknown": st.one_of(not_strings, st.text(max_size=30)).map(
        lambda v: _set(("detail-type",), v)
    ),
    "detail missing or not an object": st.one_of(
        st.just(_drop(("detail",))), not_strings.map(lambda v: _set(("detail",), v))
    ),
    "instance-id invalid": st.one_of(
        st.sampled_from(["i-00000000\n", "i-0123", "I-0123456789abcdef0", " i-0123456789", ""]),
        not_strings,
        st.text(max_size=20),
    ).map(lambda v: _set(("detail", "instance-id"), v)),
    "instance-action invalid": st.one_of(
        not_strings,
        st.text(max_size=10).filter(lambda s: s not in {"terminate", "stop", "hibernate"}),
    ).map(
        lambda v: (
            lambda e: _set(("detail", "instance-action"), v)(_set(("detail-type",), WARNING)(e))
        )
    ),
    "id missing/blank/not a string": st.one_of(
        st.just(_drop(("id",))),
        st.sampled_from(["", "  ", "\n"]).map(lambda v: _set(("id",), v)),
        not_strings.map(lambda v: _set(("id",), v)),
    ),
    "id over 512 bytes": st.one_of(
        st.integers(513, 2000).map(lambda n: "x" * n), st.just("é" * 256 + "x"), st.just("😀" * 129)
    ).map(lambda v: _set(("id",), v)),
    "lone surrogate in id or account": st.sampled_from([("id",), ("account",)]).map(
        lambda path: _set(path, "a\ud800b")
    ),
    "account over 32766 bytes": st.integers(32767, 40000).map(
        lambda n: _set(("account",), "a" * n)
    ),
    "account missing/not a string": st.one_of(
        st.just(_drop(("account",))), not_strings.map(lambda v: _set(("account",), v))
    ),
    "region not a region name": st.one_of(
        not_strings,
        st.text(max_size=30),
        st.sampled_from(["us-east-1\n", "US-EAST-1", "us-east-\u0661"]),
    ).map(lambda v: _set(("region",), v)),
    "time out of range/unparseable/no zone": st.one_of(
        st.sampled_from(
            [
                "9999-12-31T23:00:00-01:00",
                "0001-01-01T00:00:00+00:01",
                "2026-11-25T08:00:00",
                "yesterday",
                "",
                "2026-13-01T00:00:00Z",
            ]
        ),
        not_strings,
        st.text(max_size=30),
    ).map(lambda v: _set(("time",), v)),
}

RAW_BODIES: dict[str, st.SearchStrategy[str]] = {
    "not JSON": st.text(SQS_CHARACTERS, min_size=1, max_size=50).filter(lambda s: not _is_json(s)),
    "JSON but not an object": json_values.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
    "JSON nested too deeply": st.integers(2_000, 20_000).map(lambda n: "[" * n + "]" * n),
    "integer too long to convert": st.integers(4_400, 6_000).map(
        lambda n: '{"id": ' + "9" * n + "}"
    ),
}


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@st.composite
def valid_records(draw: st.DrawFn) -> Generated:
    event = draw(valid_events())
    record = sqs_record(event, receive_count=draw(st.integers(1, 5)))
    label = "valid event"
    shape = draw(st.integers(0, 5))
    if shape == 1:
        record["attributes"] = draw(not_strings.filter(lambda v: not isinstance(v, dict)))
        label = "valid event, attributes not an object"
    elif shape == 2:
        record["attributes"]["ApproximateReceiveCount"] = draw(
            st.sampled_from(["inf", float("inf"), None, "-3", "1e9999", "x", 2.5])
        )
        label = "valid event, unreadable receive count"
    return Generated(record, "valid", label)


@st.composite
def poison_records(draw: st.DrawFn) -> Generated:
    if draw(st.integers(0, 4)) == 0:
        label = draw(st.sampled_from(sorted(RAW_BODIES)))
        return Generated(sqs_record(draw(RAW_BODIES[label])), "poison", label)
    label = draw(st.sampled_from(sorted(BODY_MUTATIONS)))
    event = draw(valid_events())
    event["id"] = str(uuid.uuid4())  # never the id of a valid event in the same batch
    mutated = draw(BODY_MUTATIONS[label])(event)
    return Generated(sqs_record(json.dumps(mutated)), "poison", label)


@st.composite
def odd_shapes(draw: st.DrawFn) -> Generated:
    body = json.dumps(draw(valid_events()))
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return Generated(
            draw(not_strings.filter(lambda v: not isinstance(v, dict))),
            "unidentified",
            "record not an object",
        )
    record = sqs_record(body)
    if choice == 1:
        del record["messageId"]
        return Generated(record, "unidentified", "record without messageId")
    if choice == 2:
        record["messageId"] = draw(st.one_of(not_strings, st.just("")))
        return Generated(record, "unidentified", "messageId not a non-empty string")
    record["body"] = draw(not_strings)
    return Generated(record, "poison", "body not a string")


@st.composite
def batches(draw: st.DrawFn) -> list[Generated]:
    items: list[Generated] = draw(
        st.lists(
            st.one_of(valid_records(), valid_records(), poison_records(), odd_shapes()),
            min_size=1,
            max_size=25,
        )
    )
    identified = [
        g for g in items if g.kind in ("valid", "poison") and isinstance(g.record["body"], str)
    ]
    valid = [g for g in items if g.kind == "valid"]
    extras: list[Generated] = []
    if valid and draw(st.booleans()):
        # The same event in a second message (EventBridge's at-least-once delivery).
        original = draw(st.sampled_from(valid)).record
        again = sqs_record(original["body"], receive_count=draw(st.integers(1, 5)))
        extras.append(Generated(again, "valid", "same event in two messages"))
    if identified and draw(st.booleans()):
        # The same message twice (same id and body): one fate, reported once.
        extras.append(
            Generated(
                dict(draw(st.sampled_from(identified)).record), "repeat", "same message twice"
            )
        )
    if identified and draw(st.booleans()):
        # Another body under a message id already in the batch: cannot be reported apart.
        record = sqs_record(json.dumps(draw(valid_events())))
        record["messageId"] = draw(st.sampled_from(identified)).record["messageId"]
        extras.append(Generated(record, "unidentified", "messageId repeated with another body"))
    order = draw(st.permutations(items))
    return list(order) + extras
