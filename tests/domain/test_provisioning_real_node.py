"""The provisioning handler against the real local OpenSearch node (security plugin, no ISM):
run twice, then the template, alias, first index, roles and mappings are checked through the
REST API, and least privilege is proven with real internal users."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from opensearchpy import OpenSearch
from opensearchpy.exceptions import AuthorizationException

from lambda_src.provisioning import handler, index_setup
from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.index_setup import load_mapping
from tests.domain.cleanup import remove_provisioned_security
from tests.domain.fake_domain import SHIPPED_SAVED_OBJECTS
from tests.domain.recording_server import RecordingServer
from tests.support.lambda_context import fake_context
from tests.support.opensearch_node import OpenSearchNode

pytestmark = [pytest.mark.opensearch, pytest.mark.aws]

WRITER_ARN = "arn:aws:iam::123456789012:role/spot-insights-ingest-test"


@dataclass
class Deployment:
    prefix: str
    properties: dict[str, Any]
    reader_user: str
    reader_password: str


def _secret(name: str, username: str, password: str) -> str:
    client = boto3.client("secretsmanager")
    value = json.dumps({"username": username, "password": password})
    return client.create_secret(Name=name, SecretString=value)["ARN"]


def _event(request_type: str, properties: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ResourceProperties": {"ServiceToken": "arn:test", **properties},
    }
    if request_type != "Create":
        event["PhysicalResourceId"] = f"search-setup:{properties['IndexPrefix']}"
    return event


@pytest.fixture
def lambda_env(aws: str, ca_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Secrets in moto; the CA bundle trusts the node and the Dashboards stand-in."""
    monkeypatch.setenv("OPENSEARCH_CA_CERTS", str(ca_bundle))
    return aws


@pytest.fixture
def deployment(
    lambda_env: str,
    opensearch_node: OpenSearchNode,
    opensearch: OpenSearch,
    dashboards_stub: RecordingServer,
) -> Iterator[Deployment]:
    suffix = uuid.uuid4().hex[:8]
    prefix = f"si-test-{suffix}"
    reader_user = f"si-reader-{suffix}"
    reader_password = f"Rd-{uuid.uuid4().hex}!"
    properties = {
        "Endpoint": opensearch_node.url,
        "MasterSecretArn": _secret("master", opensearch_node.user, opensearch_node.password),
        "IndexPrefix": prefix,
        "Replicas": "0",
        "RetentionDays": "30",
        "WriterBackendRoles": [WRITER_ARN],
        "ReaderUserSecretArns": [_secret("reader", reader_user, reader_password)],
        "IsmMode": "skip-if-unavailable",
        "DashboardsUrl": f"{dashboards_stub.url}/_dashboards",
        "ContentHash": "abc",
    }
    yield Deployment(prefix, properties, reader_user, reader_password)
    opensearch.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    opensearch.indices.delete_index_template(name=prefix, ignore=[404])
    remove_provisioned_security(opensearch, [reader_user])


def _get(client: OpenSearch, path: str) -> Any:
    return client.transport.perform_request("GET", path)


