"""The step order with ISM present (as on the managed service), against a recording server:
the policy must exist before the first index, so its ism_template attaches to it."""

from __future__ import annotations

from lambda_src.provisioning.http_client import HttpClient, RetryPolicy
from lambda_src.provisioning.provisioner import Provisioner
from lambda_src.provisioning.settings import ProvisioningSettings
from tests.domain.fake_domain import managed_domain
from tests.domain.recording_server import recording_server

SETTINGS = ProvisioningSettings(
    endpoint="https://search.example",
    master_secret_arn="arn:secret",
    writer_backend_roles=("arn:aws:iam::123456789012:role/ingest",),
    import_saved_objects=False,
)


def test_managed_domain_first_run_order() -> None:
    with recording_server(managed_domain) as server:
        client = HttpClient(server.url, auth=("a", "b"), retry=RetryPolicy(max_attempts=1))
        summary = Provisioner(SETTINGS, client).run()
    calls = [f"{r.method} {r.path}" for r in server.requests]
    assert calls[:31] == [
        "GET /_cluster/health",
        "GET /_cat/plugins",
        "PUT /_index_template/spot-interruptions",
        "GET /_plugins/_ism/policies/spot-interruptions-lifecycle",
        "PUT /_plugins/_ism/policies/spot-interruptions-lifecycle",
        "POST /_plugins/_ism/add/spot-interruptions-*",
        "GET /_alias/spot-interruptions-write",
        "HEAD /spot-interruptions-write",
        "GET /_cat/indices/spot-interruptions-*",
        "PUT /spot-interruptions-000001",
        # The fleet exposure family (issue 14): the same steps under its own prefix.
        "PUT /_index_template/spot-interruptions.exposure",
        "GET /_plugins/_ism/policies/spot-interruptions.exposure-lifecycle",
        "PUT /_plugins/_ism/policies/spot-interruptions.exposure-lifecycle",
        "POST /_plugins/_ism/add/spot-interruptions.exposure-*",
        "GET /_alias/spot-interruptions.exposure-write",
        "HEAD /spot-interruptions.exposure-write",
        "GET /_cat/indices/spot-interruptions.exposure-*",
        "PUT /spot-interruptions.exposure-000001",
        "PUT /_plugins/_security/api/roles/spot_insights_exposure_writer",
        "PUT /_plugins/_security/api/rolesmapping/spot_insights_exposure_writer",
        # The market context family (issue 14): the same again.
        "PUT /_index_template/spot-interruptions.market",
        "GET /_plugins/_ism/policies/spot-interruptions.market-lifecycle",
        "PUT /_plugins/_ism/policies/spot-interruptions.market-lifecycle",
        "POST /_plugins/_ism/add/spot-interruptions.market-*",
        "GET /_alias/spot-interruptions.market-write",
        "HEAD /spot-interruptions.market-write",
        "GET /_cat/indices/spot-interruptions.market-*",
        "PUT /spot-interruptions.market-000001",
        "PUT /_plugins/_security/api/roles/spot_insights_market_writer",
        "PUT /_plugins/_security/api/rolesmapping/spot_insights_market_writer",
        "PUT /_plugins/_security/api/roles/spot_insights_writer",
    ]
    template = server.requests[2].json()
    settings = template["template"]["settings"]
    assert settings["plugins.index_state_management.rollover_alias"] == "spot-interruptions-write"
    assert settings["number_of_replicas"] == 1
    assert server.requests[9].json() == {
        "aliases": {"spot-interruptions-write": {"is_write_index": True}}
    }
    writer_mapping = next(
        r for r in server.requests if r.path.endswith("/rolesmapping/spot_insights_writer")
    )
    assert writer_mapping.json()["backend_roles"] == ["arn:aws:iam::123456789012:role/ingest"]
    assert not any("all_access" in r.path for r in server.requests)
    assert summary["IsmPolicy"] == "created"
    assert summary["WriteAliasState"] == "created"
    assert summary["SavedObjects"] == "skipped"
