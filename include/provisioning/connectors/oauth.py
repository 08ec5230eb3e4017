"""OAuth 2.0 client credentials (RFC 6749 4.4): the access token an app's API wants, fetched from
its authorization server's token endpoint with our client id and secret, kept and renewed.

One ``ClientCredentials`` per client (an app's connection), shared by all the threads that send
requests: the token is read without a lock while it is fresh; when it is due, or the app refused
it, one thread fetches a new one under the lock and the others wait for it instead of asking too.
A token is renewed ``margin`` seconds before its ``expires_in`` runs out (half its lifetime at
most, for short-lived tokens), and when the app answers 401 to it (revoked, or the server
restarted): ``renew(rejected)`` fetches again only if the rejected token is still the current one,
so a burst of 401s after one revocation costs one token request.

The secret and the tokens never appear in a message: errors name the connection and the token
endpoint, and whatever the endpoint says is masked (``secrets()`` lists what to mask, for the
client's own masking of the app's answers too).

Why not a library: the grant is one form POST, and what needs care here (the lock, renewal before
expiry and after a 401, masking) is ours in any library; authlib's httpx integration, the obvious
candidate, neither locks nor renews on a 401, and goes through a compatibility shim it deprecates.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections import deque
from urllib.parse import quote

import httpx

from provisioning.connectors.proxies import environment_proxy

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
MASK = "***"
MAX_TOKEN_RESPONSE_BYTES = 64 * 1024
_REMEMBERED = 16  # tokens kept to mask: an app may echo one it has just refused


class TokenEndpointError(Exception):
    """The token endpoint did not give us a token."""


class TokenRefused(TokenEndpointError):
    """The endpoint refused our client credentials or scope (400/401 with an OAuth error): every
    request will fail until the connection is fixed."""

    def __init__(self, message: str, *, status: int | None, error: str | None):
        super().__init__(message)
        self.status = status
        self.error = error


class TokenUnavailable(TokenEndpointError):
    """The endpoint could not be reached or failed (timeout, 429, 5xx): worth trying again."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class ClientCredentials:
    """``token_url``: the token endpoint; ``name``: what messages call this client (the Airflow
    connection's id); ``auth_method``: ``client_secret_basic`` (the default, RFC 6749 2.3.1) or
    ``client_secret_post``."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        *,
        name: str = "oauth",
        auth_method: str = "client_secret_basic",
        margin: float = 60.0,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        if auth_method not in AUTH_METHODS:
            raise ValueError(
                f"connection {name!r}: token_auth_method must be one of {', '.join(AUTH_METHODS)}, "
                f"got {auth_method!r}"
            )
        if not client_id or not client_secret:
            raise ValueError(f"connection {name!r}: OAuth client credentials need a client id and a secret")
        self.token_url = token_url
        self.client_id = client_id
        self.scope = scope or None
        self.name = name
        self.auth_method = auth_method
        self.margin = margin
        self.fetched = 0  # token requests made (answered or not)
        self._secret = client_secret
        pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"  # RFC 6749 2.3.1
        self._basic = base64.b64encode(pair.encode()).decode()
        self._lock = threading.Lock()
        self._current: tuple[str, float] | None = None  # (token, monotonic time to renew it at)
        self._issued: deque[str] = deque(maxlen=_REMEMBERED)
        self._client = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            proxy=None if transport else environment_proxy(token_url),
        )

    def close(self) -> None:
        self._client.close()

    # --- the token ---------------------------------------------------------------------------

    def token(self) -> str:
        """The current access token, fetched first if there is none or it is due."""
        current = self._current
        if current is not None and time.monotonic() < current[1]:
            return current[0]
        with self._lock:
            current = self._current
            if current is not None and time.monotonic() < current[1]:
                return current[0]  # another thread renewed it while we waited
            return self._fetch()

    def renew(self, rejected: str | None) -> str:
        """A token to use instead of ``rejected``, which the app refused (401): a new one, unless
        another thread has renewed it since."""
        with self._lock:
            current = self._current
            if current is not None and current[0] != rejected:
                return current[0]
            return self._fetch()

    def secrets(self) -> list[str]:
        """What no message may show: the client secret and the tokens issued to us."""
        return [self._secret, self._basic, *self._issued]

    # --- the token endpoint ------------------------------------------------------------------

    def _fetch(self) -> str:
        self.fetched += 1
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {"Accept": "application/json"}
        if self.auth_method == "client_secret_basic":
            headers["Authorization"] = f"Basic {self._basic}"
        else:
            form.update(client_id=self.client_id, client_secret=self._secret)
        started = time.monotonic()
        try:
            response = self._client.post(self.token_url, data=form, headers=headers)
        except httpx.TimeoutException:
            raise TokenUnavailable(self._where("timed out")) from None
        except httpx.TransportError as exc:
            raise TokenUnavailable(self._where(f"cannot be reached ({type(exc).__name__})")) from None
        body = self._json(response)
        status = response.status_code
        if response.is_success and isinstance(body.get("access_token"), str) and body["access_token"]:
            return self._keep(body, started)
        if status == 429 or status >= 500:
            raise TokenUnavailable(self._where(f"answered {status}"), status=status)
        error = body.get("error") if isinstance(body.get("error"), str) else None
        description = body.get("error_description") if isinstance(body.get("error_description"), str) else ""
        if response.is_success:
            raise TokenRefused(
                self._where(f"answered {status} without an access token"), status=status, error=None
            )
        said = self.masked(f"{error}: {description}" if description else error or response.text[:200])
        raise TokenRefused(
            self._where(f"refused our client credentials (client id {self.client_id!r}): {status} {said}"),
            status=status,
            error=error,
        )

    def _json(self, response: httpx.Response) -> dict:
        if len(response.content) > MAX_TOKEN_RESPONSE_BYTES:
            return {}
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _keep(self, body: dict, started: float) -> str:
        token = body["access_token"]
        if str(body.get("token_type", "Bearer")).lower() != "bearer":
            raise TokenRefused(
                self._where(f"issued a {body.get('token_type')!r} token; only Bearer tokens are supported"),
                status=None,
                error=None,
            )
        renew_at = math.inf  # no lifetime announced: kept until the app refuses it
        expires_in = body.get("expires_in")
        if isinstance(expires_in, (int, float, str)) and str(expires_in).replace(".", "", 1).isdigit():
            lifetime = float(expires_in)
            renew_at = started + lifetime - min(self.margin, lifetime / 2)
        self._issued.append(token)
        self._current = (token, renew_at)
        return token

    def _where(self, what: str) -> str:
        return f"connection {self.name!r}: the OAuth token endpoint {self.token_url} {what}"

    def masked(self, text: str) -> str:
        for secret in sorted(self.secrets(), key=len, reverse=True):
            if secret:
                text = text.replace(secret, MASK)
        return text
