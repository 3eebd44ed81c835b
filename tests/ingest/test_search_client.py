"""The OpenSearch client as the function (and the CLI) builds it: SigV4 by default, basic auth
when asked, and a clear error for incomplete settings."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import boto3
import pytest

from lambda_src.ingest.bulk import BulkIndexer, Verdict
from lambda_src.ingest.config import IngestConfig
from lambda_src.ingest.search_client import ConfigurationError, SearchSettings, build_client


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    paths: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.paths.append(self.path)
        lines = gzip.decompress(body).decode().splitlines()
        items = [
            {"index": {"_id": json.loads(a)["index"]["_id"], "status": 201}} for a in lines[::2]
        ]
        data = json.dumps({"took": 1, "errors": False, "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    _Recorder.paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_default_auth_is_sigv4_with_the_session_credentials(recorder):
    config = IngestConfig.from_env(
        {"OPENSEARCH_ENDPOINT": recorder, "INDEX_ALIAS": "spot-write", "AWS_REGION": "eu-west-1"}
    )
    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="eu-west-1"
    )
    indexer = BulkIndexer(build_client(config.search, session), config.index_alias)
    [result] = indexer.index([{"event_id": "e-1", "instance_id": "i-0123456789abcdef0"}])
    assert result.verdict is Verdict.STORED

    [(headers, body)] = _Recorder.seen
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/es/aws4_request" in headers["authorization"]
    assert "x-amz-date" in headers
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).startswith(b'{"index":{"_id":"e-1"}}\n')


def test_basic_auth_when_user_and_password_are_set(recorder):
    config = IngestConfig.from_env(
        {"OPENSEARCH_ENDPOINT": recorder, "OPENSEARCH_USER": "u", "OPENSEARCH_PASSWORD": "p"}
    )
    BulkIndexer(build_client(config.search), "a").index([{"event_id": "e-2"}])
    [(headers, _)] = _Recorder.seen
    assert headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "OPENSEARCH_ENDPOINT"),
        ({"OPENSEARCH_ENDPOINT": "https://x", "OPENSEARCH_USER": "u"}, "OPENSEARCH_PASSWORD"),
    ],
)
def test_incomplete_environment_is_refused(env, message):
    with pytest.raises(ConfigurationError, match=message):
        IngestConfig.from_env(env)


def test_endpoint_without_scheme_means_https():
    config = IngestConfig.from_env({"OPENSEARCH_ENDPOINT": "vpc-x.eu-west-1.es.amazonaws.com/"})
    assert config.search.endpoint == "https://vpc-x.eu-west-1.es.amazonaws.com"
    assert config.index_alias == "spot-interruptions-write"


# What the CLI's report and demo need from the same factory (it connects to any endpoint).
SESSION = boto3.session.Session(
    aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1"
)


@pytest.mark.parametrize(
    ("host", "region", "service"),
    [
        ("vpc-spot-abc123.eu-west-2.es.amazonaws.com", "eu-west-2", "es"),
        ("abc123.ap-southeast-1.aoss.amazonaws.com", "ap-southeast-1", "aoss"),
        ("search.internal.example", "us-east-1", "es"),  # the session's region, plain es
    ],
)
def test_sigv4_signs_for_the_region_and_service_the_host_names(host, region, service):
    client = build_client(SearchSettings(endpoint=f"https://{host}"), SESSION)
    auth = client.transport.get_connection().session.auth
    assert (auth.region, auth.service) == (region, service)


def test_settings_override_what_the_host_name_says():
    settings = SearchSettings(
        endpoint="https://x.eu-west-2.es.amazonaws.com", region="eu-west-1", service="aoss"
    )
    auth = build_client(settings, SESSION).transport.get_connection().session.auth
    assert (auth.region, auth.service) == ("eu-west-1", "aoss")


def test_a_path_in_the_endpoint_prefixes_every_request(recorder):
    settings = SearchSettings(endpoint=f"{recorder}/search/", user="u", password="p")
    BulkIndexer(build_client(settings), "a").index([{"event_id": "e-3"}])
    assert _Recorder.paths[0].startswith("/search/a/_bulk")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (SearchSettings(endpoint="ftp://x"), "not an OpenSearch URL: 'ftp://x'"),
        (SearchSettings(endpoint="https://"), "not an OpenSearch URL"),
        (SearchSettings(endpoint="https://x", user="u"), "needs both a user and a password"),
        (SearchSettings(endpoint="https://x", password="p"), "needs both a user and a password"),
    ],
)
def test_unusable_settings_are_one_clear_error(settings, message):
    with pytest.raises(ConfigurationError, match=message):
        build_client(settings, SESSION)


def test_sigv4_without_a_region_anywhere_is_refused(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    session = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b")
    with pytest.raises(ConfigurationError, match="SigV4 needs the endpoint's region"):
        build_client(SearchSettings(endpoint="https://search.internal.example"), session)
