"""Whole cycles against a real Matrix Synapse (started once for the module, tests/support/
synapse_server.py) and a real SQLite directory: accounts, room memberships, deactivation.

Every test provisions under a prefix of its own (``t3-u0000042``, room ``#t3-g-dept-design``):
Synapse never deletes an account, so tests sharing the server keep apart by name instead. A
FaultProxy (a real HTTP proxy) sits between the connector and Synapse to count requests and to
answer badly on demand.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.config.errors import ConfigError
from provisioning.config.loader import load_app_config
from provisioning.connectors.directory.registry import open_source
from provisioning.connectors.errors import AppUnusable, Rejected
from provisioning.connectors.synapse.client import SynapseClient
from provisioning.connectors.synapse.connector import SynapseConnector
from provisioning.connectors.synapse.errors import SynapseNotFound, SynapseProtocolError
from provisioning.connectors.synapse.hook import SynapseHook
from provisioning.cycle.context import CycleContext
from provisioning.cycle.options import RunOptions
from provisioning.demo.directory import build_sqlite
from provisioning.engine.changes import AttributeUpdate
from provisioning.engine.vocabulary import ObjectType
from tests.integration.cycle_helpers import MEMBERS_SQL, Harness, wiki_scope
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.synapse_server import SERVER_NAME, SynapseServer

GROUPS = ("g-dept-engineering", "g-dept-product", "g-dept-design", "g-dept-sales", "g-division-tech")
_prefixes = itertools.count(1)


@pytest.fixture(scope="module")
def synapse() -> Iterator[SynapseServer]:
    with SynapseServer() as server:
        yield server


@pytest.fixture
def proxy(synapse) -> Iterator[FaultProxy]:
    with FaultProxy(synapse.url) as proxy:
        yield proxy


@pytest.fixture
def directory(tmp_path) -> Path:
    """A small directory: about 20 users in the wiki's scope, 60 in all."""
    path = tmp_path / "directory.db"
    build_sqlite(path, users=60, seed=11)
    return path


class SynapseHarness(Harness):
    """The cycle harness with the wiki's users and its department rooms provisioned to Synapse."""

    def __init__(self, directory: Path, synapse: SynapseServer, proxy: FaultProxy, state: Path):
        super().__init__(directory, None, state)
        self.synapse = synapse
        self.proxy = proxy
        self.token = synapse.admin_token
        self.prefix = f"t{next(_prefixes)}-"
        localpart = {"target": "localpart", "expression": f'Append("{self.prefix}", ToLower([id]))'}
        self.configure(
            target={"kind": "synapse", "conn_id": "synapse_test", "server_name": SERVER_NAME},
            users={
                "scope": "assigned",
                "matching": [{"target": "localpart"}],
                "mappings": [
                    localpart,
                    {"target": "displayName", "source": "displayName"},
                    {"target": "email", "source": "mail"},
                ],
                "actions": ["create", "update", "disable"],
            },
            groups={
                "scope": "all",
                "scoping": [
                    {"clauses": [{"attribute": "id", "operator": "EQUALS", "value": g}]} for g in GROUPS
                ],
                "matching": [{"target": "alias"}],
                "mappings": [
                    {"target": "alias", "expression": f'Append("{self.prefix}", [id])'},
                    {"target": "name", "source": "displayName"},
                ],
            },
        )

    def context(self, cycle_id: str) -> CycleContext:
        return CycleContext(
            self.config,
            cycle_id,
            self.store,
            lambda: open_source(self.config.directory, self.connection, self.config.app),
            lambda: SynapseConnector.for_app(
                SynapseClient(self.proxy.url, self.token, backoff_initial=0.01, max_retries=2, timeout=30),
                self.config,
            ),
            self.options,
        )

    # --- the oracle: the directory, read with SQL; the truth: Synapse, read with its admin API ----

    def localpart(self, upn: str) -> str:
        (row,) = self.rows("select id from users where userPrincipalName = :upn", upn=upn)
        return self.prefix + row[0]

    def expected_accounts(self) -> dict[str, tuple[str, str]]:
        """localpart -> (display name, e-mail) of every user in the wiki's scope."""
        scope = wiki_scope(self)
        rows = self.rows("select userPrincipalName, id, displayName, mail from users")
        return {self.prefix + uid: (name, mail) for upn, uid, name, mail in rows if upn in scope}

    def expected_rooms(self) -> dict[str, set[str]]:
        scope = wiki_scope(self)
        return {
            self.prefix + group: {self.localpart(upn) for upn in self.upns(MEMBERS_SQL, g=group) & scope}
            for group in GROUPS
        }

    def accounts(self) -> dict[str, dict]:
        return self.synapse.users(self.prefix)

    def rooms(self) -> dict[str, dict]:
        return self.synapse.rooms(self.prefix)

    def assert_exact(self) -> None:
        """Active accounts are exactly the users in scope, with their names and e-mail addresses;
        every other account we made is deactivated; every room holds exactly its members in scope."""
        expected = self.expected_accounts()
        accounts = self.accounts()
        active = {k for k, v in accounts.items() if not v["deactivated"] and not v["locked"]}
        assert active == set(expected)
        for localpart, (name, mail) in expected.items():
            account = accounts[localpart]
            assert account["displayname"] == name
            assert [(t["medium"], t["address"]) for t in account["threepids"]] == [("email", mail.lower())]
        rooms = self.rooms()
        wanted = self.expected_rooms()
        assert set(rooms) == set(wanted)
        for alias, members in wanted.items():
            assert rooms[alias]["members"] == members, alias
            assert (
                rooms[alias]["name"]
                == dict(self.rows("select id, displayName from groups"))[alias.removeprefix(self.prefix)]
            )


