"""Running cycles without Airflow: the same step functions the operators call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from sqlalchemy import create_engine, text

from provisioning.config import AppConfig
from provisioning.config.loader import DEFAULT_APPS_DIR, load_app_config
from provisioning.connectors.base import AppConnector
from provisioning.connectors.directory.registry import open_source
from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.connector import ScimConnector
from provisioning.cycle import guards, steps
from provisioning.cycle.context import CycleContext
from provisioning.cycle.options import RunOptions
from provisioning.state import StateStore
from provisioning.state.schema import upgrade as upgrade_schema

# the wiki provisions its department and division groups (tests/integration/test_groups.py)
DEPARTMENTS_AND_DIVISIONS = {
    "scope": "all",
    "scoping": [
        {
            "clauses": [
                {"attribute": "displayName", "operator": "REGEX MATCH", "value": "^(Department|Division) "}
            ]
        }
    ],
    "matching": [{"target": "externalId"}, {"target": "displayName"}],
    "mappings": [
        {"target": "displayName", "source": "displayName"},
        {"target": "externalId", "source": "id"},
    ],
}
STEPS = (steps.extract_assignments, steps.match, steps.diff, steps.apply, steps.report)
DEMO_DIVISION_TECH = ("Engineering", "Product", "Design")


class Harness:
    def __init__(
        self,
        directory: Path,
        scim_app,
        state: Path | str,
        app: str = "demo_wiki",
        timeout: float = 30.0,
        open_app: Callable[[AppConfig], AppConnector] | None = None,
    ):
        """``state``: a SQLite file, or a database URL (the PostgreSQL tier). ``open_app``: how the
        app's connector is opened, for a target that is not ``scim_app`` (any kind)."""
        self.directory = directory
        self.open_app = open_app
        self.scim_app = scim_app
        # users only, unless a test configures groups: most tests are about one thing
        self.config = load_app_config(DEFAULT_APPS_DIR / f"{app}.yaml").model_copy(update={"groups": None})
        self.store = StateStore(state if isinstance(state, str) else f"sqlite:///{state}")
        upgrade_schema(self.store.engine)
        self.cycles = 0
        self.options = RunOptions()
        self.timeout = timeout

    def configure(self, **sections) -> None:
        """Replace top-level sections of the app config (validated as a file would be)."""
        raw = self.config.model_dump(mode="json", exclude_none=True)
        self.config = AppConfig.model_validate({**raw, **sections})

    def context(self, cycle_id: str) -> CycleContext:
        return CycleContext(
            self.config,
            cycle_id,
            self.store,
            lambda: open_source(self.config.directory, self.connection, self.config.app),
            self.open_connector,
            self.options,
        )

    def open_connector(self) -> AppConnector:
        if self.open_app:
            return self.open_app(self.config)
        client = ScimClient(
            self.scim_app.url, self.scim_app.token, backoff_initial=0.01, max_retries=2, timeout=self.timeout
        )
        return ScimConnector.for_app(client, self.config)

    def connection(self, conn_id: str) -> SimpleNamespace:
        """The directory connection as Airflow would give it: the test's SQLite file."""
        return SimpleNamespace(conn_id=conn_id, conn_type="sqlite", host=str(self.directory), extra_dejson={})

    def cycle(self) -> dict:
        self.cycles += 1
        with self.context(f"cycle-{self.cycles}") as ctx:
            try:
                return {step.__name__: step(ctx) for step in STEPS}
            except guards.CycleSkipped as skipped:
                return {"skipped": str(skipped)}

    def cycle_tolerant(self) -> dict:
        """A cycle as the DAG runs it: a step that raises is recorded, later steps are not run,
        and report still runs."""
        self.cycles += 1
        results = {}
        with self.context(f"cycle-{self.cycles}") as ctx:
            for step in STEPS[:-1]:
                try:
                    results[step.__name__] = step(ctx)
                except Exception as exc:
                    guards.record_failure(ctx, step.__name__, exc)
                    results[step.__name__] = exc
                    break
            results["report"] = steps.report(ctx)
        return results

    def raw(self, section: str) -> dict:
        """One section of the app config as plain data, to edit and pass to ``configure``."""
        return self.config.model_dump(mode="json", exclude_none=True)[section]

    def sql(self, statement: str, **params) -> None:
        with create_engine(f"sqlite:///{self.directory}").begin() as conn:
            conn.execute(text(statement), params)

    def upns(self, query: str, **params) -> set[str]:
        """The first column of a query on the directory, as a set (userPrincipalNames, usually)."""
        return {row[0] for row in self.rows(query, **params)}

    def rows(self, query: str, **params) -> list[tuple]:
        with create_engine(f"sqlite:///{self.directory}").connect() as conn:
            return [tuple(row) for row in conn.execute(text(query), params)]

    def expected_wiki_users(self) -> pd.DataFrame:
        """The oracle, written independently of the engine: enabled users of the tech division's
        departments plus the directly assigned ones (the demo directory's documented layout)."""
        engine = create_engine(f"sqlite:///{self.directory}")
        users = pd.read_sql("select * from users", engine)
        direct = pd.read_sql(
            "select principal_id from app_assignments where app='demo_wiki' and principal_type='user'", engine
        )
        in_dept = users["department"].isin(DEMO_DIVISION_TECH)
        scoped = users[(in_dept | users["id"].isin(direct["principal_id"])) & (users["accountEnabled"] == 1)]
        return scoped.set_index("userPrincipalName")


