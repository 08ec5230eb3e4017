"""Any directory source gets the checks above the sources: a source written only in this test
(an in-memory one, registered under its own kind) is refused with the SQL source's messages."""

import re
from typing import Literal

import pandas as pd
import pytest

from provisioning.config.directory_section import DirectorySection
from provisioning.config.loader import DEFAULT_APPS_DIR, load_app_config
from provisioning.connectors.directory import registry
from provisioning.connectors.directory.base import RELATIONS, DirectoryError, DirectorySnapshot
from provisioning.cycle.context import CycleContext
from provisioning.cycle.preview import preview
from provisioning.cycle.steps import extract_assignments
from provisioning.cycle.steps.artifacts import DESIRED_USERS
from provisioning.engine.directory_model import USER_ATTRIBUTES
from provisioning.state import StateStore
from provisioning.state.schema import upgrade as upgrade_schema

APP = "demo_wiki"


class MemoryDirectoryConfig(DirectorySection):
    kind: Literal["memory"] = "memory"


class MemorySource:
    """A source that returns the frames it was given; it checks nothing, as a source should not."""

    min_users_ratio = None

    def __init__(self, users: list[dict]):
        self.relations = {**{name: name for name in RELATIONS}, "users": "people"}
        self.users = users

    def read(self, extra_user_attributes=(), extra_group_attributes=()) -> DirectorySnapshot:
        return DirectorySnapshot(
            pd.DataFrame(self.users, columns=[*USER_ATTRIBUTES, *extra_user_attributes]),
            pd.DataFrame(columns=["id", "displayName", *extra_group_attributes]),
            pd.DataFrame(columns=["group_id", "member_id", "member_type"]),
            pd.DataFrame(
                [{"app": APP, "principal_id": u["id"], "principal_type": "user"} for u in self.users],
                columns=["app", "principal_id", "principal_type"],
            ),
        )


def person(source_id: str | None, upn: str) -> dict:
    return {"id": source_id, "userPrincipalName": upn, "mail": upn, "accountEnabled": True, "surname": "X"}


@pytest.fixture
def open_context(tmp_path, monkeypatch):
    """A cycle of the demo wiki whose directory is the in-memory source, found by its kind."""
    config = load_app_config(DEFAULT_APPS_DIR / f"{APP}.yaml").model_copy(
        update={"groups": None, "directory": MemoryDirectoryConfig(conn_id="hr_memory")}
    )
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade_schema(store.engine)

    def open_context(users: list[dict]) -> CycleContext:
        def factory(section, get_connection, app):
            assert get_connection(section.conn_id) == "the hr_memory connection" and app == APP
            return MemorySource(users)

        monkeypatch.setitem(registry.SOURCES, "memory", factory)
        return CycleContext(
            config,
            "cycle-1",
            store,
            lambda: registry.open_source(config.directory, lambda conn_id: f"the {conn_id} connection", APP),
            lambda: pytest.fail("reading the directory needs no app"),
        )

    return open_context


def test_repeated_ids_are_refused_with_the_sql_sources_message(open_context):
    ctx = open_context(
        [person("u1", "a@x.example"), person("u1", "b@x.example"), person("u2", "c@x.example")]
    )
    message = re.escape("directory relation 'people' repeats id(s) u1: ids must be unique")
    with pytest.raises(DirectoryError, match=message):
        extract_assignments(ctx)
    with pytest.raises(DirectoryError, match=message):  # the preview reads through the same checks
        preview(ctx, "c@x.example")


def test_no_users_while_accounts_are_linked_is_refused(open_context):
    ctx = open_context([])
    extract_assignments(ctx)  # a new app with an empty directory: nothing to refuse
    ctx.store.upsert_links(
        APP,
        [
            {
                "source_id": "u1",
                "target_id": "t1",
                "matched_by": "created",
                "attributes": {},
                "active": True,
                "endpoint": None,
            }
        ],
    )
    with pytest.raises(
        DirectoryError, match=r"the directory returned no users while 1 accounts are linked in demo_wiki"
    ):
        extract_assignments(ctx)


def test_a_null_id_is_only_its_rows_problem(open_context):
    ctx = open_context([person(None, "noid@x.example"), person("u2", "c@x.example")])
    assert extract_assignments(ctx)["in_scope"] == 2
    desired = {r["source_id"]: r for r in ctx.store.get_artifact(APP, "cycle-1", DESIRED_USERS)}
    bad = desired["(null id) noid@x.example"]
    assert (bad["error_code"], bad["error"]) == (
        "InvalidDirectoryData",
        "the directory row has a null id (users.id): it cannot be provisioned",
    )
    assert desired["u2"]["error"] is None and desired["u2"]["attributes"]["userName"] == "c@x.example"


def test_a_kind_no_source_serves_is_named():
    known = r"\(known kinds: sql, ldap, hr_file\)"
    with pytest.raises(DirectoryError, match=rf"no directory source of kind 'memory' {known}"):
        registry.open_source(MemoryDirectoryConfig(conn_id="x"), lambda conn_id: None, APP)
