"""An HTTP proxy on 127.0.0.1 that makes a real SCIM server (scim2-server) answer as one app does,
by that app's profile (config/scim_profile.py): it refuses what the app documents it refuses and
records each refusal as a *violation* -- a request our client should never have sent.

What it enforces, per profile field:

- ``headers``: a request without one is refused 403 (GitHub refuses requests without a User-Agent);
- ``service_provider_config_path``: only that path describes the app (the standard one is a 404
  when the app uses another, as Salesforce's /ServiceProviderConfigs);
- ``filter_operators`` / ``filter_attributes``: a filter using another operator or attribute is a
  400 ``invalidFilter``;
- ``paging``: ``cursor`` apps refuse ``startIndex`` and page by ``cursor``/``nextCursor`` (RFC 9865,
  no ``totalResults``); ``index`` apps refuse ``cursor``; a ``count`` above ``max_page_size`` is a 400;
- ``attribute_selection`` false: ``attributes``/``excludedAttributes`` are a 400;
- ``group_reads_members`` false: members are stripped from every group read;
- ``max_members_per_patch``: a group PATCH carrying more member values is a 400, as AWS answers;
  ``member_replace`` false: replacing or removing all members is a 400;
- ``required_on_create``: a POST lacking one is a 400;
- ``update_method`` put: a user PATCH is a 405 (the app takes PUT only);
- ``delete_allowed`` false: a user DELETE is refused (the real app would carry it out, for good);
- a ``RateLimit`` (tests/support/fault_proxy.py): above it, 429 with Retry-After in whole seconds
  (counted as ``throttled``, not as a violation: apps say so, and a client must honour it).

Everything else goes to the real server unchanged; its answers come back unchanged but for the
paging and member stripping above.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from provisioning.config.scim_profile import ScimProfile
from tests.support.fault_proxy import LocalProxy, RateLimit, Recorded

STANDARD_SPC = "/ServiceProviderConfig"
COMPARISON = re.compile(
    r'([\w:.$-]+)\s+(eq|ne|co|sw|ew|gt|ge|lt|le)\s+("(?:[^"\\]|\\.)*"|\S+)', re.IGNORECASE
)
LOGICAL = re.compile(r"\s(and|or)\s", re.IGNORECASE)
ENDPOINTS = {"/Users": "user", "/Groups": "group"}


@dataclass
class Violation:
    method: str
    path: str
    reason: str


class AppBehaviourProxy(LocalProxy):
    """``with AppBehaviourProxy(server.url, profile) as proxy: proxy.url``; ``violations`` lists the
    requests refused as the app would refuse them, ``requests`` every request with its answer."""

    def __init__(self, upstream: str, profile: ScimProfile, rate_limit: RateLimit | None = None):
        super().__init__(upstream)
        self.profile = profile
        self.rate_limit = rate_limit
        self.requests: list[Recorded] = []
        self.violations: list[Violation] = []
        self.throttled: list[float] = []  # when each 429 was answered (time.monotonic)
        self.retry_after: list[tuple[float, float]] = []  # (answered at, seconds to wait)
        self.arrivals: list[float] = []  # when each request arrived (time.monotonic)

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- one request -------------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.arrivals.append(time.monotonic())
        if self.rate_limit and (wait := self.rate_limit.admit()) is not None:
            seconds = max(1, math.ceil(wait))
            with self._lock:
                now = time.monotonic()
                self.throttled.append(now)
                self.retry_after.append((now, seconds))
            self._reply(handler, 429, _error(429, "rate limited", None), {"Retry-After": str(seconds)})
            return
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query))
        problem = self._refusal(handler, url.path, query, body)
        if problem is not None:
            status, scim_type, reason = problem
            with self._lock:
                self.violations.append(Violation(handler.command, handler.path, reason))
            self._reply(handler, status, _error(status, reason, scim_type))
            return
        path = url.path
        if path == self.profile.service_provider_config_path:
            path = STANDARD_SPC
        kind = ENDPOINTS.get(path)
        if handler.command == "GET" and kind and self.profile.paging == "cursor":
            self._cursor_page(handler, path, query)
            return
        target = f"{self.upstream}{path}" + (f"?{url.query}" if url.query else "")
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length")}
        response = self._client.request(handler.command, target, headers=headers, content=body)
        content = response.content
        if handler.command == "GET" and _is_group_path(path) and not self.profile.group_reads_members:
            content = _without_members(content)
        self._reply(handler, response.status_code, content)

    def _refusal(
        self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, str | None, str] | None:
        """(status, scimType, why) when the app would refuse this request, else None."""
        profile = self.profile
        for name in profile.headers:
            if not handler.headers.get(name):
                return 403, None, f"header {name} missing"
        method = handler.command
        if path == STANDARD_SPC and profile.service_provider_config_path != STANDARD_SPC:
            return 404, None, f"the app describes itself at {profile.service_provider_config_path}"
        kind = ENDPOINTS.get(path)
        if method == "GET" and kind:
            return self._listing_refusal(kind, query)
        if method == "POST" and kind:
            missing = [a for a in profile.required_on_create.get(kind, []) if not _present(body, a)]
            if missing:
                return 400, "invalidValue", f"required on create: {', '.join(missing)}"
        if method == "PATCH" and path.startswith("/Users/") and profile.update_method == "put":
            return 405, None, "this app updates users by PUT only"
        if method == "PATCH" and _is_group_path(path) and "/" in path.strip("/"):
            return self._member_patch_refusal(body)
        if method == "DELETE" and path.startswith("/Users/") and not profile.delete_allowed:
            return 400, None, "user DELETE is not allowed by this app's profile"
        return None

    def _listing_refusal(self, kind: str, query: dict[str, str]) -> tuple[int, str | None, str] | None:
        profile = self.profile
        if profile.paging == "cursor" and "startIndex" in query:
            return 400, "invalidValue", "startIndex is not supported (cursor paging)"
        if profile.paging == "index" and "cursor" in query:
            return 400, "invalidValue", "cursor is not supported (index paging)"
        count = int(query.get("count", 0) or 0)
        if profile.max_page_size is not None and count > profile.max_page_size:
            return 400, "invalidValue", f"count {count} above {profile.max_page_size}"
        if not profile.attribute_selection and ({"attributes", "excludedAttributes"} & set(query)):
            return 400, "invalidValue", "attributes/excludedAttributes are not supported"
        text = query.get("filter")
        if text:
            operators = [m[2].lower() for m in COMPARISON.finditer(text)]
            operators += [m[1].lower() for m in LOGICAL.finditer(text)]
            allowed = profile.filter_operators
            if allowed is not None and any(op not in allowed for op in operators):
                return 400, "invalidFilter", f"filter operator not supported: {text}"
            if profile.filter_attributes is not None:
                names = {a.lower() for a in profile.filter_attributes.get(kind, [])}  # type: ignore[call-overload]
                used = [m[1] for m in COMPARISON.finditer(text)]
                if any(name.lower() not in names for name in used):
                    return 400, "invalidFilter", f"filter attribute not supported: {text}"
        return None

    def _member_patch_refusal(self, body: bytes) -> tuple[int, str | None, str] | None:
        profile = self.profile
        changed = 0
        for operation in json.loads(body or b"{}").get("Operations", []):
            target = str(operation.get("path") or "")
            if not target.lower().startswith("members"):
                continue
            op = str(operation.get("op", "")).lower()
            value = operation.get("value")
            if not profile.member_replace and (
                op == "replace" or (op == "remove" and target == "members" and not value)
            ):
                return 400, "invalidValue", f"{op} of all members is not supported"
            changed += 1 if "[" in target else len(value) if isinstance(value, list) else 1
        limit = profile.max_members_per_patch
        if limit is not None and changed > limit:
            return 400, "invalidValue", f"{changed} membership changes in one PATCH, at most {limit}"
        return None

    def _cursor_page(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> None:
        """RFC 9865 as AWS serves it: the cursor is opaque (here the next index), the page has
        ``nextCursor`` while more remain and no ``totalResults``."""
        cursor = query.pop("cursor", "")
        start = int(cursor[1:]) if cursor.startswith("i") and cursor[1:].isdigit() else 1
        count = int(query.get("count", 100) or 100)
        params = urlencode({**query, "startIndex": start, "count": count})
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length")}
        response = self._client.get(f"{self.upstream}{path}?{params}", headers=headers)
        if response.status_code != 200:
            self._reply(handler, response.status_code, response.content)
            return
        page = response.json()
        resources = page.get("Resources", [])
        if path == "/Groups" and not self.profile.group_reads_members:
            resources = [{k: v for k, v in r.items() if k != "members"} for r in resources]
        answer: dict[str, Any] = {
            "schemas": page.get("schemas"),
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
        if start - 1 + len(resources) < page.get("totalResults", 0):
            answer["nextCursor"] = f"i{start + len(resources)}"
        self._reply(handler, 200, json.dumps(answer).encode())

    def _reply(
        self, handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict | None = None
    ) -> None:
        with self._lock:
            self.requests.append(Recorded(handler.command, handler.path, status))
        handler.send_response(status)
        handler.send_header("Content-Type", "application/scim+json")
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def _is_group_path(path: str) -> bool:
    return path == "/Groups" or path.startswith("/Groups/")


def _without_members(content: bytes) -> bytes:
    """A group read (one group, or a listing) with every ``members`` taken out."""
    try:
        data = json.loads(content)
    except ValueError:
        return content
    if isinstance(data, dict):
        data.pop("members", None)
        for resource in data.get("Resources", []) or []:
            if isinstance(resource, dict):
                resource.pop("members", None)
    return json.dumps(data).encode()


def _present(body: bytes, attribute: str) -> bool:
    """Whether a created resource holds ``attribute`` (``name.givenName``, ``emails``) with a value."""
    try:
        value: Any = json.loads(body or b"{}")
    except ValueError:
        return False
    for part in attribute.split("."):
        if not isinstance(value, dict):
            return False
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    return value not in (None, "", [], {})


def _error(status: int, detail: str, scim_type: str | None) -> bytes:
    error = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status),
        "detail": detail,
    }
    if scim_type:
        error["scimType"] = scim_type
    return json.dumps(error).encode()
