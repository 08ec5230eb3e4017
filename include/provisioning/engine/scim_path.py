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

CORE_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

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


def build_resource(
    values: dict[str, Any], paths: dict[str, ScimPath], schema: str = CORE_USER_SCHEMA
) -> dict[str, Any]:
    """Build a SCIM resource (User unless told) from flat ``path -> value`` pairs, skipping nulls."""
    resource: dict[str, Any] = {"schemas": [schema]}
    for text, value in values.items():
        if value is None:
            continue
        paths[text].set(resource, value)
    return resource


def patch_operations(
    new_values: dict[str, Any], old_values: dict[str, Any], paths: dict[str, ScimPath]
) -> list[dict[str, Any]]:
    """PATCH operations that set ``new_values``, given what the app holds (``old_values``).

    A ``replace`` through a value filter that matches no element must fail with 400 noTarget
    (RFC 7644 3.5.2.3), so an element the account lacks is added whole instead; values for the
    same missing element (``emails[type eq "work"].value`` and ``.primary``) go in one element.
    """
    operations: list[dict[str, Any]] = []
    new_elements: dict[tuple[str | None, str, str, str | None], dict[str, Any]] = {}
    for text, value in new_values.items():
        path = paths[text]
        if path.is_multi_valued and old_values.get(text) is None:
            key = (path.schema, path.attribute, path.filter_attribute, path.filter_value)
            element = new_elements.get(key)
            if element is None:
                element = new_elements[key] = {path.filter_attribute: path.filter_literal}
                target = f"{path.schema}:{path.attribute}" if path.schema else path.attribute
                operations.append({"op": "add", "path": target, "value": [element]})
            element[path.sub_attribute] = value
        else:
            operations.append({"op": "replace", "path": text, "value": value})
    return operations
