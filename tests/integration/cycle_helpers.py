"""Running cycles without Airflow: the same step functions the operators call."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text

from provisioning.config.loader import DEFAULT_APPS_DIR, load_app_config
from provisioning.config.models import AppConfig
from provisioning.connectors.directory.reader import DirectoryReader
from provisioning.connectors.scim import ScimClient
from provisioning.cycle import steps
from provisioning.cycle.context import CycleContext, RunOptions
from provisioning.state import StateStore

STEPS = (steps.extract_assignments, steps.match, steps.diff, steps.apply, steps.report)
DEMO_DIVISION_TECH = ("Engineering", "Product", "Design")


class Harness:
    def __init__(self, directory: Path, scim_app, state: Path, app: str = "demo_wiki"):
        self.directory = directory
        self.scim_app = scim_app
        self.config = load_app_config(DEFAULT_APPS_DIR / f"{app}.yaml")
        self.store = StateStore(f"sqlite:///{state}")
        self.store.create_schema()
        self.cycles = 0
        self.options = RunOptions()

    def configure(self, **sections) -> None:
        """Replace top-level sections of the app config (validated as a file would be)."""
        raw = self.config.model_dump(mode="json", exclude_none=True)
        self.config = AppConfig.model_validate({**raw, **sections})

    def context(self, cycle_id: str) -> CycleContext:
        return CycleContext(
            self.config,
            cycle_id,
            self.store,
            lambda: DirectoryReader(create_engine(f"sqlite:///{self.directory}")),
            lambda: ScimClient(self.scim_app.url, self.scim_app.token, backoff_initial=0.01, max_retries=2),
            self.options,
        )

    def cycle(self) -> dict:
        self.cycles += 1
        ctx = self.context(f"cycle-{self.cycles}")
        try:
            return {step.__name__: step(ctx) for step in STEPS}
        except steps.CycleSkipped as skipped:
            return {"skipped": str(skipped)}

    def cycle_tolerant(self) -> dict:
        """A cycle as the DAG runs it: a step that raises is recorded, later steps are not run,
        and report still runs."""
        self.cycles += 1
        ctx = self.context(f"cycle-{self.cycles}")
        results = {}
        for step in STEPS[:-1]:
            try:
                results[step.__name__] = step(ctx)
            except Exception as exc:
                steps.record_failure(ctx, step.__name__, exc)
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
