"""The real ingest handler for a local run, built from a configuration object (never from
`os.environ`), with its AWS calls going to the session it is given (the local moto server)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spot_cli.local.poller import Handler
from spot_cli.opensearch_client import OpenSearchSettings

# The function's metrics are off locally; were they on, they would not mix with the deployed ones.
LOCAL_METRICS_NAMESPACE = "SpotInsightsLocal"


@dataclass(frozen=True)
class LocalFunction:
    """What the deployed function's environment holds, pointed at local servers.

    Locally one function consumes every region's queue, so the poison records it parks go to
    one dead-letter queue (the demo gives the home region's)."""

    writer: OpenSearchSettings  # the credentials the function writes with
    index_alias: str
    dead_letter_queue_url: str | None = None


def ingest_handler(function: LocalFunction, session: Any) -> Handler:
    """`lambda_src.ingest.handler`'s function for `function`, its clients built now.

    Its Powertools logs are switched off and its metrics disabled: deployed they go to
    CloudWatch; here they would interleave with the demo's output (and break `--json`), and the
    demo reports the same counts itself."""
    from lambda_src.ingest.config import IngestConfig  # noqa: PLC0415 - start-up time
    from lambda_src.ingest.handler import build_handler  # noqa: PLC0415
    from lambda_src.ingest.search_client import SearchSettings  # noqa: PLC0415

    writer = function.writer
    config = IngestConfig(
        search=SearchSettings(
            endpoint=writer.endpoint.rstrip("/"),
            user=writer.user,
            password=writer.password,
            ca_certs=writer.ca_certs,
        ),
        index_alias=function.index_alias,
        dead_letter_queue_url=function.dead_letter_queue_url,
        metrics_namespace=LOCAL_METRICS_NAMESPACE,
        log_level="CRITICAL",
        metrics_enabled=False,
    )
    return build_handler(config, session)


class PerThreadEnvironments:
    """A handler that is safe to invoke from several poller threads at once: each thread gets
    its own execution environment (the handler built by `build`, with its own clients and
    caches) on its first invocation, as Lambda runs concurrent invocations in separate
    environments. Poll with `EventSourceSettings(thread_safe_handler=True)`."""

    def __init__(self, build: Callable[[], Handler]) -> None:
        self._build = build
        self._local = threading.local()
        self._lock = threading.Lock()
        self.started = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        handler = getattr(self._local, "handler", None)
        if handler is None:
            handler = self._local.handler = self._build()
            with self._lock:
                self.started += 1
        return handler(event, context)


def function_environment(function: LocalFunction) -> dict[str, str]:
    """The same as the environment variables the deployed function has, for a child process
    that runs `lambda_src.ingest.handler:handler` as Lambda does (the chaos runs)."""
    from lambda_src.contract import INGEST_SERVICE_NAME, IngestEnv  # noqa: PLC0415

    writer = function.writer
    env = {
        IngestEnv.OPENSEARCH_ENDPOINT: writer.endpoint,
        IngestEnv.INDEX_ALIAS: function.index_alias,
        IngestEnv.SERVICE_NAME: INGEST_SERVICE_NAME,
        IngestEnv.METRICS_NAMESPACE: LOCAL_METRICS_NAMESPACE,
        # What log_level / metrics_enabled say in-process; Powertools reads these itself.
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    if function.dead_letter_queue_url:
        env[IngestEnv.DEAD_LETTER_QUEUE_URL] = function.dead_letter_queue_url
    if writer.user and writer.password:
        env[IngestEnv.OPENSEARCH_USER] = writer.user
        env[IngestEnv.OPENSEARCH_PASSWORD] = writer.password
    if writer.ca_certs:
        env[IngestEnv.OPENSEARCH_CA_CERTS] = writer.ca_certs
    return env
