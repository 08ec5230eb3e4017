"""The ``directory`` section of ``kind: ldap``: an LDAP directory or Active Directory
(docs/sources/ldap.md).

The flavor sets the conventions (which attribute is the stable id, which one says an account is
disabled, the default filters); every one of them can be overridden. Connection settings (host,
bind DN, password, TLS, CA file) are in the Airflow connection, never here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from provisioning.config.directory_section import DirectorySection
from provisioning.config.strict import StrictModel
from provisioning.engine.directory_model import USER_ATTRIBUTES

Flavor = Literal["openldap", "active_directory"]

# directory attribute -> LDAP attribute, per flavor; accountEnabled comes from ``disabled`` instead
USER_ATTRIBUTE_DEFAULTS: dict[str, dict[str, str]] = {
    "openldap": {
        "id": "entryUUID",
        "userPrincipalName": "mail",
        "mail": "mail",
        "givenName": "givenName",
        "surname": "sn",
        "displayName": "displayName",
        "department": "departmentNumber",
        "jobTitle": "title",
        "employeeId": "employeeNumber",
        "manager": "manager",
        "updatedAt": "modifyTimestamp",
    },
    "active_directory": {
        "id": "objectGUID",
        "userPrincipalName": "userPrincipalName",
        "mail": "mail",
        "givenName": "givenName",
        "surname": "sn",
        "displayName": "displayName",
        "department": "department",
        "jobTitle": "title",
        "employeeId": "employeeID",
        "manager": "manager",
        "updatedAt": "whenChanged",
    },
}
GROUP_ATTRIBUTE_DEFAULTS: dict[str, dict[str, str]] = {
    "openldap": {
        "id": "entryUUID",
        "displayName": "cn",
        "description": "description",
        "updatedAt": "modifyTimestamp",
    },
    "active_directory": {
        "id": "objectGUID",
        "displayName": "cn",
        "description": "description",
        "updatedAt": "whenChanged",
    },
}
USER_FILTERS = {
    "openldap": "(objectClass=inetOrgPerson)",
    "active_directory": "(&(objectClass=user)(!(objectClass=computer)))",
}
GROUP_FILTERS = {"openldap": "(objectClass=groupOfNames)", "active_directory": "(objectClass=group)"}
# Active Directory's userAccountControl flag ACCOUNTDISABLE
AD_ACCOUNT_DISABLED = 0x2


class LdapSearch(StrictModel):
    """Where entries of one kind are: a base DN, a filter (the flavor's when omitted), a scope."""

    base_dn: str = Field(min_length=3, pattern=r"=", description="DN the search starts at")
    filter: str | None = Field(None, pattern=r"^\(.*\)$", description="LDAP filter, in parentheses")
    scope: Literal["subtree", "one"] = "subtree"


class LdapAssignment(StrictModel):
    """Who is assigned to the app: the members (nested included) of ``groups``, or the users whose
    ``attribute`` has one of ``values``. Exactly one of the two."""

    groups: list[str] = Field(default_factory=list, description="DNs of the groups assigned to the app")
    attribute: str | None = Field(None, min_length=1, description="user attribute that assigns")
    values: list[str] = Field(default_factory=list, description="values of attribute that assign (any case)")

    @model_validator(mode="after")
    def _one_way(self) -> LdapAssignment:
        if bool(self.groups) == bool(self.attribute):
            raise ValueError("give either groups (DNs) or attribute with values, not both nor neither")
        if self.attribute and not self.values:
            raise ValueError("attribute needs values: the values that assign a user to the app")
        if any("=" not in dn for dn in self.groups):
            raise ValueError("groups are DNs (e.g. cn=App-Wiki,ou=groups,dc=example,dc=org)")
        return self


class LdapDisabled(StrictModel):
    """The attribute that marks an account disabled: any value of it (``values`` empty, e.g.
    ppolicy's ``pwdAccountLockedTime``), or one of ``values`` (any case)."""

    attribute: str = Field(min_length=1)
    values: list[str] = Field(default_factory=list)


class LdapDirectoryConfig(DirectorySection):
    """Users and groups by paged search; memberships through ``member`` DNs, nested to any depth."""

    kind: Literal["ldap"] = "ldap"
    conn_id: str = Field(min_length=1, description="Airflow connection: host, port, bind DN, password, TLS")
    flavor: Flavor = "openldap"
    users: LdapSearch
    groups: LdapSearch | None = Field(None, description="omit when the directory's groups are not needed")
    assignment: LdapAssignment
    attributes: dict[str, str] = Field(
        default_factory=dict, description="directory attribute -> LDAP attribute, over the flavor's defaults"
    )
    group_attributes: dict[str, str] = Field(
        default_factory=dict, description="group attribute -> LDAP attribute, over the flavor's defaults"
    )
    disabled: LdapDisabled | None = Field(
        None,
        description="default: pwdAccountLockedTime present (openldap), userAccountControl bit 2 (AD)",
    )
    member_attribute: str = Field("member", min_length=1, description="group attribute listing member DNs")
    page_size: int = Field(500, ge=1, le=5000, description="entries per page of the paged search")
    timeout_seconds: float = Field(60, gt=0, description="per LDAP operation")

    @model_validator(mode="after")
    def _coherent(self) -> LdapDirectoryConfig:
        unknown = sorted(set(self.attributes) - set(USER_ATTRIBUTES) - {"accountEnabled"})
        if unknown:
            raise ValueError(
                f"attributes: {', '.join(unknown)} are not directory attributes (known: "
                f"{', '.join(a for a in USER_ATTRIBUTES if a != 'accountEnabled')}; read others "
                "with extra_user_attributes)"
            )
        if "accountEnabled" in self.attributes:
            raise ValueError("attributes: accountEnabled comes from disabled, not from a mapping")
        if self.assignment.groups and self.groups is None:
            raise ValueError("assignment.groups needs the groups search (groups.base_dn)")
        return self

    def user_attributes(self) -> dict[str, str]:
        """Every directory attribute this source fills, with the LDAP attribute it reads."""
        return {**USER_ATTRIBUTE_DEFAULTS[self.flavor], **self.attributes}

    def group_attribute_map(self) -> dict[str, str]:
        return {**GROUP_ATTRIBUTE_DEFAULTS[self.flavor], **self.group_attributes}

    def user_filter(self) -> str:
        return self.users.filter or USER_FILTERS[self.flavor]

    def group_filter(self) -> str:
        assert self.groups is not None
        return self.groups.filter or GROUP_FILTERS[self.flavor]
