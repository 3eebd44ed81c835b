"""The burst ledger as a provisioned family (lambda_src/provisioning/burst_ledger.py): one index
per month of the burst's window start, a strict mapping from the provisioned template (on the
real node), and a retention policy (ISM is absent on the local node: a recording server shows
the requests the managed domain gets)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from opensearchpy.exceptions import RequestError

from lambda_src.contract import burst_index, burst_index_pattern, index_pattern
from lambda_src.ingest.bursts import Burst, BurstDetector, BurstSettings, ledger_index
from lambda_src.provisioning.burst_ledger import (
    BURST_LEDGER_MAPPING,
    MONTH_DAYS,
    ensure_burst_ledger,
)
from lambda_src.provisioning.http_client import HttpClient, RetryPolicy
from lambda_src.provisioning.local import provision
from lambda_src.provisioning.provisioner import Provisioner
from lambda_src.provisioning.security_config import writer_role_body
from lambda_src.provisioning.settings import ProvisioningSettings
from tests.domain.fake_domain import managed_domain
from tests.domain.recording_server import recording_server

SETTINGS = ProvisioningSettings(
    endpoint="https://search.example", master_secret_arn="arn:secret", retention_days=90
)
# The last minutes of a month: a check that runs in the next month names the same index.
WINDOW_START = datetime(2026, 11, 30, 23, 50, tzinfo=UTC)


def _burst() -> Burst:
    return Burst(
        "capacity_group", "web-asg", WINDOW_START, WINDOW_START + timedelta(minutes=10), 5, 4
    )


@pytest.fixture
def prefix(opensearch):
    name = f"bl-{uuid.uuid4().hex[:8]}"
    yield name
    opensearch.indices.delete(index=burst_index_pattern(name), ignore_unavailable=True)
    opensearch.indices.delete(index=index_pattern(name), expand_wildcards="open,closed")
    for template in (name, f"{name}.exposure", burst_index(name)):
        opensearch.indices.delete_index_template(name=template, ignore=[404])


@pytest.mark.opensearch
def test_a_burst_lands_in_its_window_months_index_under_a_strict_mapping(
    opensearch, opensearch_node, prefix
):
    summary = provision(
        opensearch_node.url,
        (opensearch_node.user, opensearch_node.password),
        ca_certs=opensearch_node.ca_certs,
        prefix=prefix,
    )
    assert summary["BurstLedgerTemplate"] == burst_index(prefix)
    settings = BurstSettings("default", burst_index(prefix), threshold=4)
    late = BurstDetector(
        opensearch, None, "unused", settings, clock=lambda: WINDOW_START + timedelta(minutes=11)
    )
    assert late._claim(_burst())
    # Checked again after the month turned: same index, so op_type=create still refuses.
    later = BurstDetector(
        opensearch, None, "unused", settings, clock=lambda: WINDOW_START + timedelta(minutes=25)
    )
    assert not later._claim(_burst())
    month = ledger_index(burst_index(prefix), WINDOW_START)
    assert month == f"{prefix}.bursts-2026.11"
    assert set(opensearch.indices.get(index=burst_index_pattern(prefix))) == {month}
    mapping = opensearch.indices.get_mapping(index=month)[month]["mappings"]
    assert mapping == BURST_LEDGER_MAPPING
    with pytest.raises(RequestError, match="strict_dynamic_mapping_exception"):
        opensearch.index(index=month, body={"burst_id": "x", "guessed": 1})
    # Outside the events' pattern: the report and Dashboards never take an entry for an event.
    assert month not in opensearch.indices.get(index=index_pattern(prefix))


def _client(url: str) -> HttpClient:
    return HttpClient(url, auth=("a", "b"), retry=RetryPolicy(max_attempts=1))


def test_the_managed_domain_deletes_a_ledger_month_once_all_of_it_is_past_retention() -> None:
    with recording_server(managed_domain) as server:
        summary = ensure_burst_ledger(_client(server.url), SETTINGS, with_ism=True)
    calls = [f"{r.method} {r.path}" for r in server.requests]
    assert calls == [
        "PUT /_index_template/spot-interruptions.bursts",
        "GET /_plugins/_ism/policies/spot-interruptions.bursts-lifecycle",
        "PUT /_plugins/_ism/policies/spot-interruptions.bursts-lifecycle",
        "POST /_plugins/_ism/add/spot-interruptions.bursts-*",
    ]
    assert summary == {
        "BurstLedgerTemplate": "spot-interruptions.bursts",
        "BurstLedgerPolicy": "created",
    }
    template = server.requests[0].json()
    assert template["index_patterns"] == ["spot-interruptions.bursts-*"]
    assert template["template"]["mappings"]["dynamic"] == "strict"
    # Never rolled over: no rollover alias for ISM to look for.
    assert not any("rollover" in k for k in template["template"]["settings"])
    policy = server.requests[2].json()["policy"]
    kept, delete = policy["states"]
    assert kept["actions"] == []
    # Index age counts from the month's first burst: + a month keeps every burst 90 days.
    assert kept["transitions"] == [
        {"state_name": "delete", "conditions": {"min_index_age": f"{90 + MONTH_DAYS}d"}}
    ]
    assert delete["actions"] == [{"delete": {}}]
    assert policy["ism_template"][0]["index_patterns"] == ["spot-interruptions.bursts-*"]


def test_the_provisioner_sets_the_ledger_up_and_the_writer_may_create_only_its_months() -> None:
    with recording_server(managed_domain) as server:
        summary = Provisioner(
            ProvisioningSettings(**{**SETTINGS.__dict__, "import_saved_objects": False}),
            _client(server.url),
        ).run()
    assert summary["BurstLedgerPolicy"] == "created"
    ledger = [
        p
        for p in writer_role_body(SETTINGS)["index_permissions"]
        if "indices:admin/create" in p["allowed_actions"]
    ]
    (permission,) = ledger
    assert permission["index_patterns"] == ["spot-interruptions.bursts-*"]
    # The mapping is strict and complete: the writer never needs to change it.
    assert "indices:admin/mapping/put" not in permission["allowed_actions"]