def test_create_then_update_is_idempotent_and_keeps_data(
    deployment: Deployment,
    opensearch: OpenSearch,
    dashboards_stub: RecordingServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    prefix = deployment.prefix
    created = handler.on_event(_event("Create", deployment.properties), fake_context())
    assert created["PhysicalResourceId"] == f"search-setup:{prefix}"
    assert created["Data"]["WriteAliasState"] == "created"
    assert created["Data"]["IsmPolicy"] == "skipped"
    # Skipping ISM is never silent.
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("ISM plugin not installed" in message for message in warnings)

    opensearch.index(
        index=f"{prefix}-write",
        id="evt-1",
        body={"event_id": "evt-1", "event_time": "2026-11-25T08:00:00Z"},
        params={"require_alias": "true", "refresh": "true"},
    )
    updated = handler.on_event(_event("Update", deployment.properties), fake_context())
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert updated["Data"]["WriteAliasState"] == "exists"

    # Exactly one index, still holding the document written between the runs.
    assert sorted(opensearch.indices.get(index=f"{prefix}-*")) == [f"{prefix}-000001"]
    assert opensearch.get(index=f"{prefix}-000001", id="evt-1")["found"]
    alias = opensearch.indices.get_alias(name=f"{prefix}-write")
    assert alias == {f"{prefix}-000001": {"aliases": {f"{prefix}-write": {"is_write_index": True}}}}

    template = opensearch.indices.get_index_template(name=prefix)["index_templates"][0]
    body = template["index_template"]
    assert body["index_patterns"] == [f"{prefix}-*"]
    assert body["template"]["settings"]["index"]["number_of_replicas"] == "0"
    assert body["template"]["mappings"]["dynamic"] == "strict"
    assert body["template"]["mappings"]["properties"] == load_mapping()["properties"]
    index_mapping = opensearch.indices.get_mapping(index=f"{prefix}-000001")
    mapping = index_mapping[f"{prefix}-000001"]["mappings"]
    assert mapping["properties"] == load_mapping()["properties"]

    roles = _get(opensearch, "/_plugins/_security/api/roles/spot_insights_writer")
    writer = roles["spot_insights_writer"]
    assert writer["index_permissions"][0]["index_patterns"] == [f"{prefix}-*"]
    assert "all_access" not in json.dumps(writer)
    mappings = _get(opensearch, "/_plugins/_security/api/rolesmapping")
    assert mappings["spot_insights_writer"]["backend_roles"] == [WRITER_ARN]
    assert mappings["spot_insights_reader"]["users"] == [deployment.reader_user]
    assert WRITER_ARN not in json.dumps(mappings.get("all_access", {}))
    assert deployment.reader_user not in json.dumps(mappings.get("all_access", {}))
    # The Dashboards read-only marker role gains the reader once, however often we run.
    assert mappings["kibana_read_only"]["users"] == [deployment.reader_user]
    assert updated["Data"]["DashboardsReadOnlyRole"] == "kibana_read_only"

    imports = [r for r in dashboards_stub.requests if r.path.endswith("/_import")]
    assert len(imports) == 2  # once per run, overwrite keeps it idempotent
    assert f'"title":"{prefix}-*"'.encode() in imports[0].body
    assert updated["Data"]["SavedObjects"] == SHIPPED_SAVED_OBJECTS


def test_delete_leaves_everything_in_place(deployment: Deployment, opensearch: OpenSearch) -> None:
    handler.on_event(_event("Create", deployment.properties), fake_context())
    answer = handler.on_event(_event("Delete", deployment.properties), fake_context())
    assert answer == {"PhysicalResourceId": f"search-setup:{deployment.prefix}"}
    assert opensearch.indices.exists_alias(name=f"{deployment.prefix}-write")
    assert _get(opensearch, "/_plugins/_security/api/roles/spot_insights_writer")


def test_ism_required_fails_readably_on_a_node_without_it(
    deployment: Deployment, opensearch: OpenSearch
) -> None:
    properties = {**deployment.properties, "IsmMode": "required"}
    with pytest.raises(ProvisioningError, match="Index State Management plugin is not installed"):
        handler.on_event(_event("Create", properties), fake_context())
    # Nothing half-made: the check runs before any index exists.
    assert not opensearch.indices.exists_alias(name=f"{deployment.prefix}-write")


def test_stray_index_in_place_of_the_alias_is_reported(
    deployment: Deployment, opensearch: OpenSearch
) -> None:
    opensearch.indices.create(index=f"{deployment.prefix}-write")
    with pytest.raises(ProvisioningError, match="exists where the write alias belongs"):
        handler.on_event(_event("Create", deployment.properties), fake_context())


def test_wrong_master_password_is_a_one_line_reason(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 401 is retried for the grace period (fine-grained access control may be initialising);
    # shortened here, the real node's refusal is then reported as meant.
    monkeypatch.setattr(handler, "AUTH_GRACE_SECONDS", 2.0)
    bad = _secret("bad-master", "admin", "not-the-password")
    properties = {**deployment.properties, "MasterSecretArn": bad}
    with pytest.raises(ProvisioningError) as info:
        handler.on_event(_event("Create", properties), fake_context())
    reason = str(info.value)
    assert reason.startswith(
        "step 'waiting for the domain' failed: GET /_cluster/health -> HTTP 401 (still after 2 s)"
    )
    assert "\n" not in reason


def _bulk(client: OpenSearch, index: str, doc_id: str) -> dict[str, Any]:
    doc = {"event_id": doc_id, "event_time": "2026-11-25T08:00:00Z", "region": "us-east-1"}
    return client.bulk(
        body=[{"index": {"_index": index, "_id": doc_id}}, doc],
        params={"require_alias": "true", "refresh": "true"},
    )


def test_least_privilege_with_real_users(
    deployment: Deployment, opensearch_node: OpenSearchNode, opensearch: OpenSearch
) -> None:
    prefix = deployment.prefix
    handler.on_event(_event("Create", deployment.properties), fake_context())
    # An internal user carrying the ingest role ARN as backend role, as IAM auth does on AWS.
    writer_name = f"si-writer-{uuid.uuid4().hex[:8]}"
    writer_password = f"Wr-{uuid.uuid4().hex}!"
    api = "/_plugins/_security/api"
    opensearch.transport.perform_request(
        "PUT",
        f"{api}/internalusers/{writer_name}",
        body={"password": writer_password, "backend_roles": [WRITER_ARN]},
    )
    other = f"other-{uuid.uuid4().hex[:8]}"
    opensearch.indices.create(index=other)
    try:
        writer = opensearch_node.client(writer_name, writer_password)
        reader = opensearch_node.client(deployment.reader_user, deployment.reader_password)

        result = _bulk(writer, f"{prefix}-write", "evt-w1")
        assert not result["errors"], result
        assert opensearch.get(index=f"{prefix}-000001", id="evt-w1")["found"]
        # The ingest function's form: POST /<alias>/_bulk, "index" ops with the event id.
        # Sent twice, as a retried batch would be: the same document, no duplicate.
        doc = {"event_id": "evt-w2", "event_time": "2026-11-25T08:01:00Z"}
        for _ in range(2):
            again = writer.bulk(
                body=[{"index": {"_id": "evt-w2"}}, doc],
                index=f"{prefix}-write",
                params={"require_alias": "true", "refresh": "true"},
            )
            assert not again["errors"], again
        assert (
            opensearch.count(index=f"{prefix}-*", body={"query": {"term": {"event_id": "evt-w2"}}})[
                "count"
            ]
            == 1
        )
        opensearch.delete(index=f"{prefix}-000001", id="evt-w2", refresh=True)

        with pytest.raises(AuthorizationException):
            writer.indices.delete(index=f"{prefix}-000001")
        with pytest.raises(AuthorizationException):
            writer.transport.perform_request("GET", f"{api}/roles")
        # Linking at ingest (lambda_src/ingest/linking.py) searches and updates in the prefix
        # only: through the alias and the concrete index, never another index.
        found = writer.search(index=f"{prefix}-write", body={"query": {"match_all": {}}})
        assert found["hits"]["total"]["value"] == 1
        link = {"doc": {"followed_by_warning": True}}
        linked = writer.bulk(
            body=[{"update": {"_index": f"{prefix}-000001", "_id": "evt-w1"}}, link],
            params={"refresh": "true"},
        )
        assert not linked["errors"], linked
        assert (
            opensearch.get(index=f"{prefix}-000001", id="evt-w1")["_source"]["followed_by_warning"]
            is True
        )
        opensearch.index(index=other, id="y", body={"a": 1}, refresh=True)
        with pytest.raises(AuthorizationException):
            writer.search(index=other, body={"query": {"match_all": {}}})
        with pytest.raises(AuthorizationException):
            writer.search(index="*", body={"query": {"match_all": {}}})
        stray_update = writer.bulk(body=[{"update": {"_index": other, "_id": "y"}}, link])
        assert stray_update["items"][0]["update"]["status"] == 403
        assert "followed_by_warning" not in opensearch.get(index=other, id="y")["_source"]
        opensearch.delete(index=other, id="y", refresh=True)
        with pytest.raises(AuthorizationException):
            writer.delete(index=f"{prefix}-000001", id="evt-w1")
        stray = writer.bulk(
            body=[{"index": {"_index": other, "_id": "x"}}, {"a": 1}], params={"refresh": "true"}
        )
        assert stray["errors"]
        assert stray["items"][0]["index"]["status"] == 403
        assert opensearch.count(index=other)["count"] == 0

        hits = reader.search(index=f"{prefix}-*", body={"query": {"term": {"event_id": "evt-w1"}}})
        assert hits["hits"]["total"]["value"] == 1
        refused = _bulk(reader, f"{prefix}-write", "evt-r1")
        assert refused["errors"]
        assert refused["items"][0]["index"]["status"] == 403
        with pytest.raises(AuthorizationException):
            reader.index(index=f"{prefix}-write", id="evt-r2", body={"event_id": "evt-r2"})
        with pytest.raises(AuthorizationException):
            reader.transport.perform_request("GET", f"{api}/internalusers")
        assert opensearch.count(index=f"{prefix}-*")["count"] == 1
    finally:
        opensearch.indices.delete(index=other, ignore_unavailable=True)
        opensearch.transport.perform_request("DELETE", f"{api}/internalusers/{writer_name}")


def test_additive_mapping_change_reaches_the_existing_index(
    deployment: Deployment, opensearch: OpenSearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = deployment.prefix
    handler.on_event(_event("Create", deployment.properties), fake_context())
    grown = json.loads(json.dumps(load_mapping()))
    grown["properties"]["spot_price"] = {"type": "keyword"}
    monkeypatch.setattr(index_setup, "load_mapping", lambda: grown)
    handler.on_event(_event("Update", deployment.properties), fake_context())
    mapping = opensearch.indices.get_mapping(index=f"{prefix}-000001")
    assert mapping[f"{prefix}-000001"]["mappings"]["properties"]["spot_price"] == {
        "type": "keyword"
    }
    template = opensearch.indices.get_index_template(name=prefix)["index_templates"][0]
    assert "spot_price" in template["index_template"]["template"]["mappings"]["properties"]


def test_conflicting_mapping_change_fails_readably(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler.on_event(_event("Create", deployment.properties), fake_context())
    changed = json.loads(json.dumps(load_mapping()))
    changed["properties"]["runtime_seconds"] = {"type": "keyword"}
    monkeypatch.setattr(index_setup, "load_mapping", lambda: changed)
    with pytest.raises(ProvisioningError, match=r"_mapping -> HTTP 400: .*runtime_seconds"):
        handler.on_event(_event("Update", deployment.properties), fake_context())


def test_alias_lost_is_reattached_to_the_newest_index(
    deployment: Deployment, opensearch: OpenSearch
) -> None:
    prefix = deployment.prefix
    for number in ("000001", "000002"):
        opensearch.indices.create(index=f"{prefix}-{number}")
    answer = handler.on_event(_event("Create", deployment.properties), fake_context())
    assert answer["Data"]["WriteAliasState"] == "attached"
    alias = opensearch.indices.get_alias(name=f"{prefix}-write")
    assert alias == {f"{prefix}-000002": {"aliases": {f"{prefix}-write": {"is_write_index": True}}}}


def test_replica_change_reaches_existing_indices(
    deployment: Deployment, opensearch: OpenSearch
) -> None:
    prefix = deployment.prefix
    handler.on_event(_event("Create", deployment.properties), fake_context())
    handler.on_event(_event("Update", {**deployment.properties, "Replicas": "1"}), fake_context())
    index_settings = opensearch.indices.get_settings(index=f"{prefix}-000001")
    assert index_settings[f"{prefix}-000001"]["settings"]["index"]["number_of_replicas"] == "1"
    template = opensearch.indices.get_index_template(name=prefix)["index_templates"][0]
    assert template["index_template"]["template"]["settings"]["index"]["number_of_replicas"] == "1"