@pytest.fixture
def harness(directory, synapse, proxy, tmp_path) -> SynapseHarness:
    return SynapseHarness(directory, synapse, proxy, tmp_path / "state.db")


def _addresses(account: dict) -> list[tuple[str, str]]:
    return [(t["medium"], t["address"]) for t in account["threepids"]]


def _first(harness: SynapseHarness, sql: str, **params) -> str:
    return harness.rows(sql, **params)[0][0]


def test_cycles_with_joiners_a_mover_and_a_leaver_end_exact(harness):
    first = harness.cycle()
    assert first["report"]["status"] == "succeeded", first["report"]
    harness.assert_exact()
    assert first["diff"]["counts"]["create"] == len(harness.expected_accounts())
    assert any(harness.expected_rooms().values())

    harness.proxy.reset()
    second = harness.cycle()
    assert harness.proxy.writes() == [] and harness.proxy.requests == []  # nothing changed: no call
    assert second["diff"]["counts"]["unchanged"] == len(harness.expected_accounts())

    scope = wiki_scope(harness)
    engineering = harness.upns(MEMBERS_SQL, g="g-dept-engineering") & scope
    product = sorted(harness.upns(MEMBERS_SQL, g="g-dept-product") & scope)
    # a joiner: someone from outside the wiki's scope joins Engineering
    joiner = _first(
        harness,
        "select id from users where accountEnabled = 1 and department not in "
        "('Engineering', 'Product', 'Design') and id not in "
        "(select principal_id from app_assignments where app = 'demo_wiki') order by id",
    )
    harness.sql("insert into group_members values ('g-dept-engineering', :u, 'user')", u=joiner)
    # a mover: from Product to Design (stays in the wiki through Division Tech)
    mover = _first(harness, "select id from users where userPrincipalName = :upn", upn=product[0])
    harness.sql(
        "update group_members set group_id = 'g-dept-design' "
        "where member_id = :u and group_id = 'g-dept-product'",
        u=mover,
    )
    # a leaver: out of Engineering and not assigned otherwise
    direct = {r[0] for r in harness.rows("select principal_id from app_assignments where app = 'demo_wiki'")}
    leaver = next(
        uid
        for upn in sorted(engineering)
        if (uid := _first(harness, "select id from users where userPrincipalName = :upn", upn=upn))
        not in direct
    )
    harness.sql("delete from group_members where member_id = :u", u=leaver)
    # and a renamed user
    renamed = _first(harness, "select id from users where userPrincipalName = :upn", upn=product[-1])
    harness.sql("update users set displayName = 'Renamed Person' where id = :u", u=renamed)

    third = harness.cycle()
    assert third["report"]["status"] == "succeeded", third["report"]
    harness.assert_exact()
    accounts = harness.accounts()
    assert not accounts[harness.prefix + joiner]["locked"]
    assert (
        accounts[harness.prefix + leaver]["locked"] and not accounts[harness.prefix + leaver]["deactivated"]
    )
    # the leaver's account is disabled (locked), not erased: its e-mail address stays with it
    assert accounts[harness.prefix + leaver]["threepids"] and not accounts[harness.prefix + leaver]["erased"]
    assert accounts[harness.prefix + renamed]["displayname"] == "Renamed Person"
    rooms = harness.rooms()
    assert harness.prefix + mover in rooms[harness.prefix + "g-dept-design"]["members"]
    assert harness.prefix + mover not in rooms[harness.prefix + "g-dept-product"]["members"]
    log = Counter(
        (r["object_type"], r["action"], r["status"]) for r in harness.store.log("demo_wiki", "cycle-3")
    )
    assert log[("user", "create", "success")] == 1
    assert log[("user", "disable", "success")] == 1
    assert log[("user", "update", "success")] == 1


