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

from provisioning.demo.scim_server import ScimServer

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

    def groups(self) -> dict[str, Any]:
        """The ``groups`` section: the directory's department and division groups, by displayName."""
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

    def _list(self, path: str) -> Iterator[dict]:
        start = 1
        while True:
            page = self.http.get(path, params={"startIndex": start, "count": 200}).raise_for_status().json()
            yield from page.get("Resources", [])
            start += len(page.get("Resources", []))
            if not page.get("Resources") or start > page["totalResults"]:
                return
