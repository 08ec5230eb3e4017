"""Reading the directory from a real SQLite database, through an Airflow connection."""

import re

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from provisioning.config.directory import SqlDirectoryConfig
from provisioning.connectors.directory.base import DirectoryError
from provisioning.connectors.directory.registry import open_source
from provisioning.connectors.directory.sql import SqlDirectorySource
from provisioning.connectors.sql import SqlAlchemyHook
from provisioning.cycle.source_checks import refuse_repeated_ids
from provisioning.demo.directory import build_sqlite
from tests.conftest import connection_env


@pytest.fixture
def engine(tmp_path):
    build_sqlite(tmp_path / "d.db", users=50, seed=3)
    return create_engine(f"sqlite:///{tmp_path / 'd.db'}")


def test_reads_the_documented_relations(engine):
    snapshot = SqlDirectorySource(engine).read()
    assert len(snapshot.users) == 50
    assert set(snapshot.memberships.columns) == {"group_id", "member_id", "member_type"}
    assert set(snapshot.assignments["app"]) == {"demo_wiki", "demo_crm"}


def test_each_distinct_string_is_read_once_and_the_frames_are_as_pandas_reads_them(engine):
    with engine.begin() as conn:
        # a null in a text column and in an integer one (which pandas reads as floats)
        conn.execute(text("update users set department=NULL where id in (select id from users limit 3)"))
        conn.execute(text("alter table users add column level integer"))
        conn.execute(text("update users set level=7 where id in (select id from users limit 2)"))
    snapshot = SqlDirectorySource(engine).read(["level"])
    with engine.connect() as conn:
        users = pd.read_sql(text("select * from users"), conn)
        memberships = pd.read_sql(text("select * from group_members"), conn)
    pd.testing.assert_frame_equal(snapshot.users, users[snapshot.users.columns])
    pd.testing.assert_frame_equal(snapshot.memberships, memberships[snapshot.memberships.columns])
    by_id = {user_id: user_id for user_id in snapshot.users["id"]}
    member = snapshot.memberships.loc[snapshot.memberships["member_type"] == "user", "member_id"].iloc[0]
    assert member is by_id[member]  # the membership names the user's own id string
    assert snapshot.users["mail"].iloc[0] is snapshot.users["userPrincipalName"].iloc[0]


def test_views_under_other_names_and_extra_columns(engine):
    with engine.begin() as conn:
        conn.execute(text("alter table users add column costCenter text"))
        conn.execute(text("update users set costCenter='CC-' || id"))
        conn.execute(text("create view v_people as select * from users where department='Engineering'"))
    snapshot = SqlDirectorySource(engine, {"users": "v_people"}).read(["costCenter"])
    assert set(snapshot.users["department"]) == {"Engineering"}
    assert snapshot.users["costCenter"].str.startswith("CC-").all()


def test_a_missing_column_names_the_relation_and_columns(engine):
    with engine.begin() as conn:
        conn.execute(text("alter table users drop column jobTitle"))
    with pytest.raises(DirectoryError) as info:
        SqlDirectorySource(engine).read()
    assert "directory relation 'users' lacks column(s) jobTitle" in str(info.value)


def test_a_missing_relation_is_named(engine):
    with pytest.raises(DirectoryError, match="relation 'app_assignments_v2' does not exist"):
        SqlDirectorySource(engine, {"app_assignments": "app_assignments_v2"}).read()


def test_repeated_ids_are_refused_before_anything_is_planned(engine):
    # a NULL id is only its row's problem (tests/integration/test_truthful_state.py)
    with engine.begin() as conn:
        conn.execute(text("create table users2 as select * from users"))  # no primary key: allows bad rows
        conn.execute(
            text("insert into users2 (id, userPrincipalName, accountEnabled) values ('u0000001', 'dup@x', 1)")
        )
    with pytest.raises(DirectoryError, match=re.escape("directory relation 'users2' repeats id(s) u0000001")):
        refuse_repeated_ids(SqlDirectorySource(engine, {"users": "users2"}).read().users, "users2")


def test_the_registry_opens_the_sql_source_from_its_airflow_connection(engine, tmp_path, monkeypatch):
    from airflow.sdk import BaseHook

    with engine.begin() as conn:
        conn.execute(text("create view v_people as select * from users where department='Engineering'"))
    monkeypatch.setenv(
        *connection_env(
            "d_dir",
            conn_type="sqlite",
            host=str(tmp_path / "d.db"),
            extra={"relations": {"users": "v_people"}},
        )
    )
    source = open_source(SqlDirectoryConfig(conn_id="d_dir"), BaseHook.get_connection, "d")
    assert isinstance(source, SqlDirectorySource) and source.relations["users"] == "v_people"
    assert set(source.read().users["department"]) == {"Engineering"}


def test_sql_hook_builds_urls_from_connections(tmp_path, monkeypatch):
    monkeypatch.setenv(*connection_env("d_sqlite", conn_type="sqlite", host=str(tmp_path / "x.db")))
    monkeypatch.setenv(
        *connection_env(
            "d_pg",
            conn_type="postgres",
            host="db.internal",
            port=5432,
            login="reader",
            password="s3cret",
            schema="hr",
        )
    )
    monkeypatch.setenv(*connection_env("d_url", conn_type="generic", extra={"sqlalchemy_url": "sqlite://"}))
    monkeypatch.setenv(*connection_env("d_bad", conn_type="ftp", host="x"))
    assert str(SqlAlchemyHook("d_sqlite").sqlalchemy_url()) == f"sqlite:///{tmp_path / 'x.db'}"
    pg = SqlAlchemyHook("d_pg").sqlalchemy_url()
    assert pg.render_as_string(hide_password=True) == "postgresql+psycopg2://reader:***@db.internal:5432/hr"
    assert str(SqlAlchemyHook("d_url").sqlalchemy_url()) == "sqlite://"
    with pytest.raises(ValueError, match="has type 'ftp'"):
        SqlAlchemyHook("d_bad").sqlalchemy_url()
