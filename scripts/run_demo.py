"""`make run`: the whole product on one machine.

Airflow standalone on SQLite (AIRFLOW_HOME=.airflow), the demo directory (.demo/directory.db),
one scim2-server per SCIM connection in airflow_settings.yaml that points at 127.0.0.1, a slapd
holding the demo directory as Active Directory entries per LDAP connection that does, the
connections/pools/variables from that file, DAGs unpaused. Ctrl-C stops everything it started.
Each start is a fresh demo: the SCIM apps keep accounts in memory only, so the state store is reset
with them (the Airflow metadata DB and the directory are kept; `make clean` removes everything).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from provisioning.config import app_config_path, app_config_paths
from provisioning.demo.directory import build_sqlite
from provisioning.demo.ldap_directory import start_demo_ldap
from provisioning.demo.scim_apps import seed_existing_accounts, start_scim_apps
from provisioning.demo.scim_server import ScimServer
from provisioning.demo.slapd import Slapd
from provisioning.glue.settings_import import import_settings, read_settings

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".airflow"
DEMO = REPO / ".demo"
BIN = Path(sys.executable).parent
UI = "http://localhost:8080"
ADMIN = ("admin", "admin")


def airflow_env() -> dict[str, str]:
    HOME.mkdir(exist_ok=True)
    passwords = HOME / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({ADMIN[0]: ADMIN[1]}))
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN[0]}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "PROVISIONING_APPS_DIR": str(REPO / "include" / "apps"),
    }


def airflow(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(BIN / "airflow"), *args], env=env, check=True, stdout=subprocess.DEVNULL)


def wait_for_ui(process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"airflow standalone exited with {process.returncode}; see {HOME / 'standalone.log'}"
            )
        try:
            if httpx.get(f"{UI}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(2)
    raise SystemExit("the Airflow UI did not come up within 5 minutes")


def main() -> None:
    DEMO.mkdir(exist_ok=True)
    env = airflow_env()
    if not (DEMO / "directory.db").exists():
        print(f"demo directory: {build_sqlite(DEMO / 'directory.db')}")
    (HOME / "provisioning_state.db").unlink(missing_ok=True)
    settings = read_settings(REPO / "airflow_settings.yaml", REPO)
    servers: dict[str, ScimServer] = {}
    ldap_servers: list[Slapd] = []
    standalone: subprocess.Popen | None = None

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)  # also when started with SIGINT ignored (e.g. nohup, &)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        print("starting demo SCIM apps...")
        servers = start_scim_apps(settings, DEMO)
        for conn_id, server in servers.items():
            print(f"  SCIM app {conn_id}: {server.url} (bearer token {server.token})")
        ldap_servers = start_demo_ldap(settings, DEMO / "directory.db", DEMO)
        for server in ldap_servers:
            print(f"  Active Directory (slapd) for the chat: {server.url}, the demo directory's people")
        seeded = seed_existing_accounts(settings, DEMO / "directory.db", app_config_path("demo_crm"))
        print(f"  seeded {seeded} pre-existing CRM accounts (the first cycle links them)")
        print("preparing the Airflow metadata DB (.airflow/airflow.db)...")
        airflow(env, "db", "migrate")
        counts = import_settings(REPO / "airflow_settings.yaml", REPO, str(BIN / "airflow"), env)
        print(f"  loaded airflow_settings.yaml: {counts}")
        print("preparing the state store (provisioning db upgrade)...")
        subprocess.run([str(BIN / "provisioning"), "db", "upgrade"], env=env, check=True)
        print("starting airflow standalone (log: .airflow/standalone.log)...")
        log = open(HOME / "standalone.log", "ab")  # noqa: SIM115
        standalone = subprocess.Popen(
            [str(BIN / "airflow"), "standalone"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_ui(standalone)
        for path in app_config_paths():
            airflow(env, "dags", "unpause", f"provision_{path.stem}")
        apps = ", ".join(f"provision_{p.stem}" for p in app_config_paths())
        wiki = settings["connections"]["scim_demo_wiki"]
        users_url = f"{wiki['host']}/Users?count=5&attributes=userName,active"
        print(f"""
Airflow UI:  {UI}   (login {ADMIN[0]} / {ADMIN[1]})
Provisioning page: {UI}/provisioning/ (also under Browse in the UI's navigation)
DAGs:        {apps} (unpaused; every 10 minutes, or trigger one from the UI)
See accounts appear in an app:
  curl -s -H 'Authorization: Bearer {wiki["password"]}' '{users_url}'
Press Ctrl-C to stop everything.""")
        while standalone.poll() is None:
            time.sleep(1)
        print(f"airflow standalone exited ({standalone.returncode}); see .airflow/standalone.log")
    except KeyboardInterrupt:
        print("\nstopping...")
    finally:
        if standalone and standalone.poll() is None:
            os.killpg(standalone.pid, signal.SIGTERM)
            try:
                standalone.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(standalone.pid, signal.SIGKILL)
        for server in [*servers.values(), *ldap_servers]:
            server.stop()


if __name__ == "__main__":
    main()
