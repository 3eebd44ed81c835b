"""The ISM policy body and the ISM HTTP calls, against a local recording server (the local
OpenSearch node has no ISM plugin)."""

from __future__ import annotations

from typing import Any

import pytest

from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.http_client import HttpClient, RetryPolicy
from lambda_src.provisioning.index_setup import index_template_body
from lambda_src.provisioning.ism import ensure_ism_policy, ism_available, ism_policy_body
from lambda_src.provisioning.settings import ProvisioningSettings
from tests.domain.recording_server import Recorded, recording_server

SETTINGS = ProvisioningSettings(
    endpoint="https://search.example",
    master_secret_arn="arn:secret",
    retention_days=90,
    rollover_age="7d",
    rollover_size="5gb",
)
POLICY_PATH = "/_plugins/_ism/policies/spot-interruptions-lifecycle"
ADD_PATH = "/_plugins/_ism/add/spot-interruptions-*"
CHANGE_PATH = "/_plugins/_ism/change_policy/spot-interruptions-*"


def _client(url: str) -> HttpClient:
    return HttpClient(url, auth=("admin", "pw"), retry=RetryPolicy(max_attempts=2, base_delay=0.01))


class FakeIsm:
    """Just enough of the ISM API: one stored policy, add and change_policy."""

    def __init__(self, stored: dict[str, Any] | None = None, add_failures: list[Any] | None = None):
        self.stored = stored
        self.add_failures = add_failures or []

    def __call__(self, request: Recorded) -> tuple[int, Any]:
        key = (request.method, request.path)
        if key == ("GET", POLICY_PATH):
            if self.stored is None:
                return 404, {"error": {"type": "status_exception", "reason": "Policy not found"}}
            return 200, {"_id": "p", "_seq_no": 7, "_primary_term": 2, "policy": self.stored}
        if key == ("PUT", POLICY_PATH):
            self.stored = request.json()["policy"]
            return 201 if request.query == {} else 200, {"_id": "p"}
        if key == ("POST", ADD_PATH):
            return 200, {
                "updated_indices": 1,
                "failures": bool(self.add_failures),
                "failed_indices": self.add_failures,
            }
        if key == ("POST", CHANGE_PATH):
            return 200, {"updated_indices": 2, "failures": False, "failed_indices": []}
        return 400, {"error": f"no handler found for uri [{request.path}]"}


def test_policy_body_rolls_over_and_deletes_after_retention() -> None:
    policy = ism_policy_body(SETTINGS)["policy"]
    hot, delete = policy["states"]
    assert policy["default_state"] == "hot"
    assert hot["actions"] == [
        {"rollover": {"min_primary_shard_size": "5gb", "min_index_age": "7d"}}
    ]
    assert hot["transitions"] == [
        {"state_name": "delete", "conditions": {"min_rollover_age": "90d"}}
    ]
    assert delete == {"name": "delete", "actions": [{"delete": {}}], "transitions": []}
    assert policy["ism_template"] == [{"index_patterns": ["spot-interruptions-*"], "priority": 100}]
    # The description carries a digest, so any change of the body changes it.
    other = ism_policy_body(ProvisioningSettings(**{**SETTINGS.__dict__, "retention_days": 91}))
    assert other["policy"]["description"] != policy["description"]


def test_template_names_the_rollover_alias_only_with_ism() -> None:
    with_ism = index_template_body(SETTINGS, with_ism=True)["template"]["settings"]
    without = index_template_body(SETTINGS, with_ism=False)["template"]["settings"]
    assert with_ism["plugins.index_state_management.rollover_alias"] == "spot-interruptions-write"
    assert "plugins.index_state_management.rollover_alias" not in without


def test_plugin_detection() -> None:
    def plugins(request: Recorded) -> tuple[int, Any]:
        assert (request.path, request.query) == ("/_cat/plugins", {"format": ["json"]})
        return 200, [{"component": "opensearch-index-management"}, {"component": "x"}]

    with recording_server(plugins) as server:
        assert ism_available(_client(server.url))
    with recording_server(lambda _r: (200, [{"component": "opensearch-security"}])) as server:
        assert not ism_available(_client(server.url))


def test_first_run_creates_the_policy_and_attaches_it() -> None:
    fake = FakeIsm()
    with recording_server(fake) as server:
        assert ensure_ism_policy(_client(server.url), SETTINGS) == "created"
    calls = [(r.method, r.path) for r in server.requests]
    assert calls == [("GET", POLICY_PATH), ("PUT", POLICY_PATH), ("POST", ADD_PATH)]
    assert server.requests[1].json() == ism_policy_body(SETTINGS)
    assert server.requests[2].json() == {"policy_id": "spot-interruptions-lifecycle"}


def test_second_run_leaves_an_unchanged_policy_alone() -> None:
    fake = FakeIsm(
        stored=ism_policy_body(SETTINGS)["policy"],
        add_failures=[
            {
                "index_name": "spot-interruptions-000001",
                "reason": "This index already has a policy, use the update policy API to "
                "update index policies",
            }
        ],
    )
    with recording_server(fake) as server:
        assert ensure_ism_policy(_client(server.url), SETTINGS) == "unchanged"
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", POLICY_PATH),
        ("POST", ADD_PATH),
    ]


def test_changed_retention_updates_with_concurrency_check_and_moves_indices() -> None:
    old = ism_policy_body(ProvisioningSettings(**{**SETTINGS.__dict__, "retention_days": 365}))
    fake = FakeIsm(stored=old["policy"])
    with recording_server(fake) as server:
        assert ensure_ism_policy(_client(server.url), SETTINGS) == "updated"
    put = server.requests[1]
    assert (put.method, put.path) == ("PUT", POLICY_PATH)
    assert put.query == {"if_seq_no": ["7"], "if_primary_term": ["2"]}
    assert put.json()["policy"]["states"][0]["transitions"][0]["conditions"] == {
        "min_rollover_age": "90d"
    }
    change = server.requests[2]
    assert (change.method, change.path) == ("POST", CHANGE_PATH)
    assert change.json() == {"policy_id": "spot-interruptions-lifecycle"}


def test_other_attach_failures_are_reported() -> None:
    fake = FakeIsm(
        add_failures=[{"index_name": "spot-interruptions-000002", "reason": "index is closed"}]
    )
    with recording_server(fake) as server, pytest.raises(ProvisioningError) as info:
        ensure_ism_policy(_client(server.url), SETTINGS)
    assert str(info.value) == (
        "attaching ISM policy failed for spot-interruptions-000002: index is closed"
    )


def test_rejected_policy_fails_with_the_server_reason() -> None:
    def reject(request: Recorded) -> tuple[int, Any]:
        if request.method == "GET":
            return 404, {}
        return 400, {
            "error": {
                "type": "x_content_parse_exception",
                "reason": "[rollover] unknown field [min_primary_shard_size]",
            }
        }

    with (
        recording_server(reject) as server,
        pytest.raises(ProvisioningError, match="unknown field"),
    ):
        ensure_ism_policy(_client(server.url), SETTINGS)
