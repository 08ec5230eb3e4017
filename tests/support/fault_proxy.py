"""An HTTP proxy on 127.0.0.1 in front of a real SCIM server: records every request and injects
faults on demand (429 with or without Retry-After, 5xx, delays). Tests use it to count the write
calls a cycle makes and to exercise retries against real responses."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@dataclass
class Fault:
    status: int
    retry_after: str | None = None
    body: bytes = (
        b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d","detail":"injected"}'
    )
    methods: tuple[str, ...] = ("GET", "POST", "PATCH", "PUT", "DELETE")
    after_upstream: bool = False  # forward first (the app acts), then answer with the fault


@dataclass
class Recorded:
    method: str
    path: str
    status: int
    at: float = field(default_factory=time.monotonic)


class FaultProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.delay = 0.0  # seconds before forwarding
        self.delay_after = 0.0  # seconds after the upstream acted, before answering
        self.active = 0  # requests being handled right now
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                proxy.forward(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def inject(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self.faults.extend([fault] * times)

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]

    def count(self, method: str, status: int | None = None) -> int:
        return sum(1 for r in self.requests if r.method == method and (status is None or r.status == status))

    def statuses(self) -> Counter:
        return Counter((r.method, r.status) for r in self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def wait_idle(self, timeout: float = 30) -> None:
        """Until no request is being handled (a dead client's requests have reached the app)."""
        deadline = time.monotonic() + timeout
        while self.active and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.active == 0, f"{self.active} request(s) still in flight after {timeout}s"

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.active += 1
        try:
            self._forward(handler)
        finally:
            with self._lock:
                self.active -= 1

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            fault = next((f for f in self.faults if handler.command in f.methods), None)
            if fault:
                self.faults.remove(fault)
        if self.delay:
            time.sleep(self.delay)
        if fault and fault.after_upstream:
            headers = {
                k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length")
            }
            self._client.request(handler.command, self.upstream + handler.path, headers=headers, content=body)
        if fault:
            payload = fault.body % fault.status if b"%d" in fault.body else fault.body
            headers = {"Content-Type": "application/scim+json"}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            self._reply(handler, fault.status, headers, payload)
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length")}
        response = self._client.request(
            handler.command, self.upstream + handler.path, headers=headers, content=body
        )
        keep = {
            k: v for k, v in response.headers.items() if k.lower() in ("content-type", "location", "etag")
        }
        self._reply(handler, response.status_code, keep, response.content)

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, headers: dict, body: bytes) -> None:
        with self._lock:
            self.requests.append(Recorded(handler.command, handler.path, status))
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
