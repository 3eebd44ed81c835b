"""The local stand-ins for the cloud: the project's OpenSearch node (`scripts/opensearch`) and a
moto server in this process, with an AWS session that sends every call to it."""

from __future__ import annotations

import functools
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spot_cli.errors import CliError
from spot_cli.opensearch_client import OpenSearchSettings

REPO = Path(__file__).resolve().parents[2]
OPENSEARCH_SCRIPT = REPO / "scripts" / "opensearch"
# Any non-empty keys: moto accepts them, and they never reach an account.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


@dataclass(frozen=True)
class LocalOpenSearch:
    settings: OpenSearchSettings
    started_port: int | None  # set when this run started the node


def _script(*args: str) -> str:
    result = subprocess.run(
        [str(OPENSEARCH_SCRIPT), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise CliError(f"scripts/opensearch {args[0]} failed: {message[-1] if message else '?'}")
    return result.stdout


def local_opensearch(port: int) -> LocalOpenSearch:
    """The node named by OPENSEARCH_URL, else one started (or found running) on `port`."""
    if url := os.environ.get("OPENSEARCH_URL"):
        return LocalOpenSearch(
            OpenSearchSettings(
                endpoint=url,
                auth="basic",
                user=os.environ.get("OPENSEARCH_USER", "admin"),
                password=os.environ.get("OPENSEARCH_PASSWORD"),
                ca_certs=os.environ.get("OPENSEARCH_CA_CERTS"),
            ),
            None,
        )
    return LocalOpenSearch(start_local_node(port), port)


def start_local_node(port: int) -> OpenSearchSettings:
    """Start (or find running) the project's node on `port`; its connection settings."""
    _script("up", "--port", str(port), "--timeout", "240")
    values = dict(
        line.removeprefix("export ").split("=", 1)
        for line in _script("env", "--port", str(port)).splitlines()
        if "=" in line
    )
    get = {k: v.strip("'") for k, v in values.items()}.get
    return OpenSearchSettings(
        endpoint=get("OPENSEARCH_URL", f"https://127.0.0.1:{port}"),
        auth="basic",
        user=get("OPENSEARCH_USER"),
        password=get("OPENSEARCH_PASSWORD"),
        ca_certs=get("OPENSEARCH_CA_CERTS"),
    )


def stop_opensearch(port: int) -> None:
    _script("stop", "--port", str(port))


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in this process, reached over HTTP like AWS."""
    try:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - dev dependency
    except ImportError as exc:
        raise CliError("the demo needs moto[server] (make setup installs it)") from exc
    import logging  # noqa: PLC0415
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _parse_each_jsonpath_once()
    _cheap_sqs_clock()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    # moto keeps its accounts in module state, shared by every server in the process (a test
    # session's and the demo's): start from empty ones, as against a fresh account.
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=30) as response:
        response.read()
    try:
        yield url
    finally:
        server.stop()


def _parse_each_jsonpath_once() -> None:
    """moto's EventBridge parses eight JSONPath expressions (the target's InputTransformer
    paths, or its default set) for every event it delivers, and each parse builds a yacc parser:
    60% of a PutEvents call, most of the demo's publishing time. The expressions are the same
    every time and a parsed one is only read, so one parse per expression serves them all
    (moto imports `parse` from the module at each call, so it gets this one)."""
    try:
        import jsonpath_ng.ext  # noqa: PLC0415 - moto's dependency, present with moto
    except ImportError:
        return
    if not hasattr(jsonpath_ng.ext.parse, "cache_info"):
        jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


def _cheap_sqs_clock() -> None:
    """moto's SQS scans every message of a queue several times for each message it sends or
    returns (queue attributes, visibility, the retention check), reading a datetime-based
    clock (about 10 us) per message each time: a queue a few thousand deep then costs seconds
    per ReceiveMessage, and a 5,000-event storm goes quadratic. The same epoch seconds from
    time.time() cost a small fraction of that; nothing else changes."""
    try:
        import moto.sqs.models as sqs_models  # noqa: PLC0415 - dev dependency
    except ImportError:
        return
    if getattr(sqs_models.unix_time, "cheap", False):
        return  # already done (a second server in this process)
    slow_seconds = sqs_models.unix_time

    def epoch_seconds(dt: Any = None) -> float:
        return time.time() if dt is None else slow_seconds(dt)

    def epoch_millis(dt: Any = None) -> float:
        return epoch_seconds(dt) * 1000.0

    epoch_seconds.cheap = True  # type: ignore[attr-defined]
    sqs_models.unix_time = epoch_seconds
    sqs_models.unix_time_millis = epoch_millis


def local_session(endpoint_url: str, home_region: str, *, max_attempts: int | None = None) -> Any:
    """A boto3 session whose clients all talk to `endpoint_url` (the moto server) with local
    keys: the process environment is left as it is, so nothing can reach a real account.

    `max_attempts`: botocore's standard retry mode with that many attempts for every client
    (default: botocore's own retry configuration)."""
    import boto3  # noqa: PLC0415 - start-up time
    import botocore.session  # noqa: PLC0415

    class _LocalSession(boto3.session.Session):
        def client(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("endpoint_url", endpoint_url)
            return super().client(*args, **kwargs)

        def resource(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("endpoint_url", endpoint_url)
            return super().resource(*args, **kwargs)

    core = botocore.session.Session()
    if max_attempts is not None:
        core.set_config_variable("retry_mode", "standard")
        core.set_config_variable("max_attempts", max_attempts)
    return _LocalSession(botocore_session=core, region_name=home_region, **LOCAL_CREDENTIALS)
