"""An opensearch-py client for any endpoint: SigV4 for a managed domain, basic auth for a local
node (TLS verified against a CA bundle when one is given)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from spot_cli.errors import CliError

# <name>-<id>.<region>.es.amazonaws.com and the aoss (serverless) equivalent.
_AWS_HOST = re.compile(
    r"\.(?P<region>[a-z]{2}(-[a-z]+)+-\d)\.(?P<service>es|aoss)\.amazonaws\.com$"
)


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
    from opensearchpy import OpenSearch, RequestsHttpConnection  # noqa: PLC0415 - start-up time

    url = urlparse(settings.endpoint)
    if url.scheme not in {"http", "https"} or not url.hostname:
        raise CliError(
            f"not an OpenSearch URL: {settings.endpoint!r} (expected https://host[:port])"
        )
    common: dict[str, Any] = {
        "hosts": [settings.endpoint.rstrip("/")],
        "use_ssl": url.scheme == "https",
        "verify_certs": url.scheme == "https",
        "ca_certs": settings.ca_certs,
        "timeout": settings.timeout,
        "max_retries": 1,
    }
    auth = settings.resolved_auth()
    if auth == "basic":
        if not (settings.user and settings.password):
            raise CliError("basic auth needs a user and a password (OPENSEARCH_USER/_PASSWORD)")
        return OpenSearch(http_auth=(settings.user, settings.password), **common)
    if auth != "sigv4":
        raise CliError(f"unknown auth {auth!r} (use sigv4 or basic)")
    return OpenSearch(
        http_auth=_sigv4(settings, url.hostname), connection_class=RequestsHttpConnection, **common
    )


def _sigv4(settings: OpenSearchSettings, host: str) -> Any:
    import boto3  # noqa: PLC0415
    from requests_aws4auth import AWS4Auth  # noqa: PLC0415

    match = _AWS_HOST.search(host)
    region = settings.region or (match["region"] if match else None)
    service = match["service"] if match else "es"
    session = boto3.session.Session()
    region = region or session.region_name
    if not region:
        raise CliError("SigV4 needs a region: pass --signing-region or set AWS_REGION")
    credentials = session.get_credentials()
    if credentials is None:
        raise CliError("SigV4 needs AWS credentials and none were found")
    # Refreshable: long report runs outlive temporary credentials.
    return AWS4Auth(region=region, service=service, refreshable_credentials=credentials)
