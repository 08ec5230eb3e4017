"""One copy of each distinct string, for the steps that hold a whole directory in memory."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class OneCopy:
    """Hands back, for a string, the first equal string it was given, and any other value as it
    is. Decoders (JSON, database drivers) make every string anew, yet most repeat: a user's display
    name is also their userName and email, many share a title, a department, a language, and a
    membership names a user and a group read elsewhere. Keeping one copy of each more than halves
    what the strings hold. Only strings are shared: 1, 1.0 and True are equal keys, and a value
    must keep its type. ``row`` and ``mapping`` do a whole row or dict in one call: tens of
    millions of values pass through here at a million users, and a call per value was a tenth of
    the diff's time."""

    def __init__(self) -> None:
        self._same: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        return self._same.setdefault(value, value) if type(value) is str else value

    def row(self, values: Iterable[Any]) -> tuple[Any, ...]:
        keep = self._same.setdefault
        return tuple([keep(v, v) if type(v) is str else v for v in values])

    def mapping(self, values: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``values``, keys (always strings) and string values shared."""
        keep = self._same.setdefault
        return {keep(k, k): keep(v, v) if type(v) is str else v for k, v in values.items()}
