"""Start and stop a real ``scim2-server`` process on 127.0.0.1 (an in-memory SCIM 2.0 app)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from provisioning.demo.processes import stop_process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PortTaken(RuntimeError):
    """The server exited at once: most often its port was taken after we picked it."""


class ScimServer:
    """``with ScimServer(token="t") as server: server.url`` -- a fresh, empty app per instance."""

    def __init__(
        self,
        port: int | None = None,
        token: str | None = "test-token",
        log_file: Path | None = None,
        extra_args: list[str] | None = None,
    ):
        self.extra_args = extra_args or []  # more scim2-server options, e.g. --service-provider-config
        self.port = port or free_port()
        self.port_chosen = port is None  # ours to change if another process takes it first
        self.token = token
        self.log_file = log_file
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScimServer:
        """Start the server; a port we chose that another process took between our check and the
        server's bind (the server exits at once) is replaced by another, twice at most."""
        for _ in range(2 if self.port_chosen else 0):
            try:
                return self._start()
            except PortTaken:
                self.port = free_port()
        return self._start()

    def launcher(self) -> list[str]:
        """How the server process starts, before its options (a benchmark starts it tuned)."""
        return [shutil.which("scim2-server", path=str(Path(sys.executable).parent)) or "scim2-server"]

    def _start(self) -> ScimServer:
        command = [*self.launcher(), "--hostname", "127.0.0.1", "--port", str(self.port)]
        if self.token:
            command += ["--bearer-token", self.token]
        command += self.extra_args
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PortTaken(f"scim2-server exited with {self.process.returncode} on port {self.port}")
            try:
                httpx.get(f"{self.url}/ServiceProviderConfig", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"scim2-server did not answer on port {self.port} within 30s")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def __enter__(self) -> ScimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
