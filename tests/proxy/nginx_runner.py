"""Starts Debian's nginx on loopback with a private prefix: config, pid file, logs and temp
directories all live in one throwaway directory, so nothing under /etc or /var is touched."""

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spot_insights._nginx_config import ProxySettings, render
from tests.support.ports import free_port


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        pytest.fail("Debian's nginx is not installed: run scripts/system-deps (make setup)")
    return found


@dataclasses.dataclass
class RunningNginx:
    port: int
    directory: Path
    config: str

    @property
    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""


def private_settings(directory: Path, **overrides: object) -> ProxySettings:
    """Settings for a test nginx: loopback listeners and every path under `directory`."""
    base: dict[str, object] = {
        "listen_ipv4": "127.0.0.1",
        "listen_ipv6": "::1",
        "listen_port": free_port(),
        "user": None,
        "pid_file": str(directory / "nginx.pid"),
        "error_log": str(directory / "error.log"),
        "access_log": str(directory / "access.log"),
        "temp_dir": str(directory / "tmp"),
    }
    base.update(overrides)
    return ProxySettings(**base)  # type: ignore[arg-type]


def check_config(directory: Path, config: str) -> subprocess.CompletedProcess[str]:
    conf = directory / "nginx.conf"
    conf.write_text(config)
    return subprocess.run(
        [
            nginx_binary(),
            "-t",
            "-q",
            "-p",
            str(directory),
            "-c",
            str(conf),
            "-e",
            str(directory / "error.log"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def run_nginx(**overrides: object) -> Iterator[RunningNginx]:
    # Not pytest's tmp_path: its parents are mode 0700, and when the tests run as root nginx's
    # workers (nobody) must still reach the temp directories for buffered request bodies.
    directory = Path(tempfile.mkdtemp(prefix="spot-proxy-nginx-"))
    try:
        directory.chmod(0o755)
        (directory / "tmp").mkdir()
        settings = private_settings(directory, **overrides)
        config = render(settings)
        checked = check_config(directory, config)
        assert checked.returncode == 0, checked.stderr
        running = RunningNginx(port=settings.listen_port, directory=directory, config=config)
        with _started(directory) as process:
            _wait_listening(process, settings.listen_port, running)
            yield running
    finally:
        if os.environ.get("KEEP_NGINX_DIR") is None:
            shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _started(directory: Path) -> Iterator[subprocess.Popen[str]]:
    """nginx in the foreground (daemon off), so it is stopped by the id of the process started."""
    process = subprocess.Popen(
        [
            nginx_binary(),
            "-p",
            str(directory),
            "-c",
            str(directory / "nginx.conf"),
            "-e",
            str(directory / "error.log"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.terminate()  # SIGTERM: fast shutdown of the master and its workers
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        if process.stderr is not None:
            process.stderr.close()


def _wait_listening(process: subprocess.Popen[str], port: int, running: RunningNginx) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"nginx exited: {process.stderr and process.stderr.read()}\n{running.error_log}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on 127.0.0.1:{port}\n{running.error_log}")
