"""An object as the app holds it, in no protocol: what connectors return and matching reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AppObject:
    """One object as the app holds it, read at the mapped paths.

    ``active`` is None when the app says nothing (groups, or a user record without the flag);
    ``members`` (app ids) is None when they were not read."""

    id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    active: bool | None = None
    members: list[str] | None = None
