"""A real DAG run (dag.test, real SQLite metadata DB) of an app whose target is a real slapd: the
generated DAG opens the LDAP target through the registry, from an Airflow connection of the
``ldap`` type, as a deployment's would."""

from __future__ import annotations

import shutil

import pytest
import yaml
from sqlalchemy import create_engine, text

from provisioning.cli import db
from provisioning.demo.slapd import Slapd, slapd_installed
from provisioning.state import StateStore
from tests.airflow.dag_runs import run_dag, xcoms
from tests.conftest import REPO, SESSION_HOME, connection_env
from tests.integration.cycle_helpers import Harness
from tests.support.ldap_server import ou
from tests.support.ldap_target import (
    DISABLED,
    GROUPS,
    GROUPS_SECTION,
    PEOPLE,
    USERS,
    connection_fields,
    target,
)

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.skipif(not slapd_installed(), reason="slapd is installed by `make test`"),
]

APP = "ldap_wiki"


@pytest.fixture
def ldap_app(airflow_db, directory_db, monkeypatch, tmp_path):
    """demo_wiki's people, provisioned into slapd by the DAG ``provision_ldap_wiki``."""
    with create_engine(f"sqlite:///{directory_db}").begin() as conn:  # assigned as the wiki is
        conn.execute(
            text(
                "insert into app_assignments (app, principal_id, principal_type) "
                "select :app, principal_id, principal_type from app_assignments where app = 'demo_wiki'"
            ),
            {"app": APP},
        )
    with Slapd(tmp_path / "slapd", ou(PEOPLE) + ou(GROUPS) + ou(DISABLED)) as server:
        raw = yaml.safe_load((REPO / "include" / "apps" / "demo_wiki.yaml").read_text())
        raw.update(
            app=APP,
            retries=0,  # dag.test() would really wait out each retry delay
            directory={"conn_id": f"dir_{APP}"},
            target={**target(server.port), "conn_id": f"ldap_{APP}"},
            users=USERS,
            groups=GROUPS_SECTION,
            state_conn_id=f"state_{APP}",
        )
        (SESSION_HOME / "apps" / f"{APP}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        shutil.copy(REPO / "dags" / "provision_demo_wiki.py", SESSION_HOME / "dags" / f"provision_{APP}.py")
        for conn_id, fields in (
            (f"dir_{APP}", {"conn_type": "sqlite", "host": str(directory_db)}),
            (f"ldap_{APP}", connection_fields(server.port)),
            (f"state_{APP}", {"conn_type": "sqlite", "host": str(tmp_path / "state.db")}),
        ):
            monkeypatch.setenv(*connection_env(conn_id, **fields))
        assert db("upgrade", SESSION_HOME / "apps", f"state_{APP}") == 0
        try:
            yield server, StateStore(f"sqlite:///{tmp_path / 'state.db'}")
        finally:
            (SESSION_HOME / "apps" / f"{APP}.yaml").unlink(missing_ok=True)
            (SESSION_HOME / "dags" / f"provision_{APP}.py").unlink(missing_ok=True)


def test_the_dag_provisions_into_ldap_then_changes_nothing(ldap_app, directory_db, tmp_path):
    server, store = ldap_app
    oracle = Harness(directory_db, None, tmp_path / "unused.db", app="demo_wiki")
    expected = set(oracle.expected_wiki_users().index)  # the wiki's people: assigned the same way

    first = run_dag(APP)
    assert str(first.state) == "success"
    conn = server.admin()
    uids = {attrs["uid"][0].decode() for _, attrs in conn.search_s(PEOPLE, 1, "(uid=*)", ["uid"])}
    assert uids == expected
    values = xcoms(first)
    assert values["report"]["status"] == "succeeded"
    assert values["report"]["actions"]["user"] == {"create": {"succeeded": len(expected)}}
    assert store.endpoints(APP) == {server.url: len(store.links(APP)) + len(store.links(APP, "group"))}

    second = run_dag(APP)
    assert str(second.state) == "success"
    assert xcoms(second)["diff"]["counts"]["unchanged"] == len(expected)
