"""The function's configuration is read once, by IngestConfig.from_env (that nothing reads it at
import time is a rule in tests/test_code_rules.py); a local run builds the handler from a
configuration object without touching os.environ."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_src.contract import IngestEnv
from lambda_src.ingest.config import IngestConfig
from lambda_src.ingest.handler import build_handler
from lambda_src.ingest.search_client import ConfigurationError, SearchSettings
from tests.ingest.events import spot_warning, sqs_record
from tests.ingest.instances import launch
from tests.support.lambda_context import fake_context

ROOT = Path(__file__).resolve().parents[2]
BASE = {IngestEnv.OPENSEARCH_ENDPOINT: "https://search.example"}


def test_every_variable_the_construct_writes_is_parsed() -> None:
    config = IngestConfig.from_env(
        {
            IngestEnv.OPENSEARCH_ENDPOINT: "vpc-x.eu-west-1.es.amazonaws.com/",
            IngestEnv.INDEX_ALIAS: "acme-write",
            IngestEnv.DEAD_LETTER_QUEUE_URL: "https://sqs.example/1/dlq",
            IngestEnv.OPENSEARCH_TIMEOUT: "22.5",
            IngestEnv.ENRICHMENT_MAX_ATTEMPTS: "5",
            IngestEnv.ACCEPTED_SOURCES: "aws.ec2, spot-insights.simulate",
            IngestEnv.EC2_RETRY_MODE: "standard",
            IngestEnv.EC2_MAX_ATTEMPTS: "6",
            IngestEnv.BULK_MAX_BYTES: "1000",
            IngestEnv.SERVICE_NAME: "svc",
            IngestEnv.METRICS_NAMESPACE: "Ns",
            "AWS_REGION": "eu-west-1",
        }
    )
    assert config == IngestConfig(
        search=SearchSettings(
            endpoint="https://vpc-x.eu-west-1.es.amazonaws.com", region="eu-west-1", timeout=22.5
        ),
        index_alias="acme-write",
        dead_letter_queue_url="https://sqs.example/1/dlq",
        accepted_sources=frozenset({"aws.ec2", "spot-insights.simulate"}),
        ec2_retry_mode="standard",
        ec2_max_attempts=6,
        bulk_max_bytes=1000,
        enrichment_max_attempts=5,
        service_name="svc",
        metrics_namespace="Ns",
    )


def test_unset_variables_take_the_dataclass_defaults() -> None:
    assert IngestConfig.from_env(BASE) == IngestConfig(
        search=SearchSettings(endpoint="https://search.example")
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (IngestEnv.OPENSEARCH_TIMEOUT, "soon"),
        (IngestEnv.OPENSEARCH_TIMEOUT, "nan"),
        (IngestEnv.OPENSEARCH_TIMEOUT, "0"),
        (IngestEnv.OPENSEARCH_MAX_RETRIES, "-1"),
        (IngestEnv.EC2_MAX_ATTEMPTS, "0"),
        (IngestEnv.EC2_MAX_ATTEMPTS, "4.5"),
        (IngestEnv.BULK_MAX_BYTES, "5MB"),
        (IngestEnv.ENRICHMENT_MAX_ATTEMPTS, "three"),
        (IngestEnv.EC2_RETRY_MODE, "fast"),
        (IngestEnv.ACCEPTED_SOURCES, " , "),
        (IngestEnv.OPENSEARCH_USER, "only-the-user"),
    ],
)
def test_a_bad_value_is_one_error_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        IngestConfig.from_env({**BASE, variable: value})
    message = str(raised.value)
    assert message.startswith(variable) or f" {variable} " in message, message
    assert "\n" not in message
    # The cause is not chained (a ValueError's traceback would only repeat the value).
    assert raised.value.__cause__ is None


def test_a_missing_endpoint_is_named() -> None:
    with pytest.raises(ConfigurationError, match=f"^{IngestEnv.OPENSEARCH_ENDPOINT} is not set$"):
        IngestConfig.from_env({})


def test_a_handler_built_from_a_config_object_ignores_the_environment(
    aws: str, opensearch_node, search_index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the CLI's local run does: every setting from the object, none from os.environ."""
    for name in vars(IngestEnv).values():
        if isinstance(name, str) and name.isupper():
            monkeypatch.delenv(name, raising=False)
    # Wrong values where the configuration has its own: the handler must not look at them.
    monkeypatch.setenv(IngestEnv.OPENSEARCH_ENDPOINT, "https://127.0.0.1:1")
    monkeypatch.setenv(IngestEnv.INDEX_ALIAS, "not-this-alias")
    dlq_url = boto3.client("sqs").create_queue(QueueName="config-dlq")["QueueUrl"]
    config = IngestConfig(
        search=SearchSettings(
            endpoint=opensearch_node.url,
            user=opensearch_node.user,
            password=opensearch_node.password,
            ca_certs=opensearch_node.ca_certs,
        ),
        index_alias=search_index.alias,
        dead_letter_queue_url=dlq_url,
        accepted_sources=frozenset({"aws.ec2", "spot-insights.simulate"}),
        ec2_max_attempts=2,
        metrics_enabled=False,
    )
    before = dict(os.environ)
    handler = build_handler(config, boto3.session.Session(region_name="us-east-1"))
    [instance] = launch(1)
    warning = sqs_record(_simulated_warning(instance))
    poison = sqs_record("not json")
    response = handler({"Records": [warning, poison]}, fake_context())

    assert response == {"batchItemFailures": []}
    assert list(search_index.documents()) != []
    [parked] = boto3.client("sqs").receive_message(QueueUrl=dlq_url).get("Messages", [])
    assert parked["Body"] == "not json"
    assert dict(os.environ) == before


def test_a_config_is_a_value() -> None:
    search = SearchSettings(endpoint="http://127.0.0.1:9", user="u", password="p")
    config = IngestConfig(search=search)
    assert replace(config, index_alias="x").search is config.search
    with pytest.raises(AttributeError):
        config.index_alias = "y"  # type: ignore[misc]


def _simulated_warning(instance: str) -> dict[str, Any]:
    event = spot_warning(instance)
    event["source"] = "spot-insights.simulate"  # accepted only because the config says so
    return event
