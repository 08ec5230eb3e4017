"""The LDAP source against a real OpenLDAP slapd on 127.0.0.1 (Debian's package, started per test
with a generated config): what it reads, what it refuses, and cycles from it into a real SCIM app.

Active Directory's conventions are tested with AD-shaped entries in slapd (demo/slapd.py says
why not Samba); ranged member values, which only AD sends, are in tests/unit/test_ldap_ranges.py.
"""

from __future__ import annotations

import logging
import uuid

import ldap
import pytest

from provisioning.config.ldap_directory import LdapDirectoryConfig
from provisioning.connectors.directory.base import DirectoryError
from provisioning.connectors.directory.ldap.hook import LdapHook
from provisioning.connectors.directory.registry import open_source
from provisioning.demo.slapd import READER_DN, READER_PASSWORD, Slapd, slapd_installed
from tests.conftest import connection_env
from tests.integration.cycle_helpers import Harness
from tests.support.ldap_server import (
    GROUPS,
    PEOPLE,
    ad_user,
    connection,
    entry,
    group_of_names,
    ou,
    person,
    tls_files,
)

pytestmark = pytest.mark.skipif(not slapd_installed(), reason="slapd is installed by `make test`")

APP = "demo_wiki"
BIG = 120  # members of the Big group: more than a page (page_size 50 below)
OUTSIDE = "uid=ghost,ou=contractors,dc=example,dc=org"
MISSING = f"uid=nobody,{PEOPLE}"


def uid_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group_dn(cn: str) -> str:
    return f"cn={cn},{GROUPS}"


def plain_ldif() -> str:
    """Assigned: App-Wiki, which holds ann, the Eng group (holding Team-A, which holds Eng back: a
    cycle) and Big (120 people), a DN outside the base and one naming no entry. dee is disabled;
    eve is in no assigned group; bob's manager is ann."""
    big = [f"big{i:03d}" for i in range(BIG)]
    return (
        ou(PEOPLE)
        + ou(GROUPS)
        + person("ann", departmentNumber="Engineering", title="Lead")
        + person("bob", departmentNumber="Engineering", manager=uid_dn("ann"))
        + person("cy", departmentNumber="Research")
        + person("dee", employeeType="disabled")
        + person("eve")
        + "".join(person(name) for name in big)
        + group_of_names("App-Wiki", [uid_dn("ann"), group_dn("Eng"), group_dn("Big"), OUTSIDE, MISSING])
        + group_of_names("Eng", [uid_dn("bob"), group_dn("Team-A")])
        + group_of_names("Team-A", [uid_dn("cy"), uid_dn("dee"), group_dn("Eng")])
        + group_of_names("Big", [uid_dn(name) for name in big])
        + group_of_names("Unassigned", [uid_dn("eve")])
    )


def plain_config(**changes: object) -> LdapDirectoryConfig:
    return LdapDirectoryConfig.model_validate(
        {
            "kind": "ldap",
            "conn_id": "corp_ldap",
            "users": {"base_dn": PEOPLE},
            "groups": {"base_dn": GROUPS},
            "assignment": {"groups": [group_dn("App-Wiki")]},
            "disabled": {"attribute": "employeeType", "values": ["Disabled"]},
            "page_size": 50,
            **changes,
        }
    )


@pytest.fixture
def slapd(tmp_path):
    with Slapd(tmp_path / "slapd", plain_ldif()) as server:
        yield server


def read(server: Slapd, config: LdapDirectoryConfig, **extra: object):
    """What a cycle reads (cycle/source_checks.py asks for the configured extra attributes)."""
    source = open_source(config, lambda conn_id: connection(server.port, **extra), APP)
    return source.read(config.extra_user_attributes, config.extra_group_attributes)


