"""The LDAP target against a real OpenLDAP slapd on 127.0.0.1 (Debian's package, started per test
with a generated config): whole cycles of the real steps from the demo SQLite directory, opened
through the target registry from an Airflow connection of the ``ldap`` type. Each test reads what
slapd holds afterwards, and the provisioning log.

slapd runs without the refint overlay: member values follow renames and moves because the
connector rewrites them (docs/targets/ldap.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import ldap
import pytest

from provisioning.connectors.errors import AppUnusable, NotFound, Rejected, TransientError
from provisioning.connectors.targets import open_target
from provisioning.cycle import steps
from provisioning.cycle.options import RunOptions
from provisioning.demo.slapd import READER_DN, READER_PASSWORD, Slapd, slapd_installed
from provisioning.engine.expressions.functions import normalize_diacritics
from provisioning.engine.vocabulary import Action, LogStatus
from tests.conftest import REPO, connection_env
from tests.integration.cycle_helpers import directory_groups, expected_members, wiki_scope
from tests.support.ldap_server import ou, tls_files
from tests.support.ldap_target import (
    CONN_ID,
    DISABLED,
    GROUPS,
    PEOPLE,
    LdapHarness,
    connection_fields,
    target,
)

pytestmark = pytest.mark.skipif(not slapd_installed(), reason="slapd is installed by `make test`")

APP = "demo_wiki"


@pytest.fixture
def directory_small(tmp_path):
    """A generated directory of 120 users (demo_wiki gets ~35 of them in scope)."""
    from provisioning.demo.directory import build_sqlite

    path = tmp_path / "directory.db"
    build_sqlite(path, users=120, seed=11)
    return path


@pytest.fixture
def slapd(tmp_path):
    with Slapd(tmp_path / "slapd", ou(PEOPLE) + ou(GROUPS) + ou(DISABLED)) as server:
        yield server


@pytest.fixture
def harness(directory_small, slapd, tmp_path):
    return LdapHarness(directory_small, tmp_path / "state.db", slapd.port)


def member_uids(harness: LdapHarness, group: dict) -> set[str]:
    """The uids of a group's member DNs, each checked to name an existing user entry."""
    by_dn = {ldap.dn.dn2str(ldap.dn.str2dn(a["dn"][0])).lower(): uid for uid, a in harness.people().items()}
    return {by_dn[ldap.dn.dn2str(ldap.dn.str2dn(m)).lower()] for m in group.get("member", [])}


def assert_groups_exact(harness: LdapHarness) -> None:
    groups = harness.groups()
    wanted = directory_groups(harness)
    assert set(groups) == set(wanted.values())
    for group_id, name in wanted.items():
        members = expected_members(harness, group_id)
        if members:
            assert member_uids(harness, groups[name]) == members, name
        else:  # groupOfNames needs a member: the group holds its own DN
            assert groups[name]["member"] == groups[name]["dn"], name


def changes(result: dict) -> int:
    """How many user actions a cycle's diff planned."""
    return sum(n for action, n in result["diff"]["counts"].items() if action in set(Action))


def user_row(harness: LdapHarness, upn: str) -> tuple[str, str]:
    """(directory id, display name) of a user in scope."""
    return harness.rows("select id, displayName from users where userPrincipalName = :u", u=upn)[0]


def test_first_cycle_creates_users_and_groups_then_a_second_changes_nothing(harness):
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    expected = harness.expected_wiki_users()
    people = harness.people()
    assert set(people) == set(expected.index)
    for upn, attrs in people.items():
        row = expected.loc[upn]
        assert attrs["dn"] == [f"uid={upn},{PEOPLE}"]
        assert attrs["objectClass"] == ["inetOrgPerson"]
        assert (attrs["cn"], attrs["sn"]) == ([row["displayName"]], [row["surname"]])
        assert attrs["mail"] == [normalize_diacritics(row["mail"])]  # IA5: the config folds accents
        assert attrs["employeeNumber"] == [row["id"]] and "employeeType" not in attrs
    assert_groups_exact(harness)

    links = harness.store.links(APP)
    assert {link.target_id for link in links.values()} == {a["entryUUID"][0] for a in people.values()}
    groups = harness.store.links(APP, "group")
    assert harness.store.endpoints(APP) == {f"ldap://127.0.0.1:{harness.port}": len(links) + len(groups)}
    log = harness.store.log(APP)
    creates = Counter(
        (r["object_type"], r["action"], r["status"]) for r in log if r["action"] == Action.CREATE
    )
    assert creates == {
        ("user", Action.CREATE, LogStatus.SUCCESS): len(expected),
        ("group", Action.CREATE, LogStatus.SUCCESS): len(directory_groups(harness)),
    }
    first = next(r for r in log if r["object_type"] == "user")
    assert first["target_id"] == people[first["source_display"]]["entryUUID"][0]

    again = harness.cycle()
    assert again["report"]["status"] == "succeeded"
    assert changes(again) == 0
    assert harness.people() == people


