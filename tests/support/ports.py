"""Free loopback ports for servers the tests start."""

import socket


def free_port(also_free_offset: int | None = None) -> int:
    """A free TCP port on 127.0.0.1; with an offset, port+offset must be free as well."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if also_free_offset is None or _is_free(port + also_free_offset):
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def _is_free(port: int) -> bool:
    if port > 65535:
        return False
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
