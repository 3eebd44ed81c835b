"""The `spot-insights` command: argument errors, unreachable endpoints, and each subcommand
against moto or the real OpenSearch."""

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from spot_cli.errors import CliError
from spot_cli.local.fleet import create_fleet
from spot_cli.local.storm import StormSettings, generate_storm
from spot_cli.main import main
from spot_cli.opensearch_client import OpenSearchSettings, connect
from spot_cli.report import ReportRequest, build_report
from tests.support.moto_ec2 import image_id

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args, env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPENSEARCH_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "spot_cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def _one_line_error(result, code=1):
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["bogus"], "invalid choice"),
        (["report", "--last", "3x"], "not a duration"),
        (["report", "--since", "yesterday"], "not an ISO 8601 time"),
        (["report", "--top", "0"], "must be at least 1"),
        (["simulate", "--count", "many"], "not a number"),
        (["redrive"], "--dlq"),
        (["demo", "--events", "-5"], "must be at least 1"),
    ],
)
def test_argument_errors_are_one_line_and_exit_2(args, expected):
    line = _one_line_error(_cli(*args), code=2)
    assert expected in line


def test_report_without_endpoint_says_so():
    line = _one_line_error(_cli("report"))
    assert line == "spot-insights report: error: no endpoint: pass --endpoint or set OPENSEARCH_URL"


def test_unreachable_opensearch_is_one_line():
    url = f"https://127.0.0.1:{_closed_port()}"
    result = _cli("report", "--endpoint", url, "--user", "admin", env={"OPENSEARCH_PASSWORD": "x"})
    assert "cannot reach OpenSearch" in _one_line_error(result)


def test_not_a_url_is_one_line():
    result = _cli(
        "report", "--endpoint", "ftp:/nowhere", "--user", "a", env={"OPENSEARCH_PASSWORD": "x"}
    )
    assert "not an OpenSearch URL" in _one_line_error(result)


def test_unreachable_aws_endpoint_is_one_line():
    result = _cli(
        "redrive",
        "--dlq",
        "some-dlq",
        "--region",
        "us-east-1",
        env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}", "AWS_MAX_ATTEMPTS": "1"},
    )
    assert "cannot reach the AWS endpoint" in _one_line_error(result)


def test_help_never_imports_aws_cdk_or_heavy_libraries():
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['spot-insights', '--help']\n"
        "try:\n    runpy.run_module('spot_cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = ('aws_cdk', 'boto3', 'opensearchpy', 'moto', 'rich')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "HEAVY []" in result.stdout


@pytest.mark.aws
@pytest.mark.opensearch
def test_report_command_matches_the_library_over_basic_auth(
    opensearch, opensearch_node, ingest_events, capsys, monkeypatch
):
    fleet = create_fleet(("us-east-1", "eu-west-1"), instances_per_region=30, seed=2)
    storm = generate_storm(fleet, StormSettings(events=80, seed=2))
    prefix, _ = ingest_events(list(storm.events))
    monkeypatch.setenv("OPENSEARCH_PASSWORD", opensearch_node.password)
    base = [
        "report", "--endpoint", opensearch_node.url, "--user", opensearch_node.user,
        "--index-prefix", prefix,
    ]  # fmt: skip
    if opensearch_node.ca_certs:
        base += ["--ca-certs", opensearch_node.ca_certs]
    assert main([*base, "--json", "--region", "eu-west-1", "--top", "100"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = build_report(
        opensearch,
        ReportRequest(filters={"region": ["eu-west-1"]}, index_prefix=prefix, top=100),
    )
    assert printed == json.loads(json.dumps(expected.to_dict()))
    assert printed["warnings"] == sum(
        e["detail-type"] == "EC2 Spot Instance Interruption Warning" and e["region"] == "eu-west-1"
        for e in storm.events
    )
    assert main([*base, "--last", "1h"]) == 0
    assert "Interruptions over time (per 5m)" in capsys.readouterr().out


@pytest.mark.aws
def test_simulate_puts_custom_source_events_that_only_a_test_rule_accepts(aws, capsys):
    events = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    test_queue = sqs.create_queue(QueueName="simulated")["QueueUrl"]
    real_queue = sqs.create_queue(QueueName="real")["QueueUrl"]
    for name, url, source in (
        ("test-rule", test_queue, "spot-insights.simulate"),
        ("real-rule", real_queue, "aws.ec2"),
    ):
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
        events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = image_id(ec2)
    spot = ec2.run_instances(
        ImageId=image, MinCount=2, MaxCount=2, InstanceMarketOptions={"MarketType": "spot"}
    )["Instances"]
    argv = [
        "simulate",
        "--count",
        "4",
        "--region",
        "us-east-1",
        "--discover",
        "--rebalance-lead",
        "5m",
    ]
    assert main(argv) == 0
    assert "put 8 events" in capsys.readouterr().out
    bodies = []
    while batch := sqs.receive_message(QueueUrl=test_queue, MaxNumberOfMessages=10).get("Messages"):
        bodies.extend(json.loads(m["Body"]) for m in batch)
        sqs.delete_message_batch(
            QueueUrl=test_queue,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    assert len(bodies) == 8
    assert {b["source"] for b in bodies} == {"spot-insights.simulate"}
    assert {b["detail"]["instance-id"] for b in bodies} == {i["InstanceId"] for i in spot}
    assert (
        sorted(b["detail-type"] for b in bodies).count("EC2 Instance Rebalance Recommendation") == 4
    )
    assert "Messages" not in sqs.receive_message(QueueUrl=real_queue)


@pytest.mark.aws
def test_simulate_refuses_aws_sources(aws, capsys):
    assert main(["simulate", "--region", "us-east-1", "--source", "aws.ec2"]) == 1
    assert "reserved for AWS" in capsys.readouterr().err


@pytest.mark.aws
def test_redrive(aws, capsys):
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.create_queue(QueueName="ingest-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = sqs.create_queue(
        QueueName="ingest",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
        },
    )["QueueUrl"]
    for i in range(23):
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=f"m{i}",
            MessageAttributes={"reason": {"DataType": "String", "StringValue": "bulk 400"}},
        )
    # moto 5.2.5 has no StartMessageMoveTask: the default method says so and how to proceed.
    assert main(["redrive", "--dlq", "ingest-dlq", "--region", "us-east-1"]) == 1
    assert "use --method copy" in capsys.readouterr().err
    assert main(["redrive", "--dlq", dlq_arn, "--region", "us-east-1", "--method", "copy"]) == 0
    assert f"moved 23 messages to {queue}" in capsys.readouterr().out
    moved = []
    while batch := sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
    ).get("Messages"):
        moved.extend(batch)
    assert sorted(m["Body"] for m in moved) == sorted(f"m{i}" for i in range(23))
    assert all(m["MessageAttributes"]["reason"]["StringValue"] == "bulk 400" for m in moved)
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq)