def test_an_update_and_a_rename_keep_the_entry_its_link_and_its_groups(harness):
    harness.cycle()
    expected = harness.expected_wiki_users()
    upn = next(u for u in expected.index if expected.loc[u, "department"] in ("Engineering", "Product"))
    user_id, _ = user_row(harness, upn)
    before = harness.people()[upn]
    renamed = f"renamed.{upn}"
    harness.sql(
        "update users set userPrincipalName = :new, jobTitle = 'Chief Tester' where id = :id",
        new=renamed,
        id=user_id,
    )

    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    people = harness.people()
    assert upn not in people
    after = people[renamed]
    assert after["dn"] == [f"uid={renamed},{PEOPLE}"] and after["uid"] == [renamed]  # the old uid is gone
    assert after["entryUUID"] == before["entryUUID"] and after["title"] == ["Chief Tester"]
    assert harness.store.links(APP)[user_id].target_id == before["entryUUID"][0]
    in_groups = [g for g in harness.groups().values() if after["dn"][0] in g.get("member", [])]
    assert in_groups and not [g for g in harness.groups().values() if before["dn"][0] in g.get("member", [])]
    assert_groups_exact(harness)
    (row,) = [r for r in harness.store.log(APP, "cycle-2") if r["source_id"] == user_id]
    assert row["action"] == Action.UPDATE and row["status"] == LogStatus.SUCCESS
    assert {p["path"] for p in row["modified_properties"]} == {"uid", "title"}


def test_a_leaver_is_disabled_by_attribute_and_enabled_again_when_back(harness):
    harness.cycle()
    upn = harness.expected_wiki_users().index[0]
    user_id, _ = user_row(harness, upn)
    harness.sql("update users set accountEnabled = 0 where id = :id", id=user_id)
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert harness.people()[upn]["employeeType"] == ["disabled"]
    (row,) = [r for r in harness.store.log(APP, "cycle-2") if r["source_id"] == user_id]
    assert (row["action"], row["status"]) == (Action.DISABLE, LogStatus.SUCCESS)

    harness.sql("update users set accountEnabled = 1 where id = :id", id=user_id)
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert "employeeType" not in harness.people()[upn]
    (row,) = [r for r in harness.store.log(APP, "cycle-3") if r["source_id"] == user_id]
    assert (row["action"], row["status"]) == (Action.ENABLE, LogStatus.SUCCESS)


def test_a_leaver_is_moved_to_the_disabled_ou_and_back_with_its_groups(harness):
    harness.configure(target=target(harness.port, disable={"mode": "move", "base_dn": DISABLED}))
    harness.cycle()
    expected = harness.expected_wiki_users()
    upn = next(u for u in expected.index if expected.loc[u, "department"] in ("Engineering", "Product"))
    user_id, _ = user_row(harness, upn)
    uuid = harness.people()[upn]["entryUUID"]
    harness.sql("update users set accountEnabled = 0 where id = :id", id=user_id)
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert upn not in harness.people()
    moved = harness.people(DISABLED)[upn]
    assert moved["dn"] == [f"uid={upn},{DISABLED}"] and moved["entryUUID"] == uuid
    # the group keeps naming the entry where it now is (memberships of leavers are the plan's business)
    assert all(f"uid={upn},{PEOPLE}" not in g.get("member", []) for g in harness.groups().values())
    (row,) = [
        r for r in harness.store.log(APP, "cycle-2") if r["source_id"] == user_id and r["action"] != "note"
    ]
    assert (row["action"], row["status"]) == (Action.DISABLE, LogStatus.SUCCESS)

    harness.sql("update users set accountEnabled = 1 where id = :id", id=user_id)
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert harness.people(DISABLED) == {} and harness.people()[upn]["entryUUID"] == uuid
    assert harness.store.links(APP)[user_id].target_id == uuid[0]
    assert_groups_exact(harness)


