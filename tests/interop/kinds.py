"""The targets the interoperability scenario runs against, each a real server started here.

Each says how the app config reaches it (its ``target`` section and Airflow connection), how the
scenario's users and groups are mapped in its own terms, and how to read what it holds -- read
straight from the server with its own API, not through our connector, so the oracle does not
share the code it checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import ldap
import ldap.dn
import ldap.filter

from provisioning.demo.scim_server import ScimServer
from provisioning.demo.slapd import ROOT_DN, ROOT_PASSWORD, SUFFIX, Slapd
from tests.support.app_behaviour_proxy import AppBehaviourProxy
from tests.support.canaille_server import CanailleServer
from tests.support.synapse_server import SERVER_NAME as SYNAPSE_SERVER_NAME
from tests.support.synapse_server import SynapseServer

SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@dataclass(frozen=True)
class Account:
    id: str
    login: str
    display: str
    active: bool


class TargetUnderTest(Protocol):
    name: str

    def connection(self) -> dict[str, Any]:
        """The fields of the app's Airflow connection."""
        ...

    def target(self, conn_id: str) -> dict[str, Any]:
        """The app config's ``target`` section."""
        ...

    def users(self) -> dict[str, Any]:
        """``matching`` and ``mappings`` of users: the directory's userPrincipalName becomes the
        login, displayName the display name."""
        ...

    def groups(self) -> dict[str, Any] | None:
        """The ``groups`` section: the directory's department and division groups, by displayName
        (None: the app cannot hold them as the cycle writes them)."""
        ...

    def login(self, upn: str) -> str:
        """The login the app should hold for a directory user (the oracle's own rule)."""
        ...

    def accounts(self) -> dict[str, Account]:
        """Every account in the app, by login."""
        ...

    def members(self) -> dict[str, set[str]]:
        """Every group in the app (by its display name) and the logins of its members."""
        ...

    def precreate(self, upn: str, display: str) -> str:
        """An account made in the app before any cycle (someone's existing account); its id."""
        ...

    def refused(self) -> list:
        """Requests the app would have refused that the cycle sent (a behaviour proxy's record)."""
        ...


GROUP_SCOPING = [
    {"clauses": [{"attribute": "displayName", "operator": "REGEX MATCH", "value": "^(Department|Division) "}]}
]


class ScimTarget:
    """A SCIM 2.0 app: scim2-server, a fresh empty one per scenario."""

    name = "scim2-server"

    def __init__(self, server: ScimServer):
        self.server = server
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30
        )

    def connection(self) -> dict[str, Any]:
        return {"conn_type": "scim", "host": self.server.url, "password": self.server.token}

    def target(self, conn_id: str) -> dict[str, Any]:
        return {"kind": "scim", "conn_id": conn_id}

    def users(self) -> dict[str, Any]:
        return {
            "matching": [{"target": "userName"}],
            "mappings": [
                {"target": "userName", "source": "userPrincipalName"},
                {"target": "externalId", "source": "id"},
                {"target": "displayName", "source": "displayName"},
                {"target": "name.givenName", "source": "givenName"},
                {"target": "name.familyName", "source": "surname"},
                {"target": 'emails[type eq "work"].value', "source": "mail"},
                {"target": "title", "source": "jobTitle"},
            ],
        }

    def groups(self) -> dict[str, Any]:
        return {
            "scope": "all",
            "scoping": GROUP_SCOPING,
            "matching": [{"target": "externalId"}, {"target": "displayName"}],
            "mappings": [
                {"target": "displayName", "source": "displayName"},
                {"target": "externalId", "source": "id"},
            ],
        }

    def login(self, upn: str) -> str:
        return upn

    def accounts(self) -> dict[str, Account]:
        return {
            u["userName"]: Account(u["id"], u["userName"], u.get("displayName", ""), u.get("active", True))
            for u in self._list("/Users")
        }

    def members(self) -> dict[str, set[str]]:
        logins = {a.id: a.login for a in self.accounts().values()}
        return {
            g["displayName"]: {logins.get(m["value"], m["value"]) for m in g.get("members", [])}
            for g in self._list("/Groups")
        }

    def precreate(self, upn: str, display: str) -> str:
        response = self.http.post(
            "/Users", json={"schemas": [SCIM_USER], "userName": upn, "displayName": display, "active": True}
        )
        response.raise_for_status()
        return response.json()["id"]

    def refused(self) -> list:
        return []

    def _list(self, path: str) -> Iterator[dict]:
        start = 1
        while True:
            page = self.http.get(path, params={"startIndex": start, "count": 200}).raise_for_status().json()
            yield from page.get("Resources", [])
            start += len(page.get("Resources", []))
            if not page.get("Resources") or start > page["totalResults"]:
                return


