"""A real Matrix homeserver for the tests: Synapse (from PyPI, in a venv of its own,
``.venv-synapse``, that ``make test-servers`` builds from test-servers/synapse.txt: its pins clash
with Airflow's), run as its own process on 127.0.0.1 with a generated config and a SQLite
database of its own.

The config is what a test needs and nothing else: no federation (no trusted key servers, an empty
federation whitelist), no metrics, no stats reporting; background database updates run without
pausing (Synapse otherwise finishes its schema upgrades minutes after starting, and a few admin
calls fail until then, e.g. reactivating an account). The first admin account is made with the
registration shared secret (HMAC, as ``register_new_matrix_user`` does) and then exempted from
message rate limits through the admin API, as an operator would do for a provisioning account
(docs/targets/synapse.md); the join, invite and room-creation limits, which the exemption does not
cover, are raised in the config.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
from pathlib import Path

import httpx

from tests.support.server_process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SERVER_NAME = "provisioning.test"

CONFIG = """\
server_name: "{server_name}"
pid_file: "{home}/homeserver.pid"
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{home}/homeserver.db"
media_store_path: "{home}/media"
signing_key_path: "{home}/signing.key"
registration_shared_secret: "{secret}"
macaroon_secret_key: "{nonce}-macaroon"
form_secret: "{nonce}-form"
report_stats: false
enable_metrics: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
background_updates:
  sleep_enabled: false
  background_update_duration_ms: 1000
  min_batch_size: 1000
  default_batch_size: 1000
rc_room_creation: {{per_second: 1000, burst_count: 1000}}
rc_joins: {{local: {{per_second: 1000, burst_count: 1000}}, remote: {{per_second: 1000, burst_count: 1000}}}}
rc_joins_per_room: {{per_second: 1000, burst_count: 1000}}
rc_invites:
  per_room: {{per_second: 1000, burst_count: 1000}}
  per_user: {{per_second: 1000, burst_count: 1000}}
  per_issuer: {{per_second: 1000, burst_count: 1000}}
"""


class SynapseServer(ServerProcess):
    """``with SynapseServer() as server: server.url, server.admin_token``."""

    name = "synapse"

    def __init__(self, startup_timeout: float = 120.0):
        super().__init__(startup_timeout)
        self.config = self.home / "homeserver.yaml"
        self.secret = os.urandom(16).hex()
        self.admin_id = f"@provisioning:{SERVER_NAME}"
        self.admin_token = ""

    @staticmethod
    def python() -> str:
        """The Synapse venv's interpreter (``SYNAPSE_PYTHON`` overrides it)."""
        python = os.environ.get("SYNAPSE_PYTHON") or str(ROOT / ".venv-synapse" / "bin" / "python")
        if not Path(python).exists():
            raise RuntimeError(f"no Synapse venv at {python}: run 'make test-servers' (make test does)")
        return python

    def _run(self) -> None:
        self.config.write_text(
            CONFIG.format(
                server_name=SERVER_NAME,
                home=self.home,
                port=self.port,
                secret=self.secret,
                nonce=os.urandom(8).hex(),
            )
        )
        command = [self.python(), "-m", "synapse.app.homeserver", "-c", str(self.config)]
        with open(self.log_file, "ab") as log:
            subprocess.run(
                [*command, "--generate-keys"], stdout=log, stderr=subprocess.STDOUT, check=True, cwd=self.home
            )
        self._launch(command)
        self._wait(lambda: self._answers("/_matrix/client/versions"))
        self.admin_token = self.register("provisioning", os.urandom(12).hex(), admin=True)
        self.admin("POST", f"/_synapse/admin/v1/users/{self.admin_id}/override_ratelimit", json={})
        self._wait(self._background_updates_done)

    def _background_updates_done(self) -> bool:
        status = self.admin("GET", "/_synapse/admin/v1/background_updates/status").json()
        return not status.get("current_updates")

    # --- what tests do with it -----------------------------------------------------------------

    def register(self, localpart: str, password: str, admin: bool = False) -> str:
        """A new account through the shared-secret registration API; its access token."""
        nonce = httpx.get(f"{self.url}/_synapse/admin/v1/register", timeout=30).json()["nonce"]
        message = b"\x00".join(
            [nonce.encode(), localpart.encode(), password.encode(), b"admin" if admin else b"notadmin"]
        )
        response = httpx.post(
            f"{self.url}/_synapse/admin/v1/register",
            json={
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": hmac.new(self.secret.encode(), message, hashlib.sha1).hexdigest(),
            },
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def admin(self, method: str, path: str, **kwargs) -> httpx.Response:
        """One request as the admin account, checked: what a test reads the server's truth with."""
        response = httpx.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=30,
            **kwargs,
        )
        response.raise_for_status()
        return response

    def user(self, localpart: str) -> dict:
        return self.admin("GET", f"/_synapse/admin/v2/users/@{localpart}:{SERVER_NAME}").json()

    def users(self, prefix: str = "") -> dict[str, dict]:
        """Accounts whose localpart starts with ``prefix`` (the admin's left out), deactivated and
        locked ones included, each read whole (the listing has no e-mail addresses)."""
        params = {"deactivated": "true", "locked": "true", "limit": 10_000, "user_id": f"@{prefix}"}
        listed = self.admin("GET", "/_synapse/admin/v2/users", params=params).json()["users"]
        localparts = [u["name"][1:].split(":")[0] for u in listed if u["name"] != self.admin_id]
        return {lp: self.user(lp) for lp in localparts if lp.startswith(prefix)}

    def rooms(self, prefix: str = "") -> dict[str, dict]:
        """Rooms by alias localpart (those starting with ``prefix``), each with its joined members
        (the admin left out)."""
        rooms = self.admin("GET", "/_synapse/admin/v1/rooms", params={"limit": 10_000}).json()["rooms"]
        found = {}
        for room in rooms:
            alias = room.get("canonical_alias")
            if not alias or not alias[1:].startswith(prefix):
                continue
            members = self.admin("GET", f"/_synapse/admin/v1/rooms/{room['room_id']}/members").json()
            room["members"] = {m[1:].split(":")[0] for m in members["members"] if m != self.admin_id}
            found[alias[1:].split(":")[0]] = room
        return found
