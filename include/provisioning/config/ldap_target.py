"""The parts of a ``target`` of ``kind: ldap`` (docs/targets/ldap.md): where users and groups are
written, with which object classes and naming attribute, and how an account is disabled.

The model itself (``LdapTargetConfig``) is in config/target.py beside the other kinds; what it
is made of, and the rules for LDAP attribute names as mapping targets, are here.
"""

from __future__ import annotations

import re
from typing import Literal

import ldap.dn
import ldap.filter
from pydantic import Field, field_validator, model_validator

from provisioning.config.strict import StrictModel

# RFC 4512 attribute description: a name (or numeric OID) and options such as ``;lang-de``
_DESCRIPTION = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)(?:;[A-Za-z0-9-]+)*$")
# kept by the server or by the connector itself: never a mapping target
MANAGED_ATTRIBUTES = frozenset(
    {
        "objectclass",
        "structuralobjectclass",
        "entryuuid",
        "entrydn",
        "entrycsn",
        "objectguid",
        "creatorsname",
        "createtimestamp",
        "modifiersname",
        "modifytimestamp",
        "hassubordinates",
        "subschemasubentry",
        "memberof",
        "member",
        "uniquemember",
    }
)
# classes whose entries the schema refuses without cn and sn (person, and what derives from it)
_PERSON_CLASSES = frozenset({"person", "organizationalperson", "inetorgperson"})


def attribute_problem(text: str) -> str | None:
    """Why ``text`` cannot be a mapping target of an LDAP target (None: it can)."""
    name = text.strip()
    if not _DESCRIPTION.match(name):
        return (
            f"{name!r} is not an LDAP attribute name (letters, digits and '-', starting with a letter, "
            "or a numeric OID; options such as ';lang-de' allowed)"
        )
    if name.split(";", 1)[0].lower() in MANAGED_ATTRIBUTES:
        return f"{name!r} is kept by the LDAP server or by the provisioning itself: it cannot be mapped"
    return None


def _dn(value: str) -> str:
    value = value.strip()
    try:
        parsed = ldap.dn.str2dn(value)
    except ldap.DECODING_ERROR:
        parsed = None
    if not parsed:
        raise ValueError(f"{value!r} is not a DN (e.g. ou=people,dc=example,dc=org)")
    return value


def ldap_name(value: str) -> str:
    """An attribute or object class name (no options)."""
    value = value.strip()
    if not re.match(r"^[A-Za-z][A-Za-z0-9-]*$", value):
        raise ValueError(f"{value!r} is not an LDAP attribute or object class name")
    return value


class LdapEntries(StrictModel):
    """Where entries of one kind are created and looked for, and how they are named."""

    base_dn: str = Field(description="the OU the entries are created in (and searched under)")
    object_classes: list[str] = Field(min_length=1, description="objectClass values of a new entry")
    rdn_attribute: str = Field(description="the attribute whose value names an entry (its RDN)")
    required_attributes: list[str] | None = Field(
        None,
        description="attributes the object classes require besides the RDN (default: cn and sn for "
        "person classes): a create lacking one is refused before it is sent",
    )

    @field_validator("base_dn")
    @classmethod
    def _base(cls, value: str) -> str:
        return _dn(value)

    @field_validator("object_classes", "required_attributes")
    @classmethod
    def _names(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else [ldap_name(v) for v in values]

    @field_validator("rdn_attribute")
    @classmethod
    def _rdn(cls, value: str) -> str:
        value = ldap_name(value)
        if value.lower() in MANAGED_ATTRIBUTES:
            raise ValueError(f"{value!r} is kept by the server or the provisioning: it cannot name entries")
        return value

    @property
    def structural_filter(self) -> str:
        """What the connector searches under ``base_dn`` for entries of this kind: entries of every
        listed class (``top`` alone would match the OUs and groups there too)."""
        parts = [f"(objectClass={ldap.filter.escape_filter_chars(c)})" for c in self.object_classes]
        return parts[0] if len(parts) == 1 else f"(&{''.join(parts)})"

    def required(self) -> set[str]:
        """Lowercased attributes a create must have: the RDN's and the ``required_attributes``."""
        if self.required_attributes is not None:
            extra = self.required_attributes
        elif {c.lower() for c in self.object_classes} & _PERSON_CLASSES:
            extra = ["cn", "sn"]
        else:
            extra = []
        return {self.rdn_attribute.lower(), *(a.lower() for a in extra)}


class LdapUsers(LdapEntries):
    object_classes: list[str] = Field(default_factory=lambda: ["inetOrgPerson"], min_length=1)
    rdn_attribute: str = "uid"


class LdapGroups(LdapEntries):
    object_classes: list[str] = Field(default_factory=lambda: ["groupOfNames"], min_length=1)
    rdn_attribute: str = "cn"
    member_attribute: str = Field("member", description="the attribute holding members' DNs")
    empty_member: str | None = Field(
        None,
        description="the DN a group holds while it has no member, as groupOfNames requires one "
        "(default: the group's own DN); never shown as a member",
    )

    @field_validator("member_attribute")
    @classmethod
    def _member(cls, value: str) -> str:
        return ldap_name(value)

    @field_validator("empty_member")
    @classmethod
    def _placeholder(cls, value: str | None) -> str | None:
        return None if value is None else _dn(value)


class LdapDisable(StrictModel):
    """How an account is disabled: an attribute set to a value (``attribute``), or the entry moved
    to another OU (``move``) and back when it is enabled again."""

    mode: Literal["attribute", "move"]
    attribute: str | None = Field(None, description="mode attribute: the attribute that says disabled")
    disabled_value: str = Field("TRUE", min_length=1, description="mode attribute: its value when disabled")
    enabled_value: str | None = Field(
        None, description="mode attribute: its value when enabled (null: the attribute is removed)"
    )
    base_dn: str | None = Field(None, description="mode move: the OU disabled accounts are moved to")

    @field_validator("attribute")
    @classmethod
    def _attribute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = attribute_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip()

    @field_validator("base_dn")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        return None if value is None else _dn(value)

    @model_validator(mode="after")
    def _one_way(self) -> LdapDisable:
        if self.mode == "attribute":
            if self.attribute is None:
                raise ValueError("mode attribute needs 'attribute' (the attribute that says disabled)")
            if self.base_dn is not None:
                raise ValueError("base_dn is for mode move; mode attribute sets 'attribute' instead")
        else:
            if self.base_dn is None:
                raise ValueError("mode move needs 'base_dn' (the OU disabled accounts are moved to)")
            if self.attribute is not None:
                raise ValueError("attribute is for mode attribute; mode move sets 'base_dn' instead")
        if self.enabled_value is not None and self.enabled_value.casefold() == self.disabled_value.casefold():
            raise ValueError("enabled_value and disabled_value must differ")
        return self
