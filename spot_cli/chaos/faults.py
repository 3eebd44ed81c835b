"""The four disruptions. Each one fires once, at a hold point of the first invocation after
the storm is partly stored, so it lands mid-storm and mid-batch; slow parts (keeping a node
down, restarting it) run on a thread of their own so the pollers go on meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spot_cli.chaos.handler_process import AFTER_BULK, AFTER_RETURN, BEFORE_BULK, GO, KILL
from spot_cli.chaos.servers import ChaosNode, RestartableMotoServer


@dataclass
class FaultWindow:
    """When the fault was put in and taken away (time.monotonic())."""

    injected: float | None = None
    cleared: float | None = None
    ready: float | None = None  # when a restarted server answered again, if that differs
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class Fault:
    name = ""
    title = ""
    holds: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.window = FaultWindow()
        self._armed: Callable[[], bool] = lambda: False
        self._fired = False

    @property
    def fired(self) -> bool:
        return self._fired

    def arm_when(self, condition: Callable[[], bool]) -> None:
        self._armed = condition

    def on_hold(self, point: str, info: Mapping[str, Any]) -> str:
        if self._fired or not self._armed():
            return GO
        verdict = self.fire(point, info)
        return verdict

    def fire(self, point: str, info: Mapping[str, Any]) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _background(self, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except Exception as exc:  # reported in the table, never swallowed
                self.window.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                self.window.done.set()

        threading.Thread(target=run, name=f"fault-{self.name}", daemon=True).start()

    def finish(self, timeout: float) -> None:
        """Wait until the fault is fully taken away (e.g. the node restarted)."""
        if self._fired and not self.window.done.wait(timeout):
            message = f"fault not cleared after {timeout:.0f}s"
            if message not in self.window.errors:
                self.window.errors.append(message)


class KillNode(Fault):
    name = "kill-node"
    title = "SIGKILL the OpenSearch node, restart it on the same data"
    holds = (BEFORE_BULK,)

    def __init__(self, node: ChaosNode, down_seconds: float) -> None:
        super().__init__()
        self.node = node
        self.down_seconds = down_seconds

    def fire(self, point: str, info: Mapping[str, Any]) -> str:
        self._fired = True

        def work() -> None:
            # Let this batch's bulk request leave first: the kill lands while it is in flight.
            time.sleep(0.05)
            pid = self.node.kill()
            self.window.injected = time.monotonic()
            time.sleep(self.down_seconds)
            self.window.cleared = time.monotonic()
            self.node.start()
            self.window.ready = time.monotonic()
            self.window.notes.append(
                f"pid {pid} killed; down {self.down_seconds:.0f}s, then the restarted node "
                f"took {self.node.starts[-1]:.1f}s to be ready (recovery includes it)"
            )

        self._background(work)
        return GO


class PauseNode(Fault):
    name = "pause-node"
    title = "SIGSTOP the node past the client timeout, then SIGCONT"
    holds = (BEFORE_BULK,)

    def __init__(self, node: ChaosNode, pause_seconds: float, client_timeout: float) -> None:
        super().__init__()
        self.node = node
        self.pause_seconds = pause_seconds
        self.client_timeout = client_timeout

    def fire(self, point: str, info: Mapping[str, Any]) -> str:
        self._fired = True
        # Stopped before this batch's bulk leaves: the request is queued on the node's socket,
        # times out on the client, and the node applies it after SIGCONT.
        pid = self.node.pause()
        self.window.injected = time.monotonic()

        def work() -> None:
            try:
                time.sleep(self.pause_seconds)
            finally:
                self.node.resume(pid)
                self.window.cleared = time.monotonic()
            self.window.notes.append(
                f"pid {pid} stopped {self.pause_seconds:.0f}s with a {info.get('documents')}-"
                f"document bulk request on its way (client timeout {self.client_timeout:.0f}s)"
            )

        self._background(work)
        return GO


class RestartMoto(Fault):
    name = "restart-moto"
    title = "Restart moto's server (SQS, EventBridge, EC2) between bulk and delete"
    holds = (AFTER_BULK,)

    def __init__(self, moto: RestartableMotoServer, down_seconds: float) -> None:
        super().__init__()
        self.moto = moto
        self.down_seconds = down_seconds

    def fire(self, point: str, info: Mapping[str, Any]) -> str:
        if not info.get("stored"):
            return GO
        self._fired = True
        # The batch is in OpenSearch; its DLQ sends (if any), the poller's delete, the other
        # pollers' receives and the storm's PutEvents all meet a dead endpoint.
        self.moto.stop()
        self.window.injected = time.monotonic()

        def work() -> None:
            try:
                time.sleep(self.down_seconds)
            finally:
                self.moto.start()
                self.window.cleared = time.monotonic()
            self.window.notes.append(
                f"endpoint down {self.down_seconds:.0f}s with a written batch not yet deleted; "
                "moto's queues kept (in-process state): an AWS API outage, not a loss of SQS"
            )

        self._background(work)
        return GO


class KillHandler(Fault):
    name = "kill-handler"
    title = "SIGKILL the handler process between bulk write and SQS delete"
    holds = (AFTER_BULK, AFTER_RETURN)

    def __init__(self) -> None:
        super().__init__()
        self._after_bulk_done = False
        self._after_return_done = False

    def on_hold(self, point: str, info: Mapping[str, Any]) -> str:
        if not self._armed():
            return GO
        now = time.monotonic()
        if point == AFTER_BULK and not self._after_bulk_done and info.get("stored"):
            # Documents written; poison not parked yet; nothing deleted.
            self._after_bulk_done = True
            self._fired = True
            self.window.injected = self.window.cleared = now
            self.window.notes.append(f"killed after a bulk that stored {info['stored']}")
            self.window.done.set()
            return KILL
        if (
            point == AFTER_RETURN
            and self._after_bulk_done
            and not self._after_return_done
            and info.get("parked")
        ):
            # Documents written and poison parked in the DLQ; the response (and so the
            # delete) never reaches the poller.
            self._after_return_done = True
            self.window.notes.append(
                f"killed again after the response, with {info['parked']} poison record(s) "
                "already parked"
            )
            return KILL
        return GO

    def finish(self, timeout: float) -> None:
        super().finish(timeout)
        if self._after_bulk_done and not self._after_return_done:
            self.window.notes.append(
                "no later batch parked poison, so the kill after the DLQ send did not happen"
            )


class FaultSequence:
    """Several faults in one storm, one after another: each is armed once its share of the
    storm is stored and the one before it is fully cleared (a restarted node is ready)."""

    def __init__(self, faults: Sequence[Fault], stored: Callable[[], int], events: int) -> None:
        self.faults = list(faults)
        # Early enough that each fault still finds part of the storm in flight.
        shares = [0.3] if len(faults) == 1 else [0.1 + 0.15 * i for i in range(len(faults))]
        for index, (fault, share) in enumerate(zip(self.faults, shares, strict=True)):
            before = self.faults[:index]
            fault.arm_when(
                lambda share=share, before=before: (
                    stored() >= events * share and all(f.window.done.is_set() for f in before)
                )
            )
        self.holds = tuple(sorted({point for fault in self.faults for point in fault.holds}))

    def on_hold(self, point: str, info: Mapping[str, Any]) -> str:
        for fault in self.faults:
            if point not in fault.holds:
                continue
            was_fired = fault.fired
            verdict = fault.on_hold(point, info)
            if verdict != GO or fault.fired != was_fired:
                return verdict  # one fault acts per hold
        return GO
