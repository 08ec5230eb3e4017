"""An HTTP proxy on 127.0.0.1 in front of a real SCIM server: records every request and injects
faults on demand (429 with or without Retry-After, 5xx, 400 on one filter, reset connections,
delays, slow-drip or unbounded bodies) or at random (``Chaos``: also timeouts, dropped connections
and malformed JSON, before or after the app acted), and serves listings the way broken servers do
(``ListingLies``), or rations requests as an app's rate limit does (``RateLimit``), or stands as an
OAuth resource server (``BearerGate``: each token checked with the authorization server, a refused
one answered 401 before the app sees it). Tests use it to count the write calls a cycle makes and
to exercise retries against real responses."""

from __future__ import annotations

import contextlib
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import httpx


@dataclass
class Fault:
    status: int
    retry_after: str | None = None
    body: bytes = (
        b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d","detail":"injected"}'
    )
    methods: tuple[str, ...] = ("GET", "POST", "PATCH", "PUT", "DELETE")
    path: str = "/"  # only requests whose path starts with this
    after_upstream: bool = False  # forward first (the app acts), then answer with the fault
    # with after_upstream: the request reaches the app this many seconds late (a slow app's queue), so
    # a client that timed out meanwhile can look for what it asked for before the app acts
    upstream_delay: float = 0.0
    drip_seconds: float = 0.0  # send the body one byte at a time, this long apart (a slow drip)
    declare_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    path_contains: str | None = None  # only requests whose decoded path and query hold this
    drop: bool = False  # close the connection without an answer instead
    hang_seconds: float = 0.0  # wait this long before answering (beyond the client's timeout: a timeout)

    def applies(self, method: str, path: str) -> bool:
        return (
            method in self.methods
            and path.startswith(self.path)
            and (self.path_contains is None or self.path_contains in unquote_plus(path))
        )


@dataclass
class ListingLies:
    """How the proxy serves list answers (GET /Users or /Groups without an id, filtered or not)."""

    hide_inactive: bool = False  # accounts with active=false are left out (GET by id still finds them)
    total_results: int | None = None  # announce this totalResults instead of the true one
    ignore_start_index: bool = False  # every page is the first one
    max_page: int | None = None  # at most this many resources per page, whatever count asks


@dataclass
class RateLimit:
    """A token bucket, as apps' gateways ration requests: ``per_second`` tokens a second, at most
    ``burst`` saved up (one second's worth unless told). A request finding the bucket empty is
    refused with 429 before the app sees it, and ``Retry-After`` says (in whole seconds, as HTTP
    requires) when the next token is due; ``retry_after=False`` leaves the header out."""

    per_second: float
    burst: float | None = None
    retry_after: bool = True
    accepted: int = 0
    refused: int = 0

    def __post_init__(self) -> None:
        self.burst = self.burst or self.per_second
        self._tokens = self.burst
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def admit(self) -> float | None:
        """None when the request may pass, else the seconds until the next token."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                self.accepted += 1
                return None
            self.refused += 1
            return (1 - self._tokens) / self.per_second


CHAOS_KINDS = (
    "500",  # refused before the app acted
    "502_after",  # the app acted, the answer is an error
    "429_retry_after",  # refused before the app acted, saying when to come back
    "429",
    "timeout_after",  # the app acted, the answer comes too late
    "drop",  # connection closed before the app saw the request
    "drop_after",  # connection closed after the app acted
    "garbled_after",  # the app acted, the answer is not JSON (a protocol violation: quarantine)
)
# the kinds whose request reaches the app before the fault: spelled out, as "429_retry_after" also
# ends in "_after" but is a refusal (an app that acted and then answered 429 would make any client
# that honours 429 send a second create)
ACTED_FIRST = frozenset({"502_after", "timeout_after", "drop_after", "garbled_after"})


@dataclass
class Chaos:
    """Random faults on a share of requests, reproducible from the seed."""

    rate: float
    seed: int = 0
    kinds: tuple[str, ...] = CHAOS_KINDS
    hang_seconds: float = 2.0  # longer than the client's timeout in chaos tests
    injected: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def pick(self) -> str | None:
        if self._rng.random() >= self.rate:
            return None
        kind = self._rng.choice(self.kinds)
        self.injected[kind] += 1
        return kind


@dataclass
class BearerGate:
    """The proxy as an OAuth 2.0 resource server: ``accepts(token)`` asks the authorization server
    (RFC 7662 introspection, say) whether a bearer token is live; a refused one gets 401 with
    ``WWW-Authenticate`` before the app sees the request, and an accepted one is swapped for the
    app's own static token (``upstream_token``), which the client never learns."""

    accepts: Callable[[str], bool]
    upstream_token: str | None
    seen: set[str] = field(default_factory=set)  # every bearer token presented
    refused: int = 0

    def admits(self, handler: BaseHTTPRequestHandler) -> bool:
        scheme, _, token = (handler.headers.get("Authorization") or "").partition(" ")
        self.seen.add(token)
        if scheme.lower() == "bearer" and token and self.accepts(token):
            return True
        self.refused += 1
        return False

    def swap(self, headers: dict[str, str]) -> dict[str, str]:
        """The client's token out, the app's own in."""
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        if self.upstream_token:
            headers["Authorization"] = f"Bearer {self.upstream_token}"
        return headers