class LdapTarget:
    """An LDAP directory: slapd (inetOrgPerson and groupOfNames), leavers marked by an attribute."""

    name = "slapd"
    people = f"ou=people,{SUFFIX}"
    groups_ou = f"ou=groups,{SUFFIX}"

    def __init__(self, server: Slapd):
        self.server = server

    def connection(self) -> dict[str, Any]:
        return {
            "conn_type": "ldap",
            "host": "127.0.0.1",
            "port": self.server.port,
            "login": ROOT_DN,
            "password": ROOT_PASSWORD,
            "extra": {"tls": "none"},
        }

    def target(self, conn_id: str) -> dict[str, Any]:
        return {
            "kind": "ldap",
            "conn_id": conn_id,
            "users": {"base_dn": self.people},
            "groups": {"base_dn": self.groups_ou},
            "disable": {"mode": "attribute", "attribute": "employeeType", "disabled_value": "disabled"},
        }

    def users(self) -> dict[str, Any]:
        return {
            "matching": [{"target": "uid"}],
            "mappings": [
                {"target": "uid", "source": "userPrincipalName"},
                {"target": "cn", "source": "displayName"},
                {"target": "displayName", "source": "displayName"},
                {"target": "sn", "source": "surname"},
                {"target": "givenName", "source": "givenName"},
                {"target": "title", "source": "jobTitle"},
                {"target": "employeeNumber", "source": "id"},
            ],
        }

    def groups(self) -> dict[str, Any]:
        return {
            "scope": "all",
            "scoping": GROUP_SCOPING,
            "matching": [{"target": "cn"}],
            "mappings": [
                {"target": "cn", "source": "displayName"},
                {"target": "description", "source": "id"},
            ],
        }

    def login(self, upn: str) -> str:
        return upn

    def accounts(self) -> dict[str, Account]:
        accounts = {}
        for _, attrs in self._search(self.people, ["uid", "displayName", "employeeType", "entryUUID"]):
            uid = attrs["uid"][0]
            display = attrs.get("displayName", [""])[0]
            active = "disabled" not in attrs.get("employeeType", [])
            accounts[uid] = Account(attrs["entryUUID"][0], uid, display, active)
        return accounts

    def members(self) -> dict[str, set[str]]:
        uids = {_dn_key(dn): attrs["uid"][0] for dn, attrs in self._search(self.people, ["uid"])}
        return {
            attrs["cn"][0]: {uids[_dn_key(m)] for m in attrs.get("member", []) if _dn_key(m) in uids}
            for _, attrs in self._search(self.groups_ou, ["cn", "member"])
        }

    def precreate(self, upn: str, display: str) -> str:
        dn = f"uid={ldap.dn.escape_dn_chars(upn)},{self.people}"
        conn = self._bind()
        try:
            conn.add_s(
                dn,
                [
                    ("objectClass", [b"inetOrgPerson"]),
                    ("uid", [upn.encode()]),
                    ("cn", [display.encode()]),
                    ("sn", [b"Before"]),
                ],
            )
        finally:
            conn.unbind_s()
        ((_, attrs),) = self._search(
            self.people, ["entryUUID"], f"(uid={ldap.filter.escape_filter_chars(upn)})"
        )
        return attrs["entryUUID"][0]

    def refused(self) -> list:
        return []

    def _bind(self) -> ldap.ldapobject.LDAPObject:
        conn = ldap.initialize(f"ldap://127.0.0.1:{self.server.port}")
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def _search(self, base: str, attributes: list[str], filterstr: str = "(objectClass=*)") -> list:
        conn = self._bind()
        try:
            found = conn.search_s(base, ldap.SCOPE_ONELEVEL, filterstr, attributes)
        finally:
            conn.unbind_s()
        return [(dn, {k: [v.decode() for v in vs] for k, vs in attrs.items()}) for dn, attrs in found]


class ProfiledScimTarget(ScimTarget):
    """scim2-server behind a proxy that answers as one app does (tests/support/
    app_behaviour_proxy.py), the app config naming that app's profile; read back directly."""

    def __init__(self, server: ScimServer, proxy: AppBehaviourProxy, profile: dict[str, Any]):
        super().__init__(server)
        self.proxy = proxy
        self.profile = profile
        self.name = profile["preset"]

    def connection(self) -> dict[str, Any]:
        return {**super().connection(), "host": self.proxy.url}

    def target(self, conn_id: str) -> dict[str, Any]:
        return {**super().target(conn_id), "profile": self.profile}

    def refused(self) -> list:
        return self.proxy.violations


