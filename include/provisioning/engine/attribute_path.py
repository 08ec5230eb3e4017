"""A target attribute as the app config names it, with what the engine must know of its values.

The path text is opaque here: the target kind parses and checks it (a SCIM path, an LDAP
attribute) and says how its values are judged before they are sent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttributePath:
    text: str
    identifier: bool = False  # the app finds accounts by it: no invisible characters allowed
    email: bool = False  # an e-mail address: its syntax and length are checked
    required: bool = False  # the app cannot create an object without it (never blank)