def test_group_membership_follows_the_directory_exactly(harness):
    harness.cycle()
    wanted = directory_groups(harness)
    group_id, name = next(
        (g, n) for g, n in wanted.items() if n.startswith("Department ") and expected_members(harness, g)
    )
    leaving = sorted(expected_members(harness, group_id))[0]
    leaver_id, _ = user_row(harness, leaving)
    harness.sql("delete from group_members where group_id = :g and member_id = :m", g=group_id, m=leaver_id)
    # and one in scope who was in no department group joins this one
    joiner = sorted(wiki_scope(harness) - expected_members(harness, group_id) - {leaving})[0]
    joiner_id, _ = user_row(harness, joiner)
    harness.sql(
        "insert into group_members (group_id, member_id, member_type) values (:g, :m, 'user')",
        g=group_id,
        m=joiner_id,
    )
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    members = member_uids(harness, harness.groups()[name])
    assert leaving not in members and joiner in members
    assert_groups_exact(harness)
    actions = Counter(r["action"] for r in harness.store.log(APP, "cycle-2"))
    assert actions[Action.ADD_MEMBERS] >= 1 and actions[Action.REMOVE_MEMBERS] >= 1


def test_entries_already_in_the_directory_are_matched_not_duplicated(harness, slapd):
    expected = harness.expected_wiki_users()
    existing = list(expected.index[:3])
    conn = harness.admin()
    for upn in existing:  # made by hand before provisioning started, some attributes out of date
        conn.add_s(
            f"uid={upn},{PEOPLE}",
            [
                ("objectClass", [b"inetOrgPerson"]),
                ("uid", [upn.encode()]),
                ("cn", [b"Old Name"]),
                ("sn", [b"Old"]),
            ],
        )
    hand_made = f"cn=Department Engineering,{GROUPS}"  # holding itself, as empty groupOfNames often do
    conn.add_s(hand_made, [("objectClass", [b"groupOfNames"]), ("member", [hand_made.encode()])])
    conn.unbind_s()
    before = {upn: harness.people()[upn]["entryUUID"] for upn in existing}

    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    assert result["match"]["matched"] == 3 and result["match"]["groups"]["matched"] == 1
    people = harness.people()
    assert set(people) == set(expected.index)  # one entry per uid: slapd refuses a second DN anyway
    for upn in existing:
        assert people[upn]["entryUUID"] == before[upn] and people[upn]["cn"] == [
            expected.loc[upn, "displayName"]
        ]
    log = {r["source_display"]: r for r in harness.store.log(APP) if r["object_type"] == "user"}
    assert all(log[upn]["action"] == Action.UPDATE for upn in existing)
    assert not [r for r in harness.store.log(APP) if r["status"] == LogStatus.FAILURE]
    assert_groups_exact(harness)  # the hand-made group was matched, its placeholder replaced by members


def test_a_crash_mid_apply_is_resumed_without_duplicates(harness, directory_small, tmp_path):
    ctx = harness.context("cycle-1")
    for step in (steps.extract_assignments, steps.match, steps.diff):
        step(ctx)
    config = tmp_path / "config.json"
    config.write_text(harness.config.model_dump_json())
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.ldap_target",
            str(directory_small),
            str(tmp_path / "state.db"),
            str(config),
            str(harness.port),
            "cycle-1",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
    )
    expected = harness.expected_wiki_users()
    deadline = time.monotonic() + 30
    while len(harness.people()) < 12 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    recorded = harness.store.outbox_counts(APP, "cycle-1")[("user", "create", "succeeded")]
    in_ldap = len(harness.people())
    assert recorded < in_ldap < len(expected), (recorded, in_ldap, len(expected))  # the kill interrupted work

    summary = steps.apply(ctx)  # Airflow clears the task: the same outbox, resumed
    assert summary["failed"] == 0 and steps.report(ctx)["status"] == "succeeded"
    uids = Counter(a["uid"][0].lower() for a in harness.people().values())
    assert set(uids) == {u.lower() for u in expected.index} and max(uids.values()) == 1
    assert_groups_exact(harness)
    log = harness.store.log(APP, "cycle-1")
    assert any("interrupted" in (r["detail"] or "") for r in log)
    assert all(r["status"] == LogStatus.SUCCESS for r in log if r["action"] != "note")
    links = harness.store.links(APP, "user")
    assert {link.target_id for link in links.values()} == {
        a["entryUUID"][0] for a in harness.people().values()
    }
    harness.cycles = 1
    assert changes(harness.cycle()) == 0  # nothing left over


