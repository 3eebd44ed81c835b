"""Provision a local or test OpenSearch node the way the custom resource provisions the domain.

Local machinery, called by `spot-insights demo` (spot_cli/local/provisioning.py), the tests and
the benchmarks; deployed, the custom resource's handler runs the same `Provisioner`. Local nodes
have neither the ISM plugin nor Dashboards, so ISM is skipped with a warning (unless
`require_ism`) and saved objects are only imported when `dashboards_url` is given."""

from __future__ import annotations

from collections.abc import Sequence

from lambda_src.contract import DEFAULT_INDEX_PREFIX
from lambda_src.provisioning.http_client import HttpClient, RetryPolicy
from lambda_src.provisioning.provisioner import Provisioner
from lambda_src.provisioning.settings import IsmMode, ProvisioningSettings


def provision(
    endpoint: str,
    auth: tuple[str, str],
    *,
    ca_certs: str | None = None,
    prefix: str = DEFAULT_INDEX_PREFIX,
    replicas: int = 0,
    retention_days: int = 365,
    writer_backend_roles: Sequence[str] = (),
    exposure_writer_backend_roles: Sequence[str] = (),
    require_ism: bool = False,
    dashboards_url: str = "",
) -> dict[str, str]:
    """Run the custom resource's provisioning steps against `endpoint` with basic auth; the
    summary it returns is the custom resource's data (`WriteAlias`, `WriteAliasState`, ...).
    Raises `ProvisioningError` naming the step that failed."""
    settings = ProvisioningSettings.from_properties(
        {
            "Endpoint": endpoint,
            "MasterSecretArn": "local",
            "IndexPrefix": prefix,
            "Replicas": str(replicas),
            "RetentionDays": str(retention_days),
            "WriterBackendRoles": list(writer_backend_roles),
            "ExposureWriterBackendRoles": list(exposure_writer_backend_roles),
            "IsmMode": (IsmMode.REQUIRED if require_ism else IsmMode.SKIP_IF_UNAVAILABLE),
            "DashboardsUrl": dashboards_url,
            "ImportSavedObjects": str(bool(dashboards_url)).lower(),
        }
    )
    verify: bool | str = ca_certs or True
    retry = RetryPolicy(max_attempts=5)
    opensearch = HttpClient(settings.endpoint, auth=auth, verify=verify, retry=retry)
    dashboards = HttpClient(settings.dashboards_url, auth=auth, verify=verify, retry=retry)
    return Provisioner(settings, opensearch, dashboards).run()
