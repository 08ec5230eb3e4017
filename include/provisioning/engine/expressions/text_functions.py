"""Entra's Replace (all its argument combinations, .NET regex syntax) and RandomString."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from regex import Match

from provisioning.engine.expressions import patterns

# Windows password complexity's special characters (Entra's RandomString refers to that list).
SPECIALS = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"


def dotnet_replacement(replacement: str) -> str:
    """.NET substitutions ($1, ${name}, $$) as Python's re.sub template."""
    escaped = replacement.replace("\\", "\\\\")
    return re.sub(
        r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|(\d+)|(\$))",
        lambda m: "$" if m[3] else f"\\g<{m[1] or m[2]}>",
        escaped,
    )


def replace(
    source: Any, old: Any, pattern: Any, group: Any, replacement: Any, attribute: Any, template: Any
) -> Any:
    """Dispatch on which arguments are given, as Entra documents:
    old + replacement: plain replace; old + template: the source put into the template;
    pattern + replacement: regex replace ($ substitutions); pattern + group + replacement: only
    that group's text replaced; pattern + group + attribute: the source, or if it has no value,
    the group's value extracted from the attribute."""
    if pattern is not None:
        regex = patterns.dotnet_regex(str(pattern))
        if group is not None and replacement is None:
            if source not in (None, ""):
                return source
            found = patterns.search(regex, str(attribute)) if attribute is not None else None
            return found.group(str(group)) if found else None
        if source is None or replacement is None:
            return source
        if group is not None:

            def swap(match: Match) -> str:
                start, end = match.span(str(group))
                whole = match.group(0)
                if start < 0:
                    return whole
                offset = match.start()
                return whole[: start - offset] + str(replacement) + whole[end - offset :]

            return patterns.sub(regex, swap, str(source))
        return patterns.sub(regex, dotnet_replacement(str(replacement)), str(source))
    if old is not None and template is not None:
        return None if source is None else str(template).replace(str(old), str(source))
    if old is not None and replacement is not None and source is not None:
        return str(source).replace(str(old), str(replacement))
    return source


def random_string(
    length: Any, numbers: Any, specials: Any, capitals: Any, lowers: Any, avoid: Any = None
) -> str:
    length, counts = int(length), [int(numbers), int(specials), int(capitals), int(lowers)]
    if not 0 < length <= 256:
        raise ValueError(f"RandomString length must be 1 to 256, got {length}")
    if sum(counts) > length:
        raise ValueError(f"RandomString minimums ({sum(counts)}) exceed the length ({length})")
    excluded = set(str(avoid or ""))
    pools = [
        [c for c in pool if c not in excluded]
        for pool in (string.digits, SPECIALS, string.ascii_uppercase, string.ascii_lowercase)
    ]
    if any(count and not pool for count, pool in zip(counts, pools, strict=True)):
        raise ValueError("RandomString: CharactersToAvoid leaves no character for a required class")
    chars = [secrets.choice(pool) for count, pool in zip(counts, pools, strict=True) for _ in range(count)]
    everything = [c for pool in pools for c in pool]
    chars += [secrets.choice(everything) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)
