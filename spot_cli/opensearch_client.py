"""The CLI's way to a search endpoint: its options (`--auth`, `--user`, `--signing-region`, ...)
mapped onto the one client factory, `lambda_src.ingest.search_client.build_client`, so the
CLI, the demo and the ingest function reach OpenSearch the same way (SigV4 region and service
from the host name, a configured CA bundle winning over the environment's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spot_cli.errors import CliError


@dataclass(frozen=True)
class OpenSearchSettings:
    endpoint: str
    auth: str = "auto"  # auto | sigv4 | basic
    user: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    region: str | None = None
    timeout: float = 30.0

    def resolved_auth(self) -> str:
        if self.auth != "auto":
            return self.auth
        return "basic" if self.user else "sigv4"


def connect(settings: OpenSearchSettings) -> Any:
    # Imported here: opensearch-py and boto3 are slow to import, and --help needs neither.
    from lambda_src.ingest.search_client import (  # noqa: PLC0415
        ConfigurationError,
        SearchSettings,
        build_client,
    )

    auth = settings.resolved_auth()
    if auth not in {"basic", "sigv4"}:
        raise CliError(f"unknown auth {auth!r} (use sigv4 or basic)")
    if auth == "basic" and not (settings.user and settings.password):
        raise CliError("basic auth needs a user and a password (OPENSEARCH_USER/_PASSWORD)")
    basic = auth == "basic"
    try:
        return build_client(
            SearchSettings(
                endpoint=settings.endpoint,
                user=settings.user if basic else None,
                password=settings.password if basic else None,
                ca_certs=settings.ca_certs,
                region=settings.region,
                timeout=settings.timeout,
            )
        )
    except ConfigurationError as exc:
        raise CliError(str(exc)) from None
