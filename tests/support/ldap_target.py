"""Cycles of the real steps from the demo SQLite directory into a real slapd (the LDAP target):
the integration Harness with an LDAP app config, the target opened through the target registry
from an Airflow connection, and readers of what slapd holds afterwards.

Usage as a process (the crash test kills it): python -m tests.support.ldap_target DIRECTORY_DB
STATE_DB CONFIG.json LDAP_PORT CYCLE_ID -- runs cycle CYCLE_ID's apply, each add answered 0.2 s
after slapd made the entry (the app acts, then answers slowly: a kill lands mid-request).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import ldap

from provisioning.config import AppConfig
from provisioning.connectors.ldap_target.connector import LdapTargetConnector
from provisioning.connectors.targets import open_target
from provisioning.cycle import steps
from provisioning.cycle.context import CycleContext
from provisioning.demo.slapd import ROOT_DN, ROOT_PASSWORD, SUFFIX
from tests.integration.cycle_helpers import DEPARTMENTS_AND_DIVISIONS, Harness

PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
DISABLED = f"ou=disabled,{SUFFIX}"
CONN_ID = "ldap_target_test"

USERS = {
    "scope": "assigned",
    "matching": [{"target": "uid"}, {"target": "employeeNumber"}],
    "mappings": [
        {"target": "uid", "source": "userPrincipalName"},
        {"target": "cn", "source": "displayName"},
        {"target": "sn", "source": "surname"},
        {"target": "givenName", "source": "givenName"},
        {"target": "mail", "expression": "NormalizeDiacritics([mail])"},  # mail is IA5 (ASCII) in LDAP
        {"target": "title", "source": "jobTitle"},
        {"target": "departmentNumber", "source": "department"},
        {"target": "employeeNumber", "source": "id"},
    ],
    "actions": ["create", "update", "disable"],
}
GROUPS_SECTION = {
    "scope": "all",
    "scoping": DEPARTMENTS_AND_DIVISIONS["scoping"],
    "matching": [{"target": "cn"}],
    "mappings": [{"target": "cn", "source": "displayName"}, {"target": "description", "source": "id"}],
    # small batches: several member writes of one group run at once and race each other
    "members": {"batch_size": 3},
}
ATTRIBUTE_DISABLE = {"mode": "attribute", "attribute": "employeeType", "disabled_value": "disabled"}


def target(port: int, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "ldap",
        "conn_id": CONN_ID,
        "users": {"base_dn": PEOPLE},
        "groups": {"base_dn": GROUPS},
        "disable": ATTRIBUTE_DISABLE,
        "max_concurrency": 4,
        "page_size": 50,
        **changes,
    }


def connection_fields(port: int) -> dict[str, Any]:
    """The Airflow connection of the target: slapd on this machine, bound as its root DN."""
    return {
        "conn_type": "ldap",
        "host": "127.0.0.1",
        "port": port,
        "login": ROOT_DN,
        "password": ROOT_PASSWORD,
        "extra": {"tls": "none"},
    }


class LdapHarness(Harness):
    """The Harness's directory and state store; the app is slapd, written by the LDAP target."""

    def __init__(self, directory: Path, state: Path, port: int, *, groups: bool = True):
        super().__init__(directory, None, state, open_app=open_target)
        self.port = port
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(connection_fields(port))
        self.configure(target=target(port), users=USERS, groups=GROUPS_SECTION if groups else None)

    def configure(self, **sections) -> None:
        raw = self.config.model_dump(mode="json", exclude_none=True)
        self.config = AppConfig.model_validate(
            {k: v for k, v in {**raw, **sections}.items() if v is not None}
        )

    def admin(self) -> ldap.ldapobject.LDAPObject:
        conn = ldap.initialize(f"ldap://127.0.0.1:{self.port}")
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def entries(self, base: str, filterstr: str = "(objectClass=*)") -> dict[str, dict[str, list[str]]]:
        """DN -> attribute values (text, entryUUID included) of the entries below ``base``."""
        conn = self.admin()
        try:
            found = conn.search_s(base, ldap.SCOPE_ONELEVEL, filterstr, ["*", "entryUUID"])
        except ldap.NO_SUCH_OBJECT:
            return {}
        finally:
            conn.unbind_s()
        return {dn: {k: [v.decode() for v in vs] for k, vs in attrs.items()} for dn, attrs in found}

    def people(self, base: str = PEOPLE) -> dict[str, dict[str, list[str]]]:
        """uid -> the user entry's values."""
        return {attrs["uid"][0]: {**attrs, "dn": [dn]} for dn, attrs in self.entries(base).items()}

    def groups(self) -> dict[str, dict[str, list[str]]]:
        """cn -> the group entry's values."""
        return {attrs["cn"][0]: {**attrs, "dn": [dn]} for dn, attrs in self.entries(GROUPS).items()}


class SlowCreates(LdapTargetConnector):
    """slapd makes the entry, then the answer comes late: where a kill lands in the crash test."""

    def create(self, object_type, attributes, active):
        created = super().create(object_type, attributes, active)
        time.sleep(0.2)
        return created


def main() -> None:
    directory, state, config_file, port, cycle_id = sys.argv[1:6]
    harness = LdapHarness(Path(directory), Path(state), int(port))
    harness.config = AppConfig.model_validate_json(Path(config_file).read_text())
    base = open_target(harness.config)
    slow = SlowCreates.for_app(harness.config, base.server)
    ctx = CycleContext(harness.config, cycle_id, harness.store, lambda: None, lambda: slow, harness.options)
    print(steps.apply(ctx), flush=True)


if __name__ == "__main__":
    main()
