"""The Provisioning page for real: Airflow's API server started by the test (its own home and
migrated metadata DB, a free port, this repo's plugins folder; not ``airflow standalone``, which
forces the simple auth manager), a state store filled by a real cycle against a real SCIM
server, and headless Debian Chromium driven by Playwright logging in like a person would. Two
users: ``admin`` reads every DAG, ``reader`` only the demo CRM's (a per-DAG auth manager,
tests/support/per_dag_auth_manager.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from provisioning.state.provisioning_log import LOG_ACTIONS
from tests.conftest import REPO, demo_config
from tests.integration.cycle_helpers import Harness

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "tests" / "ui" / "screenshots"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory, directory_db_module, scim_app_module):
    """A running Airflow API server with the demo wiki (one cycle in its log), the demo CRM (no
    cycle yet) and a broken config installed."""
    home = tmp_path_factory.mktemp("ui-airflow")
    apps, dags = home / "apps", home / "dags"
    apps.mkdir(), dags.mkdir()
    state = home / "state.db"
    harness = Harness(directory_db_module, scim_app_module, state)
    harness.cycle()
    import yaml

    for app in ("demo_wiki", "demo_crm"):
        config = {**demo_config(app), "state_conn_id": "ui_state"}
        config["directory"] = {**config["directory"], "conn_id": "ui_directory"}
        config["target"] = {**config["target"], "conn_id": "ui_scim"}
        (apps / f"{app}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (dags / f"provision_{app}.py").write_text((REPO / "dags" / "provision_demo_wiki.py").read_text())
    broken = {**demo_config("demo_wiki", "broken_app"), "log_retention_days": 0}
    (apps / "broken_app.yaml").write_text(yaml.safe_dump(broken, sort_keys=False))
    (home / "passwords.json").write_text(json.dumps({"admin": "admin", "reader": "reader"}))
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(REPO),  # the auth manager below
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.support.per_dag_auth_manager.PerDagAuthManager",
        "PROVISIONING_TEST_DAG_GRANTS": json.dumps({"reader": ["provision_demo_crm"]}),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,reader:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "PROVISIONING_APPS_DIR": str(apps),
        "AIRFLOW_CONN_UI_STATE": json.dumps({"conn_type": "sqlite", "host": str(state)}),
        "AIRFLOW_CONN_UI_DIRECTORY": json.dumps({"conn_type": "sqlite", "host": str(directory_db_module)}),
        "AIRFLOW_CONN_UI_SCIM": json.dumps(
            {"conn_type": "scim", "host": scim_app_module.url, "password": scim_app_module.token}
        ),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    migrated = subprocess.run(
        [airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
    log = open(home / "api-server.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [airflow, "api-server"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, (home / "api-server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API server did not come up in 5 minutes"
            time.sleep(2)
        yield url, harness
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def provisioning_page(playwright, url: str, user: str):
    """Chromium signed in to Airflow as ``user`` (password = name), on the Provisioning page
    opened as a signed-in person would: the browser, to close, and the page."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", user)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/auth/login" not in u and "login" not in u, timeout=60_000)
    page.goto(f"{url}/provisioning/")
    return browser, page