def test_users_groups_nesting_and_assignment_come_from_the_directory(slapd, caplog):
    caplog.set_level(logging.WARNING)
    snapshot = read(slapd, plain_config())
    users = snapshot.users.set_index("userPrincipalName")
    assert len(users) == 5 + BIG  # 1,000-entry server limit and 50 per page: paging read them all
    ids = users["id"].to_dict()
    assert all(uuid.UUID(value) for value in ids.values())  # entryUUID, as text
    assert [upn for upn, on in users["accountEnabled"].items() if not on] == ["dee@example.org"]
    assert users.loc["bob@example.org", "manager"] == ids["ann@example.org"]
    assert users.loc["ann@example.org", "department"] == "Engineering"
    assert users.loc["ann@example.org", "jobTitle"] == "Lead"

    groups = dict(zip(snapshot.groups["displayName"], snapshot.groups["id"], strict=True))
    name_of = {v: k for k, v in ids.items()} | {v: k for k, v in groups.items()}
    members = {
        (name_of[g], name_of[m], t)
        for g, m, t in snapshot.memberships.itertuples(index=False)
        if name_of[g] != "Big"
    }
    assert members == {
        ("App-Wiki", "ann@example.org", "user"),
        ("App-Wiki", "Eng", "group"),
        ("App-Wiki", "Big", "group"),
        ("Eng", "bob@example.org", "user"),
        ("Eng", "Team-A", "group"),
        ("Team-A", "cy@example.org", "user"),
        ("Team-A", "dee@example.org", "user"),
        ("Team-A", "Eng", "group"),
        ("Unassigned", "eve@example.org", "user"),
    }
    big = snapshot.memberships[snapshot.memberships["group_id"] == groups["Big"]]
    assert len(big) == BIG
    assert snapshot.assignments.values.tolist() == [[APP, groups["App-Wiki"], "group"]]

    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert f"1 member outside the searched bases DN(s) left out, e.g. {OUTSIDE}" in warnings
    assert f"1 member naming no entry the searches found DN(s) left out, e.g. {MISSING}" in warnings


def test_assignment_by_attribute_and_extra_attributes(slapd):
    admin = slapd.admin()
    admin.modify_s(uid_dn("eve"), [(ldap.MOD_ADD, "businessCategory", [b"Wiki"])])
    admin.modify_s(uid_dn("ann"), [(ldap.MOD_ADD, "telephoneNumber", [b"+1 555 0100", b"+1 555 0101"])])
    config = plain_config(assignment={"attribute": "businessCategory", "values": ["wiki"]}, groups=None)
    snapshot = read(slapd, config.model_copy(update={"extra_user_attributes": ["telephoneNumber", "l"]}))
    users = snapshot.users.set_index("userPrincipalName")
    assert snapshot.assignments.values.tolist() == [[APP, users.loc["eve@example.org", "id"], "user"]]
    assert users.loc["ann@example.org", "telephoneNumber"] == ["+1 555 0100", "+1 555 0101"]
    assert users.loc["bob@example.org", "l"] is None
    assert snapshot.groups.empty and snapshot.memberships.empty


def test_active_directory_conventions(tmp_path):
    """objectGUID (binary) is the id, as AD tools print it; userAccountControl bit 2 disables,
    and a missing or unreadable value is unknown (the engine treats it as disabled)."""
    guids = {name: uuid.uuid4() for name in ("amy", "ben", "cat", "dan", "sales")}
    ldif = (
        ou(PEOPLE)
        + ou(GROUPS)
        + ad_user("amy", guids["amy"], userAccountControl="512", department="Sales", employeeID="E1")
        + ad_user("ben", guids["ben"], userAccountControl="514", manager=f"cn=amy,{PEOPLE}")
        + ad_user("cat", guids["cat"])
        + entry(
            f"cn=dan,{PEOPLE}", objectClass="computer", cn="dan", sn="d", objectGUID=guids["dan"].bytes_le
        )
        + entry(
            f"cn=Sales,{GROUPS}",
            objectClass="group",
            cn="Sales",
            objectGUID=guids["sales"].bytes_le,
            member=[f"cn=amy,{PEOPLE}", f"cn=ben,{PEOPLE}", f"cn=dan,{PEOPLE}"],
        )
    )
    config = LdapDirectoryConfig.model_validate(
        {
            "kind": "ldap",
            "conn_id": "corp_ad",
            "flavor": "active_directory",
            "users": {"base_dn": PEOPLE},
            "groups": {"base_dn": GROUPS},
            "assignment": {"groups": [f"CN=Sales, {GROUPS.upper()}"]},  # DNs compare ignoring case
            "extra_user_attributes": ["sAMAccountName"],
        }
    )
    with Slapd(tmp_path / "slapd", ldif) as server:
        snapshot = read(server, config)
    users = snapshot.users.set_index("sAMAccountName")
    assert set(users.index) == {"amy", "ben", "cat"}  # the computer is no user
    assert users.loc["amy", "id"] == str(guids["amy"])
    assert users.loc["amy", "userPrincipalName"] == "amy@corp.example.org"
    assert (users.loc["amy", "department"], users.loc["amy", "employeeId"]) == ("Sales", "E1")
    assert users["accountEnabled"].to_dict() == {"amy": True, "ben": False, "cat": None}
    assert users.loc["ben", "manager"] == str(guids["amy"])
    assert snapshot.groups["id"].tolist() == [str(guids["sales"])]
    assert set(snapshot.memberships["member_id"]) == {str(guids["amy"]), str(guids["ben"])}
    assert snapshot.assignments.values.tolist() == [[APP, str(guids["sales"]), "group"]]


