"""One copy of each distinct string, for the steps that hold a whole directory in memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def one_copy() -> Callable[[Any], Any]:
    """A function that hands back, for a string, the first equal string it was given, and any
    other value as it is. Decoders (JSON, database drivers) make every string anew, yet most
    repeat: a user's display name is also their userName and email, many share a title, a
    department, a language, and a membership names a user and a group read elsewhere. Keeping
    one copy of each more than halves what the strings hold. Only strings are shared: 1, 1.0
    and True are equal keys, and a value must keep its type."""
    same: dict[str, str] = {}

    def once(value: Any) -> Any:
        return same.setdefault(value, value) if isinstance(value, str) else value

    return once
