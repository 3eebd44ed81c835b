"""`spot-insights demo`: the whole pipeline on one machine, no AWS account.

Starts a moto server (in this process, so the fleet's launch times can be backdated) and the
local OpenSearch, provisions the index with the injected provisioner, runs the pipeline with
the injected ingest handler, prints the report, and says how to reach the data.

Both the handler and the provisioner are injected as "module:function" import paths (or
callables), so the CLI never hard-wires the ingest or provisioning code."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spot_cli.errors import CliError
from spot_cli.opensearch_client import OpenSearchSettings
from spot_cli.poller import Handler

REPO = Path(__file__).resolve().parents[1]
OPENSEARCH_SCRIPT = REPO / "scripts" / "opensearch"
# The contract's handler path; the lead points these at the real code once it lands.
DEFAULT_HANDLER = "lambda_src.ingest.handler:handler"
DEFAULT_PROVISIONER = "spot_cli.provisioning:provision_local"

# provisioner(opensearch settings, index prefix) -> None; must be idempotent.
# Provisions `prefix`; may return the credentials the ingest handler writes with (else the
# demo's own connection settings are used).
Provisioner = Callable[[OpenSearchSettings, str], OpenSearchSettings | None]


def _repo_on_path() -> None:
    # The console script does not put the checkout on sys.path, and lambda_src/ is not an
    # installed package: handlers are imported from the repository, as the Lambda asset is.
    for entry in (str(REPO), os.getcwd()):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def load_callable(path: str) -> Callable[..., Any]:
    _repo_on_path()
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise CliError(f"expected module:function, got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"cannot import {module_name} ({exc})") from exc
    target = getattr(module, attribute, None)
    if not callable(target):
        raise CliError(f"{path} is not a callable")
    return target


def check_importable(path: str) -> None:
    """Fail early, without running the module, if `module:function` cannot be imported."""
    _repo_on_path()
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise CliError(f"expected module:function, got {path!r}")
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise CliError(
            f"cannot import {module_name}: no such module (pass --handler module:function)"
        )


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
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def aws_environment(moto_url: str, home_region: str) -> dict[str, str]:
    """AWS SDK settings that send every call to the local moto server, never to an account."""
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": home_region,
        "AWS_REGION": home_region,
    }


def handler_environment(
    settings: OpenSearchSettings, alias: str, dead_letter_queue_url: str
) -> dict[str, str]:
    """What the ingest function's environment holds when deployed, pointed at local servers.

    Locally one function consumes every region's queue, so the poison records it parks go to
    the home region's dead-letter queue (the region in `aws_environment`)."""
    env = {
        "DEAD_LETTER_QUEUE_URL": dead_letter_queue_url,
        "OPENSEARCH_ENDPOINT": settings.endpoint,
        "INDEX_ALIAS": alias,
        "POWERTOOLS_SERVICE_NAME": "spot-insights-ingest",
        "POWERTOOLS_METRICS_NAMESPACE": "SpotInsightsLocal",
        # Deployed, these go to CloudWatch; here they would interleave with the demo's output
        # (and break --json), and the demo reports the same counts itself.
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    if settings.user and settings.password:
        env["OPENSEARCH_USER"] = settings.user
        env["OPENSEARCH_PASSWORD"] = settings.password
    if settings.ca_certs:
        env["OPENSEARCH_CA_CERTS"] = settings.ca_certs
    return env


def resolve_handler(handler: str | Handler) -> Handler:
    return load_callable(handler) if isinstance(handler, str) else handler
