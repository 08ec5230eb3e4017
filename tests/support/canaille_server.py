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
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from provisioning.demo.scim_server import free_port

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


class CanailleServer:
    """``with CanailleServer(token_lifetime=8) as server: server.register()``."""

    def __init__(self, token_lifetime: int = 3600, startup_timeout: float = 120.0):
        self.token_lifetime = token_lifetime
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="canaille-"))
        self.database = self.home / "canaille.sqlite"
        self.log_file = self.home / "canaille.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"

    @property
    def scim_url(self) -> str:
        return f"{self.url}/scim/v2"

    def start(self) -> CanailleServer:
        config = self.home / "canaille.toml"
        config.write_text(
            CONFIG.format(nonce=os.urandom(8).hex(), lifetime=self.token_lifetime, database=self.database)
        )
        if not EXECUTABLE.exists():
            raise RuntimeError(f"{EXECUTABLE} is missing: `make test-servers` installs it")
        env = {**os.environ, "CANAILLE_CONFIG": str(config)}
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [str(EXECUTABLE), "run", "--bind", f"127.0.0.1:{self.port}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.home,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"canaille exited with {self.process.returncode}: {self.log_tail()}")
            try:
                httpx.get(f"{self.url}/.well-known/oauth-authorization-server", timeout=2).raise_for_status()
                return self
            except httpx.HTTPError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"canaille did not answer within {self.startup_timeout:g}s: {self.log_tail()}")

    def log_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> CanailleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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
