"""The functions of Entra's expression language, with Entra's documented behaviour.

Values are ``None`` (null), ``str``, ``int``/``float``, ``bool`` or ``list`` (multi-valued).
Unless a function's documentation says otherwise, a null source gives null (null propagation).
"""

from __future__ import annotations

import base64
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from provisioning.engine.expressions import dates, dotnet_format, text_functions

# Letters that Unicode does not decompose into base letter + mark (Entra's NormalizeDiacritics table).
_LETTERS = str.maketrans(
    {
        "æ": "ae",
        "Æ": "AE",
        "ǣ": "ae",
        "Ǣ": "AE",
        "ø": "oe",
        "Ø": "OE",
        "œ": "oe",
        "Œ": "OE",
        "ß": "ss",
        "ł": "l",
        "Ł": "L",
        "\u0131": "i",  # dotless i
        "đ": "d",
        "Đ": "D",
    }
)


class _Ignore:
    """IgnoreFlowIfNullOrEmpty's verdict: leave the target attribute as it is in the app."""

    def __repr__(self) -> str:
        return "IGNORE"


IGNORE = _Ignore()
# SelectUniqueValue's result: candidates in order, resolved against the app when the account is created.
UNIQUE = "$selectUniqueValue"


@dataclass(frozen=True)
class Function:
    min_args: int
    max_args: int | None  # None: repeating
    impl: Callable[..., Any]
    even_args: bool = False
    nondeterministic: bool = False


def truthy(value: Any) -> bool:
    """Entra booleans travel as "True"/"False" strings; numbers are true when non-zero."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, list):
        return bool(value)
    text = str(value).strip()
    if text.lower() in ("true", "false", ""):
        return text.lower() == "true"
    try:
        return float(text) != 0
    except ValueError:
        return True


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return dates.render(value)
    return str(value)


def _int(value: Any) -> int:
    return int(value) if not isinstance(value, str) else int(value.strip(), 0)


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _null_in(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Null propagation: a null first argument gives null."""

    def wrapped(source: Any, *rest: Any) -> Any:
        return None if source is None else fn(source, *rest)

    return wrapped


def append(source: Any, suffix: Any) -> Any:
    return None if source is None else text(source) + (text(suffix) or "")


