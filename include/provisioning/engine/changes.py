"""Planned changes as data, in no protocol: what the outbox stores and a connector translates.

A create is its attributes (and, for users, the account state); an update sets some paths,
clears others and may flip ``active`` in the same change (a re-enable brings the account up to
date at once); membership changes list directory ids (adds) or [directory id, app id] pairs
(removals). ``previous`` holds what the app last had at each set path: a connector may need it
(SCIM adds a whole element through a value filter the account lacks instead of replacing it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioning.engine.vocabulary import Action

# the key each kind of change carries (a delete carries none)
_SHAPE = {
    Action.CREATE: "attributes",
    Action.UPDATE: "set",
    Action.ENABLE: "set",
    Action.DISABLE: "active",
    Action.ADD_MEMBERS: "members",
    Action.REMOVE_MEMBERS: "members",
    Action.REPLACE_MEMBERS: "members",
}


@dataclass(frozen=True)
class AttributeUpdate:
    set: dict[str, Any] = field(default_factory=dict)
    clear: list[str] = field(default_factory=list)
    previous: dict[str, Any] = field(default_factory=dict)
    active: bool | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"set": self.set, "clear": self.clear, "previous": self.previous, "active": self.active}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> AttributeUpdate:
        return cls(
            set=payload.get("set") or {},
            clear=payload.get("clear") or [],
            previous=payload.get("previous") or {},
            active=payload.get("active"),
        )


def create_payload(attributes: dict[str, Any], active: bool | None) -> dict[str, Any]:
    return {"attributes": attributes, "active": active}


def set_active_payload(active: bool) -> dict[str, Any]:
    return {"active": active}


def readable(action: str, payload: Any) -> bool:
    """Whether a stored change has this version's shape. Rows planned by an earlier version (which
    stored protocol request bodies) are not sent: the next cycle plans those objects afresh."""
    key = _SHAPE.get(action)
    if key is None:
        return True
    return isinstance(payload, dict) and key in payload
