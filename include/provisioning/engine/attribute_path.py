"""A target attribute as the app config names it, with what the engine must know of its values.

The path text is opaque here: the target kind parses and checks it (a SCIM path, an LDAP
attribute) and says how its values are judged before they are sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AttributePath:
    text: str
    identifier: bool = False  # the app finds accounts by it: no invisible characters allowed
    email: bool = False  # an e-mail address: its syntax and length are checked
    required: bool = False  # the app cannot create an object without it (never blank)


def missing_required(paths: dict[str, AttributePath], values: dict[str, Any]) -> list[str]:
    """The required paths a create would leave without a value (it could only fail)."""
    return [text for text, path in paths.items() if path.required and text not in values]
