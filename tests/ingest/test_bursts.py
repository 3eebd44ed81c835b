"""Burst alerts: the real handler on the real node, the event captured from moto's EventBridge
through a rule into an SQS queue; the alarm and the permission in the synthesized stack."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk.assertions import Template
from opensearchpy.exceptions import AuthorizationException

from lambda_src.contract import (
    BURST_DETAIL_TYPE,
    BURST_EVENT_SOURCE,
    BURST_METRIC,
    burst_index,
    index_pattern,
)
from lambda_src.ingest.bursts import BurstDetector, BurstSettings, window_start
from lambda_src.ingest.config import IngestConfig
from lambda_src.ingest.search_client import ConfigurationError
from lambda_src.provisioning.burst_ledger import ensure_burst_ledger
from lambda_src.provisioning.http_client import HttpClient, RetryPolicy
from lambda_src.provisioning.security_config import writer_role_body
from lambda_src.provisioning.settings import ProvisioningSettings
from spot_insights.ingest_pipeline import IngestPipeline
from spot_insights.settings import Settings, parse_settings
from tests.ingest.events import rebalance, spot_warning, sqs_record
from tests.ingest.instances import launch
from tests.stack.synth import synth_stack
from tests.stack.test_settings import refused_in_one_line
from tests.support.cdk_app import synth_app

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]
THRESHOLD = 4
WINDOW = timedelta(minutes=10)


def _now_in_window() -> datetime:
    """A time at least a minute from the window's edges, so the test's own warnings share it."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = window_start(now, WINDOW)
    if now - start < timedelta(minutes=1) or start + WINDOW - now < timedelta(minutes=1):
        return start + WINDOW / 2
    return now


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def bursts(pipeline, opensearch):
    """The pipeline with burst detection on (threshold 4, 10 minutes) and a rule on the default
    bus sending every burst event to a queue the test reads."""
    sqs, bus = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="burst-subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": [BURST_EVENT_SOURCE], "detail-type": [BURST_DETAIL_TYPE]}
    bus.put_rule(Name="pre-scale", EventPattern=json.dumps(pattern))
    bus.put_targets(Rule="pre-scale", Targets=[{"Id": "queue", "Arn": arn}])
    ledger = burst_index(pipeline.index.prefix)
    pipeline.reconfigure(
        BURST_EVENT_BUS="default",
        BURST_INDEX=ledger,
        BURST_THRESHOLD=str(THRESHOLD),
        BURST_WINDOW_MINUTES="10",
    )
    yield Subscriber(pipeline, url, ledger, opensearch)
    opensearch.indices.delete(index=f"{ledger}-*", ignore_unavailable=True)


class Subscriber:
    def __init__(self, pipeline, url, ledger, opensearch) -> None:
        self.pipeline, self.url, self.ledger, self.opensearch = pipeline, url, ledger, opensearch
        self.received: list[dict[str, Any]] = []

    def events(self) -> list[dict[str, Any]]:
        """Every burst event delivered so far (read once, kept)."""
        sqs = boto3.client("sqs")
        while True:
            batch = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return self.received
            for message in batch:
                self.received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def ledger_entries(self) -> int:
        months = f"{self.ledger}-*"  # one ledger index per month (ingest/bursts.py)
        if not self.opensearch.indices.exists(index=months):
            return 0
        self.opensearch.indices.refresh(index=months)
        return self.opensearch.count(index=months)["count"]


def _warnings(instances: list[str], when: datetime) -> list[dict[str, Any]]:
    return [sqs_record(spot_warning(i, time=_stamp(when))) for i in instances]


def _group(instances: int, group: str = "web-asg") -> list[str]:
    return launch(instances, tags={"aws:autoscaling:groupName": group})