def test_cycles_give_the_app_what_the_directory_implies_and_changes_flow(slapd, scim_app, tmp_path):
    harness = Harness(tmp_path / "unused.db", scim_app, tmp_path / "state.db")
    harness.connection = lambda conn_id: connection(slapd.port)
    harness.configure(
        directory=plain_config().model_dump(mode="json", exclude_none=True),
        groups={
            "scope": "all",
            "matching": [{"target": "externalId"}],
            "mappings": [
                {"target": "displayName", "source": "displayName"},
                {"target": "externalId", "source": "id"},
            ],
        },
    )
    harness.cycle()
    assigned = {"ann", "bob", "cy", *(f"big{i:03d}" for i in range(BIG))}  # dee disabled, eve unassigned
    accounts = scim_app.by_username()
    assert set(accounts) == {f"{name}@example.org" for name in assigned}
    assert all(account["active"] for account in accounts.values())
    groups = scim_app.groups()
    assert set(groups) == {"App-Wiki", "Eng", "Team-A", "Big", "Unassigned"}
    # members flattened, nested included, the cycle Eng <-> Team-A harmless; eve has no account
    assert scim_app.member_names(groups["Eng"]) == {"bob@example.org", "cy@example.org"}
    assert scim_app.member_names(groups["Team-A"]) == {"bob@example.org", "cy@example.org"}
    assert scim_app.member_names(groups["Unassigned"]) == set()
    assert len(scim_app.member_names(groups["App-Wiki"])) == len(assigned)

    admin = slapd.admin()
    admin.modify_s(uid_dn("bob"), [(ldap.MOD_REPLACE, "employeeType", [b"disabled"])])  # disable
    admin.modify_s(group_dn("Team-A"), [(ldap.MOD_DELETE, "member", [uid_dn("cy").encode()])])  # unassign
    admin.modify_s(uid_dn("ann"), [(ldap.MOD_REPLACE, "title", [b"Director"])])  # attribute change
    admin.modify_s(group_dn("Unassigned"), [(ldap.MOD_ADD, "member", [uid_dn("ann").encode()])])  # group
    # a move to another OU: a new DN, the same entryUUID; the group's member value follows the entry
    # (Active Directory does this itself, slapd with its refint overlay)
    moved_ou = f"ou=moved,{PEOPLE}"
    admin.add_s(moved_ou, [("objectClass", [b"organizationalUnit"]), ("ou", [b"moved"])])
    admin.rename_s(uid_dn("big000"), "uid=big000", moved_ou)
    moved = f"uid=big000,{moved_ou}".encode()
    admin.modify_s(
        group_dn("Big"),
        [(ldap.MOD_DELETE, "member", [uid_dn("big000").encode()]), (ldap.MOD_ADD, "member", [moved])],
    )
    big000 = accounts["big000@example.org"]["id"]
    harness.cycle()
    accounts = scim_app.by_username()
    assert accounts["bob@example.org"]["active"] is False
    assert accounts["cy@example.org"]["active"] is False
    assert (
        accounts["ann@example.org"]["active"] is True and accounts["ann@example.org"]["title"] == "Director"
    )
    assert len(accounts) == len(assigned)  # disabled, never deleted; nobody added
    assert accounts["big000@example.org"]["id"] == big000 and accounts["big000@example.org"]["active"]
    groups = scim_app.groups()
    assert scim_app.member_names(groups["Unassigned"]) == {"ann@example.org"}