@pytest.mark.parametrize("mode", ["lock", "deactivate"])
def test_disable_and_re_enable_round_trip(harness, mode):
    """Lock (the default) and deactivate both keep the account's addresses and name while it is
    disabled and give back its rooms when it is re-enabled."""
    harness.configure(target={**harness.raw("target"), "disable": mode})
    first = harness.cycle()
    assert first["report"]["status"] == "succeeded", first["report"]
    upn = sorted(harness.upns(MEMBERS_SQL, g="g-dept-design") & wiki_scope(harness))[0]
    localpart = harness.localpart(upn)
    before = harness.accounts()[localpart]
    rooms_before = {a for a, r in harness.rooms().items() if localpart in r["members"]}
    assert rooms_before

    harness.sql("update users set accountEnabled = 0 where userPrincipalName = :upn", upn=upn)
    disabled = harness.cycle()
    assert disabled["report"]["status"] == "succeeded", disabled["report"]
    account = harness.accounts()[localpart]
    assert (account["locked"], account["deactivated"]) == ((True, False) if mode == "lock" else (False, True))
    assert _addresses(account) == _addresses(before) and account["displayname"] == before["displayname"]
    # out of scope, it is no member of its groups' rooms in either mode (the cycle removes it; a
    # deactivation parts them anyway) and is joined again when it comes back
    assert not {a for a, r in harness.rooms().items() if localpart in r["members"]}
    harness.assert_exact()

    harness.sql("update users set accountEnabled = 1 where userPrincipalName = :upn", upn=upn)
    enabled = harness.cycle()
    assert enabled["report"]["status"] == "succeeded", enabled["report"]
    account = harness.accounts()[localpart]
    assert account["deactivated"] is False and account["locked"] is False
    assert _addresses(account) == _addresses(before)
    assert {a for a, r in harness.rooms().items() if localpart in r["members"]} == rooms_before
    harness.assert_exact()
    actions = [
        (r["action"], r["status"])
        for r in harness.store.log("demo_wiki", "cycle-3")
        if r["object_type"] == "user"
    ]
    assert actions == [("enable", "success")]


def test_a_pre_existing_account_is_matched_not_duplicated(harness, synapse):
    upn = sorted(wiki_scope(harness))[0]
    localpart = harness.localpart(upn)
    synapse.admin(
        "PUT", f"/_synapse/admin/v2/users/@{localpart}:{SERVER_NAME}", json={"displayname": "Old Name"}
    )
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded", result["report"]
    harness.assert_exact()  # one account per user, the old one brought up to date
    log = {r["source_display"]: r for r in harness.store.log("demo_wiki") if r["object_type"] == "user"}
    assert log[upn]["action"] == "update" and log[upn]["target_id"] == f"@{localpart}:{SERVER_NAME}"
    assert result["diff"]["counts"]["create"] == len(harness.expected_accounts()) - 1


def test_a_token_that_is_not_a_server_admins_stops_the_cycle_with_a_clear_error(harness, synapse):
    harness.token = synapse.register(f"plain-{harness.prefix}", "a-long-password-1")
    result = harness.cycle_tolerant()
    failed = next(v for v in result.values() if isinstance(v, Exception))
    assert isinstance(failed, AppUnusable)
    assert "server admin" in str(failed) and harness.token not in str(failed)
    assert harness.accounts() == {}


