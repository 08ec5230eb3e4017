"""The one HTTP path to a SCIM 2.0 app: auth, timeouts, retries, error mapping, pagination.

The transport is every HTTP connector's (connectors/http_exchange.py: one pooled transport,
timeouts, the retry policy -- a POST only when the app certainly did not act --, ``Retry-After``,
the app-wide throttle, the deadline and the size cap); here is what is SCIM's: its media type,
OAuth, its error bodies and its listings. ``ScimHook`` builds the client from an Airflow
Connection.

Auth: a static bearer token, or OAuth 2.0 client credentials (``oauth``, connectors/oauth.py):
each request then carries the client's current access token, fetched or renewed before it is
due; a 401 renews it once and the request is sent once more with the new one (a second 401 is
the app refusing us, as with a static token). The token endpoint refusing our credentials is an
``ScimAuthError`` (the app is unusable); failing or unreachable, a transient error retried as any.

Apps differ within SCIM (config/scim_profile.py): ``headers`` are sent with every request (GitHub
wants a User-Agent), ``service_provider_config_path`` is where the app describes itself
(Salesforce: /ServiceProviderConfigs), ``paging`` is ``index`` (startIndex/count), ``cursor``
(RFC 9865: cursor/count, the page names the ``nextCursor``; AWS IAM Identity Center) or ``none``
(one request with neither, the whole list in one answer: Canaille 0.3 answers 500 to ``count``),
and without
``attribute_selection`` no ``attributes``/``excludedAttributes`` are sent (apps that refuse them).

Paging trusts no ``totalResults``: a listing goes on while pages are full and ends on an empty
page, a page with no new id (a server that ignores ``startIndex``) or a short page past the
announced total; ``MAX_PAGES`` bounds it whatever the server does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError
from scim2_models import Error as ScimErrorMessage
from scim2_models import ServiceProviderConfig

from provisioning.connectors.endpoint import endpoint_id
from provisioning.connectors.http_exchange import HttpExchange, parse_retry_after
from provisioning.connectors.oauth import ClientCredentials, TokenRefused, TokenUnavailable
from provisioning.connectors.scim.errors import (
    ScimAuthError,
    ScimConflictError,
    ScimError,
    ScimNotFoundError,
    ScimProtocolError,
    ScimRejectedError,
    ScimTokenUnavailable,
    ScimTransientError,
)

SCIM_CONTENT_TYPE = "application/scim+json"
MAX_PAGES = 10_000
ENDPOINTS = {"user": "/Users", "group": "/Groups"}


def escape_filter_value(value: str) -> str:
    """Quote a value for a SCIM filter string literal (RFC 7644 3.4.2.2, JSON string rules)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