def test_a_refused_entry_fails_that_user_only_with_the_dn_in_the_message(harness):
    expected = harness.expected_wiki_users()
    refused, unnamed = expected.index[1], expected.index[2]
    refused_id, _ = user_row(harness, refused)
    unnamed_id, _ = user_row(harness, unnamed)
    harness.sql(
        "update users set mail = '王@example.org' where id = :id", id=refused_id
    )  # mail is IA5 (ASCII)
    harness.sql("update users set surname = NULL where id = :id", id=unnamed_id)  # inetOrgPerson needs sn
    result = harness.cycle()
    assert set(harness.people()) == set(expected.index) - {refused, unnamed}
    assert result["report"]["quarantine"] == {"quarantined": False} and result["report"]["in_escrow"] == 1
    rows = {r["source_id"]: r for r in harness.store.log(APP) if r["action"] != "note"}
    row = rows[refused_id]
    assert (row["status"], row["error_code"]) == (LogStatus.FAILURE, "LDAP:INVALID_SYNTAX")
    assert row["error_message"] == (
        f"LDAP add of 'uid={refused},{PEOPLE}': Invalid syntax (mail: value #0 invalid per syntax)"
    )
    assert "escrow: failure 1" in row["detail"]
    row = rows[unnamed_id]  # refused before anything was sent
    assert row["status"] == LogStatus.SKIPPED and "sn" in row["error_message"], row


def test_connector_errors_name_the_dn_and_the_refusal(harness):
    connector = open_target(harness.config)
    try:
        with pytest.raises(
            Rejected, match=r"LDAP add of 'uid=x,ou=people,dc=example,dc=org': .*(sn|Object class)"
        ):
            connector.create("user", {"uid": "x", "cn": "X"}, True)  # inetOrgPerson needs sn
        with pytest.raises(Rejected, match="no value for uid, which names the entry"):
            connector.create("user", {"cn": "X", "sn": "X"}, True)
        made = connector.create("user", {"uid": "x", "cn": "X", "sn": "Y"}, True)
        from provisioning.connectors.errors import AlreadyExists, NotFound

        with pytest.raises(
            AlreadyExists, match="LDAP add of 'uid=X,ou=people,dc=example,dc=org': Already exists"
        ):
            connector.create("user", {"uid": "X", "cn": "X", "sn": "Y"}, True)
        assert connector.get("user", made.id).attributes["sn"] == "Y"
        connector.delete("user", made.id)
        with pytest.raises(NotFound):
            connector.get("user", made.id)
    finally:
        connector.close()


def test_a_wrong_bind_password_stops_the_cycle(harness, monkeypatch):
    import json

    fields = json.loads(os.environ["AIRFLOW_CONN_LDAP_TARGET_TEST"])
    monkeypatch.setenv("AIRFLOW_CONN_LDAP_TARGET_TEST", json.dumps({**fields, "password": "wrong-5678"}))
    connector = open_target(harness.config)
    with pytest.raises(AppUnusable, match="Invalid credentials") as info:
        list(connector.list("user"))
    assert "wrong-5678" not in str(info.value)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LDAP_TARGET_TEST", json.dumps({**fields, "host": "ldap.corp.example.org", "port": 389})
    )
    with pytest.raises(AppUnusable, match="tls is none, so the bind password would cross the network"):
        open_target(harness.config)