class CanailleTarget(ScimTarget):
    """Canaille's own SCIM server, reached with OAuth 2.0 client credentials it issues. Its quirks
    are the app's profile and mappings: it answers 500 to ``count`` (paging: none), ignores
    filters (none are sent: matching lists the app), drops ``externalId``, needs ``name.familyName``
    and ``name.formatted``, and refuses ``type`` in ``emails``. Users only: it refuses a group
    created without members (each with its ``$ref``), and the cycle creates groups first and adds
    members after."""

    name = "canaille"

    def __init__(self, server: CanailleServer):
        self.server = server
        self.client = server.register("interop")
        token = httpx.post(
            server.token_url,
            data={"grant_type": "client_credentials", "scope": "openid"},
            auth=(self.client.client_id, self.client.client_secret),
            timeout=30,
        ).raise_for_status()
        self.http = httpx.Client(
            base_url=server.scim_url,
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=30,
        )

    def connection(self) -> dict[str, Any]:
        return {
            "conn_type": "scim",
            "host": self.server.scim_url,
            "password": self.client.client_secret,
            "extra": {
                "token_url": self.server.token_url,
                "client_id": self.client.client_id,
                "scope": "openid",
            },
        }

    def target(self, conn_id: str) -> dict[str, Any]:
        return {"kind": "scim", "conn_id": conn_id, "profile": {"paging": "none", "filter_operators": []}}

    def users(self) -> dict[str, Any]:
        return {
            "matching": [{"target": "userName"}],
            "mappings": [
                {"target": "userName", "source": "userPrincipalName"},
                {"target": "displayName", "source": "displayName"},
                {"target": "name.givenName", "source": "givenName"},
                {"target": "name.familyName", "source": "surname"},
                {"target": "name.formatted", "source": "displayName"},
                {"target": "title", "source": "jobTitle"},
            ],
        }

    def groups(self) -> None:
        return None

    def precreate(self, upn: str, display: str) -> str:
        body = {
            "schemas": [SCIM_USER],
            "userName": upn,
            "displayName": display,
            "name": {"familyName": "Before", "formatted": display},
            "active": True,
        }
        response = self.http.post("/Users", json=body)
        response.raise_for_status()
        return response.json()["id"]

    def _list(self, path: str) -> Iterator[dict]:
        yield from self.http.get(path).raise_for_status().json().get("Resources", [])


def _dn_key(dn: str) -> str:
    return ldap.dn.dn2str(ldap.dn.str2dn(dn)).lower()


class SynapseTarget:
    """Matrix Synapse through its admin API (tests/support/synapse_server.py), a fresh one per
    scenario. The login the oracle reads is the account's e-mail address: existing accounts are
    matched by it (a localpart is chosen only when an account is created), and groups are rooms
    named after the directory's groups."""

    name = "synapse"

    def __init__(self, server: SynapseServer):
        self.server = server

    def connection(self) -> dict[str, Any]:
        return {"conn_type": "synapse", "host": self.server.url, "password": self.server.admin_token}

    def target(self, conn_id: str) -> dict[str, Any]:
        return {"kind": "synapse", "conn_id": conn_id, "server_name": SYNAPSE_SERVER_NAME}

    def users(self) -> dict[str, Any]:
        return {
            "matching": [{"target": "email"}],
            "mappings": [
                {"target": "localpart", "expression": "ToLower([id])", "apply": "on_create"},
                {"target": "displayname", "source": "displayName"},
                {"target": "email", "expression": "ToLower([mail])"},
            ],
        }

    def groups(self) -> dict[str, Any]:
        return {
            "scope": "all",
            "scoping": GROUP_SCOPING,
            "matching": [{"target": "alias"}],
            "mappings": [
                {"target": "alias", "expression": "ToLower([id])"},
                {"target": "name", "source": "displayName"},
            ],
        }

    def login(self, upn: str) -> str:
        return upn.lower()  # the demo directory's mail is its userPrincipalName

    def accounts(self) -> dict[str, Account]:
        found = {}
        for user in self.server.users().values():
            emails = [t["address"] for t in user["threepids"] if t["medium"] == "email"]
            if emails:
                found[emails[0]] = Account(
                    user["name"],
                    emails[0],
                    user["displayname"] or "",
                    not user["deactivated"] and not user["locked"],  # disabled: locked, or deactivated
                )
        return found

    def members(self) -> dict[str, set[str]]:
        logins = {a.id: a.login for a in self.accounts().values()}
        return {
            room["name"]: {logins.get(f"@{m}:{SYNAPSE_SERVER_NAME}", m) for m in room["members"]}
            for room in self.server.rooms().values()
        }

    def precreate(self, upn: str, display: str) -> str:
        user_id = f"@before-us:{SYNAPSE_SERVER_NAME}"
        body = {"displayname": display, "threepids": [{"medium": "email", "address": upn}]}
        self.server.admin("PUT", f"/_synapse/admin/v2/users/{user_id}", json=body)
        return user_id

    def refused(self) -> list:
        return []  # Synapse itself answers: a request it refuses fails the cycle's own checks
