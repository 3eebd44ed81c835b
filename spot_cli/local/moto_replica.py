"""A read-only copy of the in-process moto server, in a process of its own, for the lookups the
ingest handler makes (AssumeRole into the spokes, DescribeInstances, DescribeAvailabilityZones).

Why: moto builds a DescribeInstances answer with a generic serializer, about 4 ms of CPU per
instance, the largest single cost of a demo's drain. In the demo's one process it competes for
one GIL with the queues, the publishers and the pollers, so the run used one of the machine's
two cores. The copy is made by forking once the fleet exists, so it holds exactly the parent's
accounts, roles, instances and launch times (which only the in-process server can backdate),
and answers those lookups on the other core. The fleet does not change after its setup, so the
copy stays true for the run; everything that does change (events, queues) stays with the
parent, and a handler session sends only EC2 and STS calls to the copy
(`local_session(..., endpoints=replica.endpoints)`). Credentials from the copy's AssumeRole are
only known to the copy, which is why STS goes there with EC2."""

from __future__ import annotations

import multiprocessing
import socket
import threading
from types import TracebackType
from typing import Any

from spot_cli.errors import CliError
from spot_cli.local.moto_lifecycle import teach_moto_instance_lifecycle
from spot_cli.local.servers import assume_role_gate, wrap_app

# The services whose state the handler reads and never writes during a run.
REPLICA_SERVICES = ("ec2", "sts")
START_SECONDS = 60
# The sampler lists a region's fleet in pages of up to 1,000 instances; moto serializes one in
# seconds of CPU, and on a loaded machine the 5 s read timeout the code allows EC2 expired and
# its retries piled more pages on the copy. Clients of the copy wait this long instead.
READ_TIMEOUT_SECONDS = 120


class MotoReplica:
    """`start()` forks the copy (call it once the fleet exists and before any request may be in
    flight in this process's moto: a lock held at the fork would stay held in the copy);
    `stop()` ends it. The URL is known before the start, so handlers can be built earlier."""

    def __init__(self, *, gate_assume_role: bool = False) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.endpoints = dict.fromkeys(REPLICA_SERVICES, self.url)
        self.read_timeout = READ_TIMEOUT_SECONDS
        self._gate = gate_assume_role
        self._process: Any = None

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("the replica is already running")
        # What this process teaches moto after the fork would not reach the copy: the sampler's
        # filter (spot_cli/local/moto_lifecycle.py) is taught now.
        teach_moto_instance_lifecycle()
        # fork: the copy is this process's memory, moto's module state included.
        context = multiprocessing.get_context("fork")
        ready = context.Event()
        self._process = context.Process(
            target=_serve_copy, args=(self.port, self._gate, ready), daemon=True
        )
        self._process.start()
        if not ready.wait(START_SECONDS):
            self.stop()
            raise CliError(f"the moto replica did not start within {START_SECONDS} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.is_alive():
            process.terminate()
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)

    def __enter__(self) -> MotoReplica:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def _serve_copy(port: int, gate: bool, ready: Any) -> None:  # pragma: no cover - forked child
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - dev dependency

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    if gate:
        wrap_app(server, assume_role_gate)
    server.start()
    ready.set()
    threading.Event().wait()  # until the parent terminates this process