def test_a_full_reconcile_corrects_entries_and_members_changed_directly_in_ldap(harness):
    harness.cycle()
    people = harness.people()
    in_groups = {m for g in harness.groups().values() for m in g.get("member", [])}
    edited, disabled, deleted = sorted(u for u in people if people[u]["dn"][0] in in_groups)[:3]
    name = next(n for n, g in harness.groups().items() if people[deleted]["dn"][0] in g.get("member", []))
    group_dn = harness.groups()[name]["dn"][0]
    stale = f"uid=ghost,{PEOPLE}"  # names no entry
    conn = harness.admin()
    conn.modify_s(people[edited]["dn"][0], [(ldap.MOD_REPLACE, "title", [b"Edited In LDAP"])])
    conn.modify_s(people[disabled]["dn"][0], [(ldap.MOD_ADD, "employeeType", [b"disabled"])])
    conn.delete_s(people[deleted]["dn"][0])  # no refint: the group keeps naming it
    conn.modify_s(group_dn, [(ldap.MOD_ADD, "member", [stale.encode()])])
    conn.unbind_s()

    harness.options = RunOptions(full_reconcile=True)
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    reconciled = result["match"]["reconcile"]
    assert reconciled["drifted"] == 2 and reconciled["missing"] == 1
    assert result["match"]["groups"]["reconcile"]["member_drift"] >= 1
    people = harness.people()
    assert people[edited]["title"] != ["Edited In LDAP"] and "employeeType" not in people[disabled]
    assert deleted in people  # made again, with a new entryUUID, and back in its groups
    assert stale not in harness.groups()[name]["member"]
    assert_groups_exact(harness)
    assert_drift_notes_in_ldap(harness, edited, disabled, deleted)

    harness.options = RunOptions()
    assert changes(harness.cycle()) == 0


def assert_drift_notes_in_ldap(harness: LdapHarness, edited: str, disabled: str, deleted: str) -> None:
    notes = {
        r["source_display"]: r
        for r in harness.store.log(APP, f"cycle-{harness.cycles}")
        if r["action"] == "note" and r["error_code"] in ("DriftDetected", "MissingInApp")
    }
    assert notes[edited]["error_message"] == "changed in the app: title"
    assert notes[disabled]["error_message"] == "changed in the app: active"
    assert notes[deleted]["error_code"] == "MissingInApp"


def test_a_renamed_group_keeps_its_entry_and_members(harness):
    harness.cycle()
    group_id, name = next(
        (g, n) for g, n in directory_groups(harness).items() if expected_members(harness, g)
    )
    before = harness.groups()[name]
    harness.sql(
        "update groups set displayName = :new where id = :id", new=f"{name} Renamed", id=group_id
    )  # cn
    assert harness.cycle()["report"]["status"] == "succeeded"
    groups = harness.groups()
    assert name not in groups
    after = groups[f"{name} Renamed"]
    assert after["entryUUID"] == before["entryUUID"] and after["member"] == before["member"]
    assert after["dn"] == [f"cn={name} Renamed,{GROUPS}"]


def test_a_deleted_user_leaves_its_groups(harness):
    users = {**harness.raw("users"), "actions": ["create", "update", "disable", "delete"]}
    harness.configure(users={**users, "deprovision": {"action": "delete"}})
    harness.cycle()
    people = harness.people()
    in_groups = {m for g in harness.groups().values() for m in g.get("member", [])}
    upn = sorted(u for u in people if people[u]["dn"][0] in in_groups)[0]
    user_id, _ = user_row(harness, upn)
    harness.sql("update users set accountEnabled = 0 where id = :id", id=user_id)
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert upn not in harness.people()
    assert all(people[upn]["dn"][0] not in g.get("member", []) for g in harness.groups().values())
    assert_groups_exact(harness)
    (row,) = [
        r for r in harness.store.log(APP, "cycle-2") if r["source_id"] == user_id and r["action"] != "note"
    ]
    assert (row["action"], row["status"]) == (Action.DELETE, LogStatus.SUCCESS)