def test_bad_answers_are_retried_or_refused(harness):
    """429 with Synapse's retry_after_ms and a 502 are retried; a body that is not JSON stops the
    cycle as an unusable app, and nothing is half-written."""
    harness.proxy.inject(
        Fault(
            429,
            body=b'{"errcode":"M_LIMIT_EXCEEDED","error":"Too Many Requests","retry_after_ms":50}',
            path="/_synapse/admin/v2/users",
            methods=("PUT",),
        )
    )
    harness.proxy.inject(Fault(502, body=b"bad gateway", path="/_synapse/admin/v2/users", methods=("GET",)))
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded", result["report"]
    assert harness.proxy.count("PUT", 429) == 1 and harness.proxy.count("GET", 502) == 1
    harness.assert_exact()

    harness.sql(
        "update users set displayName = 'Another Name' where userPrincipalName = :upn",
        upn=sorted(wiki_scope(harness))[0],
    )
    harness.proxy.inject(
        Fault(200, body=b"<html>not json</html>", path="/_synapse/admin/v2/users", methods=("PUT",))
    )
    result = harness.cycle_tolerant()
    failed = [r for r in harness.store.log("demo_wiki", "cycle-2") if r["status"] != "success"]
    assert failed and "invalid JSON" in failed[0]["error_message"]


def test_config_errors_name_the_field(tmp_path):
    raw = {
        "directory": {"conn_id": "d"},
        "target": {"kind": "synapse", "conn_id": "s"},
        "users": {"matching": [{"target": "title"}], "mappings": [{"target": "title", "source": "jobTitle"}]},
    }
    path = tmp_path / "chat.yaml"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError) as error:
        load_app_config(path)
    text = str(error.value)
    assert "users.mappings[0].target" in text and "'title' is not a Synapse field" in text

    raw["users"] = {
        "matching": [{"target": "displayName"}],
        "mappings": [{"target": "displayName", "source": "displayName"}],
    }
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError) as error:
        load_app_config(path)
    assert "users.mappings: a mapping to 'localpart' is required (it is the Matrix user id)" in str(
        error.value
    )

    raw["users"]["mappings"].append({"target": "alias", "source": "id"})
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError) as error:
        load_app_config(path)
    wrong_type = "users.mappings[1].target: 'alias' is not a Synapse user field (user fields: localpart, "
    assert wrong_type in str(error.value)


def test_the_hook_reads_an_airflow_connection_and_tests_it(synapse, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SYNAPSE_HOOK_TEST",
        json.dumps({"conn_type": "synapse", "host": synapse.url, "password": synapse.admin_token}),
    )
    ok, message = SynapseHook("synapse_hook_test").test_connection()
    assert ok and message == f"connected to {synapse.url} as {synapse.admin_id} (server admin)"
    monkeypatch.setenv(
        "AIRFLOW_CONN_SYNAPSE_HOOK_TEST",
        json.dumps({"conn_type": "synapse", "host": synapse.url, "password": "wrong-token"}),
    )
    ok, message = SynapseHook("synapse_hook_test").test_connection()
    assert not ok and "M_UNKNOWN_TOKEN" in message and "wrong-token" not in message


def test_a_full_reconcile_corrects_what_was_changed_in_synapse(harness, synapse):
    """Drift made by hand in Synapse: a display name edited, a member kicked, a stranger joined.
    A full reconcile reads accounts and rooms back and puts the directory's truth again."""
    harness.cycle()
    rooms = harness.rooms()
    design = harness.prefix + "g-dept-design"
    kicked = sorted(rooms[design]["members"])[0]
    edited = sorted(harness.expected_accounts())[-1]
    room_id = rooms[design]["room_id"]
    synapse.admin(
        "POST",
        f"/_matrix/client/v3/rooms/{room_id}/kick",
        json={"user_id": f"@{kicked}:{SERVER_NAME}", "reason": "by hand"},
    )
    synapse.admin("PUT", f"/_synapse/admin/v2/users/@{edited}:{SERVER_NAME}", json={"displayname": "Edited"})
    stranger = f"stranger-{harness.prefix}"
    synapse.register(stranger, "a-long-password-2")
    synapse.admin(
        "POST", f"/_synapse/admin/v1/join/{room_id}", json={"user_id": f"@{stranger}:{SERVER_NAME}"}
    )
    assert stranger in harness.rooms()[design]["members"]

    harness.options = RunOptions(full_reconcile=True)
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded", result["report"]
    rooms = harness.rooms()
    assert kicked in rooms[design]["members"] and stranger not in rooms[design]["members"]
    harness.assert_exact()
    notes = {
        r["source_display"]: r["error_message"]
        for r in harness.store.log("demo_wiki")
        if r["action"] == "note"
    }
    assert any("displayname" in text for text in notes.values())