def test_simulate_dry_run_prints_eventbridge_shaped_events(capsys):
    argv = ["simulate", "--dry-run", "--count", "3", "--region", "eu-west-1", "--action", "stop"]
    assert main(argv) == 0
    events = json.loads(capsys.readouterr().out)
    assert [e["detail"]["instance-action"] for e in events] == ["stop"] * 3
    for event in events:
        assert event["source"] == "spot-insights.simulate"
        az = event["resources"][0].split(":")[3]
        assert az.startswith("eu-west-1")
        assert event["resources"] == [f"arn:aws:ec2:{az}:instance/{event['detail']['instance-id']}"]


@pytest.mark.parametrize(
    ("host", "region", "service"),
    [
        ("search-spot-abc123.eu-west-1.es.amazonaws.com", "eu-west-1", "es"),
        ("abc123.us-gov-west-1.aoss.amazonaws.com", "us-gov-west-1", "aoss"),
    ],
)
def test_sigv4_takes_region_and_service_from_the_endpoint(host, region, service):
    # The CLI connects through the ingest function's own factory (one way to reach OpenSearch).
    client = connect(OpenSearchSettings(endpoint=f"https://{host}"))
    auth = client.transport.get_connection().session.auth
    assert (auth.region, auth.service) == (region, service)
    assert OpenSearchSettings(endpoint=f"https://{host}").resolved_auth() == "sigv4"
    assert OpenSearchSettings(endpoint="https://x", user="admin").resolved_auth() == "basic"


def test_cli_connection_problems_are_cli_errors():
    with pytest.raises(CliError, match="not an OpenSearch URL"):
        connect(OpenSearchSettings(endpoint="search.example"))
    with pytest.raises(CliError, match="basic auth needs a user and a password"):
        connect(OpenSearchSettings(endpoint="https://x", auth="basic", user="admin"))


@pytest.mark.opensearch
def test_report_on_a_prefix_without_indices_is_one_line(opensearch_node):
    env = {"OPENSEARCH_PASSWORD": opensearch_node.password}
    args = ["report", "--endpoint", opensearch_node.url, "--user", opensearch_node.user]
    if opensearch_node.ca_certs:
        args += ["--ca-certs", opensearch_node.ca_certs]
    result = _cli(*args, "--index-prefix", f"none-{uuid.uuid4().hex[:8]}", env=env)
    assert "no index matches none-" in _one_line_error(result)
    wrong = _cli(*args, env={"OPENSEARCH_PASSWORD": "wrong"})
    assert "OpenSearch answered 401" in _one_line_error(wrong)
