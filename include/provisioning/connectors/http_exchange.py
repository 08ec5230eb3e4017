"""The bounded, throttled, retried HTTP exchange the clients of HTTP targets are built on (SCIM:
scim/client.py, Synapse: synapse/client.py); each adds its protocol: headers, what a success
answers, how an error body reads.

Kept free of Airflow and thread-safe: one pooled ``httpx.HTTPTransport`` per client, which is how
apply pushes many requests at once while the pool size caps concurrency per app. Requests go to
the transport directly, not through ``httpx.Client``: per request the client's URL merging,
cookie jar and auth and redirect machinery cost about as much CPU as the HTTP exchange itself,
and these apps need none of them (a bearer token in a header, no cookies, redirects not
followed). The headers, timeouts and the proxy from the environment (connectors/proxies.py) are
settled once, when the client is made.

Retry policy: idempotent requests (all but POST) are retried on connection errors, timeouts, 429
and 5xx. A POST is retried only when the app certainly did not act on it (connection refused,
429: the error's ``may_have_acted`` is false); after a timeout, a reset connection or any 5xx
(502/503/504 included: a gateway may answer so after the app acted) the object may exist, so the
error surfaces and the caller looks it up before creating it again. A ``Retry-After`` (or what
the protocol says instead) always wins over our own backoff, and a 429 pauses every thread
through the client's ``Throttle`` (connectors/throttle.py).

Bounds: httpx's timeout limits each network read, not a response that drips a byte every few
seconds, so every attempt also has a total ``deadline`` (checked as the body streams in: a
transient error, retried like a timeout) and a ``max_response_bytes`` cap on the decoded body
(an error for that request, never read to the end).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Generic, Self, TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from provisioning.connectors.errors import TransientError
from provisioning.connectors.http_errors import HttpError, HttpTransientError
from provisioning.connectors.proxies import environment_proxy
from provisioning.connectors.rate_share import RateShare
from provisioning.connectors.throttle import Throttle

MAX_RETRY_AFTER_SECONDS = 300.0
MIB = 1024 * 1024
MASK = "***"  # what an echoed secret becomes, as Airflow masks secrets in task logs
DEFAULT_HEADERS = {  # httpx.Client's defaults
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "User-Agent": f"python-httpx/{httpx.__version__}",
}

Answer = TypeVar("Answer")


def parse_retry_after(header: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds, at most
    ``MAX_RETRY_AFTER_SECONDS``; None when there is none or it cannot be read."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return min(float(header), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), MAX_RETRY_AFTER_SECONDS))


class HttpExchange(Generic[Answer]):
    """One request at a time: the protocol's client subclasses it and says what a success
    answers (``_answer``), what an error response means (``_error``) and which secrets its
    answers must not echo (``_secrets``)."""

    app_name = "the app"  # how messages name the other side
    transient_error: type[HttpTransientError]  # connection failures, timeouts, the deadline
    rejected_error: type[HttpError]  # a response over the size cap

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        timeout: float = 30.0,
        max_retries: int = 5,
        max_connections: int = 8,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        requests_per_second: float | None = None,
        deadline: float = 120.0,
        max_response_bytes: int = 16 * MIB,
        transport: httpx.BaseTransport | None = None,
        rate_share: RateShare | None = None,
    ):
        """``headers``: the protocol's, over httpx's defaults; the rest the app config's target
        section (connectors/http_hook.py), ``transport`` only in tests."""
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self.throttle = Throttle(requests_per_second, rate_share)
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial
        )
        self._headers = httpx.Headers(DEFAULT_HEADERS)
        self._headers.update(headers)  # whatever the case of their names
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._transport = transport or httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            proxy=environment_proxy(self.base_url),
        )

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what the protocol says --------------------------------------------------------------

    def _answer(self, response: httpx.Response, method: str, path: str) -> Answer:
        """What ``request`` returns for a successful response."""
        raise NotImplementedError

    def _error(self, response: httpx.Response, method: str, path: str, hidden: Collection[str]) -> HttpError:
        """The error an unsuccessful response means, its text masked (``_masked``)."""
        raise NotImplementedError

    def _secrets(self) -> Iterable[str]:
        """What the app's text must not carry back into our logs (tokens)."""
        raise NotImplementedError

    # --- the exchange ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        hidden: Collection[str] = (),
    ) -> Answer:
        """Send one request with retries; return what the protocol makes of the success, or raise
        its error. ``hidden``: values of the request that must not come back in an error's text
        (sensitive attributes), masked like the token."""
        idempotent = method != "POST"

        def retryable(error: BaseException) -> bool:
            if not isinstance(error, TransientError):
                return False
            return idempotent or not error.may_have_acted

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(retryable),
            reraise=True,
        )
        return retrying(self._send, method, path, params, json, hidden)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, HttpError) and error.retry_after is not None:
            return error.retry_after
        return self._backoff(state)

    def _send(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any, hidden: Collection[str]
    ) -> Answer:
        response, sent = self._respond(method, path, params, json)
        if response.is_success:
            return self._answer(response, method, path)
        error = self._error(response, method, path, hidden)
        if response.status_code == 429:
            self.throttle.slow_down(error.retry_after, sent)
        raise error

    def _respond(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any
    ) -> tuple[httpx.Response, float]:
        """The response to one attempt and when it was sent: one exchange, unless the protocol
        needs more (SCIM: once more with a renewed OAuth token after a 401)."""
        return self._exchange(method, path, params, json)

    def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[httpx.Response, float]:
        """One request and its whole response, within the app's rate: the response and when it
        was sent (the throttle's measure). ``headers``: sent over the client's own (a fresh token)."""
        sent = self.throttle.acquire()
        try:
            response = self._receive(method, path, params, json, headers)
        except httpx.ConnectError as exc:
            raise self.transient_error.typed(
                f"cannot connect to {self.base_url}: {exc}", "connect", method=method, path=path
            ) from None
        except httpx.TimeoutException:
            raise self.transient_error.typed(
                "request timed out", "timeout", method=method, path=path
            ) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            # a corrupt compressed body too: the app answered, so it may have acted
            raise self.transient_error.typed(
                f"transport error: {type(exc).__name__}", "transport", method=method, path=path
            ) from None
        if response.status_code != 429:
            self.throttle.accepted(sent)
        return response, sent

    def _receive(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        """The whole response, read within the deadline and the size cap."""
        give_up_at = time.monotonic() + self.deadline
        request_headers = self._headers
        if headers:
            request_headers = request_headers.copy()
            request_headers.update(headers)
        request = httpx.Request(
            method,
            self.base_url + path,
            params=params,
            json=json,
            headers=request_headers,
            extensions=self._extensions,
        )
        response = self._transport.handle_request(request)
        response.request = request
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                raise self._too_large(response, method, path)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_response_bytes:
                    raise self._too_large(response, method, path)
                if time.monotonic() > give_up_at:
                    raise self.transient_error.typed(
                        f"no complete response within the {self.deadline:g} s deadline "
                        "(target.request_deadline_seconds)",
                        "deadline",
                        method=method,
                        path=path,
                    )
        finally:
            response.close()
        # the body is decoded already: the rebuilt response must not decode it again
        response_headers = response.headers.copy()
        for name in ("Content-Encoding", "Content-Length"):
            response_headers.pop(name, None)
        return httpx.Response(
            response.status_code, headers=response_headers, content=bytes(body), request=request
        )

    def _too_large(self, response: httpx.Response, method: str, path: str) -> HttpError:
        """A refusal of that one request; but a write the app answered with success was carried
        out (a 201 with a huge body made the object): its outcome is unknown, never "not made",
        so a create is looked for before it is sent again."""
        acted = response.is_success and method != "GET"
        return (self.transient_error if acted else self.rejected_error).typed(
            f"{self.app_name}'s response is larger than the limit of {self.max_response_bytes:,} bytes "
            "(target.max_response_mib); it was not read",
            "too_large",
            status=response.status_code,
            method=method,
            path=path,
        )

    def _masked(self, text: str | None, hidden: Collection[str] = ()) -> str | None:
        """An app's text without our secrets (``_secrets``) or the request's ``hidden`` values in
        it. Some apps echo the request, headers included, in their error bodies; the text goes
        into the provisioning log, escrow, the cycle's error and alerts, and is masked here, where
        it enters, not in each of those. Longer secrets first: one may contain another."""
        if not text:
            return text
        for secret in sorted({*self._secrets(), *hidden}, key=len, reverse=True):
            if secret:
                text = text.replace(secret, MASK)
        return text
