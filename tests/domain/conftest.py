"""Fixtures for the SearchDomain tests: a TLS stand-in for Dashboards and a CA bundle that
trusts both it and the local OpenSearch node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.domain.recording_server import (
    Recorded,
    RecordingServer,
    recording_server,
)
from tests.domain.tls import TestCertificates, make_certificates
from tests.support.opensearch_node import OpenSearchNode


@pytest.fixture(scope="session")
def test_certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def ca_bundle(
    opensearch_node: OpenSearchNode,
    test_certificates: TestCertificates,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    bundle = tmp_path_factory.mktemp("bundle") / "ca-bundle.pem"
    parts = [test_certificates.ca_pem.read_text()]
    if opensearch_node.ca_certs:
        parts.insert(0, Path(opensearch_node.ca_certs).read_text())
    bundle.write_text("\n".join(parts))
    return bundle


def _dashboards_ok(request: Recorded) -> tuple[int, object]:
    if request.path == "/_dashboards/api/status":
        return 200, {"name": "dashboards", "status": {"overall": {"state": "green"}}}
    if request.path == "/_dashboards/api/saved_objects/_import":
        count = len(request.multipart()["file"].data.splitlines())
        return 200, {"success": True, "successCount": count, "successResults": []}
    return 404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"}


@pytest.fixture
def dashboards_stub(test_certificates: TestCertificates) -> Iterator[RecordingServer]:
    """An HTTPS Dashboards stand-in: status green, saved-object imports accepted."""
    with recording_server(_dashboards_ok, tls=test_certificates.server_context) as server:
        yield server