def test_starttls_and_ldaps_verify_the_server_with_the_ca_file(tmp_path):
    ca, cert, key = tls_files(tmp_path)
    config = plain_config(groups=None, assignment={"attribute": "uid", "values": ["ann"]})
    with Slapd(tmp_path / "slapd", plain_ldif(), tls=(cert, key)) as server:
        over_starttls = read(server, config, tls="starttls", ca_file=str(ca))
        conn = connection(server.ldaps_port, tls="ldaps", ca_file=str(ca))
        over_ldaps = open_source(config, lambda conn_id: conn, APP).read()
        assert len(over_starttls.users) == len(over_ldaps.users) == 5 + BIG
        unknown_ca = connection(server.ldaps_port, tls="ldaps")  # the system's CAs never signed it
        with pytest.raises(
            DirectoryError, match=r"cannot connect to LDAP at ldaps://127\.0\.0\.1:\d+ as cn=reader"
        ):
            open_source(config, lambda conn_id: unknown_ca, APP).read()


def test_what_cannot_be_read_is_refused_with_what_and_where(slapd):
    wrong = connection(slapd.port)
    wrong.password = "not-the-password"
    with pytest.raises(DirectoryError) as info:
        open_source(plain_config(), lambda conn_id: wrong, APP).read()
    assert str(info.value) == (
        f"cannot connect to LDAP at ldap://127.0.0.1:{slapd.port} as cn=reader,dc=example,dc=org: "
        "Invalid credentials"
    )
    assert "not-the-password" not in str(info.value) and READER_PASSWORD not in str(info.value)

    missing_base = plain_config(users={"base_dn": "ou=staff,dc=example,dc=org"})
    with pytest.raises(DirectoryError, match=r"LDAP search of 'ou=staff,dc=example,dc=org' .*No such object"):
        read(slapd, missing_base)

    renamed = plain_config(assignment={"groups": [group_dn("App-Wikki")]})
    with pytest.raises(DirectoryError) as info:
        read(slapd, renamed)
    assert str(info.value) == (
        f"assignment group 'cn=App-Wikki,{GROUPS}' of app 'demo_wiki' is not among the groups read under "
        f"'{GROUPS}' with filter '(objectClass=groupOfNames)': refusing to read the app's assignments "
        "as empty"
    )


def test_the_connection_forms_test_button_binds_for_real(slapd, monkeypatch):
    fields = {"conn_type": "ldap", "host": "127.0.0.1", "port": slapd.port, "login": READER_DN}
    extra = {"extra__ldap__tls": "none"}  # as the connection form saves its fields
    monkeypatch.setenv(*connection_env("corp_ldap", **fields, password=READER_PASSWORD, extra=extra))
    assert LdapHook("corp_ldap").test_connection() == (True, f"bound to {slapd.url} as dn:{READER_DN}")
    monkeypatch.setenv(*connection_env("corp_ldap", **fields, password="wrong-1234", extra=extra))
    ok, message = LdapHook("corp_ldap").test_connection()
    assert not ok and message.endswith("Invalid credentials") and "wrong-1234" not in message


def test_a_cleartext_bind_password_only_goes_to_this_machine():
    remote = connection(389)
    remote.host = "ldap.corp.example.org"
    with pytest.raises(
        DirectoryError, match="tls is none, so the bind password would cross the network in clear"
    ):
        open_source(plain_config(), lambda conn_id: remote, APP)
    remote.extra_dejson = {"tls": "none", "allow_plain": True}
    assert (
        open_source(plain_config(), lambda conn_id: remote, APP).endpoint.uri
        == "ldap://ldap.corp.example.org:389"
    )
