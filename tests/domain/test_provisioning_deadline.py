"""The custom resource against a domain that is still coming up (HTTPS recording server):
the Lambda's remaining time governs the retries, 401/403 from fine-grained access control
initialising are waited out, Dashboards is imported only once its status is green, and when
the deadline does run out the reason is one line naming the step."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest

from lambda_src.provisioning import handler
from lambda_src.provisioning.errors import ProvisioningError
from spot_cli.local.lambda_context import LambdaContext
from tests.domain import tls
from tests.domain.fake_domain import (
    IMPORT_PATH,
    SHIPPED_SAVED_OBJECTS,
    STATUS_PATH,
    StartingDomain,
)
from tests.domain.recording_server import RecordingServer, recording_server

pytestmark = pytest.mark.aws

# Short waits so a test sees many attempts in a second; the deadline still decides when to stop.
FAST_DELAY = 0.02


@dataclass
class Domain:
    server: RecordingServer
    script: StartingDomain

    def calls(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.server.requests]


@pytest.fixture
def master_secret(aws: str) -> str:
    value = json.dumps({"username": "admin", "password": "pw"})
    secrets = boto3.client("secretsmanager")
    return secrets.create_secret(Name="master", SecretString=value)["ARN"]


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch, test_certificates: tls.TestCertificates) -> None:
    monkeypatch.setattr(handler, "MAX_RETRY_DELAY_SECONDS", FAST_DELAY)
    monkeypatch.setenv("OPENSEARCH_CA_CERTS", str(test_certificates.ca_pem))


def _serve(test_certificates: tls.TestCertificates, script: StartingDomain) -> Iterator[Domain]:
    with recording_server(script, tls=test_certificates.server_context) as server:
        yield Domain(server, script)


def _create(domain: Domain, secret: str, *, seconds_left: float) -> dict[str, object]:
    event = {
        "RequestType": "Create",
        "ResourceProperties": {
            "Endpoint": domain.server.url,
            "MasterSecretArn": secret,
            "DashboardsUrl": f"{domain.server.url}/_dashboards",
        },
    }
    context = LambdaContext(
        function_name="provisioning",
        region="us-east-1",
        timeout_seconds=handler.SAFETY_MARGIN_SECONDS + seconds_left,
    )
    return handler.on_event(event, context)


@pytest.fixture
def fgac_initialising(test_certificates: tls.TestCertificates) -> Iterator[Domain]:
    yield from _serve(test_certificates, StartingDomain(refusals=3))


def test_a_node_answering_401_then_200_is_provisioned(
    fgac_initialising: Domain, master_secret: str
) -> None:
    answer = _create(fgac_initialising, master_secret, seconds_left=30)
    assert answer["Data"]["SavedObjects"] == SHIPPED_SAVED_OBJECTS  # type: ignore[index]
    calls = fgac_initialising.calls()
    # The same first request, refused three times while the security index initialises.
    assert calls[:4] == ["GET /_cluster/health"] * 4


@pytest.fixture
def dashboards_red_then_green(test_certificates: tls.TestCertificates) -> Iterator[Domain]:
    states = ("red", "red", "yellow", "green")
    yield from _serve(test_certificates, StartingDomain(dashboards_states=states))


def test_dashboards_is_imported_only_after_its_status_is_green(
    dashboards_red_then_green: Domain, master_secret: str
) -> None:
    _create(dashboards_red_then_green, master_secret, seconds_left=30)
    dashboards = [c for c in dashboards_red_then_green.calls() if "_dashboards" in c]
    assert dashboards == [f"GET {STATUS_PATH}"] * 4 + [f"POST {IMPORT_PATH}"]


@pytest.fixture
def dashboards_slow(test_certificates: tls.TestCertificates) -> Iterator[Domain]:
    """Red for 25 polls: more attempts than any fixed attempt count the handler used to allow."""
    yield from _serve(test_certificates, StartingDomain(dashboards_states=["red"] * 25 + ["green"]))


def test_the_deadline_not_an_attempt_count_ends_the_retries(
    dashboards_slow: Domain, master_secret: str
) -> None:
    answer = _create(dashboards_slow, master_secret, seconds_left=30)
    assert answer["Data"]["SavedObjects"] == SHIPPED_SAVED_OBJECTS  # type: ignore[index]
    assert dashboards_slow.calls().count(f"GET {STATUS_PATH}") == 26


@pytest.fixture
def dashboards_never_ready(test_certificates: tls.TestCertificates) -> Iterator[Domain]:
    yield from _serve(test_certificates, StartingDomain(dashboards_states=["red"]))


def test_a_deadline_that_runs_out_fails_with_one_line_naming_the_step(
    dashboards_never_ready: Domain, master_secret: str
) -> None:
    started = time.monotonic()
    with pytest.raises(ProvisioningError) as info:
        _create(dashboards_never_ready, master_secret, seconds_left=1.5)
    elapsed = time.monotonic() - started
    reason = str(info.value)
    assert reason.startswith("step 'waiting for Dashboards' failed: GET /api/status: gave up")
    assert "deadline reached" in reason
    assert "Dashboards overall status is red" in reason
    assert "\n" not in reason
    # It kept trying until the deadline was near (not after a few attempts), then stopped in
    # time for the answer to reach CloudFormation within the safety margin.
    assert dashboards_never_ready.calls().count(f"GET {STATUS_PATH}") > 10
    assert 1.0 < elapsed < 1.5 + 5.0  # well inside the 30 s margin
    assert f"POST {IMPORT_PATH}" not in dashboards_never_ready.calls()