def test_a_burst_fires_once_per_dimension_and_survives_redelivery(bursts):
    instances = _group(THRESHOLD)
    when = _now_in_window()
    records = _warnings(instances, when)
    assert bursts.pipeline.invoke(records) == set()
    events = bursts.events()
    documents = bursts.pipeline.index.documents().values()
    zone_ids = {d["availability_zone_id"] for d in documents}
    groups = {d["capacity_group"] for d in documents}
    assert len(zone_ids) == 1 and len(groups) == 1
    assert {(e["detail"]["dimension"], e["detail"]["value"]) for e in events} == {
        ("availability_zone_id", zone_ids.pop()),
        ("capacity_group", groups.pop()),
    }
    start = window_start(when, WINDOW)
    for event in events:
        assert event["source"] == BURST_EVENT_SOURCE
        assert event["detail-type"] == BURST_DETAIL_TYPE
        detail = event["detail"]
        assert detail["count"] == THRESHOLD and detail["threshold"] == THRESHOLD
        assert detail["window_minutes"] == 10
        assert detail["window_start"] == _stamp(start)
        assert detail["window_end"] == _stamp(start + WINDOW)
    # SQS redelivers the whole batch (new message ids, same events): nothing fires again.
    redelivered = [sqs_record(json.loads(r["body"]), receive_count=2) for r in records]
    assert bursts.pipeline.invoke(redelivered) == set()
    assert len(bursts.events()) == 2
    assert bursts.ledger_entries() == 2


def test_two_batches_of_one_burst_fire_once(bursts):
    instances = _group(THRESHOLD + 2)
    when = _now_in_window()
    assert bursts.pipeline.invoke(_warnings(instances[:2], when)) == set()
    assert bursts.events() == []  # two warnings are no burst
    assert bursts.pipeline.invoke(_warnings(instances[2:4], when)) == set()
    assert len(bursts.events()) == 2
    first_counts = {e["detail"]["count"] for e in bursts.events()}
    # The burst goes on: more warnings in the same window are the same burst.
    assert bursts.pipeline.invoke(_warnings(instances[4:], when)) == set()
    assert len(bursts.events()) == 2
    assert first_counts == {THRESHOLD}


def test_old_windows_and_quiet_groups_do_not_fire(bursts):
    # A backlog drained an hour late: the warnings are stored, no one is paged for them.
    late = _group(THRESHOLD, "batch-asg")
    assert bursts.pipeline.invoke(_warnings(late, datetime.now(UTC) - timedelta(hours=1))) == set()
    # One short of the threshold, in the current window.
    quiet = _group(THRESHOLD - 1, "quiet-a")
    assert bursts.pipeline.invoke(_warnings(quiet, _now_in_window())) == set()
    assert bursts.pipeline.index.count() == 2 * THRESHOLD - 1
    assert bursts.events() == []
    assert bursts.ledger_entries() == 0


def test_a_failed_publish_never_fails_the_batch_and_the_next_batch_fires(bursts):
    instances = _group(THRESHOLD + 1)
    when = _now_in_window()
    # A bus that does not exist: PutEvents fails, the claim is released.
    bursts.pipeline.reconfigure(BURST_EVENT_BUS="no-such-bus")
    assert bursts.pipeline.invoke(_warnings(instances[:THRESHOLD], when)) == set()
    assert bursts.pipeline.index.count() == THRESHOLD  # the batch is stored all the same
    assert bursts.events() == []
    assert bursts.ledger_entries() == 0
    # The next batch, whatever it holds (here a rebalance), checks again and fires.
    bursts.pipeline.reconfigure(BURST_EVENT_BUS="default")
    assert bursts.pipeline.invoke([sqs_record(rebalance(instances[-1]))]) == set()
    assert len(bursts.events()) == 2
    assert bursts.ledger_entries() == 2


def test_a_failed_ledger_write_never_fails_the_batch(bursts):
    instances = _group(THRESHOLD)
    # The ledger index name is refused by OpenSearch (upper case): the claim fails every time.
    bursts.pipeline.reconfigure(BURST_INDEX="Not-A-Valid-Index")
    assert bursts.pipeline.invoke(_warnings(instances, _now_in_window())) == set()
    assert bursts.pipeline.index.count() == THRESHOLD
    assert bursts.events() == []