def test_opted_in_deletes_erase_the_account_and_shut_the_room_down(harness):
    """Synapse cannot delete an account: a delete erases it (deactivated, erased, the localpart
    never free again). A group delete shuts its room down: everyone out, the room gone."""
    users, groups = harness.raw("users"), harness.raw("groups")
    harness.configure(
        users={
            **users,
            "actions": ["create", "update", "disable", "delete"],
            "deprovision": {"action": "delete"},
        },
        groups={**groups, "on_leave_scope": "delete"},
    )
    harness.cycle()
    upn = sorted(harness.upns(MEMBERS_SQL, g="g-dept-product") & wiki_scope(harness))[0]
    localpart = harness.localpart(upn)
    harness.sql("update users set accountEnabled = 0 where userPrincipalName = :upn", upn=upn)
    harness.sql("delete from groups where id = 'g-dept-sales'")
    harness.sql("delete from group_members where group_id = 'g-dept-sales'")
    harness.options = RunOptions(allow_deletions=True)
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded", result["report"]
    account = harness.accounts()[localpart]
    assert account["deactivated"] is True and account["erased"] is True
    assert harness.prefix + "g-dept-sales" not in harness.rooms()
    log = Counter(
        (r["object_type"], r["action"], r["status"]) for r in harness.store.log("demo_wiki", "cycle-2")
    )
    assert log[("user", "delete", "success")] == 1 and log[("group", "delete", "success")] == 1


def test_a_connection_to_a_server_of_another_name_writes_nothing(harness):
    harness.configure(target={**harness.raw("target"), "server_name": "elsewhere.example"})
    result = harness.cycle_tolerant()
    failed = next(v for v in result.values() if isinstance(v, Exception))
    assert isinstance(failed, AppUnusable)
    assert f"the connection's server is {SERVER_NAME!r}" in str(failed) and "'elsewhere.example'" in str(
        failed
    )
    assert harness.proxy.writes() == [] and harness.accounts() == {}


def test_synapse_answers_m_not_found_for_what_does_not_exist_and_m_unrecognized_for_a_wrong_path(synapse):
    """The real server's answers the connector tells apart: an unknown account, address or alias
    is ``M_NOT_FOUND`` (nothing there); an endpoint it does not serve is a 404 ``M_UNRECOGNIZED``,
    which says nothing about any account and stops the cycle."""
    client = SynapseClient(synapse.url, synapse.admin_token, max_retries=0)
    with pytest.raises(SynapseNotFound):
        client.get_user(f"@nobody-at-all:{SERVER_NAME}")
    with pytest.raises(SynapseNotFound):
        client.deactivate(f"@nobody-at-all:{SERVER_NAME}")
    assert client.user_by_email("nobody-at-all@example.invalid") is None
    assert client.room_by_alias(f"#nothing-at-all:{SERVER_NAME}") is None
    with pytest.raises(SynapseProtocolError) as error:
        client.request("GET", "/_synapse/admin/v2/no-such-endpoint")
    assert error.value.status == 404 and error.value.errcode == "M_UNRECOGNIZED"
    assert isinstance(error.value, AppUnusable) and "admin API is not reachable" in str(error.value)


