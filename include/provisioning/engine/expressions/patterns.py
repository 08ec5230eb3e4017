"""Regular expressions from the config (Replace's regexPattern, REGEX MATCH scoping clauses), run
with a time limit.

A pattern such as ``(a|aa)+$`` backtracks exponentially on a value like ``aaaa...!``; Python's
``re`` would hang the cycle for everyone. The ``regex`` package stops after ``timeout`` seconds,
and ``RegexTimeout`` (a ``ValueError``) turns that into one object's error. Patterns are compiled
once: cycles evaluate them for every user.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import regex

TIMEOUT_SECONDS = 0.5
PatternError = regex.error


class RegexTimeout(ValueError):
    """One value made a pattern run longer than ``TIMEOUT_SECONDS``."""


@lru_cache(maxsize=512)
def dotnet_regex(pattern: str) -> regex.Pattern:
    """A .NET pattern (Entra's syntax): (?<name>...) groups and \\k<name> back-references."""
    converted = re.sub(r"\(\?<(?![=!])([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", pattern)
    converted = re.sub(r"\\k<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P=\1)", converted)
    return regex.compile(converted)


def search(pattern: regex.Pattern, value: str) -> regex.Match | None:
    try:
        return pattern.search(value, timeout=TIMEOUT_SECONDS)
    except TimeoutError:
        raise _timeout(pattern, value) from None


def sub(pattern: regex.Pattern, replacement: str | Callable[[regex.Match], str], value: str) -> str:
    try:
        return pattern.sub(replacement, value, timeout=TIMEOUT_SECONDS)
    except TimeoutError:
        raise _timeout(pattern, value) from None


def _timeout(pattern: regex.Pattern, value: str) -> RegexTimeout:
    return RegexTimeout(
        f"regular expression {pattern.pattern!r} ran over its {TIMEOUT_SECONDS:g} s time limit on a value "
        f"of {len(value)} characters (catastrophic backtracking: simplify the pattern)"
    )
