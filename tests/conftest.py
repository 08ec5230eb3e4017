"""Shared fixtures. Real components only: scim2-server processes, SQLite directories and state
stores on disk, and an Airflow metadata DB created with ``airflow db migrate``.

Airflow reads its configuration when first imported, so the environment is set here, at import
time, before any test module can import it: a private AIRFLOW_HOME, DAGs folder and apps folder
per test session, never the developer's own.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

REPO = Path(__file__).resolve().parents[1]
SESSION_HOME = Path(tempfile.mkdtemp(prefix="provisioning-tests-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(SESSION_HOME / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(SESSION_HOME / "dags"),
        "PROVISIONING_APPS_DIR": str(SESSION_HOME / "apps"),
        # one key for this process and the airflow commands it starts (connection passwords)
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
)
for folder in ("airflow", "dags", "apps"):
    (SESSION_HOME / folder).mkdir()

from provisioning.cli import db  # noqa: E402
from provisioning.demo.directory import build_sqlite  # noqa: E402
from provisioning.demo.scim_server import ScimServer  # noqa: E402
from tests.support.fault_proxy import FaultProxy  # noqa: E402

TOKEN = "test-token-5f1c"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(SESSION_HOME, ignore_errors=True)


@dataclass
class ScimApp:
    """A real SCIM app behind a recording proxy: ``url`` goes through the proxy."""

    server: ScimServer
    proxy: FaultProxy
    token: str = TOKEN

    @property
    def url(self) -> str:
        return self.proxy.url

    def users(self) -> list[dict]:
        """Every account in the app, read directly (not through the proxy, not counted)."""
        from provisioning.connectors.scim.client import ScimClient

        with ScimClient(self.server.url, self.token) as client:
            return list(client.list_resources("user"))

    def by_username(self) -> dict[str, dict]:
        return {u["userName"]: u for u in self.users()}

    def groups_list(self) -> list[dict]:
        """Every group in the app, members included, read directly."""
        from provisioning.connectors.scim.client import ScimClient

        with ScimClient(self.server.url, self.token) as client:
            return list(client.list_resources("group"))

    def groups(self) -> dict[str, dict]:
        return {g["displayName"]: g for g in self.groups_list()}

    def member_names(self, group: dict) -> set[str]:
        """The userNames of a group's members (ids resolved against the app's accounts)."""
        names = {u["id"]: u["userName"] for u in self.users()}
        return {names.get(m["value"], m["value"]) for m in group.get("members", [])}


@pytest.fixture
def scim_app() -> Iterator[ScimApp]:
    with ScimServer(token=TOKEN) as server, FaultProxy(server.url) as proxy:
        yield ScimApp(server, proxy)


@pytest.fixture
def directory_db(tmp_path: Path) -> Path:
    """A generated directory of 300 users (demo_wiki gets ~90 in scope, demo_crm ~100)."""
    path = tmp_path / "directory.db"
    build_sqlite(path, users=300, seed=11)
    return path


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite Airflow metadata DB for this session (the real one, real migrations)."""
    home = Path(os.environ["AIRFLOW_HOME"])
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return home


def connection_env(conn_id: str, **fields: object) -> tuple[str, str]:
    return f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields)


@pytest.fixture
def install_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Install an app config + its DAG file into the session's folders, wired to test resources."""
    installed: list[str] = []

    def install(
        config: dict | str,
        *,
        directory: Path,
        scim: ScimApp,
        token: str | None = None,
        target_connection: dict | None = None,
    ) -> str:
        """``target_connection``: fields of the app's connection beyond its host (an OAuth client's,
        say) instead of the static token."""
        raw = yaml.safe_load(config) if isinstance(config, str) else config
        app = raw["app"]
        raw = {**raw, "directory": {**raw["directory"], "conn_id": f"dir_{app}"}}
        raw["target"] = {**raw["target"], "conn_id": f"scim_{app}"}
        raw["state_conn_id"] = f"state_{app}"
        (SESSION_HOME / "apps" / f"{app}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        shutil.copy(REPO / "dags" / "provision_demo_wiki.py", SESSION_HOME / "dags" / f"provision_{app}.py")
        for conn_id, fields in (
            (f"dir_{app}", {"conn_type": "sqlite", "host": str(directory)}),
            (
                f"scim_{app}",
                {
                    "conn_type": "scim",
                    "host": scim.url,
                    **(target_connection or {"password": token or scim.token}),
                },
            ),
            (f"state_{app}", {"conn_type": "sqlite", "host": str(tmp_path / f"state_{app}.db")}),
        ):
            monkeypatch.setenv(*connection_env(conn_id, **fields))
        # as a deployment does before the scheduler starts (docs/deployment.md)
        assert db("upgrade", SESSION_HOME / "apps", f"state_{app}") == 0
        installed.append(app)
        return app

    yield install
    for app in installed:
        (SESSION_HOME / "apps" / f"{app}.yaml").unlink(missing_ok=True)
        (SESSION_HOME / "dags" / f"provision_{app}.py").unlink(missing_ok=True)


def demo_config(name: str, app: str | None = None) -> dict:
    """One of the shipped demo configs, optionally renamed (the directory assigns by app name)."""
    raw = yaml.safe_load((REPO / "include" / "apps" / f"{name}.yaml").read_text())
    raw["app"] = app or name
    return raw


@pytest.fixture(scope="module")
def scim_app_module() -> Iterator[ScimApp]:
    with ScimServer(token=TOKEN) as server, FaultProxy(server.url) as proxy:
        yield ScimApp(server, proxy)


@pytest.fixture(scope="module")
def directory_db_module(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("directory") / "directory.db"
    build_sqlite(path, users=300, seed=11)
    return path


PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A database of its own on the machine's PostgreSQL (every developer and CI machine has one),
    dropped afterwards; the test fails, not skips, without the server."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"'))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required for this tier: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database "{name}" with (force)'))


@pytest.fixture
def pg_database() -> Iterator[str]:
    with postgres_database("provisioning") as url:
        yield url
