"""The stateful safety test's own picture of the world, written independently of the engine.

``DirectoryModel`` is the true directory: the test mutates it and writes it to a real SQLite
directory as documented in docs/directory.md (the four relations are views over plain tables, so
a rule can break a view -- drop a share of its rows, return none -- while the truth stays known).
``desired`` computes what the app must hold from that truth alone. ``AppSnapshot`` is what one
SCIM server holds, read directly (never through the fault proxy), and ``removals`` counts the
destructive changes between two snapshots, per type, for the accidental-deletion invariant.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import column, create_engine, insert, table, text
from sqlalchemy.sql.expression import TableClause

from provisioning.connectors.directory import schema
from provisioning.connectors.scim.client import ScimClient

APP = "demo_wiki"
TECH = ("Engineering", "Product", "Design")
# the groups the app provisions (a regex on displayName, as the config's scoping filter says)
GROUP_SCOPE = r"^(Department (Engineering|Product|Design|Sales)|Division Tech)$"
USER_COLUMNS = [c.name for c in schema.users.columns]
# how a view can break: it loses a share of its rows, or returns none
BROKEN_VIEWS = {
    "users_share": ("users", "rowid % 3 = 0"),
    "users_empty": ("users", "0"),
    "members_share": ("group_members", "rowid % 2 = 0"),
    "members_empty": ("group_members", "0"),
}
# the columns a mapping reads, by the SCIM attribute it fills (docs: include/apps/demo_wiki.yaml)
CHECKED_ATTRIBUTES = {
    "displayName": "displayName",
    "title": "jobTitle",
    "externalId": "id",
}
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def enabled(value: object) -> bool:
    """Fail closed: only an explicit true value enables an account (an unknown one does not)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y", "t")
    return value is True or value == 1


@dataclass
class DirectoryModel:
    users: dict[str, dict]
    groups: dict[str, str]  # id -> displayName
    members: set[tuple[str, str, str]]  # (group_id, member_id, member_type)
    assignments: set[tuple[str, str, str]]  # (app, principal_id, principal_type)
    broken: str | None = None  # a key of BROKEN_VIEWS while a view is broken
    hires: int = 0

    @classmethod
    def load(cls, path: Path) -> DirectoryModel:
        """The demo directory's rows (``build_sqlite``), as the starting truth."""
        with create_engine(f"sqlite:///{path}").connect() as conn:
            users = {r["id"]: dict(r) for r in conn.execute(text("select * from users")).mappings()}
            groups = dict(conn.execute(text("select id, displayName from groups")).all())
            members = {tuple(r) for r in conn.execute(text("select * from group_members")).all()}
            assignments = {
                tuple(r)
                for r in conn.execute(text("select app, principal_id, principal_type from app_assignments"))
            }
        for row in users.values():
            row["accountEnabled"] = 1 if row["accountEnabled"] else 0
        return cls(users, groups, members, assignments)

    def write(self, path: Path) -> None:
        """Replace the directory's contents: plain ``*_data`` tables behind the documented views."""
        engine = create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            for name in ("users", "groups", "group_members", "app_assignments"):
                conn.execute(text(f"drop view if exists {name}"))
                conn.execute(text(f"drop table if exists {name}"))
                conn.execute(text(f"drop table if exists {name}_data"))
            conn.execute(text(f"create table users_data ({', '.join(map(_quoted, USER_COLUMNS))})"))
            conn.execute(text('create table groups_data (id, "displayName", description)'))
            conn.execute(text("create table group_members_data (group_id, member_id, member_type)"))
            conn.execute(text("create table app_assignments_data (app, principal_id, principal_type, role)"))
            rows = {
                "users_data": list(self.users.values()),
                "groups_data": [
                    {"id": g, "displayName": n, "description": None} for g, n in self.groups.items()
                ],
                "group_members_data": [
                    dict(zip(("group_id", "member_id", "member_type"), m, strict=True))
                    for m in sorted(self.members)
                ],
                "app_assignments_data": [
                    {**dict(zip(("app", "principal_id", "principal_type"), a, strict=True)), "role": None}
                    for a in sorted(self.assignments)
                ],
            }
            for table, values in rows.items():
                if values:
                    conn.execute(insert(_table(table, values[0])), values)
            broken = BROKEN_VIEWS.get(self.broken or "")
            for name in ("users", "groups", "group_members", "app_assignments"):
                where = broken[1] if broken and broken[0] == name else "1"
                conn.execute(text(f"create view {name} as select * from {name}_data where {where}"))

    def in_scope(self, scoping: list[dict]) -> set[str]:
        """Ids of users the app must have active: enabled, assigned (directly or through a group
        at any depth), and passing the scoping filter."""
        assigned_groups = {p for app, p, kind in self.assignments if app == APP and kind == "group"}
        direct = {p for app, p, kind in self.assignments if app == APP and kind == "user"}
        via_groups = set().union(*(self.members_of(g) for g in assigned_groups))
        return {
            uid
            for uid in direct | via_groups
            if uid in self.users
            and enabled(self.users[uid]["accountEnabled"])
            and passes(self.users[uid], scoping)
        }

    def members_of(self, group_id: str) -> set[str]:
        """User ids in a group at any depth (membership cycles end the walk)."""
        seen, todo, users = set(), [group_id], set()
        while todo:
            group = todo.pop()
            if group in seen:
                continue
            seen.add(group)
            for g, member, kind in self.members:
                if g == group and kind == "group":
                    todo.append(member)
                elif g == group:
                    users.add(member)
        return users

    def provisioned_groups(self) -> dict[str, str]:
        """Group id -> displayName of the groups the app provisions."""
        return {g: name for g, name in self.groups.items() if re.match(GROUP_SCOPE, name)}


