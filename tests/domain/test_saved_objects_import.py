"""The Dashboards import as it goes over the wire, against a local recording server."""

from __future__ import annotations

import json

import pytest

from lambda_src.contract import DASHBOARDS_INDEX_PATTERN_ID
from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.http_client import HttpClient, RetryPolicy
from lambda_src.provisioning.index_setup import load_mapping
from lambda_src.provisioning.saved_objects import ensure_saved_objects, load_saved_objects
from lambda_src.provisioning.settings import ProvisioningSettings
from spot_cli.dashboard_panels import BUCKET_AGGS, METRIC_AGGS
from tests.domain.recording_server import recording_server, scripted

SETTINGS = ProvisioningSettings(
    endpoint="https://search.example", master_secret_arn="arn:secret", index_prefix="acme-spot"
)
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)


def _client(url: str) -> HttpClient:
    return HttpClient(f"{url}/_dashboards", auth=("admin", "pw"), retry=FAST)


def test_import_request_method_path_query_headers_and_multipart_body() -> None:
    with recording_server(scripted((200, {"success": True, "successCount": 5}))) as server:
        assert ensure_saved_objects(_client(server.url), SETTINGS) == 5
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == "/_dashboards/api/saved_objects/_import"
    assert request.query == {"overwrite": ["true"]}
    assert request.headers["osd-xsrf"] == "true"
    assert request.headers["securitytenant"] == "global"
    assert request.headers["authorization"].startswith("Basic ")
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    part = request.multipart()["file"]
    assert part.filename.endswith(".ndjson")
    assert part.content_type == "application/ndjson"
    objects = [json.loads(line) for line in part.data.decode().splitlines()]
    pattern = next(o for o in objects if o["type"] == "index-pattern")
    assert pattern["id"] == DASHBOARDS_INDEX_PATTERN_ID
    assert pattern["attributes"]["title"] == "acme-spot-*"
    assert {o["type"] for o in objects} == {"index-pattern", "visualization", "search", "dashboard"}
    [board] = [o for o in objects if o["type"] == "dashboard"]
    assert board["attributes"]["title"] == "Spot Interruption Insights"
    # Every panel the dashboard shows travels in the same file (Dashboards resolves references).
    ids = {o["id"] for o in objects}
    assert {ref["id"] for ref in board["references"]} <= ids
    assert len(board["references"]) == len(json.loads(board["attributes"]["panelsJSON"]))


def test_success_false_with_errors_fails_with_a_readable_reason() -> None:
    answer = {
        "success": False,
        "successCount": 3,
        "errors": [
            {
                "id": "spot-insights-by-az",
                "type": "visualization",
                "title": "Spot interruptions by Availability Zone",
                "error": {
                    "type": "missing_references",
                    "references": [{"type": "index-pattern", "id": "spot-interruptions"}],
                },
            },
            {
                "id": "x",
                "type": "visualization",
                "title": "X",
                "error": {"type": "unknown", "message": "bad\nvisState"},
            },
        ],
    }
    with (
        recording_server(scripted((200, answer))) as server,
        pytest.raises(ProvisioningError) as info,
    ):
        ensure_saved_objects(_client(server.url), SETTINGS)
    reason = str(info.value)
    assert reason.startswith("saved objects import failed: visualization/spot-insights-by-az")
    assert "missing references index-pattern/spot-interruptions" in reason
    assert "unknown: bad visState" in reason
    assert "\n" not in reason


def test_success_false_without_errors_still_fails() -> None:
    with (
        recording_server(scripted((200, {"success": False}))) as server,
        pytest.raises(ProvisioningError, match="success is not true"),
    ):
        ensure_saved_objects(_client(server.url), SETTINGS)


def test_errors_list_fails_even_when_success_is_true() -> None:
    answer = {"success": True, "errors": [{"id": "a", "type": "visualization", "error": {}}]}
    with (
        recording_server(scripted((200, answer))) as server,
        pytest.raises(ProvisioningError, match="visualization/a"),
    ):
        ensure_saved_objects(_client(server.url), SETTINGS)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {"statusCode": 400, "error": "Bad Request", "message": "Invalid file extension"},
            "Invalid file extension",
        ),
        (
            403,
            {"statusCode": 403, "error": "Forbidden", "message": "no permissions for tenant"},
            "no permissions for tenant",
        ),
        (401, "Unauthorized", "Unauthorized"),
    ],
)
def test_4xx_fails_at_once_with_status_and_message(
    status: int, body: object, expected: str
) -> None:
    with (
        recording_server(scripted((status, body))) as server,
        pytest.raises(ProvisioningError) as info,
    ):
        ensure_saved_objects(_client(server.url), SETTINGS)
    assert f"HTTP {status}" in str(info.value)
    assert expected in str(info.value)
    assert len(server.requests) == 1  # a client error is not retried


def test_dashboards_still_starting_is_retried() -> None:
    script = scripted(
        (503, {"statusCode": 503, "message": "OpenSearch Dashboards server is not ready yet"}),
        (200, {"success": True, "successCount": 5}),
    )
    with recording_server(script) as server:
        assert ensure_saved_objects(_client(server.url), SETTINGS) == 5
    assert len(server.requests) == 2
    first, second = (r.multipart()["file"].data for r in server.requests)
    assert first == second  # the whole file is sent again, not a consumed stream


def test_saved_objects_files_only_use_mapped_fields_and_core_aggregations() -> None:
    fields = set(load_mapping()["properties"])
    objects = [json.loads(line) for line in load_saved_objects(SETTINGS).decode().splitlines()]
    ids = [o["id"] for o in objects]
    assert len(ids) == len(set(ids))
    pattern = next(o for o in objects if o["type"] == "index-pattern")
    assert pattern["attributes"]["timeFieldName"] in fields
    for vis in (o for o in objects if o["type"] == "visualization"):
        state = json.loads(vis["attributes"]["visState"])
        if state["type"] == "input_control_vis":  # each control names its index pattern
            assert {r["id"] for r in vis["references"]} == {DASHBOARDS_INDEX_PATTERN_ID}
            continue
        if state["type"] == "vega":  # names its indices in its spec (test_vega_panels.py)
            assert not vis["references"] and not state["aggs"]
            continue
        for agg in state["aggs"]:
            assert agg["type"] in METRIC_AGGS | BUCKET_AGGS
            if "field" in agg["params"]:
                assert agg["params"]["field"] in fields
        source = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        [ref] = [r for r in vis["references"] if r["name"] == source["indexRefName"]]
        assert ref == {
            "id": DASHBOARDS_INDEX_PATTERN_ID,
            "name": source["indexRefName"],
            "type": "index-pattern",
        }
