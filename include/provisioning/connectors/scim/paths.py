"""SCIM attribute paths (RFC 7644 section 3.10 / 3.5.2) as used in mappings and PATCH operations.

Mappings address target attributes the way identity engineers write them in Entra:
``userName``, ``name.givenName``, ``emails[type eq "work"].value`` and extension attributes
prefixed by their schema URN. One parsed form serves three jobs: validating config, building a
create payload, and reading the current value back from an app's resource (for matching and for
taking a snapshot of a matched account), so all three agree on what a path means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from provisioning.engine.attribute_path import AttributePath
from provisioning.engine.vocabulary import ObjectType

CORE_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

# what the app finds accounts by (RFC 7643 4.1): no invisible characters may hide in them
_IDENTIFIERS = ("username", "emails", "externalid")
# what the app cannot create an object without (userName: RFC 7643 4.1; a group's displayName)
REQUIRED = {ObjectType.USER: "userName", ObjectType.GROUP: "displayName"}
_NAME = r"[A-Za-z][A-Za-z0-9_$-]*"
_PATH_RE = re.compile(
    rf"^(?P<attr>{_NAME})"
    rf"(?:\[\s*(?P<fattr>{_NAME})\s+eq\s+\"(?P<fvalue>(?:[^\"\\]|\\.)*)\"\s*\])?"
    rf"(?:\.(?P<sub>{_NAME}))?$"
)


class ScimPathError(ValueError):
    """A target path that is not a SCIM attribute path we can address."""


@dataclass(frozen=True)
class ScimPath:
    """One attribute path, optionally in an extension schema, optionally through a value filter."""

    text: str
    schema: str | None  # extension URN, or None for the core schema
    attribute: str
    filter_attribute: str | None = None
    filter_value: str | None = None
    sub_attribute: str | None = None

    @property
    def is_multi_valued(self) -> bool:
        return self.filter_attribute is not None

    @property
    def filter_literal(self) -> str | bool | None:
        """The filter value as the element holds it: ``primary eq "True"`` is the boolean true."""
        if self.filter_value is not None and self.filter_value.lower() in ("true", "false"):
            return self.filter_value.lower() == "true"
        return self.filter_value

    @property
    def filter_name(self) -> str:
        """The attribute as a SCIM filter names it: ``emails.value`` for ``emails[type eq "work"].value``."""
        name = f"{self.attribute}.{self.sub_attribute}" if self.sub_attribute else self.attribute
        return f"{self.schema}:{name}" if self.schema else name

    def get(self, resource: dict[str, Any]) -> Any:
        """Read the value this path addresses from a SCIM resource (None when absent)."""
        container = resource.get(self.schema, {}) if self.schema else resource
        if not isinstance(container, dict):
            return None
        value = _get_ci(container, self.attribute)
        if self.filter_attribute is not None:
            if not isinstance(value, list):
                return None
            wanted = self.filter_value.lower() if self.filter_value is not None else None
            for item in value:
                if not isinstance(item, dict):
                    continue
                found = _get_ci(item, self.filter_attribute)
                if found is not None and str(found).lower() == wanted:
                    return _get_ci(item, self.sub_attribute) if self.sub_attribute else item
            return None
        if self.sub_attribute:
            return _get_ci(value, self.sub_attribute) if isinstance(value, dict) else None
        return value

    def set(self, resource: dict[str, Any], value: Any) -> None:
        """Write ``value`` at this path into a payload being built, creating containers."""
        if self.schema:
            container = resource.setdefault(self.schema, {})
            schemas = resource.setdefault("schemas", [CORE_USER_SCHEMA])
            if self.schema not in schemas:
                schemas.append(self.schema)
        else:
            container = resource
        if self.filter_attribute is not None:
            items = container.setdefault(self.attribute, [])
            for item in items:
                if item.get(self.filter_attribute) == self.filter_literal:
                    break
            else:
                item = {self.filter_attribute: self.filter_literal}
                items.append(item)
            if self.sub_attribute:
                item[self.sub_attribute] = value
            return
        if self.sub_attribute:
            container.setdefault(self.attribute, {})[self.sub_attribute] = value
        else:
            container[self.attribute] = value


def _get_ci(container: dict[str, Any], name: str) -> Any:
    """SCIM attribute names are case-insensitive (RFC 7643 section 2.1)."""
    if name in container:
        return container[name]
    lowered = name.lower()
    for key, value in container.items():
        if key.lower() == lowered:
            return value
    return None


def parse_scim_path(text: str) -> ScimPath:
    """Parse a target path; raise ScimPathError saying what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise ScimPathError("a target attribute path must be a non-empty string")
    text = text.strip()
    schema = None
    rest = text
    if text.lower().startswith("urn:"):
        head, sep, tail = text.rpartition(":")
        if not sep or not tail or not head:
            raise ScimPathError(f"{text!r}: an extension path is '<schema URN>:<attribute>'")
        schema, rest = head, tail
    match = _PATH_RE.match(rest)
    if not match:
        raise ScimPathError(
            f"{text!r} is not a SCIM attribute path: expected 'attr', 'attr.sub', "
            "'attr[type eq \"value\"].sub' or '<schema URN>:attr'"
        )
    fvalue = match["fvalue"]
    if fvalue is not None:
        fvalue = re.sub(r"\\(.)", r"\1", fvalue)
    if match["fattr"] and not match["sub"]:
        raise ScimPathError(f"{text!r}: a filtered path must name a sub-attribute, e.g. '.value'")
    return ScimPath(
        text=text,
        schema=schema,
        attribute=match["attr"],
        filter_attribute=match["fattr"],
        filter_value=fvalue,
        sub_attribute=match["sub"],
    )


def attribute_path(path: ScimPath, object_type: str) -> AttributePath:
    """What the engine must know of a SCIM path's values."""
    name = path.attribute.lower()
    return AttributePath(
        text=path.text,
        identifier=name in _IDENTIFIERS,
        email=name == "emails" and path.sub_attribute in (None, "value"),
        required=REQUIRED.get(object_type, "").lower() == name,
    )
