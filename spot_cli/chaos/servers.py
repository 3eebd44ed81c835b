"""The two servers the disruption runs break: the chaos run's own OpenSearch node (killed and
paused by pid) and a moto server whose HTTP front can be stopped and started again."""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import signal
import socket
import subprocess
import threading
import time
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import requests

from spot_cli.errors import CliError
from spot_cli.local.servers import OPENSEARCH_SCRIPT, start_local_node
from spot_cli.opensearch_client import OpenSearchSettings

TRANSPORT_OFFSET = 100  # scripts/opensearch puts the transport port at http port + 100


@cache
def _opensearch_script() -> ModuleType:
    """scripts/opensearch as a module, for its instance directory and pid file rules."""
    loader = importlib.machinery.SourceFileLoader("_spot_opensearch_script", str(OPENSEARCH_SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def free_port_pair(offset: int = TRANSPORT_OFFSET) -> int:
    """A free loopback port whose port+offset is free too."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + offset > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port
    raise CliError("no free port pair on 127.0.0.1")


# Nodes started by this process and not yet stopped: a terminated run stops them.
RUNNING_NODES: set[ChaosNode] = set()


class ChaosNode:
    """A node of its own on a free port (never a node other runs or tests use), started and
    restarted with scripts/opensearch on the same instance (and so data) directory."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port_pair()
        self.settings: OpenSearchSettings | None = None
        self.starts: list[float] = []  # seconds each start took until the cluster was yellow

    @property
    def data_dir(self) -> Path:
        return Path(_opensearch_script().instance_dir(self.port)) / "data"

    def start(self) -> OpenSearchSettings:
        began = time.monotonic()
        RUNNING_NODES.add(self)
        self.settings = start_local_node(self.port)
        self.starts.append(time.monotonic() - began)
        return self.settings

    def pid(self) -> int:
        """The JVM's pid, from the pid file scripts/opensearch wrote (the launcher execs java)."""
        pid = _opensearch_script().running_pid(self.port)
        if pid is None:
            raise CliError(f"the chaos node on port {self.port} is not running")
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        if comm != "java":
            raise CliError(f"pid {pid} of the chaos node is {comm!r}, not the JVM")
        return pid

    def kill(self) -> int:
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _opensearch_script().running_pid(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pid

    def pause(self) -> int:
        pid = self.pid()
        os.kill(pid, signal.SIGSTOP)
        return pid

    def resume(self, pid: int) -> None:
        os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        """Stop and remove the instance (its data too)."""
        pid = _opensearch_script().running_pid(self.port)
        if pid:
            os.kill(pid, signal.SIGCONT)  # a paused JVM cannot act on SIGTERM
        subprocess.run(
            [str(OPENSEARCH_SCRIPT), "stop", "--port", str(self.port), "--purge"],
            capture_output=True,
            check=False,
        )
        RUNNING_NODES.discard(self)


class RestartableMotoServer:
    """moto's server in this process (so the fleet's launch times can be backdated, as in the
    demo), on a fixed port, with a stop that also closes every open connection.

    moto keeps its state in this process, not in the server: a stop and start is an outage of
    the AWS endpoint (refused connections, dropped keep-alive connections), not a loss of the
    queues. moto's own ThreadedMotoServer keeps the listening socket and the keep-alive
    connections open after stop(), so clients would not notice."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        import logging  # noqa: PLC0415

        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - dev dependency
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server  # noqa: PLC0415

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        owner = self

        class TrackedHandler(MotoRequestHandler):
            def setup(self) -> None:
                super().setup()
                with owner._lock:
                    owner._connections.add(self.connection)

            def finish(self) -> None:
                with owner._lock:
                    owner._connections.discard(self.connection)
                super().finish()

        self._server = make_server(
            "127.0.0.1",
            self.port,
            DomainDispatcherApplication(create_backend_app),
            threaded=True,
            request_handler=TrackedHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        assert self._thread is not None
        self._thread.join(10)
        self._server = None

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=30).raise_for_status()
