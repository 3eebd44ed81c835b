"""A client that sends bytes exactly as given: no normalisation, no encoding, no framing.

http.client and requests tidy up request targets and headers before sending them, which hides
precisely the forms an attacker uses; the probes need the proxy to see their bytes unchanged.
"""

import re
import socket
import time
from dataclasses import dataclass

_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] (\d{3})")


@dataclass(frozen=True)
class RawReply:
    data: bytes

    @property
    def statuses(self) -> list[int]:
        """The status code of every response on the connection, in order (pipelined requests
        get one each)."""
        return [int(m) for m in re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3}) ", self.data)]

    @property
    def status(self) -> int | None:
        match = _STATUS_LINE.match(self.data)
        return int(match.group(1)) if match else None


def exchange(
    port: int,
    data: bytes,
    *,
    host: str = "127.0.0.1",
    source: str | None = None,
    idle_seconds: float = 0.5,
    limit_seconds: float = 15.0,
) -> RawReply:
    """Send `data` on a new connection and read until the server closes it, or until it has
    been quiet for `idle_seconds` after answering (keep-alive), or `limit_seconds` in all."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if source is not None:
            sock.bind((source, 0))
        sock.settimeout(limit_seconds)
        sock.connect((host, port))
        sock.sendall(data)
        received = bytearray()
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            sock.settimeout(idle_seconds if received else max(0.1, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                if received:
                    break
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return RawReply(bytes(received))
