"""Directory data an app cannot take, found before any request: each bad user is skipped with a
reason that names the attribute and the problem, and every other user is provisioned.

Strings are brought to Unicode NFC first: a name typed on a Mac (decomposed "é") and the same
name from an HR feed (composed) must give one value, or the diff flaps and duplicates slip past
matching. Identifiers (userName, e-mails, externalId) must not carry invisible characters: an
account named ``jo<U+200B>hn`` looks like ``john`` to every person who reads it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import pandas as pd
import regex

from provisioning.engine.attribute_path import AttributePath
from provisioning.engine.desired import INVALID_DATA, DesiredUser
from provisioning.engine.mapping import CompiledMapping

MANAGER_CYCLE = "ManagerCycle"
EMAIL_MAX = 254  # RFC 5321 path limit
DEFAULT_MAX = 1024
SOURCE_ID_MAX = 128  # the state store's key column
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # the ASCII part of _CONTROL, faster
_CONTROL = regex.compile(r"[\p{Cc}--[\t\n\r]]", regex.V1)
_INVISIBLE = regex.compile(r"[[\p{Cc}\p{Cf}]--[\t\n\r]]", regex.V1)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def validate_users(
    desired: list[DesiredUser],
    paths: dict[str, AttributePath],
    mappings: Sequence[CompiledMapping],
    users: pd.DataFrame,
) -> list[DesiredUser]:
    """``desired``, its in-scope users brought to NFC or marked with their first problem. The
    users are changed in place: a copy of each was a tenth of the extract's time and memory."""
    limits = {m.target: m.max_length for m in mappings if m.max_length}
    reads_manager = any(m.source == "manager" for m in mappings)
    loops = manager_cycles(users) if reads_manager else {}
    for user in desired:
        if not user.in_scope or user.error:
            continue
        attributes = {}
        problem = _id_problem(user.source_id)
        for text, value in user.attributes.items():
            if isinstance(value, str):
                value = value if value.isascii() else unicodedata.normalize("NFC", value)
                if problem is None:
                    problem = _value_problem(paths[text], value, limits.get(text))
            elif isinstance(value, list):
                value = [_nfc(v) for v in value]
            attributes[text] = value
        code = INVALID_DATA
        if problem is None and user.source_id in loops:
            problem, code = f"manager chain loops: {loops[user.source_id]}", MANAGER_CYCLE
        if problem is None:
            user.attributes = attributes
        else:
            user.attributes, user.error, user.error_code = {}, problem, code
    return desired


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return value if value.isascii() else unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


def _id_problem(source_id: str) -> str | None:
    if len(source_id) > SOURCE_ID_MAX:
        return f"the directory id is {len(source_id)} characters long (at most {SOURCE_ID_MAX})"
    return None


def _value_problem(path: AttributePath, value: Any, limit: int | None) -> str | None:
    if not isinstance(value, str):
        return None
    if path.required and not value.strip():
        return f"{path.text} is blank"
    is_email = path.email
    limit = limit or (EMAIL_MAX if is_email else DEFAULT_MAX)
    if len(value) > limit:
        return f"{path.text} is {len(value)} characters long (at most {limit})"
    bad = _bad_character(value, identifier=path.identifier)
    if bad is not None:
        index, char = bad
        if unicodedata.category(char) == "Cc":
            return f"{path.text} contains control character U+{ord(char):04X} at position {index + 1}"
        label = unicodedata.name(char, "format character")
        return f"{path.text} contains invisible U+{ord(char):04X} {label} at position {index + 1}"
    if is_email and not _EMAIL_RE.match(value):
        return f"{path.text} {value!r} is not an e-mail address"
    return None


def _bad_character(value: str, identifier: bool) -> tuple[int, str] | None:
    """The first control character (tab and newlines allowed), or in an identifier the first
    invisible format character. One pattern search per value, not a category look-up per
    character: validation was nearly half of the extract's time with accented names."""
    if value.isascii():
        found = _ASCII_CONTROL.search(value)
    else:
        found = (_INVISIBLE if identifier else _CONTROL).search(value)
    return (found.start(), found[0]) if found else None


def manager_cycles(users: pd.DataFrame) -> dict[str, str]:
    """Users whose manager chain comes back to them, each with the loop written out."""
    if "manager" not in users.columns:
        return {}
    manager = {
        str(i): str(m)
        for i, m in zip(users["id"], users["manager"], strict=True)
        if m is not None and not pd.isna(m)
    }
    loops: dict[str, str] = {}
    settled: set[str] = set()
    for start in manager:
        path: list[str] = []
        position: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in settled and node not in position:
            position[node] = len(path)
            path.append(node)
            node = manager.get(node)
        if node is not None and node in position:
            loop = path[position[node] :]
            text = " -> ".join([*loop, loop[0]])
            for member in loop:
                loops[member] = text
        settled.update(path)
    return loops