def test_the_target_writes_over_ldaps_and_starttls_verifying_the_server(
    directory_small, tmp_path, monkeypatch
):
    ca, cert, key = tls_files(tmp_path)
    with Slapd(tmp_path / "tls-slapd", ou(PEOPLE) + ou(GROUPS) + ou(DISABLED), tls=(cert, key)) as server:
        harness = LdapHarness(directory_small, tmp_path / "state.db", server.port, groups=False)
        fields = connection_fields(server.port)
        monkeypatch.setenv(
            *connection_env(CONN_ID, **{**fields, "extra": {"tls": "starttls", "ca_file": str(ca)}})
        )
        assert harness.cycle()["report"]["status"] == "succeeded"
        assert set(harness.people()) == set(harness.expected_wiki_users().index)

        ldaps = {**fields, "port": server.ldaps_port, "extra": {"tls": "ldaps", "ca_file": str(ca)}}
        monkeypatch.setenv(*connection_env(CONN_ID, **ldaps))
        connector = open_target(harness.config)
        assert len(list(connector.list("user"))) == len(harness.people())
        connector.close()

        monkeypatch.setenv(*connection_env(CONN_ID, **{**ldaps, "extra": {"tls": "ldaps"}}))  # no CA: refused
        connector = open_target(harness.config)
        with pytest.raises(
            TransientError, match=r"cannot bind to LDAP at ldaps://127\.0\.0\.1:\d+ as cn=admin"
        ) as info:
            connector.create("user", {"uid": "x", "cn": "X", "sn": "Y"}, True)
        assert not info.value.may_have_acted  # the add was never sent: no lookup needed before a retry
        connector.close()


def test_member_verbs_converge_and_an_empty_group_holds_its_own_dn(harness):
    connector = open_target(harness.config)
    try:
        ids = [connector.create("user", {"uid": u, "cn": u, "sn": u}, True).id for u in ("m1", "m2", "m3")]
        group = connector.create("group", {"cn": "Team"}, None)
        dn = f"cn=Team,{GROUPS}"
        assert group.members == [] and harness.groups()["Team"]["member"] == [dn]  # groupOfNames needs one

        def members() -> set[str]:
            return set(harness.groups()["Team"]["member"])

        connector.add_members(group.id, ids[:2])
        connector.add_members(group.id, ids[:2])  # a resent action changes nothing
        assert members() == {f"uid=m1,{PEOPLE}", f"uid=m2,{PEOPLE}"}  # the placeholder made way
        assert sorted(connector.get("group", group.id).members) == sorted(ids[:2])
        connector.replace_members(group.id, ids[1:])
        assert members() == {f"uid=m2,{PEOPLE}", f"uid=m3,{PEOPLE}"}
        connector.remove_members(group.id, ids)
        connector.remove_members(group.id, ids)
        assert members() == {dn}

        stale = f"uid=gone,{PEOPLE}"  # a value naming no entry is read back, and removed, as its DN
        conn = harness.admin()
        conn.modify_s(dn, [(ldap.MOD_ADD, "member", [stale.encode()])])
        conn.unbind_s()
        (listed,) = [g for g in connector.list("group") if g.id == group.id]
        assert listed.members == [stale]
        connector.remove_members(group.id, [stale])
        assert members() == {dn}

        with pytest.raises(Rejected, match="1 member id\\(s\\) name no user entry"):
            connector.add_members(group.id, [ids[0], "00000000-0000-0000-0000-000000000000"])
        assert members() == {f"uid=m1,{PEOPLE}"}  # the others were written
    finally:
        connector.close()


def test_a_missing_disabled_ou_fails_the_disable_and_the_account_stays_active(harness):
    """The disabled OU was renamed away after setup: "no such object" from its search is no
    "the account no longer exists" -- the disable is a failure that stops the cycle, not a success."""
    harness.configure(target=target(harness.port, disable={"mode": "move", "base_dn": DISABLED}))
    assert harness.cycle()["report"]["status"] == "succeeded"
    upn = harness.expected_wiki_users().index[0]
    user_id, _ = user_row(harness, upn)
    conn = harness.admin()
    conn.rename_s(DISABLED, "ou=retired", None, 1)  # an admin renames the OU (it is empty)
    conn.unbind_s()
    harness.sql("update users set accountEnabled = 0 where id = :id", id=user_id)

    result = harness.cycle_tolerant()
    assert result["report"]["quarantine"]["quarantined"] is True, result["report"]
    assert harness.people()[upn]["dn"] == [f"uid={upn},{PEOPLE}"]  # still where enabled accounts are
    (row,) = [
        r for r in harness.store.log(APP, "cycle-2") if r["source_id"] == user_id and r["action"] != "note"
    ]
    assert (row["action"], row["status"], row["error_code"]) == (
        Action.DISABLE,
        LogStatus.FAILURE,
        "LDAP:MissingOU",
    )
    assert f"the configured OU '{DISABLED}' (target.disable.base_dn) does not exist" in row["error_message"]


