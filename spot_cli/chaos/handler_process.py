"""The ingest handler in a child process, as Lambda runs it in an execution environment: the
chaos runs can kill that process in the middle of a batch.

The child is given the function's configuration as an object (an `IngestConfig`, passed to it
by multiprocessing) and the moto endpoint its AWS calls go to; it builds the real handler from
them (`lambda_src.ingest.handler.handler_for`), its environment untouched. It wraps the
container's `BulkIndexer.index` and `DeadLetterQueue.send` on their instances (the handler's
code is not changed) so it can say where in a batch it is. At a *hold point* the child stops
and waits for the parent's word; the parent may act first (pause the node, stop the AWS
endpoint) or kill the child there. That is what makes a kill between the bulk write and the
SQS delete deterministic."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambda_src.ingest.config import IngestConfig

# Points in one invocation, in order.
BEFORE_BULK = "before-bulk"
AFTER_BULK = "after-bulk"  # documents written, nothing parked, response not returned
AFTER_RETURN = "after-return"  # response ready: the poller would delete next

GO = "go"
KILL = "kill"
# A hold callback: (point, what the child reported) -> GO or KILL.
HoldCallback = Callable[[str, Mapping[str, Any]], str]


class HandlerCrashed(RuntimeError):
    """The handler process died (or was killed) before returning: the whole batch fails."""


class HandlerFailed(RuntimeError):
    """The handler raised; the message is its repr in the child."""


@dataclass
class Timeline:
    """What the handler did, in time.monotonic() (system-wide on Linux, so comparable with the
    child's clock)."""

    bulks: list[tuple[float, float, int, int]] = field(default_factory=list)  # start, end, ok, n
    parked: int = 0
    stored: int = 0
    kills: list[float] = field(default_factory=list)
    max_queue_age: float = 0.0
    max_receive_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bulk(self, started: float, ended: float, stored: int, total: int) -> None:
        with self.lock:
            self.bulks.append((started, ended, stored, total))
            self.stored += stored

    def first_stored_after(self, moment: float) -> float | None:
        with self.lock:
            ends = [end for _start, end, ok, _n in self.bulks if ok and end >= moment]
        return min(ends) if ends else None

    def completed(self, event: Mapping[str, Any], response: Any) -> None:
        """Ages of the messages that leave the queue with this response (SentTimestamp to now:
        the largest is the queue's maximum ApproximateAgeOfOldestMessage)."""
        failed = {
            item.get("itemIdentifier")
            for item in (response or {}).get("batchItemFailures", [])
            if isinstance(item, Mapping)
        }
        now = time.time()
        with self.lock:
            for record in event["Records"]:
                attributes = record.get("attributes", {})
                count = int(attributes.get("ApproximateReceiveCount", "1"))
                self.max_receive_count = max(self.max_receive_count, count)
                if record["messageId"] in failed or "SentTimestamp" not in attributes:
                    continue
                age = now - int(attributes["SentTimestamp"]) / 1000
                self.max_queue_age = max(self.max_queue_age, age)


# -- the child ------------------------------------------------------------------------------


def _serve(conn: Connection, config: IngestConfig, aws_endpoint_url: str, region: str) -> None:
    from lambda_src.ingest.handler import handler_for  # noqa: PLC0415 - the child's imports
    from lambda_src.ingest.runtime import Runtime  # noqa: PLC0415
    from spot_cli.local.servers import local_session  # noqa: PLC0415

    # The container's objects, built once as on a cold start; its AWS calls go to moto.
    runtime = Runtime.from_config(config, local_session(aws_endpoint_url, region))
    handler = handler_for(runtime)

    holds: set[str] = set()

    def hold(point: str, **info: Any) -> None:
        conn.send(("at", point, info))
        if point in holds and conn.recv() != GO:
            os._exit(1)  # the parent never says anything else; it kills instead

    ingestor = runtime.ingestor
    bulk = ingestor.indexer.index

    def observed_index(documents: Any, **options: Any) -> Any:
        hold(BEFORE_BULK, documents=len(documents))
        started = time.monotonic()
        results = bulk(documents, **options)
        stored = sum(result.verdict.value == "stored" for result in results)
        conn.send(("bulk", started, time.monotonic(), stored, len(results)))
        hold(AFTER_BULK, stored=stored)
        return results

    ingestor.indexer.index = observed_index  # type: ignore[method-assign]
    if ingestor.dead_letters is not None:
        send = ingestor.dead_letters.send

        def observed_send(records: Any) -> set[int]:
            unsent = send(records)
            conn.send(("parked", len(records) - len(unsent)))
            return unsent

        ingestor.dead_letters.send = observed_send  # type: ignore[method-assign]

    while True:
        try:
            event, context, wanted = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        holds = set(wanted)
        try:
            response = handler(event, context)
        except Exception as exc:  # a failed invocation, reported like Lambda's error response
            conn.send(("result", None, repr(exc)))
            continue
        hold(AFTER_RETURN)
        conn.send(("result", response, None))


# -- the parent -----------------------------------------------------------------------------


class HandlerProcess:
    """A `Handler` for the poller that invokes the real handler in a child process.

    A dead child is replaced on the next invocation (Lambda starts a new execution environment
    after a crash). `on_hold` decides at each hold point in `holds`."""

    def __init__(
        self,
        config: IngestConfig,
        aws_endpoint_url: str,
        region: str,
        timeline: Timeline,
        *,
        holds: tuple[str, ...] = (),
        on_hold: HoldCallback | None = None,
        invoke_timeout: float = 120.0,
    ) -> None:
        self.config = config
        self.aws_endpoint_url = aws_endpoint_url
        self.region = region
        self.timeline = timeline
        self.holds = holds
        self.on_hold = on_hold
        self.invoke_timeout = invoke_timeout
        self.starts = 0
        self._process: Any = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        # spawn, not fork: the parent runs moto's server threads and the pollers' threads.
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, self.config, self.aws_endpoint_url, self.region),
            daemon=True,
        )
        self._process.start()
        child.close()
        self._conn = parent
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL by pid, as an out-of-memory kill or a host failure would end it."""
        if self._process is None:
            return
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.join(10)
        self.timeline.kills.append(time.monotonic())
        self._drop()

    def close(self) -> None:
        if self._process is not None and self._process.is_alive():
            assert self._conn is not None
            self._conn.close()
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(10)
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        if self._process is None or not self._process.is_alive():
            self._drop()
            self.start()
        conn = self._conn
        assert conn is not None
        parked_here = 0
        try:
            conn.send((event, context, self.holds))
            while True:
                if not conn.poll(self.invoke_timeout):
                    self.kill()
                    raise HandlerCrashed(f"no answer in {self.invoke_timeout:.0f}s; killed")
                message = conn.recv()
                kind = message[0]
                if kind == "bulk":
                    self.timeline.bulk(*message[1:])
                elif kind == "parked":
                    parked_here += message[1]
                    with self.timeline.lock:
                        self.timeline.parked += message[1]
                elif kind == "at":
                    point, info = message[1], {**message[2], "parked": parked_here}
                    if point not in self.holds:
                        continue
                    verdict = self.on_hold(point, info) if self.on_hold else GO
                    if verdict == KILL:
                        self.kill()
                        raise HandlerCrashed(f"killed at {point}")
                    conn.send(GO)
                elif kind == "result":
                    response, error = message[1], message[2]
                    if error is not None:
                        raise HandlerFailed(error)
                    self.timeline.completed(event, response)
                    return response
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            self._drop()
            raise HandlerCrashed(f"handler process died: {exc!r}") from exc