def test_racing_invocations_fire_one_burst(bursts, opensearch):
    """Two containers that both see the burst (each indexed half of it): one event."""
    instances = _group(THRESHOLD)
    assert bursts.pipeline.invoke(_warnings(instances, _now_in_window())) == set()
    assert len(bursts.events()) == 2
    # Forget the ledger, then let eight detectors race for the same two bursts.
    opensearch.indices.delete(index=f"{bursts.ledger}-*")
    settings = BurstSettings("default", bursts.ledger, threshold=THRESHOLD, window_minutes=10)
    detectors = [
        BurstDetector(opensearch, boto3.client("events"), bursts.pipeline.index.alias, settings)
        for _ in range(8)
    ]
    results: list[Any] = []
    barrier = threading.Barrier(len(detectors))

    def run(detector: BurstDetector) -> None:
        barrier.wait()
        results.append(detector.check())

    threads = [threading.Thread(target=run, args=(d,)) for d in detectors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.failure is None for r in results), [r.failure for r in results]
    assert sum(len(r.fired) for r in results) == 2
    assert sum(r.already_fired for r in results) == 2 * (len(detectors) - 1)
    assert len(bursts.events()) == 4  # the first two, and exactly one more per burst


def test_the_ledger_is_outside_the_events_pattern():
    for prefix in ("spot-interruptions", "a", "team.x"):
        ledger = burst_index(prefix)
        assert not _matches(index_pattern(prefix), ledger)


def _matches(pattern: str, name: str) -> bool:
    import fnmatch  # noqa: PLC0415

    return fnmatch.fnmatchcase(name, pattern)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BURST_THRESHOLD": "1"}, "BURST_THRESHOLD must be an integer >= 2"),
        ({"BURST_WINDOW_MINUTES": "0"}, "BURST_WINDOW_MINUTES must be an integer >= 1"),
        ({"BURST_WINDOW_MINUTES": "1441"}, "burst window must be 1-1440 whole minutes"),
        ({"BURST_INDEX": ""}, "BURST_INDEX must be set with BURST_EVENT_BUS"),
    ],
)
def test_bad_burst_settings_are_refused_in_one_line(env, message):
    base = {
        "OPENSEARCH_ENDPOINT": "https://search.example",
        "BURST_EVENT_BUS": "default",
        "BURST_INDEX": "spot-interruptions.bursts",
    }
    with pytest.raises(ConfigurationError, match=message):
        IngestConfig.from_env({**base, **env})


def test_without_a_bus_there_is_no_detection():
    config = IngestConfig.from_env({"OPENSEARCH_ENDPOINT": "https://search.example"})
    assert config.bursts is None


# -- the stack --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return Template.from_stack(synth_stack({"burstThreshold": 7})).to_json()


def _function(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function" and "INDEX_ALIAS" in json.dumps(props):
            return logical_id, props
    raise AssertionError("no ingest function")


def test_the_function_knows_the_burst_settings(template):
    _, props = _function(template)
    variables = props["Environment"]["Variables"]
    assert variables["BURST_THRESHOLD"] == "7"
    assert variables["BURST_WINDOW_MINUTES"] == "10"
    assert variables["BURST_INDEX"] == "spot-interruptions.bursts"
    assert "default" in json.dumps(variables["BURST_EVENT_BUS"])


def test_put_events_is_granted_on_the_one_bus_only(template):
    role = _function(template)[1]["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        and {"Ref": role} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    put = [s for s in statements if "events:PutEvents" in json.dumps(s["Action"])]
    assert len(put) == 1
    assert put[0]["Action"] == "events:PutEvents"
    assert "event-bus/default" in json.dumps(put[0]["Resource"])
    assert "*" not in json.dumps(put[0]["Resource"]).replace("${AWS::", "")


def test_the_burst_alarm_notifies_the_alarm_topic(template):
    alarms = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == BURST_METRIC
    ]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["Namespace"] == "SpotInsights"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "spot-insights-ingest"}]
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    topics = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    assert [action["Ref"] for action in alarm["AlarmActions"]] == topics


@pytest.mark.parametrize(
    ("context", "key", "expected"),
    [
        ({"burstThreshold": 1}, "burstThreshold", "whole number of warnings from 2 to 100000"),
        ({"burstThreshold": "ten"}, "burstThreshold", "whole number of warnings"),
        ({"burstThreshold": True}, "burstThreshold", "whole number of warnings"),
        # str.isdigit() accepts it, int() does not: still one line, no traceback.
        ({"burstWindowMinutes": "²"}, "burstWindowMinutes", "whole number of minutes"),
        ({"burstWindowMinutes": 0}, "burstWindowMinutes", "whole number of minutes from 1 to"),
        ({"burstWindowMinutes": "2.5"}, "burstWindowMinutes", "whole number of minutes"),
        ({"burstWindowMinutes": 1441}, "burstWindowMinutes", "from 1 to 1440"),
    ],
)
def test_bad_burst_context_is_refused_in_one_line(context, key, expected):
    refused_in_one_line(context, key, expected)


