"""The one HTTP path to a Synapse homeserver: the admin token, timeouts, retries, rate limits,
error mapping and paging, over the admin API (``/_synapse/admin``) and the few client-API calls
rooms need (``/_matrix/client/v3``: create a room, kick, set its name).

Kept free of Airflow (``SynapseHook`` builds it from a Connection) and thread-safe: apply sends
many requests at once through one pooled ``httpx.Client``.

Retries: GET, PUT and DELETE are idempotent and retried on connection errors, timeouts, 429 and
5xx; a POST (deactivate, join, kick, createRoom) only when Synapse certainly did not act (a refused
connection, a 429). Synapse says how long to wait in ``Retry-After`` or in the body's
``retry_after_ms``; either wins over our own backoff, and the pause is shared by every thread
through the same ``Throttle`` the SCIM client uses.

Bounds: every attempt has a total ``deadline`` (checked while the body streams in) and a
``max_response_bytes`` cap, as for SCIM apps; paging ends when Synapse gives no next token, and
``MAX_PAGES`` bounds it whatever the server does.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from json import loads
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from provisioning.connectors.endpoint import endpoint_id
from provisioning.connectors.proxies import environment_proxy
from provisioning.connectors.rate_share import RateShare
from provisioning.connectors.scim.client import MAX_RETRY_AFTER_SECONDS, parse_retry_after
from provisioning.connectors.synapse.errors import (
    SynapseError,
    SynapseProtocolError,
    SynapseRejected,
    SynapseTransientError,
    error_for,
)
from provisioning.connectors.throttle import Throttle

MIB = 1024 * 1024
MASK = "***"
MAX_PAGES = 10_000
ADMIN = "/_synapse/admin"
CLIENT = "/_matrix/client/v3"


def segment(value: str) -> str:
    """One path segment, whatever it holds (user ids hold ``@`` and ``:``, room ids ``!``): a
    ``/``, ``?`` or ``#`` in it would address something else, and so would ``.`` or ``..``."""
    text = quote(value, safe="")
    return text.replace(".", "%2E") if text in (".", "..") else text


class SynapseClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        max_connections: int = 8,
        page_size: int = 200,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        requests_per_second: float | None = None,
        deadline: float = 120.0,
        max_response_bytes: int = 16 * MIB,
        transport: httpx.BaseTransport | None = None,
        rate_share: RateShare | None = None,
    ):
        if not token:
            raise ValueError("a Synapse connection needs an admin access token (the connection's password)")
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size} (app config target.page_size)")
        self.base_url = base_url.rstrip("/")
        self.endpoint = endpoint_id(self.base_url)  # what links made through us belong to
        self._token = token
        self.page_size = page_size
        self.max_retries = max_retries
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self.throttle = Throttle(requests_per_second, rate_share)
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            follow_redirects=False,
            transport=transport
            or httpx.HTTPTransport(
                limits=httpx.Limits(
                    max_connections=max_connections, max_keepalive_connections=max_connections
                ),
                proxy=environment_proxy(self.base_url),
            ),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SynapseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        hidden: Collection[str] = (),
    ) -> Any:
        """Send one request with retries; the decoded JSON body of the success, or a SynapseError.
        ``hidden``: request values (sensitive ones) an error's text must not carry back."""
        idempotent = method != "POST"

        def retryable(error: BaseException) -> bool:
            if not isinstance(error, SynapseTransientError):
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
        if isinstance(error, SynapseError) and error.retry_after is not None:
            return error.retry_after
        return self._backoff(state)

    def _send(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any, hidden: Collection[str]
    ) -> Any:
        sent = self.throttle.acquire()
        try:
            status, headers, body = self._receive(method, path, params, json)
        except httpx.ConnectError as exc:
            raise SynapseTransientError(
                f"cannot connect to {self.base_url}: {exc}", method=method, path=path, errcode="connect"
            ) from None
        except httpx.TimeoutException:
            raise SynapseTransientError(
                "request timed out", method=method, path=path, errcode="timeout"
            ) from None
        except httpx.TransportError as exc:
            raise SynapseTransientError(
                f"transport error: {type(exc).__name__}", method=method, path=path, errcode="transport"
            ) from None
        if 200 <= status < 300:
            self.throttle.accepted(sent)
            return self._json(body, status, method, path)
        error = self._error(status, headers, body, method, path, hidden)
        if status == 429:
            self.throttle.slow_down(error.retry_after, sent)
        else:
            self.throttle.accepted(sent)
        raise error

    def _receive(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any
    ) -> tuple[int, httpx.Headers, bytes]:
        """The whole response, read within the deadline and the size cap."""
        give_up_at = time.monotonic() + self.deadline
        request = self._http.build_request(method, path, params=params, json=json)
        response = self._http.send(request, stream=True)
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                raise self._too_large(response.status_code, method, path)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_response_bytes:
                    raise self._too_large(response.status_code, method, path)
                if time.monotonic() > give_up_at:
                    raise SynapseTransientError(
                        f"no complete response within the {self.deadline:g} s deadline "
                        "(target.request_deadline_seconds)",
                        method=method,
                        path=path,
                        errcode="deadline",
                    )
        finally:
            response.close()
        return response.status_code, response.headers, bytes(body)

    def _too_large(self, status: int, method: str, path: str) -> SynapseError:
        return SynapseRejected(
            f"Synapse's response is larger than the limit of {self.max_response_bytes:,} bytes "
            "(target.max_response_mib); it was not read",
            status=status,
            errcode="too_large",
            method=method,
            path=path,
        )

    def _error(
        self,
        status: int,
        headers: httpx.Headers,
        body: bytes,
        method: str,
        path: str,
        hidden: Collection[str],
    ) -> SynapseError:
        errcode = detail = None
        retry_after = parse_retry_after(headers.get("Retry-After"))
        try:
            data = loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("errcode"), str):
            errcode = data["errcode"]
            detail = self._masked(str(data.get("error") or ""), hidden) or None
            waited = data.get("retry_after_ms")
            if retry_after is None and isinstance(waited, int | float) and waited >= 0:
                retry_after = min(waited / 1000, MAX_RETRY_AFTER_SECONDS)
        else:
            detail = self._masked(body.decode("utf-8", "replace"), hidden)[:300] or None
        return error_for(status, errcode, detail, method, path, retry_after)

    def _masked(self, text: str, hidden: Collection[str] = ()) -> str:
        """Synapse's text without our token or the request's hidden values, longest first."""
        for secret in sorted({self._token, *hidden}, key=len, reverse=True):
            if secret:
                text = text.replace(secret, MASK)
        return text

    def _json(self, body: bytes, status: int, method: str, path: str) -> Any:
        try:
            return loads(body) if body else {}
        except ValueError:
            raise SynapseProtocolError(
                "Synapse answered with invalid JSON", status=status, method=method, path=path
            ) from None

    def _object(self, data: Any, method: str, path: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise SynapseProtocolError(
                "Synapse answered with a non-object JSON value", method=method, path=path
            )
        return data

    # --- admin API -------------------------------------------------------------------------

    def whoami(self) -> str:
        """The token's own user id (``@admin:example.org``): proves the token and names the server."""
        path = f"{CLIENT}/account/whoami"
        user_id = self._object(self.request("GET", path), "GET", path).get("user_id")
        if not isinstance(user_id, str) or ":" not in user_id:
            raise SynapseProtocolError("whoami answered without a user id", method="GET", path=path)
        return user_id

    def list_users(self) -> Iterator[dict[str, Any]]:
        """Every local account, deactivated ones included, guests left out."""
        params = {"deactivated": "true", "guests": "false", "order_by": "name"}
        yield from self._pages(f"{ADMIN}/v2/users", "users", "next_token", params)

    def get_user(self, user_id: str) -> dict[str, Any]:
        path = f"{ADMIN}/v2/users/{segment(user_id)}"
        user = self._object(self.request("GET", path), "GET", path)
        if not isinstance(user.get("name"), str):
            raise SynapseProtocolError("a user without a name", method="GET", path=path)
        return user

    def put_user(self, user_id: str, body: dict[str, Any], hidden: Collection[str] = ()) -> dict[str, Any]:
        """Create or modify (the admin API does both with one PUT, which is why creates look first)."""
        path = f"{ADMIN}/v2/users/{segment(user_id)}"
        return self._object(self.request("PUT", path, json=body, hidden=hidden), "PUT", path)

    def deactivate(self, user_id: str, erase: bool = False) -> None:
        self.request("POST", f"{ADMIN}/v1/deactivate/{segment(user_id)}", json={"erase": erase})

    def user_by_email(self, address: str) -> str | None:
        """The account holding this e-mail address, or None."""
        path = f"{ADMIN}/v1/threepid/email/users/{segment(address)}"
        try:
            found = self._object(self.request("GET", path), "GET", path)
        except SynapseError as exc:
            if exc.status == 404:
                return None
            raise
        user_id = found.get("user_id")
        return user_id if isinstance(user_id, str) else None

    def list_rooms(self) -> Iterator[dict[str, Any]]:
        yield from self._pages(f"{ADMIN}/v1/rooms", "rooms", "next_batch", {"order_by": "name"})

    def get_room(self, room_id: str) -> dict[str, Any]:
        path = f"{ADMIN}/v1/rooms/{segment(room_id)}"
        room = self._object(self.request("GET", path), "GET", path)
        if not isinstance(room.get("room_id"), str):
            raise SynapseProtocolError("a room without a room_id", method="GET", path=path)
        return room

    def room_members(self, room_id: str) -> list[str]:
        """The room's joined members."""
        path = f"{ADMIN}/v1/rooms/{segment(room_id)}/members"
        members = self._object(self.request("GET", path), "GET", path).get("members")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise SynapseProtocolError("room members are not a list of user ids", method="GET", path=path)
        return members

    def room_by_alias(self, alias: str) -> str | None:
        """The room an alias (``#sales:example.org``) points to, or None."""
        path = f"{CLIENT}/directory/room/{segment(alias)}"
        try:
            found = self._object(self.request("GET", path), "GET", path)
        except SynapseError as exc:
            if exc.status == 404:
                return None
            raise
        room_id = found.get("room_id")
        return room_id if isinstance(room_id, str) else None

    def join(self, room_id: str, user_id: str) -> None:
        """Make a local user join a room the admin is in (the admin API invites and joins)."""
        self.request("POST", f"{ADMIN}/v1/join/{segment(room_id)}", json={"user_id": user_id})

    def delete_room(self, room_id: str) -> None:
        """Shut the room down: everyone is removed and its history purged (asynchronously)."""
        path = f"{ADMIN}/v2/rooms/{segment(room_id)}"
        self.request("DELETE", path, json={"block": False, "purge": True})

    # --- client API: rooms the admin account created ---------------------------------------

    def create_room(self, body: dict[str, Any]) -> str:
        path = f"{CLIENT}/createRoom"
        room_id = self._object(self.request("POST", path, json=body), "POST", path).get("room_id")
        if not isinstance(room_id, str):
            raise SynapseProtocolError("createRoom answered without a room_id", method="POST", path=path)
        return room_id

    def kick(self, room_id: str, user_id: str, reason: str) -> None:
        path = f"{CLIENT}/rooms/{segment(room_id)}/kick"
        self.request("POST", path, json={"user_id": user_id, "reason": reason})

    def set_state(self, room_id: str, event_type: str, content: dict[str, Any]) -> None:
        path = f"{CLIENT}/rooms/{segment(room_id)}/state/{segment(event_type)}"
        self.request("PUT", path, json=content)

    # --- paging ----------------------------------------------------------------------------

    def _pages(self, path: str, key: str, token_key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Follow Synapse's ``from``/``limit`` paging until it gives no next token."""
        start: Any = 0
        for _ in range(MAX_PAGES):
            page = self._object(
                self.request("GET", path, params={**params, "from": start, "limit": self.page_size}),
                "GET",
                path,
            )
            items = page.get(key)
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise SynapseProtocolError(f"the listing has no {key!r} list", method="GET", path=path)
            yield from items
            start = page.get(token_key)
            if start in (None, "") or not items:
                return
        raise SynapseProtocolError(
            f"the listing did not end after {MAX_PAGES} pages of {self.page_size}", method="GET", path=path
        )
