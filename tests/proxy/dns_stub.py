"""A tiny authoritative DNS responder on a loopback UDP port, for nginx's `resolver`.

nginx's resolver speaks DNS only (it never reads /etc/hosts), so the variable-proxy_pass design
needs a DNS server to be exercised at all. This one answers A queries from a table the test
controls, with a 1 s TTL, and counts queries: the tests can then show that nginx asks again
and follows an address change, which is the behaviour the design exists for.
"""

import socket
import struct
import threading

_TYPE_A = 1
_CLASS_IN = 1
_RCODE_NXDOMAIN = 3


class DnsStub:
    def __init__(self, records: dict[str, str], ttl: int = 1) -> None:
        self._records = {name.lower().rstrip("."): ip for name, ip in records.items()}
        self._ttl = ttl
        self._lock = threading.Lock()
        self.queries: list[tuple[str, int]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-stub", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set_record(self, name: str, ip: str) -> None:
        with self._lock:
            self._records[name.lower().rstrip(".")] = ip

    def query_count(self, name: str) -> int:
        with self._lock:
            return sum(1 for qname, _ in self.queries if qname == name)

    def __enter__(self) -> "DnsStub":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._answer(data)
            if reply is not None:
                self._sock.sendto(reply, peer)

    def _answer(self, data: bytes) -> bytes | None:
        if len(data) < 12:
            return None
        ident, flags, qdcount = struct.unpack("!HHH", data[:6])
        if qdcount != 1 or flags & 0x8000:
            return None
        labels, offset = [], 12
        while offset < len(data) and data[offset] != 0:
            length = data[offset]
            labels.append(data[offset + 1 : offset + 1 + length].decode("ascii").lower())
            offset += 1 + length
        question_end = offset + 5
        if question_end > len(data):
            return None
        qtype, qclass = struct.unpack("!HH", data[offset + 1 : question_end])
        name = ".".join(labels)
        with self._lock:
            self.queries.append((name, qtype))
            ip = self._records.get(name)
        question = data[12:question_end]
        rd = flags & 0x0100
        if ip is None:
            header = struct.pack("!HHHHHH", ident, 0x8400 | rd | _RCODE_NXDOMAIN, 1, 0, 0, 0)
            return header + question
        answers = b""
        if qtype == _TYPE_A and qclass == _CLASS_IN:
            # 0xC00C: a compression pointer back to the question's name.
            answers = struct.pack("!HHHIH", 0xC00C, _TYPE_A, _CLASS_IN, self._ttl, 4)
            answers += socket.inet_aton(ip)
        header = struct.pack("!HHHHHH", ident, 0x8400 | rd, 1, 1 if answers else 0, 0, 0)
        return header + question + answers
