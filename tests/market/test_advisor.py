"""The advisor's file fetched over real HTTP from 127.0.0.1 and parsed by the sampler's own code:
a good file, a 404, a timeout, malformed JSON, an unknown range index and an oversized body."""

from pathlib import Path

import pytest

from lambda_src.sampler.advisor import (
    AdvisorError,
    Bucket,
    advisor_documents,
    bucket_of,
    fetch,
    parse,
)
from spot_cli.events import parse_time
from spot_cli.local.market import Route, serve

FIXTURE = (Path(__file__).parent / "advisor-fixture.json").read_bytes()
WANTED = {
    ("us-east-1", "m5.large"),
    ("us-east-1", "c5.large"),
    ("us-east-1", "r5.large"),
    ("us-east-1", "x9.large"),  # its range index is unknown
    ("us-east-1", "z1d.large"),  # not in the file
    ("us-west-2", "m5.large"),
}


@pytest.fixture(scope="module")
def server():
    routes = {
        "/ok.json": Route(FIXTURE),
        "/broken.json": Route(FIXTURE[: len(FIXTURE) // 2]),
        "/not-advisor.json": Route(b'{"ranges": 5}'),
        "/big.json": Route(b" " * 5000 + FIXTURE),
        "/gone.json": Route(b"gone", 500),
    }
    with serve(routes) as url:
        yield url


def test_the_fixture_fetched_and_parsed_gives_each_wanted_bucket(server):
    raw = fetch(f"{server}/ok.json", timeout=5)
    parsed = parse(raw, WANTED)
    found = {(a.region, a.instance_type): a for a in parsed.advice}
    assert set(found) == {
        ("us-east-1", "m5.large"),
        ("us-east-1", "c5.large"),
        ("us-east-1", "r5.large"),
        ("us-west-2", "m5.large"),
    }
    assert found[("us-east-1", "m5.large")].bucket == Bucket(0, "<5%", 0.0, 5.0)
    assert found[("us-east-1", "m5.large")].savings_percent == 70
    assert found[("us-east-1", "c5.large")].bucket == Bucket(4, ">20%", 20.0, None)
    assert found[("us-east-1", "r5.large")].bucket.upper_percent == 15.0
    # Linux, not the Windows figure of the same type.
    assert found[("us-west-2", "m5.large")].bucket.label == "5-10%"
    # The unknown range index is reported and skipped; the rest of the file still counts.
    assert parsed.problems == ["us-east-1 x9.large: unknown range index 9"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing.json", "HTTP 404"),
        ("/gone.json", "HTTP 500"),
    ],
)
def test_http_errors_are_advisor_errors(server, path, message):
    with pytest.raises(AdvisorError, match=message):
        fetch(f"{server}{path}", timeout=5)


def test_a_slow_server_times_out():
    with (
        serve({"/slow.json": Route(FIXTURE, delay_seconds=3)}) as url,
        pytest.raises(AdvisorError, match="timed out"),
    ):
        fetch(f"{url}/slow.json", timeout=0.5)


def test_a_refused_connection_and_an_oversized_body_are_advisor_errors(server):
    from tests.support.ports import free_port  # noqa: PLC0415

    with pytest.raises(AdvisorError, match=r"GET http://127\.0\.0\.1"):
        fetch(f"http://127.0.0.1:{free_port()}/x.json", timeout=2)
    with pytest.raises(AdvisorError, match="over 5000 bytes"):
        fetch(f"{server}/big.json", timeout=5, max_bytes=5000)
    with pytest.raises(AdvisorError, match="not http"):
        fetch("file:///etc/passwd")


def test_malformed_or_foreign_json_is_an_advisor_error(server):
    with pytest.raises(AdvisorError, match="not JSON"):
        parse(fetch(f"{server}/broken.json", timeout=5), WANTED)
    with pytest.raises(AdvisorError, match="lacks 'ranges'"):
        parse(fetch(f"{server}/not-advisor.json", timeout=5), WANTED)
    with pytest.raises(AdvisorError, match="not a JSON object"):
        parse(b"[1, 2]", WANTED)


def test_bucket_labels_give_their_bounds():
    assert bucket_of(1, "5-10%") == Bucket(1, "5-10%", 5.0, 10.0)
    assert bucket_of(3, "15 \u2013 20 %") == Bucket(3, "15 \u2013 20 %", 15.0, 20.0)
    assert bucket_of(4, ">20%").upper_percent is None
    with pytest.raises(ValueError, match="is not"):
        bucket_of(0, "rare")


def test_documents_are_named_by_day_region_and_type():
    parsed = parse(FIXTURE, WANTED)
    at = parse_time("2026-12-01T00:15:00Z")
    docs = advisor_documents(parsed.advice, at.date(), at, "http://127.0.0.1/x")
    again = advisor_documents(parsed.advice, at.date(), at, "http://127.0.0.1/x")
    assert [d["market_id"] for d in docs] == [d["market_id"] for d in again]
    assert len({d["market_id"] for d in docs}) == 4
    top = next(d for d in docs if d["instance_type"] == "c5.large")
    assert "advisor_upper_percent" not in top and top["advisor_lower_percent"] == 20.0
    next_day = advisor_documents(parsed.advice, parse_time("2026-12-02T00:15:00Z").date(), at, "")
    assert not {d["market_id"] for d in docs} & {d["market_id"] for d in next_day}
