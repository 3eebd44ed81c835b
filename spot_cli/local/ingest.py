"""The real ingest handler for a local run, built from a configuration object (never from
`os.environ`), with its AWS calls going to the session it is given (the local moto server)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spot_cli.local.poller import Handler
from spot_cli.opensearch_client import OpenSearchSettings

if TYPE_CHECKING:
    from lambda_src.ingest.config import IngestConfig

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
    # Hub and spokes: the role assumed in an event's account, and the account that needs none.
    spoke_role_name: str | None = None
    home_account: str | None = None


def ingest_config(function: LocalFunction) -> IngestConfig:
    """The `lambda_src.ingest.config.IngestConfig` for `function` (what the deployed function
    reads from its environment, held as an object).

    Its Powertools logs are switched off and its metrics disabled: deployed they go to
    CloudWatch; here they would interleave with the run's output (and break `--json`), and the
    runs report the same counts themselves."""
    from lambda_src.ingest.config import IngestConfig  # noqa: PLC0415 - start-up time
    from lambda_src.ingest.search_client import SearchSettings  # noqa: PLC0415

    writer = function.writer
    return IngestConfig(
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
        spoke_role_name=function.spoke_role_name,
        home_account=function.home_account,
    )


def ingest_handler(function: LocalFunction, session: Any) -> Handler:
    """`lambda_src.ingest.handler`'s function for `function`, its clients built now."""
    from lambda_src.ingest.handler import build_handler  # noqa: PLC0415 - start-up time

    return build_handler(ingest_config(function), session)


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
