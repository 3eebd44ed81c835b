"""The one opensearch-py client factory: the ingest function's and the CLI's.

SigV4 by default (credentials that refresh, so a long-lived container or a long report never
signs with expired keys); basic auth when a user is given (local nodes and tests). The settings
are plain values: the function reads them from its environment once (`ingest.config`), the CLI
from its options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3
from opensearchpy import OpenSearch, RequestsHttpConnection
from requests_aws4auth import AWS4Auth

# <name>-<id>.<region>.es.amazonaws.com and the serverless (aoss) equivalent: the host names
# its region and signing service when the settings do not.
_AWS_HOST = re.compile(
    r"\.(?P<region>[a-z]{2}(-[a-z]+)+-\d)\.(?P<service>es|aoss)\.amazonaws\.com$"
)


class ConfigurationError(RuntimeError):
    """The settings are incomplete or inconsistent; the message names what to set."""


@dataclass(frozen=True)
class SearchSettings:
    """How to reach one OpenSearch endpoint."""

    endpoint: str  # http(s)://host[:port][/path]
    user: str | None = None  # set: basic auth (with `password`); None: SigV4
    password: str | None = None
    ca_certs: str | None = None  # a CA bundle that alone is trusted for this endpoint
    region: str | None = None  # SigV4; None: the host's region, else the session's
    service: str | None = None  # SigV4; None: the host's service (es/aoss), else "es"
    # Seconds per request; the construct sets a quarter of the function timeout, so two
    # attempts leave room for the EC2 lookups.
    timeout: float = 20
    max_retries: int = 1


class _RequestsConnection(RequestsHttpConnection):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's CA bundle;
    a CA configured for this endpoint must win, so the environment is ignored then."""

    def __init__(self, *args: Any, ca_certs: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, ca_certs=ca_certs, **kwargs)
        if ca_certs:
            self.session.trust_env = False


def build_client(
    settings: SearchSettings, session: boto3.session.Session | None = None
) -> OpenSearch:
    """An opensearch-py client for `settings`; ConfigurationError names what is missing."""
    url = urlparse(settings.endpoint)
    if url.scheme not in {"http", "https"} or not url.hostname:
        raise ConfigurationError(
            f"not an OpenSearch URL: {settings.endpoint!r} (expected https://host[:port])"
        )
    host: dict[str, Any] = {
        "host": url.hostname,
        "port": url.port or (443 if url.scheme == "https" else 80),
    }
    if url.path.strip("/"):
        host["url_prefix"] = url.path.rstrip("/")
    return OpenSearch(
        hosts=[host],
        http_auth=_auth(settings, url.hostname, session),
        use_ssl=url.scheme == "https",
        verify_certs=True,
        ca_certs=settings.ca_certs,
        connection_class=_RequestsConnection,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
        retry_on_timeout=True,
        # Bulk bodies repeat field names thousands of times; gzip cuts them several-fold.
        http_compress=True,
        pool_maxsize=4,
    )


def _auth(settings: SearchSettings, host: str, session: boto3.session.Session | None) -> Any:
    if settings.user or settings.password:
        if not (settings.user and settings.password):
            raise ConfigurationError("basic auth needs both a user and a password")
        return (settings.user, settings.password)
    session = session or boto3.session.Session()
    match = _AWS_HOST.search(host)
    region = settings.region or (match["region"] if match else None) or session.region_name
    if not region:
        raise ConfigurationError("SigV4 needs the endpoint's region: set AWS_REGION")
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigurationError("no AWS credentials to sign OpenSearch requests with")
    return AWS4Auth(
        refreshable_credentials=credentials,
        region=region,
        service=settings.service or (match["service"] if match else "es"),
    )
