"""The state store's schema is migrated, never created at first use: the migrations shipped in the
package end at the schema the code uses, and a store made before migrations existed (yesterday's
release, or one from before the safety release) is adopted with its links, after which cycles go on
with zero writes to the app."""

from collections import Counter

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from provisioning.engine.vocabulary import ObjectType
from provisioning.state import tables
from provisioning.state.schema import (
    StateStoreNotReady,
    current_revision,
    head_revision,
    require_current,
    upgrade,
)
from tests.integration.cycle_helpers import DEPARTMENTS_AND_DIVISIONS, Harness


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("pg_database")
    return f"sqlite:///{tmp_path / 'state.db'}"


def schema_drift(url: str) -> list:
    with create_engine(url).connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), tables.metadata)


def test_migrations_create_exactly_the_schema_the_code_uses(state_url):
    engine = create_engine(state_url)
    assert upgrade(engine) == (None, head_revision())
    assert schema_drift(state_url) == []
    assert upgrade(engine) == (head_revision(), head_revision())  # a second upgrade does nothing


# what a release before migrations lacked, by release: it made its tables with create_all
EARLIER_RELEASES = {
    "yesterday": [],
    "before_safety": [
        "ALTER TABLE links DROP COLUMN endpoint",
        "ALTER TABLE outbox DROP COLUMN approved_by",
        "DROP INDEX ix_log_app_id",
        "DROP TABLE holds",
        "DROP TABLE held_changes",
        "DROP TABLE directory_health",
        "DROP TABLE leases",
        "DROP TABLE retired_links",
    ],
}
VARCHAR_IDS = [  # PostgreSQL only: ids were VARCHAR(n) before they became text
    "ALTER TABLE links ALTER COLUMN source_id TYPE varchar(128)",
    "ALTER TABLE provisioning_log ALTER COLUMN source_display TYPE varchar(256)",
]


@pytest.mark.parametrize("release", sorted(EARLIER_RELEASES))
def test_a_store_made_before_migrations_is_adopted_and_cycles_go_on_with_zero_writes(
    state_url, release, directory_db, scim_app, tmp_path
):
    harness = Harness(directory_db, scim_app, state_url)
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS})
    assert harness.cycle()["report"]["status"] == "succeeded"
    links = {kind: harness.store.links("demo_wiki", kind) for kind in ObjectType}
    members = harness.store.members("demo_wiki")
    assert links[ObjectType.USER] and links[ObjectType.GROUP] and members

    engine = harness.store.engine
    first = create_engine(f"sqlite:///{tmp_path / 'first.db'}")
    upgrade(first, "0001")
    later = set(tables.metadata.tables) - set(inspect(first).get_table_names())
    later_columns = [  # columns revisions after the first added to its tables
        (name, column.name)
        for name, table in tables.metadata.tables.items()
        if name not in later
        for column in table.columns
        if column.name not in {c["name"] for c in inspect(first).get_columns(name)}
    ]
    with engine.begin() as conn:  # now as that release left it: no version, and what it lacked
        conn.execute(text("DROP TABLE alembic_version"))
        for table in later:  # tables revisions after the first added
            conn.execute(text(f"DROP TABLE {table}"))
        for table, column in later_columns:
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        for statement in EARLIER_RELEASES[release] + (VARCHAR_IDS if "postgres" in state_url else []):
            conn.execute(text(statement))
    assert current_revision(engine) is None
    with pytest.raises(StateStoreNotReady, match="has no schema version"):
        require_current(engine)

    assert upgrade(engine) == (None, head_revision())
    assert schema_drift(state_url) == []
    assert {kind: harness.store.links("demo_wiki", kind) for kind in ObjectType} == links
    assert harness.store.members("demo_wiki") == members

    scim_app.proxy.reset()
    after = harness.cycle()
    assert after["report"]["status"] == "succeeded"
    assert scim_app.proxy.writes() == []
    names = Counter(u["userName"].lower() for u in scim_app.users())
    assert set(names) == set(harness.expected_wiki_users().index) and max(names.values()) == 1


def test_steps_refuse_a_store_behind_or_ahead_of_this_release(tmp_path):
    behind = create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(StateStoreNotReady, match=r"has no schema version.*run `provisioning db upgrade`"):
        require_current(behind)

    ahead = create_engine(f"sqlite:///{tmp_path / 'ahead.db'}")
    upgrade(ahead)
    with ahead.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(StateStoreNotReady, match="revision f00d, which this release does not know"):
        require_current(ahead)
