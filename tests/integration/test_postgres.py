"""Production-like tier: directory and state store on the machine's PostgreSQL (127.0.0.1:5432,
trust auth), each test in a database of its own (the ``pg_database`` fixture)."""

from sqlalchemy import create_engine, text

from provisioning.connectors.directory.sql import SqlDirectorySource
from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.connector import ScimConnector
from provisioning.cycle import steps
from provisioning.cycle.context import CycleContext
from provisioning.demo.directory import build
from provisioning.state import StateStore
from provisioning.state.schema import upgrade as upgrade_schema
from tests.integration.cycle_helpers import STEPS, Harness


def test_cycles_with_postgres_directory_and_state_store(pg_database, scim_app, tmp_path):
    engine = create_engine(pg_database)
    build(engine, users=200, seed=5)
    store = StateStore(pg_database)
    upgrade_schema(store.engine)
    harness = Harness(tmp_path / "unused.db", scim_app, tmp_path / "unused-state.db")

    def cycle(cycle_id):
        ctx = CycleContext(
            harness.config,
            cycle_id,
            store,
            lambda: SqlDirectorySource(engine),
            lambda: ScimConnector.for_app(ScimClient(scim_app.url, scim_app.token), harness.config),
        )
        return {step.__name__: step(ctx) for step in STEPS}

    first = cycle("pg-1")
    created = first["apply"]["succeeded"]
    assert created > 0 and first["report"]["status"] == "succeeded"
    assert len(scim_app.users()) == created == len(store.links("demo_wiki"))
    scim_app.proxy.reset()
    with engine.begin() as conn:
        conn.execute(text("update users set \"jobTitle\"='Chief' where id='u0000000'"))
    second = cycle("pg-2")
    assert second["diff"]["counts"]["update"] == 1
    assert [r.method for r in scim_app.proxy.writes()] == ["PATCH"]
    # the page's chart: each cycle's actions summed per status by PostgreSQL's JSON functions
    totals = [(c["cycle_id"], c["succeeded"], c["failed"]) for c in store.cycle_totals("demo_wiki")]
    assert totals == [("pg-1", created, 0), ("pg-2", 1, 0)]
    (entry,) = store.log("demo_wiki", "pg-2")
    assert entry["modified_properties"][0]["new"] == "Chief"
    assert steps.report  # the same step functions as on SQLite
