"""The interoperability suite: one scenario, every target kind and every server we can start.

Initial provisioning with an account that already exists in the app (matched, not duplicated), a
cycle with no change that writes nothing, then a rename, a mover between groups and a leaver, and
again nothing to write; no request the app would refuse. After each cycle the app holds exactly
what the directory says -- accounts, their state and display names, groups and their members --
read from the app with its own API.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from provisioning.connectors.base import AppConnector
from provisioning.connectors.targets import open_target
from provisioning.demo.directory import build_sqlite
from tests.conftest import connection_env
from tests.integration.cycle_helpers import Harness, directory_groups, expected_members, wiki_scope
from tests.interop.kinds import TargetUnderTest

WRITES = ("create", "update", "set_active", "delete", "add_members", "remove_members", "replace_members")


class CountingConnector:
    """The target's own connector, its write calls counted: what "no change, no writes" means
    whatever the protocol."""

    def __init__(self, inner: AppConnector, counts: Counter):
        self._inner = inner
        self._counts = counts

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in WRITES:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._counts[name] += 1
            return attribute(*args, **kwargs)

        return counted


def scenario_harness(target: TargetUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple:
    directory = tmp_path / "directory.db"
    build_sqlite(directory, users=150, seed=11)
    monkeypatch.setenv(*connection_env("interop_app", **target.connection()))
    writes: Counter = Counter()
    harness = Harness(
        directory,
        None,
        tmp_path / "state.db",
        open_app=lambda config: CountingConnector(open_target(config), writes),
    )
    users = {**harness.raw("users"), **target.users()}
    harness.configure(target=target.target("interop_app"), users=users, groups=target.groups())
    return harness, writes


def assert_app_matches_directory(target: TargetUnderTest, harness: Harness, leavers: set[str]) -> None:
    scope = wiki_scope(harness)
    accounts = target.accounts()
    expected_logins = {target.login(upn) for upn in scope | leavers}
    assert set(accounts) == expected_logins
    displays = dict(harness.rows("select userPrincipalName, displayName from users"))
    for upn in scope:
        account = accounts[target.login(upn)]
        assert (account.active, account.display) == (True, displays[upn]), upn
    for upn in leavers:
        assert accounts[target.login(upn)].active is False, upn
    if harness.config.groups is None:
        return
    members = target.members()
    for group_id, name in directory_groups(harness).items():
        assert members[name] == {target.login(upn) for upn in expected_members(harness, group_id)}, name


def test_the_scenario_ends_exact_on_every_target(target_under_test, tmp_path, monkeypatch):
    target = target_under_test
    harness, writes = scenario_harness(target, tmp_path, monkeypatch)
    upns = sorted(wiki_scope(harness))
    existing, renamed, leaver = upns[0], upns[1], upns[2]
    existing_id = target.precreate(target.login(existing), "Made Before Us")

    assert harness.cycle()["report"]["status"] == "succeeded"
    assert_app_matches_directory(target, harness, leavers=set())
    assert target.accounts()[target.login(existing)].id == existing_id  # matched, not made again

    writes.clear()
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert writes == Counter()
    assert target.refused() == []  # no request the app would have refused

    # a rename, a mover from Engineering to Product, a leaver
    (mover,) = harness.upns(
        "select u.userPrincipalName from users u join group_members m on m.member_id = u.id "
        "where m.group_id = 'g-dept-engineering' and u.accountEnabled = 1 "
        "and u.userPrincipalName not in (:a, :b, :c) order by u.id limit 1",
        a=existing,
        b=renamed,
        c=leaver,
    )
    harness.sql("update users set displayName = 'Renamed Person' where userPrincipalName = :u", u=renamed)
    harness.sql(
        "update group_members set group_id = 'g-dept-product' where group_id = 'g-dept-engineering' "
        "and member_id = (select id from users where userPrincipalName = :u)",
        u=mover,
    )
    harness.sql("update users set accountEnabled = 0 where userPrincipalName = :u", u=leaver)
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert_app_matches_directory(target, harness, leavers={leaver})
    if harness.config.groups is not None:
        members = target.members()
        assert target.login(mover) in members["Department Product"]
        assert target.login(mover) not in members["Department Engineering"]

    writes.clear()
    assert harness.cycle()["report"]["status"] == "succeeded"
    assert writes == Counter()
    assert target.refused() == []  # no request the app would have refused
