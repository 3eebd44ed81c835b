"""The read loop and its state file: a run that stops resumes after the last stored page, a
finished region is skipped, an expired NextToken restarts the query without losing events.

CloudTrail is the HTTP double; the write side here is a recorder of what would be written (the
tests in test_backfill_ingest.py write through the real ingest code into the real node)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from spot_cli.backfill import DocumentWriter, Target, run_backfill
from spot_cli.backfill_cloudtrail import Backoff, EventHistory, RateLimiter
from spot_cli.backfill_state import BackfillState, default_path
from spot_cli.errors import CliError
from tests.support.cloudtrail_history import evictions

ACCOUNT = "111111111111"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START, END = NOW - timedelta(days=90), NOW


class RecordingIngestor:
    """Stores every record it is given (the batch code's interface: ingest -> outcome)."""

    def __init__(self) -> None:
        self.event_ids: list[str] = []

    def ingest(self, records):
        from lambda_src.ingest.batch import BatchOutcome  # noqa: PLC0415

        outcome = BatchOutcome()
        for record in records:
            self.event_ids.append(json.loads(record["body"])["detail"]["eventID"])
            outcome.stored[("eviction", "r")] += 1
        return outcome


def _targets(lookup, regions):
    def history(region):
        return lambda: EventHistory(
            lookup(region), RateLimiter(100.0), backoff=Backoff(0.01, 0.01), rng=random.Random(1)
        )

    return [Target(ACCOUNT, region, history(region)) for region in regions]


def _run(lookup, path, regions=("us-east-1",), ingestor=None, batch_events=50):
    ingestor = ingestor or RecordingIngestor()
    state = BackfillState.load(path, 90)
    writer = DocumentWriter(ingestor, sleep=lambda s: None)
    summary = run_backfill(
        _targets(lookup, regions), state, writer, START, END, batch_events=batch_events
    )
    return summary, ingestor


def test_a_failed_run_resumes_after_the_last_stored_page_and_a_done_region_is_skipped(
    cloudtrail, lookup, tmp_path
):
    double, _ = cloudtrail
    records = evictions(ACCOUNT, "us-east-1", 130, newest=NOW, spacing=timedelta(hours=2))
    double.records["us-east-1"] = records
    double.records["eu-west-1"] = evictions(
        ACCOUNT, "eu-west-1", 10, newest=NOW, spacing=timedelta(hours=1)
    )
    path = tmp_path / "state.json"

    # eu-west-1 finishes; us-east-1 stores two pages, then CloudTrail fails.
    first_ingestor = RecordingIngestor()
    ingest = first_ingestor.ingest
    calls = {"n": 0}

    def failing_after_two_pages(records_):
        calls["n"] += 1
        if calls["n"] == 3:
            double.fail("us-east-1", 1)  # the next request, for page 4, fails
        return ingest(records_)

    first_ingestor.ingest = failing_after_two_pages
    summary, _ = _run(lookup, path, ("eu-west-1", "us-east-1"), first_ingestor)
    statuses = {r.region: r.status for r in summary.regions}
    assert statuses == {"eu-west-1": "done", "us-east-1": "failed"}
    failed = next(r for r in summary.regions if r.region == "us-east-1")
    assert "InternalFailure" in failed.reason
    saved = json.loads(path.read_text())["regions"][f"{ACCOUNT}/us-east-1"]
    assert saved["pages"] == 2 and saved["events"] == 100 and not saved["done"]
    # The failed request asked for page 3 with page 2's token: that is the saved one.
    (failed_request,) = [r for r in double.requests if r.answer == "failed"]
    token_after_page_2 = failed_request.body["NextToken"]
    assert saved["next_token"] == token_after_page_2

    requests_before = len(double.requests)
    summary, second = _run(lookup, path, ("eu-west-1", "us-east-1"))
    statuses = {r.region: r.status for r in summary.regions}
    assert statuses == {"eu-west-1": "skipped", "us-east-1": "done"}
    resumed = double.requests[requests_before:]
    assert {r.region for r in resumed} == {"us-east-1"}  # nothing asked of the finished region
    assert resumed[0].body["NextToken"] == token_after_page_2
    # Every eviction written at least once across the two runs, the resumed run only the rest.
    us_ids = {r["eventID"] for r in records}
    first_us = [i for i in first_ingestor.event_ids if i in us_ids]
    assert set(first_us) | set(second.event_ids) == us_ids
    assert len(second.event_ids) == 30
    assert json.loads(path.read_text())["regions"][f"{ACCOUNT}/us-east-1"]["done"] is True


def test_an_expired_token_restarts_the_query_at_the_oldest_stored_event(
    cloudtrail, lookup, tmp_path
):
    double, _ = cloudtrail
    records = evictions(ACCOUNT, "us-east-1", 120, newest=NOW, spacing=timedelta(minutes=30))
    double.records["us-east-1"] = records
    path = tmp_path / "state.json"
    ingestor = RecordingIngestor()
    ingest = ingestor.ingest
    calls = {"n": 0}

    def expiring_after_first_page(records_):
        calls["n"] += 1
        if calls["n"] == 1:
            double.expire_tokens()
        return ingest(records_)

    ingestor.ingest = expiring_after_first_page
    summary, _ = _run(lookup, path, ingestor=ingestor)
    (region,) = summary.regions
    assert region.status == "done" and region.token_restarts == 1
    assert set(ingestor.event_ids) == {r["eventID"] for r in records}
    # The event at the oldest stored second is read again (EndTime is inclusive): one repeat.
    assert len(ingestor.event_ids) == 121
    answers = [r.answer for r in double.requests]
    assert answers == ["page", "invalid-token", "page", "page"]
    restart = double.requests[2].body
    assert "NextToken" not in restart
    assert (
        restart["EndTime"]
        == datetime.strptime(records[49]["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=UTC)
        .timestamp()
    )
    assert restart["StartTime"] == START.timestamp()


def test_a_page_the_ingest_code_keeps_refusing_is_not_marked_stored(cloudtrail, lookup, tmp_path):
    from lambda_src.ingest.batch import BatchOutcome  # noqa: PLC0415

    double, _ = cloudtrail
    double.records["us-east-1"] = evictions(
        ACCOUNT, "us-east-1", 5, newest=NOW, spacing=timedelta(hours=1)
    )
    deliveries = []

    class Refusing:
        def ingest(self, records):
            deliveries.append([r["attributes"]["ApproximateReceiveCount"] for r in records])
            outcome = BatchOutcome()
            outcome.retry.update({r["messageId"]: "OpenSearch answered 503" for r in records})
            return outcome

    path = tmp_path / "state.json"
    summary, _ = _run(lookup, path, ingestor=Refusing())
    (region,) = summary.regions
    assert region.status == "failed"
    assert region.reason == "5 events not stored after 5 deliveries: OpenSearch answered 503"
    # Redelivered as SQS would, with the receive count rising.
    assert [d[0] for d in deliveries] == ["1", "2", "3", "4", "5"]
    saved = json.loads(path.read_text())["regions"][f"{ACCOUNT}/us-east-1"]
    assert saved["pages"] == 0 and saved["next_token"] is None and not saved["done"]


def test_a_state_file_for_other_days_is_refused_in_one_line(tmp_path):
    path = tmp_path / "state.json"
    BackfillState(path, 30).save()
    with pytest.raises(CliError, match=r"is for --days 30, not 90; pass --restart"):
        BackfillState.load(path, 90)
    path.write_text("{not json")
    with pytest.raises(CliError, match="cannot read the state file"):
        BackfillState.load(path, 30)


def test_the_default_state_file_follows_xdg_state_home(tmp_path):
    assert default_path({"XDG_STATE_HOME": str(tmp_path)}) == (
        tmp_path / "spot-insights" / "backfill.json"
    )
    assert default_path({}).parts[-4:] == (".local", "state", "spot-insights", "backfill.json")


def test_pages_are_written_in_batches_and_saved_per_batch(cloudtrail, lookup, tmp_path):
    double, _ = cloudtrail
    records = evictions(ACCOUNT, "us-east-1", 230, newest=NOW, spacing=timedelta(hours=1))
    double.records["us-east-1"] = records
    batches = []

    class Batches(RecordingIngestor):
        def ingest(self, records_):
            batches.append(len(records_))
            return super().ingest(records_)

    path = tmp_path / "state.json"
    summary, ingestor = _run(lookup, path, ingestor=Batches(), batch_events=100)
    assert batches == [100, 100, 30]  # two pages, two pages, the last one
    assert summary.regions[0].pages == 5
    assert sorted(ingestor.event_ids) == sorted(r["eventID"] for r in records)