def test_a_move_or_an_add_into_a_missing_ou_is_unusable_a_missing_entry_is_not_found(harness):
    harness.configure(target=target(harness.port, disable={"mode": "move", "base_dn": DISABLED}))
    connector = open_target(harness.config)
    try:
        made = connector.create("user", {"uid": "mover", "cn": "M", "sn": "M"}, True)
        group = connector.create("group", {"cn": "Movers"}, None)
        conn = harness.admin()
        conn.delete_s(DISABLED)
        conn.unbind_s()
        dn = f"uid=mover,{PEOPLE}"
        with pytest.raises(AppUnusable, match=r"target\.disable\.base_dn\) does not exist"):
            connector._set_active(dn, {}, False)  # the move itself, past the searches
        with pytest.raises(AppUnusable, match=r"target\.disable\.base_dn\) does not exist"):
            connector.set_active("user", made.id, False)  # its search of the disabled OU
        with pytest.raises(AppUnusable, match=r"LDAP add of .*target\.disable\.base_dn\) does not exist"):
            connector.create("user", {"uid": "late", "cn": "L", "sn": "L"}, False)
        assert set(harness.people()) == {"mover"}
        conn = harness.admin()
        conn.delete_s(f"cn=Movers,{GROUPS}")
        conn.delete_s(GROUPS)
        conn.unbind_s()
        with pytest.raises(AppUnusable, match=r"target\.groups\.base_dn\) does not exist"):
            connector.remove_members(group.id, [made.id])
        conn = harness.admin()
        conn.delete_s(dn)
        conn.unbind_s()
        harness.configure(target=target(harness.port))  # disabled by attribute: no disabled OU
        connector.close()
        connector = open_target(harness.config)
        with pytest.raises(NotFound):  # an entry looked up that is not there
            connector.set_active("user", made.id, False)
    finally:
        connector.close()


# the bind DN (the reader account) may write every entry but those an admin protects
WRITER_ACCESS = f"""access to filter=(description=protected) by dn.exact="{READER_DN}" read by * none
access to * by dn.exact="{READER_DN}" write by anonymous auth by * none"""


def test_a_write_refused_for_one_protected_entry_fails_that_user_only(directory_small, tmp_path, monkeypatch):
    """As AD's AdminSDHolder guards some accounts: one refused write is that account's failure."""
    with Slapd(tmp_path / "slapd", ou(PEOPLE) + ou(GROUPS) + ou(DISABLED), access=WRITER_ACCESS) as server:
        harness = LdapHarness(directory_small, tmp_path / "state.db", server.port, groups=False)
        upn = harness.expected_wiki_users().index[0]
        user_id, _ = user_row(harness, upn)
        monkeypatch.setenv(
            *connection_env(
                CONN_ID, **{**connection_fields(server.port), "login": READER_DN, "password": READER_PASSWORD}
            )
        )
        conn = harness.admin()  # made by an admin, out of date: the cycle matches it and updates it
        conn.add_s(
            f"uid={upn},{PEOPLE}",
            [
                ("objectClass", [b"inetOrgPerson"]),
                ("uid", [upn.encode()]),
                ("cn", [b"Old"]),
                ("sn", [b"Old"]),
                ("description", [b"protected"]),
            ],
        )
        conn.unbind_s()

        result = harness.cycle()
        assert result["report"]["quarantine"] == {"quarantined": False}, result["report"]
        assert set(harness.people()) == set(harness.expected_wiki_users().index)
        assert harness.people()[upn]["cn"] == ["Old"]  # refused, and only this one
        rows = [r for r in harness.store.log(APP, "cycle-1") if r["action"] != "note"]
        failed = [r for r in rows if r["status"] == LogStatus.FAILURE]
        assert [(r["source_id"], r["error_code"]) for r in failed] == [(user_id, "LDAP:INSUFFICIENT_ACCESS")]
        assert "the bind DN may not change this entry" in failed[0]["error_message"]
        assert len([r for r in rows if r["status"] == LogStatus.SUCCESS]) == len(rows) - 1