def bit_and(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _int(a) & _int(b)


def coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def join(separator: Any, *sources: Any) -> str:
    """Multi-valued sources contribute every value; null and empty values are skipped
    (Entra's example: Join(", ", "", [surname], [givenName]) -> "Doe, John")."""
    parts = [text(v) for source in sources for v in _values(source)]
    return (text(separator) or "").join(p for p in parts if p)


def left(source: Any, count: Any) -> str:
    if source is None:
        return ""
    count = _int(count)
    return text(source) if count < 0 else text(source)[:count]


def mid(source: Any, start: Any, length: Any) -> Any:
    if source is None:
        return None
    start, length = _int(start), _int(length)
    if start < 1 or length < 0:
        return ""
    return text(source)[start - 1 : start - 1 + length]


def item(source: Any, index: Any) -> Any:
    values = _values(source)
    index = _int(index)
    return values[index - 1] if 1 <= index <= len(values) else None


def in_str(value: Any, find: Any, start: Any = None, compare: Any = None) -> Any:
    if value is None or find is None:
        return None
    haystack, needle = text(value), text(find)
    begin = 1 if start is None else max(_int(start), 1)
    if compare == "vbTextCompare":
        haystack, needle = haystack.casefold(), needle.casefold()
    return haystack.find(needle, begin - 1) + 1


def normalize_diacritics(source: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text(source).translate(_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def p_case(source: str, separators: Any = None) -> str:
    """First letter of each word upper case, the rest lower case. Without separators a word ends
    at any character that is not a letter, digit or apostrophe (as .NET's ToTitleCase)."""
    result, start_of_word = [], True
    for char in text(source).lower():
        result.append(char.upper() if start_of_word else char)
        if separators is not None:
            start_of_word = char in text(separators)
        else:
            start_of_word = not (char.isalnum() or char == "'")
    return "".join(result)


def split(source: str, delimiter: Any) -> list[str]:
    """Parts are trimmed: "PermissionSetOne, PermissionSetTwo" -> two clean values (Entra's example)."""
    return [part.strip() for part in text(source).split(text(delimiter) or ",")]


def switch(source: Any, default: Any, *pairs: Any) -> Any:
    """Case-sensitive; a null source matches the key "" (Entra's advice for empty values)."""
    key = text(source) or ""
    for index in range(0, len(pairs), 2):
        if (text(pairs[index]) or "") == key:
            return pairs[index + 1]
    return default


def word(source: Any, number: Any, delimiters: Any) -> str:
    if source is None or _int(number) < 1:
        return ""
    words, current = [], []
    for char in text(source):
        if char in (text(delimiters) or ""):
            if current:
                words.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    number = _int(number)
    return words[number - 1] if number <= len(words) else ""


def remove_duplicates(source: Any) -> Any:
    return None if source is None else list(dict.fromkeys(_values(source)))


def app_role_assignments_complex(roles: Any) -> list[dict[str, Any]] | None:
    """SCIM ``roles`` as Entra sends them on create (primary false, typed); we send the same on update."""
    values = _values(roles)
    if not values:
        return None
    return [
        {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "display": r, "value": r}
        for r in values
    ]


def is_null_or_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


FUNCTIONS: dict[str, Function] = {
    "Append": Function(2, 2, append),
    "AppRoleAssignmentsComplex": Function(1, 1, app_role_assignments_complex),
    "BitAnd": Function(2, 2, bit_and),
    "CBool": Function(1, 1, truthy),
    "CDate": Function(1, 1, dates.cdate),
    "Coalesce": Function(1, None, coalesce),
    "ConvertToBase64": Function(
        1, 1, _null_in(lambda s: base64.b64encode(text(s).encode("utf-16-le")).decode())
    ),
    "ConvertToUTF8Hex": Function(1, 1, _null_in(lambda s: text(s).encode("utf-8").hex().upper())),
    "Count": Function(1, 1, lambda s: len(_values(s))),
    "CStr": Function(1, 1, text),
    "DateAdd": Function(3, 3, dates.date_add),
    "DateDiff": Function(3, 3, dates.date_diff),
    "DateFromNum": Function(1, 1, dates.date_from_num),
    "FormatDateTime": Function(3, 4, dotnet_format.format_date_time),
    "Guid": Function(0, 0, lambda: str(uuid.uuid4()), nondeterministic=True),
    "IgnoreFlowIfNullOrEmpty": Function(1, 1, lambda v: IGNORE if is_null_or_empty(v) else v),
    "IIF": Function(3, 3, lambda condition, yes, no: yes if truthy(condition) else no),
    "InStr": Function(2, 4, in_str),
    "IsNull": Function(1, 1, lambda v: v is None),
    "IsNullOrEmpty": Function(1, 1, is_null_or_empty),
    "IsPresent": Function(1, 1, lambda v: not is_null_or_empty(v)),
    "IsString": Function(1, 1, lambda v: isinstance(v, str)),
    "Item": Function(2, 2, item),
    "Join": Function(2, None, join),
    "Left": Function(2, 2, left),
    "Mid": Function(3, 3, mid),
    "NormalizeDiacritics": Function(1, 1, _null_in(normalize_diacritics)),
    "Not": Function(1, 1, lambda v: not truthy(v)),
    "Now": Function(0, 0, lambda: datetime.now(UTC), nondeterministic=True),  # the compiler injects its clock
    "NumFromDate": Function(1, 1, dates.num_from_date),
    "PCase": Function(1, 2, _null_in(p_case)),
    "RandomString": Function(5, 6, text_functions.random_string, nondeterministic=True),
    "Redact": Function(1, 1, lambda v: v),  # the compiler marks the mapping sensitive
    "RemoveDuplicates": Function(1, 1, remove_duplicates),
    "Replace": Function(7, 7, text_functions.replace),
    "SelectUniqueValue": Function(
        2, None, lambda *candidates: {UNIQUE: [c for c in candidates if c not in (None, "")]}
    ),
    "SingleAppRoleAssignment": Function(1, 1, lambda roles: next(iter(_values(roles)), None)),
    "Split": Function(2, 2, _null_in(split)),
    "StripSpaces": Function(1, 1, _null_in(lambda s: text(s).replace(" ", ""))),
    "Switch": Function(4, None, switch, even_args=True),
    "ToLower": Function(1, 2, _null_in(lambda s, culture=None: text(s).lower())),
    "ToUpper": Function(1, 2, _null_in(lambda s, culture=None: text(s).upper())),
    "Word": Function(3, 3, word),
    # beyond Entra: conditions without nesting IIFs
    "And": Function(2, None, lambda *values: all(truthy(v) for v in values)),
    "Or": Function(2, None, lambda *values: any(truthy(v) for v in values)),
}