class ScimClient(HttpExchange[httpx.Response]):
    transient_error = ScimTransientError
    rejected_error = ScimRejectedError

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        page_size: int = 200,
        tenant: str | None = None,
        oauth: ClientCredentials | None = None,
        headers: dict[str, str] | None = None,
        paging: str = "index",
        service_provider_config_path: str = "/ServiceProviderConfig",
        attribute_selection: bool = True,
        max_page_size: int | None = None,
        **transport: Any,
    ):
        """``transport``: the exchange's options (timeout, retries, rate, bounds:
        connectors/http_exchange.py)."""
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size} (app config target.page_size)")
        if paging not in ("index", "cursor", "none"):
            raise ValueError(f"paging must be index, cursor or none, got {paging!r}")
        self.paging = paging
        self.service_provider_config_path = service_provider_config_path
        self.attribute_selection = attribute_selection
        self.max_page_size = max_page_size  # the app's documented cap, whatever page_size says
        default_headers = {"Accept": SCIM_CONTENT_TYPE, "Content-Type": SCIM_CONTENT_TYPE}
        default_headers.update(headers or {})  # the app's own (a profile's User-Agent)
        if token and oauth is None:
            default_headers["Authorization"] = f"Bearer {token}"
        super().__init__(base_url, headers=default_headers, **transport)
        self._token = token
        self.oauth = oauth  # the access token comes from here, per request
        self.endpoint = endpoint_id(self.base_url, tenant)  # what links made through us belong to
        self.page_size = page_size
        self._config: ServiceProviderConfig | None = None

    def close(self) -> None:
        super().close()
        if self.oauth is not None:
            self.oauth.close()

    # --- transport -------------------------------------------------------------------------

    def _answer(self, response: httpx.Response, method: str, path: str) -> httpx.Response:
        return response

    def _respond(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any
    ) -> tuple[httpx.Response, float]:
        """The exchange with the current OAuth access token; after a 401 (revoked or expired
        early), one new token and one more try (the next 401 is an answer)."""
        token = self._access_token(method, path, None)
        response, sent = self._exchange(method, path, params, json, _bearer(token))
        if response.status_code == 401 and self.oauth is not None:
            token = self._access_token(method, path, token)
            response, sent = self._exchange(method, path, params, json, _bearer(token))
        return response, sent

    def _access_token(self, method: str, path: str, rejected: str | None) -> str | None:
        """The OAuth access token to send (a new one when the app refused ``rejected``); None
        with a static token, which is in the headers already."""
        if self.oauth is None:
            return None
        try:
            return self.oauth.renew(rejected) if rejected else self.oauth.token()
        except TokenRefused as exc:
            raise ScimAuthError(str(exc), status=exc.status, method=method, path=path) from None
        except TokenUnavailable as exc:
            raise ScimTokenUnavailable(str(exc), status=exc.status, method=method, path=path) from None

    def _error(
        self, response: httpx.Response, method: str, path: str, hidden: Collection[str] = ()
    ) -> ScimError:
        status = response.status_code
        scim_type = detail = None
        scim_answer = True
        try:
            message = ScimErrorMessage.model_validate(response.json())
            scim_type, detail = self._masked(message.scim_type, hidden), self._masked(message.detail, hidden)
        except (ValueError, ValidationError):
            # masked before the cut: the start of a cut secret is still a leak
            detail = self._masked(response.text, hidden)[:300] or None
            scim_answer = not response.content.strip()
        kwargs = {"status": status, "scim_type": scim_type, "detail": detail, "method": method, "path": path}
        if status in (401, 403):
            return ScimAuthError("the app refused our credentials", **kwargs)
        if status == 404 and not scim_answer:
            # a web server's page, not the SCIM app's answer (a wrong base URL, a proxy that does not
            # pass the path): read as "the account is gone", every disable would pass for done
            return ScimProtocolError(
                "the app answered 404 with a page that is not a SCIM error: is the connection's base "
                "URL the SCIM endpoint?",
                **kwargs,
            )
        if status == 404:
            return ScimNotFoundError("not found", **kwargs)
        if status == 409:
            return ScimConflictError("conflict", **kwargs)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return ScimTransientError(
                "the app is unavailable or throttling", retry_after=retry_after, **kwargs
            )
        return ScimRejectedError("the app rejected the request", **kwargs)

    def _secrets(self) -> Iterable[str]:
        """Our static token, or the OAuth client's secret and access tokens."""
        oauth = self.oauth.secrets() if self.oauth is not None else ()
        return (self._token or "", *oauth)

    def _json(self, response: httpx.Response, method: str, path: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise ScimProtocolError(
                "the app answered with invalid JSON", status=response.status_code, method=method, path=path
            ) from None
        if not isinstance(data, dict):
            raise ScimProtocolError("the app answered with a non-object JSON value", method=method, path=path)
        return data

    # --- SCIM operations -------------------------------------------------------------------

    def service_provider_config(self) -> ServiceProviderConfig:
        """The app's announced features; a malformed answer yields safe defaults, not a failure."""
        path = self.service_provider_config_path
        data = self._json(self.request("GET", path), "GET", path)
        try:
            return ServiceProviderConfig.model_validate(data)
        except ValidationError:
            return ServiceProviderConfig()

    def effective_page_size(self) -> int:
        """Our page size, capped by the app's announced ``filter.maxResults`` (read once) and by
        the profile's ``max_page_size``."""
        if self._config is None:
            self._config = self.service_provider_config()
        announced = self._config.filter.max_results if self._config.filter else None
        caps = [c for c in (announced, self.max_page_size) if c and c > 0]
        return min([self.page_size, *caps])

    def list_resources(
        self, kind: str, attributes: list[str] | None = None, excluded: list[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every resource of ``kind`` (``user`` or ``group``), page by page."""
        yield from self._list(_endpoint(kind), None, attributes, excluded)

    def find_resources(self, kind: str, attribute: str, value: str) -> list[dict[str, Any]]:
        """Resources whose ``attribute`` equals ``value`` (the app applies the attribute's case rules).
        Group members are left out: matching never needs them and they can be huge."""
        query = f'{attribute} eq "{escape_filter_value(value)}"'
        excluded = ["members"] if kind == "group" else None
        return list(self._list(_endpoint(kind), query, None, excluded))

    def _list(
        self, path: str, filter_: str | None, attributes: list[str] | None, excluded: list[str] | None
    ) -> Iterator[dict[str, Any]]:
        page_size = self.effective_page_size()
        query: dict[str, Any] = {"count": page_size}
        if filter_:
            query["filter"] = filter_
        if attributes and self.attribute_selection:
            query["attributes"] = ",".join(attributes)
        if excluded and self.attribute_selection:
            query["excludedAttributes"] = ",".join(excluded)
        if self.paging == "cursor":
            yield from self._list_by_cursor(path, query)
            return
        if self.paging == "none":
            yield from self._list_unpaged(path, {k: v for k, v in query.items() if k != "count"})
            return
        start = 1
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            params = {"startIndex": start, **query}
            resources, total = self._page(path, params)
            new = [r for r in resources if r["id"] not in seen]
            seen.update(r["id"] for r in new)
            yield from new
            start += len(resources)
            if not new or (len(resources) < page_size and start > total):
                return
        raise ScimProtocolError(
            f"the listing did not end after {MAX_PAGES} pages of {page_size}", method="GET", path=path
        )

    def _list_unpaged(self, path: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The whole list in one answer; an app that pages it anyway would leave objects unseen
        (missing accounts look like leavers, so this is refused, not trusted)."""
        resources, total = self._page(path, query)
        if len(resources) < total:
            raise ScimProtocolError(
                f"the app answered {len(resources)} of {total} resources, and its profile says it "
                "does not page (paging: none)",
                method="GET",
                path=path,
            )
        yield from resources

    def _list_by_cursor(self, path: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """RFC 9865 paging: the first request sends an empty ``cursor``, each page names the next
        (``nextCursor``) until the last, which has none. A page with no new id ends it too (an
        app that hands the same cursor back)."""
        cursor = ""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self._json(self.request("GET", path, params={**query, "cursor": cursor}), "GET", path)
            resources = self._resources(page, path)
            new = [r for r in resources if r["id"] not in seen]
            seen.update(r["id"] for r in new)
            yield from new
            cursor = page.get("nextCursor")
            if not new or not cursor or not isinstance(cursor, str):
                return
        raise ScimProtocolError(f"the listing did not end after {MAX_PAGES} pages", method="GET", path=path)

    def _page(self, path: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """One page of a listing: its resources (each with an id) and the announced total."""
        page = self._json(self.request("GET", path, params=params), "GET", path)
        total = page.get("totalResults")
        if not isinstance(total, int):
            raise ScimProtocolError("list response lacks Resources/totalResults", method="GET", path=path)
        return self._resources(page, path), total

    def _resources(self, page: dict[str, Any], path: str) -> list[dict[str, Any]]:
        resources = page.get("Resources", [])
        if not isinstance(resources, list):
            raise ScimProtocolError("list response lacks Resources/totalResults", method="GET", path=path)
        if not all(isinstance(r, dict) and r.get("id") for r in resources):
            raise ScimProtocolError("list response holds a resource without an id", method="GET", path=path)
        return resources

    def get_resource(self, kind: str, resource_id: str) -> dict[str, Any]:
        path = _resource_path(kind, resource_id)
        return self._json(self.request("GET", path), "GET", path)

    def create_resource(
        self, kind: str, resource: dict[str, Any], hidden: Collection[str] = ()
    ) -> dict[str, Any]:
        path = _endpoint(kind)
        created = self._json(self.request("POST", path, json=resource, hidden=hidden), "POST", path)
        if not created.get("id"):
            raise ScimProtocolError(f"created {kind} has no id", method="POST", path=path)
        return created

    def patch_resource(
        self, kind: str, resource_id: str, patch: dict[str, Any], hidden: Collection[str] = ()
    ) -> None:
        self.request("PATCH", _resource_path(kind, resource_id), json=patch, hidden=hidden)

    def put_resource(
        self, kind: str, resource_id: str, resource: dict[str, Any], hidden: Collection[str] = ()
    ) -> None:
        """Replace the whole resource (RFC 7644 3.5.1), for apps that take no PATCH."""
        self.request("PUT", _resource_path(kind, resource_id), json=resource, hidden=hidden)

    def delete_resource(self, kind: str, resource_id: str) -> None:
        self.request("DELETE", _resource_path(kind, resource_id))


def _bearer(token: str | None) -> dict[str, str] | None:
    """The header that sends an OAuth access token instead of the static one (None: the static)."""
    return {"Authorization": f"Bearer {token}"} if token is not None else None


def _endpoint(kind: str) -> str:
    return ENDPOINTS[kind]


def _resource_path(kind: str, resource_id: str) -> str:
    """The path of one resource, its id (which the app chose) as exactly one path segment: a "/",
    "?" or "#" in it would address another resource, and so would "." or "..", which the URL
    parser resolves (``/Users/../Groups/7`` is group 7), so their dots are encoded too."""
    segment = quote(resource_id, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return f"{_endpoint(kind)}/{segment}"
