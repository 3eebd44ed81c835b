"""Session fixtures: a real OpenSearch node and a moto server on 127.0.0.1.

Both are real servers reached over HTTP(S); nothing is patched in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
import requests
from opensearchpy import OpenSearch

from spot_cli.local.servers import moto_server
from tests.support.opensearch_node import OpenSearchNode, OpenSearchUnavailable, running_node

# Nothing in the suite may reach a real AWS account, whatever the developer's shell holds.
for _key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_key, None)
# jsii (under aws_cdk) prints a large banner on Node 20; the Makefile silences it the same way.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
)


@pytest.fixture(scope="session")
def opensearch_node() -> Iterator[OpenSearchNode]:
    try:
        with running_node() as node:
            yield node
    except OpenSearchUnavailable as exc:
        pytest.fail(f"OpenSearch is required and could not be started: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def opensearch(opensearch_node: OpenSearchNode) -> OpenSearch:
    """An admin client (basic auth, TLS verified against the node's CA)."""
    return opensearch_node.client()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as url:  # the demo's own: a ThreadedMotoServer on a free loopback port
        yield url


def _clean_moto(endpoint: str, patch: pytest.MonkeyPatch) -> str:
    # Resetting after a large test (the 10k storm leaves 5,000 instances) took over 10 s on the
    # loaded 2-core machine and failed the next test's setup with a read timeout.
    requests.post(f"{endpoint}/moto-api/reset", timeout=120).raise_for_status()
    patch.setenv("AWS_ENDPOINT_URL", endpoint)
    boto3.DEFAULT_SESSION = None
    return endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto backend; boto3 clients created in the test reach it via AWS_ENDPOINT_URL."""
    return _clean_moto(moto_endpoint, monkeypatch)


@pytest.fixture(scope="module")
def aws_module(moto_endpoint: str) -> Iterator[str]:
    """`aws` for a module-scoped fixture's data: one reset for the module. A test of the
    module that takes `aws` resets moto again: module data must live in OpenSearch, not moto."""
    with pytest.MonkeyPatch.context() as patch:
        yield _clean_moto(moto_endpoint, patch)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadfile` (`make test`) as tests/support/scheduling.py refines it."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.support.scheduling import SuiteScheduling  # noqa: PLC0415 - xdist's, lazily

    return SuiteScheduling(config, log)