# users in a group at any depth; UNION (not UNION ALL) ends the walk on membership cycles
MEMBERS_SQL = """
with recursive sub(id) as (
    select :g union select m.member_id from group_members m join sub on m.group_id = sub.id
    where m.member_type = 'group')
select u.userPrincipalName from users u join group_members m on m.member_id = u.id
where m.member_type = 'user' and m.group_id in (select id from sub)
"""


def wiki_scope(harness: Harness) -> set[str]:
    """Enabled users assigned to the wiki, directly or through its groups at any depth (SQL oracle)."""
    return assigned_scope(harness, "demo_wiki")


def assigned_scope(harness: Harness, app: str) -> set[str]:
    """Enabled users assigned to ``app``, directly or through its groups at any depth (SQL oracle;
    the demo apps' scoping filters let every demo user with an employee id through)."""
    enabled = harness.upns("select userPrincipalName from users where accountEnabled = 1")
    direct = harness.upns(
        "select u.userPrincipalName from users u join app_assignments a on a.principal_id = u.id "
        "where a.app = :app and a.principal_type = 'user'",
        app=app,
    )
    groups = harness.upns(
        "select principal_id from app_assignments where app = :app and principal_type = 'group'", app=app
    )
    via_groups = set().union(*(harness.upns(MEMBERS_SQL, g=g) for g in groups))
    return (direct | via_groups) & enabled


def expected_members(harness: Harness, group_id: str) -> set[str]:
    """Directory members at any depth that the wiki provisions."""
    return harness.upns(MEMBERS_SQL, g=group_id) & wiki_scope(harness)


def directory_groups(harness: Harness) -> dict[str, str]:
    rows = harness.rows(
        "select id, displayName from groups where displayName like 'Department %' "
        "or displayName like 'Division %'"
    )
    return dict(rows)


def assert_drift_notes(store: StateStore, cycle_id: str, edited: str, disabled: str, deleted: str) -> None:
    """The notes a full reconcile logs after an account was edited, one disabled and one deleted in
    the app behind our back, and a stranger added to Department Product."""
    notes = {
        r["source_display"]: r
        for r in store.log("demo_wiki", cycle_id)
        if r["action"] == "note" and r["error_code"] in ("DriftDetected", "MissingInApp")
    }
    assert notes[edited]["error_message"] == "changed in the app: title"
    assert notes[disabled]["error_message"] == "changed in the app: active"
    assert notes[deleted]["error_code"] == "MissingInApp"
    assert notes["Department Product"]["error_message"].startswith("members changed in the app: ")