@dataclass
class Recorded:
    method: str
    path: str
    status: int
    at: float = field(default_factory=time.monotonic)
    created_id: str | None = None  # the id in a 201 answer: the object was made in this app


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that hung up (chaos, a killed process) is expected here, not a traceback."""


def local_http_server(
    handle: Callable[[BaseHTTPRequestHandler], None],
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """A threaded HTTP/1.1 server on a free port of 127.0.0.1 that hands every request to
    ``handle``, and the thread to serve it from (not started)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # kept-alive answers would wait ~40 ms for a delayed ACK

        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            handle(self)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    server = _QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server, threading.Thread(target=server.serve_forever, daemon=True)


class LocalProxy:
    """What the test proxies share: an HTTP server on 127.0.0.1 in front of ``upstream`` that
    hands each request to ``handle``, a client to the upstream, and their start and stop."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30)
        self.server, self.thread = local_http_server(self.handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FaultProxy(LocalProxy):
    def __init__(self, upstream: str):
        super().__init__(upstream)
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.delay = 0.0  # seconds before forwarding
        self.delay_after = 0.0  # seconds after the upstream acted, before answering
        self.active = 0  # requests being handled right now
        self.chaos: Chaos | None = None
        self.listing: ListingLies | None = None
        self.rate_limit: RateLimit | None = None
        self.gate: BearerGate | None = None
        # every error answer (injected or the app's own, a 409 say) echoes the request, its
        # Authorization header and body included, as careless apps do
        self.echo_errors = False

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

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
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
        if self.rate_limit and (wait := self.rate_limit.admit()) is not None:
            self._refuse(handler, wait)
            return
        if self.gate and not self.gate.admits(handler):
            headers = {
                "Content-Type": "application/scim+json",
                "WWW-Authenticate": 'Bearer error="invalid_token"',
            }
            self._reply(handler, 401, headers, Fault(401).body % 401)
            return
        with self._lock:
            fault = next((f for f in self.faults if f.applies(handler.command, handler.path)), None)
            if fault:
                self.faults.remove(fault)
            kind = self.chaos.pick() if self.chaos and not fault else None
        if kind:
            self._chaos(handler, kind, body)
            return
        if self.delay:
            time.sleep(self.delay)
        if fault and fault.after_upstream:
            time.sleep(fault.upstream_delay)
            headers = self._headers(handler)
            self._client.request(handler.command, self.upstream + handler.path, headers=headers, content=body)
        if fault and fault.drop:
            with self._lock:
                self.requests.append(Recorded(handler.command, handler.path, 0))
            handler.close_connection = True
            return
        if fault:
            payload = fault.body % fault.status if b"%d" in fault.body else fault.body
            if self.echo_errors:
                payload = _echo(handler, body, fault.status)
            headers = {"Content-Type": "application/scim+json"}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            time.sleep(fault.hang_seconds)
            with contextlib.suppress(OSError):  # the client gave up waiting
                self._reply(handler, fault.status, headers, payload, fault)
            return
        if self.listing and handler.command == "GET" and urlsplit(handler.path).path in ("/Users", "/Groups"):
            self._lying_listing(handler, self.listing)
            return
        headers = self._headers(handler)
        response = self._client.request(
            handler.command, self.upstream + handler.path, headers=headers, content=body
        )
        time.sleep(self.delay_after)
        keep = {
            k: v for k, v in response.headers.items() if k.lower() in ("content-type", "location", "etag")
        }
        content = response.content
        if self.echo_errors and response.status_code >= 400:
            content = _echo(handler, body, response.status_code)
        self._reply(handler, response.status_code, keep, content)

    def _upstream(self, handler: BaseHTTPRequestHandler, body: bytes) -> httpx.Response:
        headers = self._headers(handler)
        return self._client.request(
            handler.command, self.upstream + handler.path, headers=headers, content=body
        )

    def _headers(self, handler: BaseHTTPRequestHandler) -> dict[str, str]:
        """The request's headers as the app gets them (the gate's token swapped in)."""
        headers = _forwarded_headers(handler)
        return self.gate.swap(headers) if self.gate else headers

    def _refuse(self, handler: BaseHTTPRequestHandler, wait: float) -> None:
        """A 429 from the rate limit, saying when to come back if it says so at all."""
        headers = {"Content-Type": "application/scim+json"}
        if self.rate_limit.retry_after:
            headers["Retry-After"] = str(math.ceil(wait))
        self._reply(handler, 429, headers, Fault(429).body % 429)

    def _lying_listing(self, handler: BaseHTTPRequestHandler, lies: ListingLies) -> None:
        """Read the whole answer from the app, then page it as ``lies`` says."""
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query))
        start, count = int(query.get("startIndex", 1)), int(query.get("count", 100))
        headers = self._headers(handler)
        everything: list[dict] = []
        while True:
            params = urlencode({**query, "startIndex": len(everything) + 1, "count": 1000})
            page = self._client.get(f"{self.upstream}{url.path}?{params}", headers=headers).json()
            everything += page.get("Resources", [])
            if not page.get("Resources") or len(everything) >= page["totalResults"]:
                break
        if lies.hide_inactive:
            everything = [r for r in everything if r.get("active", True) is not False]
        first = 1 if lies.ignore_start_index else start
        shown = everything[first - 1 : first - 1 + min(count, lies.max_page or count)]
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(everything) if lies.total_results is None else lies.total_results,
            "startIndex": first,
            "itemsPerPage": len(shown),
            "Resources": shown,
        }
        self._reply(handler, 200, {"Content-Type": "application/scim+json"}, json.dumps(body).encode())

    def _chaos(self, handler: BaseHTTPRequestHandler, kind: str, body: bytes) -> None:
        error = b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"chaos"}'
        response = self._upstream(handler, body) if kind in ACTED_FIRST else None
        if kind in ("drop", "drop_after"):
            with self._lock:
                self.requests.append(Recorded(handler.command, handler.path, 0))
            handler.close_connection = True  # no answer at all
            return
        if kind == "timeout_after":
            time.sleep(self.chaos.hang_seconds)
            kept = {k: v for k, v in response.headers.items() if k.lower() == "content-type"}
            with contextlib.suppress(OSError):  # the client gave up waiting
                self._reply(handler, response.status_code, kept, response.content)
            return
        if kind == "garbled_after":
            self._reply(handler, response.status_code, {"Content-Type": "application/scim+json"}, b"{garbled")
            return
        status = {"500": 500, "502_after": 502, "429_retry_after": 429, "429": 429}[kind]
        headers = {"Content-Type": "application/scim+json"}
        if kind == "429_retry_after":
            headers["Retry-After"] = "1"
        self._reply(handler, status, headers, error)

    def _reply(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        headers: dict,
        body: bytes,
        fault: Fault | None = None,
    ) -> None:
        created = _created_id(body) if handler.command == "POST" and status == 201 else None
        with self._lock:
            self.requests.append(Recorded(handler.command, handler.path, status, created_id=created))
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        if fault is None or fault.declare_length:
            handler.send_header("Content-Length", str(len(body)))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        if fault is None or not fault.drip_seconds:
            handler.wfile.write(body)
            return
        with contextlib.suppress(OSError):  # the client gave up
            for byte in body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(fault.drip_seconds)


def _forwarded_headers(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    return {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length")}


def _created_id(body: bytes) -> str | None:
    with contextlib.suppress(ValueError, AttributeError):
        return json.loads(body).get("id")
    return None


def _echo(handler: BaseHTTPRequestHandler, body: bytes, status: int) -> bytes:
    """A SCIM error whose detail repeats the request: its line, Authorization header and body."""
    authorization = handler.headers.get("Authorization")
    detail = f"{handler.command} {handler.path} Authorization: {authorization} {body.decode()}"
    error = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status),
        "detail": detail,
    }
    return json.dumps(error).encode()