def test_entries_of_every_listed_class_only_are_read_as_users(harness):
    classes = ["top", "person", "organizationalPerson", "inetOrgPerson"]
    harness.configure(target=target(harness.port, users={"base_dn": PEOPLE, "object_classes": classes}))
    conn = harness.admin()
    conn.add_s(
        f"ou=contractors,{PEOPLE}", [("objectClass", [b"organizationalUnit"]), ("ou", [b"contractors"])]
    )
    conn.unbind_s()
    assert harness.cycle()["report"]["status"] == "succeeded"
    people = harness.entries(PEOPLE, "(objectClass=inetOrgPerson)")
    assert len(people) == len(harness.expected_wiki_users())
    assert all(a["objectClass"] == classes for a in people.values())
    connector = open_target(harness.config)
    try:
        listed = {u.id for u in connector.list("user")}
    finally:
        connector.close()
    assert listed == {a["entryUUID"][0] for a in people.values()}  # not ou=people, nor ou=contractors


def test_renaming_an_adopted_entry_named_by_another_attribute_keeps_its_name(harness):
    """``cn=Ann Lee,ou=people`` made by hand, matched by uid: a new uid is a value, not a new RDN
    (a modrdn to uid=... would delete the old RDN value, the cn)."""
    expected = harness.expected_wiki_users()
    upn = expected.index[0]
    user_id, display = user_row(harness, upn)
    hand_made = f"cn={ldap.dn.escape_dn_chars(display)},{PEOPLE}"
    conn = harness.admin()
    conn.add_s(
        hand_made,
        [
            ("objectClass", [b"inetOrgPerson"]),
            ("uid", [upn.encode()]),
            ("cn", [display.encode()]),
            ("sn", [b"Old"]),
        ],
    )
    conn.unbind_s()
    assert harness.cycle()["report"]["status"] == "succeeded"
    renamed = f"renamed.{upn}"
    harness.sql("update users set userPrincipalName = :new where id = :id", new=renamed, id=user_id)

    assert harness.cycle()["report"]["status"] == "succeeded"
    entry = harness.people()[renamed]
    assert entry["dn"] == [hand_made] and entry["cn"] == [display] and entry["uid"] == [renamed]
    (row,) = [r for r in harness.store.log(APP, "cycle-2") if r["source_id"] == user_id]
    assert (row["action"], row["status"]) == (Action.UPDATE, LogStatus.SUCCESS)


def test_a_delete_whose_answer_was_lost_leaves_no_member_value_behind(harness):
    """slapd deletes the entry, the answer never arrives: the retry finds no entry, so the groups
    must have been cleaned before the delete was sent."""
    from provisioning.connectors.ldap_connection import open_bound
    from provisioning.connectors.ldap_target.connector import LdapTargetConnector

    def answer_lost(endpoint, timeout):
        conn = open_bound(endpoint, timeout)
        sent = conn.delete_s

        def delete_s(dn):
            sent(dn)
            raise ldap.SERVER_DOWN({"desc": "Can't contact LDAP server"})

        conn.delete_s = delete_s
        return conn

    plain = open_target(harness.config)
    connector = LdapTargetConnector.for_app(harness.config, plain.server, answer_lost)
    try:
        user = plain.create("user", {"uid": "gone", "cn": "G", "sn": "G"}, True)
        group = plain.create("group", {"cn": "Leavers"}, None)
        plain.add_members(group.id, [user.id])
        with pytest.raises(TransientError) as info:
            connector.delete("user", user.id)
        assert info.value.may_have_acted
        with pytest.raises(NotFound):  # the retry: the executor takes it as "already gone"
            connector.delete("user", user.id)
        assert "gone" not in harness.people()
        assert harness.groups()["Leavers"]["member"] == [f"cn=Leavers,{GROUPS}"]  # no dangling DN
    finally:
        plain.close()
        connector.close()
