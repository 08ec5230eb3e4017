"""The one HTTP path to a Synapse homeserver: the admin token, timeouts, retries, rate limits,
error mapping and paging, over the admin API (``/_synapse/admin``) and the few client-API calls
rooms need (``/_matrix/client/v3``: create a room, kick, set its name).

Kept free of Airflow (``SynapseHook`` builds it from a Connection). The transport is every HTTP
connector's (connectors/http_exchange.py): one pooled transport, thread-safe; GET, PUT and DELETE
retried on connection errors, timeouts, 429 and 5xx, a POST (deactivate, join, kick, createRoom)
only when Synapse certainly did not act; the app-wide throttle; a total ``deadline`` and a
``max_response_bytes`` cap per attempt. What is Synapse's: the admin token, Matrix error bodies
(``errcode``; how long to wait in the body's ``retry_after_ms`` when there is no
``Retry-After``: either wins over our own backoff) and paging, which ends when Synapse gives no
next token (``MAX_PAGES`` bounds it whatever the server does).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from json import loads
from typing import Any
from urllib.parse import quote

import httpx

from provisioning.connectors.endpoint import endpoint_id
from provisioning.connectors.http_exchange import (
    MAX_RETRY_AFTER_SECONDS,
    HttpExchange,
    parse_retry_after,
)
from provisioning.connectors.synapse.errors import (
    SynapseError,
    SynapseNotFound,
    SynapseProtocolError,
    SynapseRejected,
    SynapseTransientError,
    error_for,
)

MAX_PAGES = 10_000
ADMIN = "/_synapse/admin"
CLIENT = "/_matrix/client/v3"


def segment(value: str) -> str:
    """One path segment, whatever it holds (user ids hold ``@`` and ``:``, room ids ``!``): a
    ``/``, ``?`` or ``#`` in it would address something else, and so would ``.`` or ``..``."""
    text = quote(value, safe="")
    return text.replace(".", "%2E") if text in (".", "..") else text


class SynapseClient(HttpExchange[Any]):
    app_name = "Synapse"
    transient_error = SynapseTransientError
    rejected_error = SynapseRejected

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        page_size: int = 200,
        **transport: Any,
    ):
        """``transport``: the exchange's options (timeout, retries, rate, bounds:
        connectors/http_exchange.py)."""
        if not token:
            raise ValueError("a Synapse connection needs an admin access token (the connection's password)")
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size} (app config target.page_size)")
        super().__init__(base_url, headers={"Authorization": f"Bearer {token}"}, **transport)
        self.endpoint = endpoint_id(self.base_url)  # what links made through us belong to
        self._token = token
        self.page_size = page_size

    # --- transport -------------------------------------------------------------------------

    def _answer(self, response: httpx.Response, method: str, path: str) -> Any:
        """The decoded JSON body ({} for none)."""
        try:
            return loads(response.content) if response.content else {}
        except ValueError:
            raise SynapseProtocolError(
                "Synapse answered with invalid JSON", status=response.status_code, method=method, path=path
            ) from None

    def _error(
        self, response: httpx.Response, method: str, path: str, hidden: Collection[str]
    ) -> SynapseError:
        errcode = detail = None
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            data = loads(response.content)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("errcode"), str):
            errcode = data["errcode"]
            detail = self._masked(str(data.get("error") or ""), hidden) or None
            waited = data.get("retry_after_ms")
            if retry_after is None and isinstance(waited, int | float) and waited >= 0:
                retry_after = min(waited / 1000, MAX_RETRY_AFTER_SECONDS)
        else:
            detail = self._masked(response.content.decode("utf-8", "replace"), hidden)[:300] or None
        return error_for(response.status_code, errcode, detail, method, path, retry_after)

    def _secrets(self) -> Iterable[str]:
        return (self._token,)

    def _object(self, data: Any, method: str, path: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise SynapseProtocolError(
                "Synapse answered with a non-object JSON value", method=method, path=path
            )
        return data

    def _lookup(self, path: str, field: str) -> str | None:
        """The id ``field`` of what ``path`` finds, or None when Synapse finds nothing (404)."""
        try:
            found = self._object(self.request("GET", path), "GET", path)
        except SynapseNotFound:
            return None
        value = found.get(field)
        return value if isinstance(value, str) else None

    # --- admin API -------------------------------------------------------------------------

    def whoami(self) -> str:
        """The token's own user id (``@admin:example.org``): proves the token and names the server."""
        path = f"{CLIENT}/account/whoami"
        user_id = self._object(self.request("GET", path), "GET", path).get("user_id")
        if not isinstance(user_id, str) or ":" not in user_id:
            raise SynapseProtocolError("whoami answered without a user id", method="GET", path=path)
        return user_id

    def list_users(self) -> Iterator[dict[str, Any]]:
        """Every local account, deactivated and locked ones included, guests left out."""
        params = {"deactivated": "true", "locked": "true", "guests": "false", "order_by": "name"}
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
        return self._lookup(f"{ADMIN}/v1/threepid/email/users/{segment(address)}", "user_id")

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
        return self._lookup(f"{CLIENT}/directory/room/{segment(alias)}", "room_id")

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