@pytest.mark.parametrize(
    ("mode", "body"),
    [
        ("deactivate", b'{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}'),
        ("lock", b"<html><body><h1>404 Not Found</h1>nginx</body></html>"),
    ],
)
def test_a_404_that_is_not_m_not_found_disables_nobody_and_stops_the_cycle(harness, mode, body):
    """A reverse proxy that does not pass /_synapse/admin (an HTML 404) or a path Synapse does not
    serve (M_UNRECOGNIZED) is not "the account is gone": the disable is a failure in the
    provisioning log, the cycle stops, and the account is still active in Synapse."""
    harness.configure(target={**harness.raw("target"), "disable": mode})
    assert harness.cycle()["report"]["status"] == "succeeded"
    upn = sorted(wiki_scope(harness))[0]
    localpart = harness.localpart(upn)
    harness.sql("update users set accountEnabled = 0 where userPrincipalName = :upn", upn=upn)
    harness.proxy.inject(Fault(404, body=body, path="/_synapse/admin/"), times=50)
    result = harness.cycle_tolerant()
    assert result["report"]["status"] == "failed" and result["report"]["quarantine"]["quarantined"]
    assert "admin API is not reachable" in result["apply"]["stopped"]
    account = harness.accounts()[localpart]
    assert account["deactivated"] is False and account["locked"] is False
    rows = [r for r in harness.store.log("demo_wiki", "cycle-2") if r["action"] == "disable"]
    assert rows and all(r["status"] != "success" for r in rows), rows
    assert all("no longer exists" not in (r["error_message"] or "") for r in rows)


def test_the_connections_own_account_is_never_matched_nor_changed(harness, synapse):
    """The token's owner holds the localpart and the e-mail address of a directory user: it is not
    matched, not linked, and neither a leave of scope nor a direct call locks, deactivates,
    erases or edits it (that would lock the connector out for good)."""
    upn = sorted(wiki_scope(harness))[0]
    localpart = harness.localpart(upn)
    mail = harness.rows("select mail from users where userPrincipalName = :upn", upn=upn)[0][0].lower()
    me = f"@{localpart}:{SERVER_NAME}"
    harness.token = synapse.register(localpart, "a-long-password-3", admin=True)
    synapse.admin("POST", f"/_synapse/admin/v1/users/{me}/override_ratelimit", json={})
    synapse.admin(
        "PUT", f"/_synapse/admin/v2/users/{me}", json={"threepids": [{"medium": "email", "address": mail}]}
    )
    before = synapse.user(localpart)

    harness.cycle_tolerant()
    row = next(r for r in harness.store.log("demo_wiki", "cycle-1") if r["source_display"] == upn)
    assert row["status"] != "success" and "the account this connection acts as" in row["error_message"]
    harness.sql("update users set accountEnabled = 0 where userPrincipalName = :upn", upn=upn)
    harness.cycle_tolerant()

    connector = SynapseConnector.for_app(
        SynapseClient(synapse.url, harness.token, max_retries=0), harness.config
    )
    assert connector.find(ObjectType.USER, "localpart", localpart) == []
    assert connector.find(ObjectType.USER, "email", mail) == []
    for act in (
        lambda: connector.get(ObjectType.USER, me),
        lambda: connector.set_active(ObjectType.USER, me, False),
        lambda: connector.delete(ObjectType.USER, me),
        lambda: connector.update(ObjectType.USER, me, AttributeUpdate(set={"displayname": "X"})),
    ):
        with pytest.raises(Rejected) as refused:
            act()
        assert refused.value.permanent and "never changed by provisioning" in str(refused.value)
    after = synapse.user(localpart)
    assert (after["deactivated"], after["locked"], after["erased"]) == (False, False, False)
    assert after["displayname"] == before["displayname"] and _addresses(after) == _addresses(before)
    assert connector.client.whoami() == me  # the token still works


def test_an_e_mail_change_keeps_the_accounts_phone_and_other_addresses(harness, synapse):
    """The admin API's threepids replace the whole set: only the address provisioning applied is
    swapped; a phone number and a second address added in Synapse stay."""
    assert harness.cycle()["report"]["status"] == "succeeded"
    upn = sorted(wiki_scope(harness))[0]
    localpart = harness.localpart(upn)
    (old,) = [a for m, a in _addresses(harness.accounts()[localpart]) if m == "email"]
    others = [
        {"medium": "msisdn", "address": "447700900123"},
        {"medium": "email", "address": "second@example.org"},
    ]
    synapse.admin(
        "PUT",
        f"/_synapse/admin/v2/users/@{localpart}:{SERVER_NAME}",
        json={"threepids": [{"medium": "email", "address": old}, *others]},
    )
    harness.sql("update users set mail = 'moved@example.org' where userPrincipalName = :upn", upn=upn)
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert sorted(_addresses(harness.accounts()[localpart])) == sorted(
        [("msisdn", "447700900123"), ("email", "second@example.org"), ("email", "moved@example.org")]
    )
