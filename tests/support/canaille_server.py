"""A real OAuth 2.0 authorization server for the tests: Canaille (from PyPI), run as its own
process on 127.0.0.1 with a generated config and a SQLite database of its own.

Canaille issues client-credentials tokens with the lifetime the config gives (authlib's
``OAUTH2_TOKEN_EXPIRES_IN``), revokes them at its revocation endpoint (RFC 7009), and its SCIM
endpoint (``/scim/v2``) is a resource server that checks each token against its database
(unknown, expired and revoked tokens get 401). Clients are registered over HTTP (RFC 7591
dynamic registration, open in this config), so a test gets a fresh client id and secret in
milliseconds instead of starting a ``canaille create client`` process.

Canaille runs from a venv of its own (``.venv-canaille``, made by ``make test`` from
test-servers/canaille.txt): it needs an older scim2-models than the product pins.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.server_process import ServerProcess

EXECUTABLE = Path(__file__).resolve().parents[2] / ".venv-canaille" / "bin" / "canaille"

CONFIG = """\
SECRET_KEY = "canaille-test-only-{nonce}"
OAUTH2_TOKEN_EXPIRES_IN = {{client_credentials = {lifetime}}}

[CANAILLE]
NAME = "provisioning tests"

[CANAILLE_SQL]
DATABASE_URI = "sqlite:///{database}"

[CANAILLE_OIDC]
DYNAMIC_CLIENT_REGISTRATION_OPEN = true

[CANAILLE_SCIM]
ENABLE_SERVER = true
"""


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str


class CanailleServer(ServerProcess):
    """``with CanailleServer(token_lifetime=8) as server: server.register()``."""

    name = "canaille"

    def __init__(self, token_lifetime: int = 3600, startup_timeout: float = 120.0):
        super().__init__(startup_timeout)
        self.token_lifetime = token_lifetime
        self.database = self.home / "canaille.sqlite"

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"

    @property
    def scim_url(self) -> str:
        return f"{self.url}/scim/v2"

    def _run(self) -> None:
        config = self.home / "canaille.toml"
        config.write_text(
            CONFIG.format(nonce=os.urandom(8).hex(), lifetime=self.token_lifetime, database=self.database)
        )
        if not EXECUTABLE.exists():
            raise RuntimeError(f"{EXECUTABLE} is missing: `make test-servers` installs it")
        env = {**os.environ, "CANAILLE_CONFIG": str(config)}
        self._launch([str(EXECUTABLE), "run", "--bind", f"127.0.0.1:{self.port}"], env)
        self._wait(
            lambda: httpx.get(f"{self.url}/.well-known/oauth-authorization-server", timeout=2).is_success
        )

    # --- what tests do with it -----------------------------------------------------------------

    def register(self, name: str = "provisioning") -> OAuthClient:
        """A new confidential client allowed the client_credentials grant (RFC 7591)."""
        response = httpx.post(
            f"{self.url}/oauth/register",
            json={
                "client_name": name,
                "grant_types": ["client_credentials"],
                "response_types": [],
                "token_endpoint_auth_method": "client_secret_basic",
                "scope": "openid",
            },
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        return OAuthClient(body["client_id"], body["client_secret"])

    def revoke(self, client: OAuthClient, token: str) -> None:
        """Revoke an access token at the revocation endpoint (RFC 7009), as the client may."""
        response = httpx.post(
            f"{self.url}/oauth/revoke",
            data={"token": token, "token_type_hint": "access_token"},
            auth=(client.client_id, client.client_secret),
            timeout=30,
        )
        response.raise_for_status()

    def introspect(self, client: OAuthClient, token: str) -> dict:
        """What the server says of a token (RFC 7662): ``{"active": false}`` once it is expired
        or revoked."""
        response = httpx.post(
            f"{self.url}/oauth/introspect",
            data={"token": token},
            auth=(client.client_id, client.client_secret),
            timeout=30,
        )
        response.raise_for_status()
        return response.json()

    def tokens_issued(self, client: OAuthClient) -> int:
        """Access tokens the server issued to ``client``, read from its own database."""
        with sqlite3.connect(self.database) as db:
            (count,) = db.execute(
                "select count(*) from token join client on token.client_id = client.id "
                "where client.client_id = ?",
                (client.client_id,),
            ).fetchone()
        return count
