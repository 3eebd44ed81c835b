"""The opensearch-py client, built once per container from the function environment.

SigV4 by default (credentials that refresh, so a long-lived container never signs with expired
keys); basic auth when OPENSEARCH_USER / OPENSEARCH_PASSWORD are set (local runs and tests)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3
from opensearchpy import OpenSearch, RequestsHttpConnection
from requests_aws4auth import AWS4Auth

from lambda_src.contract import DEFAULT_INDEX_PREFIX, write_alias


class ConfigurationError(RuntimeError):
    """The function environment is incomplete or inconsistent."""


@dataclass(frozen=True)
class SearchSettings:
    endpoint: str
    index_alias: str
    user: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    region: str | None = None
    service: str = "es"
    # Seconds per request; the construct sets a quarter of the function timeout, so two
    # attempts leave room for the EC2 lookups.
    timeout: float = 20
    max_retries: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SearchSettings:
        env = os.environ if env is None else env
        endpoint = env.get("OPENSEARCH_ENDPOINT", "").strip()
        if not endpoint:
            raise ConfigurationError("OPENSEARCH_ENDPOINT is not set")
        if not endpoint.startswith(("https://", "http://")):
            endpoint = f"https://{endpoint}"
        user, password = env.get("OPENSEARCH_USER"), env.get("OPENSEARCH_PASSWORD")
        if bool(user) != bool(password):
            raise ConfigurationError("set both OPENSEARCH_USER and OPENSEARCH_PASSWORD, or neither")
        return cls(
            endpoint=endpoint.rstrip("/"),
            index_alias=env.get("INDEX_ALIAS", write_alias(DEFAULT_INDEX_PREFIX)),
            user=user or None,
            password=password or None,
            ca_certs=env.get("OPENSEARCH_CA_CERTS") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            service=env.get("OPENSEARCH_SIGNING_SERVICE", "es"),
            timeout=float(env.get("OPENSEARCH_TIMEOUT", "20")),
            max_retries=int(env.get("OPENSEARCH_MAX_RETRIES", "1")),
        )


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
    url = urlparse(settings.endpoint)
    if settings.user and settings.password:
        auth: object = (settings.user, settings.password)
    else:
        credentials = (session or boto3.session.Session()).get_credentials()
        if credentials is None:
            raise ConfigurationError("no AWS credentials to sign OpenSearch requests with")
        if not settings.region:
            raise ConfigurationError("AWS_REGION is not set; SigV4 needs the domain's region")
        auth = AWS4Auth(
            refreshable_credentials=credentials,
            region=settings.region,
            service=settings.service,
        )
    return OpenSearch(
        hosts=[{"host": url.hostname, "port": url.port or (443 if url.scheme == "https" else 80)}],
        http_auth=auth,
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