def passes(user: dict, scoping: list[dict]) -> bool:
    """The test's scoping filters: OR of filters, AND of ``NOT EQUALS`` clauses (the only kind used).
    As in Entra, a clause on a null or empty attribute is false, NOT EQUALS included."""
    if not scoping:
        return True
    return any(
        all(user.get(c["attribute"]) not in (None, "", c["value"]) for c in f["clauses"]) for f in scoping
    )


@dataclass
class Desired:
    """What the app must hold once a clean cycle ran: accounts by userName (lower case) with the
    attributes the directory gives them (None: no value, so nothing is checked), and the members
    (userNames) of each provisioned group by displayName."""

    accounts: dict[str, dict[str, str | None]]
    groups: dict[str, tuple[str, set[str]]]  # displayName -> (externalId, member userNames)


def desired(model: DirectoryModel, scoping: list[dict]) -> Desired:
    scope = model.in_scope(scoping)
    names = {uid: model.users[uid]["userPrincipalName"].lower() for uid in scope}
    accounts = {
        names[uid]: {scim: model.users[uid][column] for scim, column in CHECKED_ATTRIBUTES.items()}
        for uid in scope
    }
    groups = {
        name: (gid, {names[u] for u in model.members_of(gid) if u in scope})
        for gid, name in model.provisioned_groups().items()
    }
    return Desired(accounts, groups)


@dataclass(frozen=True)
class AppSnapshot:
    """One SCIM server's objects, read directly: accounts and groups as the app holds them."""

    users: list[dict]
    groups: list[dict]

    @classmethod
    def read(cls, url: str, token: str) -> AppSnapshot:
        with ScimClient(url, token) as client:
            return cls(list(client.list_resources("user")), list(client.list_resources("group")))

    def ids(self) -> set[str]:
        return {r["id"] for r in self.users + self.groups}

    def active(self) -> set[str]:
        return {u["userName"].lower() for u in self.users if u.get("active", True)}

    def group_names(self) -> set[str]:
        return {g["displayName"] for g in self.groups}

    def memberships(self) -> set[tuple[str, str]]:
        """(group displayName, member userName) pairs; an unknown member id stands for itself."""
        names = {u["id"]: u["userName"].lower() for u in self.users}
        return {
            (g["displayName"], names.get(m["value"], m["value"]))
            for g in self.groups
            for m in g.get("members", [])
        }

    def counts(self) -> Counter:
        return Counter(
            accounts=len(self.active()), groups=len(self.groups), memberships=len(self.memberships())
        )

    def duplicates(self) -> list[str]:
        """userNames (case-insensitive) and group displayNames/externalIds held more than once."""
        found = []
        for label, values in (
            ("userName", [u["userName"].lower() for u in self.users]),
            ("group displayName", [g["displayName"] for g in self.groups]),
            ("group externalId", [g["externalId"] for g in self.groups if g.get("externalId")]),
        ):
            found += [f"{label} {v!r} x{n}" for v, n in Counter(values).items() if n > 1]
        return found


@dataclass
class Removals:
    """Destructive changes, per type: accounts disabled or deleted, groups deleted, memberships
    removed (from groups that still exist)."""

    items: dict[str, list] = field(default_factory=lambda: {"accounts": [], "groups": [], "memberships": []})

    @classmethod
    def between(cls, before: AppSnapshot, after: AppSnapshot) -> Removals:
        kept_groups = after.group_names()
        return cls(
            {
                "accounts": sorted(before.active() - after.active()),
                "groups": sorted(before.group_names() - kept_groups),
                "memberships": sorted(
                    m for m in before.memberships() - after.memberships() if m[0] in kept_groups
                ),
            }
        )

    def without(self, approved: Removals) -> Removals:
        return Removals({k: [i for i in v if i not in set(approved.items[k])] for k, v in self.items.items()})

    def add(self, other: Removals) -> None:
        for kind, items in other.items.items():
            self.items[kind] += items

    def total(self) -> int:
        return sum(map(len, self.items.values()))


def within_threshold(count: int, base: int, *, max_count: int, max_percent: float, min_count: int) -> bool:
    """The config's accidental_deletions rule: below min_count always; else at most max_count and
    max_percent of what was there."""
    if count < min_count:
        return True
    return count <= max_count and (100.0 * count / base if base else 100.0) <= max_percent


def wipe(url: str, token: str) -> None:
    """Empty a SCIM server between examples (restarting one costs a second)."""
    with ScimClient(url, token) as client:
        for kind in ("group", "user"):
            for resource in list(client.list_resources(kind)):
                client.delete_resource(kind, resource["id"])


def _quoted(name: str) -> str:
    return f'"{name}"'


def _table(name: str, row: dict) -> TableClause:
    return table(name, *(column(c) for c in row))