def test_burst_context_from_the_command_line_is_parsed():
    settings = parse_settings({"burstThreshold": "25", "burstWindowMinutes": "5"})
    assert (settings.burst_threshold, settings.burst_window_minutes) == (25, 5)
    assert (Settings().burst_threshold, Settings().burst_window_minutes) == (10, 10)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"burst_threshold": 1}, "burst_threshold must be between 2 and 100000 warnings, got 1"),
        ({"burst_window": cdk.Duration.seconds(90)}, "whole minutes between 1 and 1440, got 90"),
        ({"burst_window": cdk.Duration.days(2)}, "whole minutes between 1 and 1440"),
    ],
)
def test_the_construct_validates_its_burst_props(props, message):
    stack = cdk.Stack(synth_app(), "Throwaway")
    with pytest.raises(ValueError, match=message):
        IngestPipeline(stack, "Ingest", opensearch_endpoint="https://search.example", **props)


def test_the_writer_role_may_keep_the_ledger_and_nothing_more(bursts, opensearch, opensearch_node):
    """The ingest function's OpenSearch role (provisioning's `writer_role_body`) is enough to
    create the ledger on first use, claim a burst and release it, and no more than that."""
    prefix = bursts.pipeline.index.prefix
    body = writer_role_body(ProvisioningSettings(endpoint="https://x", master_secret_arn="arn"))
    # As deployed: provisioning has put the ledger's strict template before the writer runs.
    admin = HttpClient(
        opensearch_node.url,
        auth=(opensearch_node.user, opensearch_node.password),
        verify=opensearch_node.ca_certs or True,
        retry=RetryPolicy(max_attempts=2),
    )
    settings = ProvisioningSettings(
        endpoint=opensearch_node.url, master_secret_arn="arn", index_prefix=prefix
    )
    ensure_burst_ledger(admin, settings, with_ism=False)
    body = json.loads(json.dumps(body).replace("spot-interruptions", prefix))
    api = "/_plugins/_security/api"
    name = f"si-burst-{uuid.uuid4().hex[:8]}"
    password = f"Wr-{uuid.uuid4().hex}!"
    opensearch.transport.perform_request("PUT", f"{api}/roles/{name}", body=body)
    opensearch.transport.perform_request(
        "PUT", f"{api}/internalusers/{name}", body={"password": password}
    )
    opensearch.transport.perform_request(
        "PUT", f"{api}/rolesmapping/{name}", body={"users": [name]}
    )
    try:
        writer = opensearch_node.client(name, password)
        instances = _group(THRESHOLD)
        assert bursts.pipeline.invoke(_warnings(instances, _now_in_window())) == set()
        opensearch.indices.delete(index=f"{bursts.ledger}-*")  # the writer creates it again
        settings = BurstSettings("no-such-bus", bursts.ledger, threshold=THRESHOLD)
        alias = bursts.pipeline.index.alias
        failed = BurstDetector(writer, boto3.client("events"), alias, settings).check()
        # Created, claimed, then released (the bus does not exist): every step was allowed.
        assert failed.failure and failed.failure.startswith("burst event not published")
        assert "could not be released" not in failed.failure
        assert bursts.ledger_entries() == 0
        settings = BurstSettings("default", bursts.ledger, threshold=THRESHOLD)
        fired = BurstDetector(writer, boto3.client("events"), alias, settings).check()
        assert fired.failure is None and len(fired.fired) == 2
        with pytest.raises(AuthorizationException):
            writer.index(index=f"{prefix}.other", body={"a": 1})
    finally:
        opensearch.indices.delete_index_template(name=burst_index(prefix), ignore=[404])
        opensearch.transport.perform_request("DELETE", f"{api}/rolesmapping/{name}")
        opensearch.transport.perform_request("DELETE", f"{api}/internalusers/{name}")
        opensearch.transport.perform_request("DELETE", f"{api}/roles/{name}")