def token(url: str, user: str = "admin") -> str:
    response = httpx.post(f"{url}/auth/token", json={"username": user, "password": user}, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def test_every_endpoint_refuses_anonymous_callers(airflow_ui):
    url, _ = airflow_ui
    paths = ("/", "/api/apps", "/api/log", "/api/log.csv", "/api/cycles?app=demo_wiki", "/static/page.js")
    for path in (f"/provisioning{p}" for p in paths):
        assert httpx.get(url + path, timeout=30).status_code == 401, path
    bogus = {"Authorization": "Bearer not-a-token"}
    assert httpx.get(f"{url}/provisioning/api/apps", headers=bogus, timeout=30).status_code == 401
    assert (
        httpx.get(f"{url}/provisioning/api/log", cookies={"_token": "forged"}, timeout=30).status_code == 401
    )


def test_the_api_answers_an_authenticated_user(airflow_ui):
    url, harness = airflow_ui
    headers = {"Authorization": f"Bearer {token(url)}"}
    crm, wiki = httpx.get(f"{url}/provisioning/api/apps", headers=headers, timeout=30).json()
    assert (crm["app"], crm["last_cycle"]) == ("demo_crm", None)
    assert wiki["app"] == "demo_wiki" and wiki["state"] in ("active", "paused")
    assert wiki["last_cycle"]["status"] == "succeeded"
    expected = len(harness.expected_wiki_users())
    assert wiki["last_cycle"]["actions"]["user"]["create"]["succeeded"] == expected
    upn = sorted(harness.expected_wiki_users().index)[3]
    page = httpx.get(
        f"{url}/provisioning/api/log",
        params={"user": upn[:12], "action": "create"},
        headers=headers,
        timeout=30,
    ).json()
    assert upn in {r["source_display"] for r in page["rows"]}
    assert all(r["source_display"].startswith(upn[:12]) for r in page["rows"])
    csv = httpx.get(
        f"{url}/provisioning/api/log.csv", params={"status": "success"}, headers=headers, timeout=30
    )
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("time,app,cycle_id") and len(lines) == expected + 1


def test_a_person_finds_the_app_and_a_log_entry_in_a_real_browser(airflow_ui):
    from playwright.sync_api import expect, sync_playwright

    url, harness = airflow_ui
    upn = sorted(harness.expected_wiki_users().index)[7]
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser, page = provisioning_page(p, url, "admin")
        row = page.locator("#apps tbody tr[data-app=demo_wiki]")
        row.wait_for(timeout=30_000)
        assert "succeeded" in row.inner_text()
        broken = page.locator("#config-errors .broken[data-app=broken_app]")
        expect(broken).to_contain_text("log_retention_days")
        assert page.locator("#config-errors").is_visible()
        actions = page.locator("select[name=action] option")
        expect(actions).to_have_count(1 + len(LOG_ACTIONS))  # "any" and the served vocabulary
        page.fill("input[name=user]", upn)
        page.click("#filters button[type=submit]")
        entry = page.locator("#log tbody tr.entry", has_text=upn)
        # the unfiltered first page may still be showing: wait for the search's answer
        expect(page.locator("#log tbody tr.entry")).to_have_count(1, timeout=30_000)
        assert entry.count() == 1
        entry.first.click()
        detail = page.locator("#log tbody tr.detail").first
        assert "modified properties" in detail.inner_text() and upn in detail.inner_text()
        assert page.locator("#chart rect").count() >= 1  # the app that has run, not the first
        expect(page.locator("#chart-app")).to_contain_text("demo_wiki")
        page.screenshot(path=str(SCREENSHOTS / "provisioning_page.png"), full_page=True)
        browser.close()


def test_a_reader_of_one_dag_sees_that_app_alone_through_airflows_auth_manager(airflow_ui):
    """``reader`` may read provision_demo_crm only: the wiki's cycle, log rows and name stay hidden
    on every endpoint and in the CSV, asking for it by name is 403, and the page in a browser
    lists the CRM alone."""
    from playwright.sync_api import expect, sync_playwright

    url, harness = airflow_ui
    reader = {"Authorization": f"Bearer {token(url, 'reader')}"}

    def get(path: str, **params) -> httpx.Response:
        return httpx.get(f"{url}/provisioning{path}", params=params, headers=reader, timeout=30)

    shown = get("/api/apps").json()
    assert [a["app"] for a in shown] == ["demo_crm"], shown
    assert get("/api/config-errors").json() == []  # broken_app's DAG is not the reader's
    assert get("/api/log", limit=200).json()["rows"] == []
    assert get("/api/log.csv").text.strip().splitlines() == [get("/api/log.csv").text.splitlines()[0]]
    for path in ("/api/apps", "/api/config-errors", "/api/log", "/api/log.csv"):
        assert "demo_wiki" not in get(path).text and "broken_app" not in get(path).text, path
    for path in ("/api/log", "/api/log.csv", "/api/cycles"):
        refused = get(path, app="demo_wiki")
        assert refused.status_code == 403, path
        assert "you may not read app 'demo_wiki'" in refused.json()["detail"]
        assert harness.expected_wiki_users().index[0] not in refused.text
    assert get("/api/cycles", app="demo_crm").json() == []

    with sync_playwright() as p:
        browser, page = provisioning_page(p, url, "reader")
        page.locator("#apps tbody tr[data-app=demo_crm]").wait_for(timeout=30_000)
        expect(page.locator("#apps tbody tr")).to_have_count(1)
        expect(page.locator("#apps tbody tr[data-app=demo_wiki]")).to_have_count(0)
        expect(page.locator("#log tbody tr.entry")).to_have_count(0)
        expect(page.locator("#config-errors .broken")).to_have_count(0)
        page.screenshot(path=str(SCREENSHOTS / "provisioning_page_reader.png"), full_page=True)
        browser.close()


def test_the_scim_connection_type_shows_in_the_form_and_tests_for_real(airflow_ui, scim_app_module):
    url, _ = airflow_ui
    headers = {"Authorization": f"Bearer {token(url)}"}
    meta = httpx.get(f"{url}/ui/connections/hook_meta", headers=headers, timeout=60).json()
    (scim,) = [m for m in meta if m["connection_type"] == "scim"]
    assert scim["hook_name"] == "SCIM 2.0 app"
    assert scim["standard_fields"]["host"]["title"] == "SCIM base URL"
    assert scim["standard_fields"]["password"]["title"] == "Bearer token or client secret"
    assert scim["extra_fields"]["timeout"]["schema"]["title"] == "Timeout (seconds)"
    (ldap,) = [m for m in meta if m["connection_type"] == "ldap"]
    assert ldap["hook_name"] == "LDAP directory"
    assert ldap["standard_fields"]["login"]["title"] == "Bind DN" and "schema" not in ldap["standard_fields"]
    assert ldap["extra_fields"]["tls"]["schema"]["title"] == "TLS"
    (synapse,) = [m for m in meta if m["connection_type"] == "synapse"]
    assert synapse["hook_name"] == "Matrix Synapse"
    assert synapse["standard_fields"]["host"]["title"] == "Homeserver URL"
    assert synapse["standard_fields"]["password"]["title"] == "Admin access token"
    assert synapse["standard_fields"]["login"]["hidden"] is True
    assert synapse["extra_fields"]["page_size"]["schema"]["title"] == "Page size"

    def test(password: str) -> dict:
        body = {
            "connection_id": "any",
            "conn_type": "scim",
            "host": scim_app_module.url,
            "password": password,
        }
        response = httpx.post(f"{url}/api/v2/connections/test", json=body, headers=headers, timeout=60)
        response.raise_for_status()
        return response.json()

    ok = test(scim_app_module.token)
    assert ok["status"] is True and ok["message"].startswith(f"connected to {scim_app_module.url}")
    refused = test("wrong-token-8812")
    assert refused["status"] is False and "401" in refused["message"]
    assert "wrong-token-8812" not in refused["message"]


def test_the_api_names_the_hold_an_approval_needs(airflow_ui):
    """Last in this module: it changes the shared directory."""
    url, harness = airflow_ui
    harness.sql("delete from app_assignments where principal_id = 'g-division-tech'")
    held = harness.cycle()
    assert held["report"]["status"] == "staged"
    headers = {"Authorization": f"Bearer {token(url)}"}
    _, wiki = httpx.get(f"{url}/provisioning/api/apps", headers=headers, timeout=30).json()
    cycle_id = held["report"]["cycle_id"]
    assert wiki["staged"] == held["report"]["staged"]
    assert wiki["hold"]["cycle_id"] == cycle_id
    assert "account removal(s) held" in wiki["hold"]["reason"]
