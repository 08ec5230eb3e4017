"""What a Synapse app config may map to: a fixed set of fields per object type, no paths.

A Matrix account is ``@localpart:server_name``; the localpart is what the directory decides (the
server name comes from the server), is the account's one unique key and never changes. Groups are
rooms: the alias's localpart (``#alias:server_name``) is the room's unique key, its name and topic
are what people see.
"""

from __future__ import annotations

from provisioning.engine.attribute_path import AttributePath
from provisioning.engine.vocabulary import ObjectType

LOCALPART = "localpart"
DISPLAYNAME = "displayname"
EMAIL = "email"
ADMIN = "admin"
ALIAS = "alias"
NAME = "name"
TOPIC = "topic"

FIELDS: dict[str, tuple[str, ...]] = {
    ObjectType.USER: (LOCALPART, DISPLAYNAME, EMAIL, ADMIN),
    ObjectType.GROUP: (ALIAS, NAME, TOPIC),
}
REQUIRED = {ObjectType.USER: LOCALPART, ObjectType.GROUP: ALIAS}
# Synapse refuses upper case in new localparts and stores addresses in lower case; aliases, display
# names and room names are kept as written
CASE_INSENSITIVE = (LOCALPART, EMAIL)


def field_problem(text: str) -> str | None:
    """Why ``text`` is not a Synapse field, or None."""
    name = text.strip().lower()
    known = sorted({f for fields in FIELDS.values() for f in fields})
    if name not in known:
        return f"{text!r} is not a Synapse field (user fields: {', '.join(FIELDS[ObjectType.USER])}; " + (
            f"group fields: {', '.join(FIELDS[ObjectType.GROUP])})"
        )
    return None


def field_path(text: str, object_type: str) -> AttributePath:
    name = text.strip().lower()
    if name not in FIELDS.get(object_type, ()):
        raise ValueError(
            f"{text!r} is not a Synapse {object_type} field (known: {', '.join(FIELDS[object_type])})"
        )
    return AttributePath(
        text,
        identifier=name in (LOCALPART, ALIAS),
        email=name == EMAIL,
        required=name == REQUIRED[object_type],
    )
