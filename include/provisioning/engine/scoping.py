"""Scoping filters (Entra's semantics): clauses AND-ed within a filter, filters OR-ed.

Every clause is false on a null or empty attribute, except IS NULL (Entra's rule). EQUALS,
NOT EQUALS, Includes, ENDS_WITH and the regex operators are case-sensitive. Beyond Entra:
Less_Than(_OR_EQUALS), and multi-valued attributes such as ``memberOf`` (every group the user is
in, nested included, by id and by display name): a positive operator holds when any value
satisfies it, a negated one (NOT EQUALS, !&, NOT REGEX MATCH) when no value satisfies the positive.

Regex operators use .NET syntax, as Entra does, and run with a time limit: a value on which a
pattern backtracks too long raises ``ScopingError`` for that object, which is then skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from regex import Pattern

from provisioning.engine.expressions import patterns

NO_VALUE_OPERATORS = ("IS TRUE", "IS FALSE", "IS NULL", "IS NOT NULL")
INTEGER_OPERATORS = ("Greater_Than", "Greater_Than_OR_EQUALS", "Less_Than", "Less_Than_OR_EQUALS")
NEGATED = {"NOT EQUALS": "EQUALS", "!&": "&", "NOT REGEX MATCH": "REGEX MATCH"}
OPERATORS = (
    "&",
    "!&",
    "ENDS_WITH",
    "EQUALS",
    "NOT EQUALS",
    "Includes",
    "REGEX MATCH",
    "NOT REGEX MATCH",
    *INTEGER_OPERATORS,
    *NO_VALUE_OPERATORS,
)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "1": True, "false": False, "0": False}.get(text)


class ScopingError(ValueError):
    """A filter cannot be evaluated on one object's data (a regex over its time limit): that object
    is skipped with this reason, neither in scope nor out of it."""


def _test(operator: str, value: Any, pattern: Pattern | None) -> Callable[[Any], bool]:
    """The positive test of one (non-null) attribute value."""
    if operator == "EQUALS":
        return lambda v: str(v) == str(value)
    if operator == "&":
        return lambda v: str(v) in str(value)
    if operator == "Includes":
        return lambda v: str(value) in str(v)
    if operator == "ENDS_WITH":
        return lambda v: str(v).endswith(str(value))
    if operator == "REGEX MATCH":
        return lambda v: patterns.search(pattern, str(v)) is not None
    if operator in INTEGER_OPERATORS:
        limit = int(value)
        compare = {
            "Greater_Than": lambda a: a > limit,
            "Greater_Than_OR_EQUALS": lambda a: a >= limit,
            "Less_Than": lambda a: a < limit,
            "Less_Than_OR_EQUALS": lambda a: a <= limit,
        }[operator]
        return lambda v: (n := _integer(v)) is not None and compare(n)
    if operator in ("IS TRUE", "IS FALSE"):
        wanted = operator == "IS TRUE"
        return lambda v: _boolean(v) is wanted
    if operator in ("IS NOT NULL", "IS NULL"):  # IS NULL is decided before values are tested
        return lambda v: True
    raise ValueError(f"unknown operator {operator!r}")


@dataclass(frozen=True)
class Clause:
    attribute: str
    operator: str
    value: Any
    test: Callable[[Any], bool]
    negated: bool

    def evaluate(self, row: dict[str, Any]) -> bool:
        raw = row.get(self.attribute)
        values = [v for v in (raw if isinstance(raw, list | set | tuple) else [raw]) if v not in (None, "")]
        if self.operator == "IS NULL":
            return not values
        if not values:
            return False  # Entra: a clause on a null or empty value is false
        if self.negated:
            return not any(self.test(v) for v in values)
        return any(self.test(v) for v in values)

    def describe(self) -> str:
        return f"{self.attribute} {self.operator}" + (
            "" if self.operator in NO_VALUE_OPERATORS else f" {self.value!r}"
        )


def compile_clause(attribute: str, operator: str, value: Any = None) -> Clause:
    """Raise ValueError for a clause that cannot work (bad regex, non-integer bound, missing value)."""
    if operator not in OPERATORS:
        raise ValueError(f"unknown operator {operator!r} (one of: {', '.join(OPERATORS)})")
    if operator in NO_VALUE_OPERATORS:
        if value is not None:
            raise ValueError(f"{operator} takes no value")
    elif value is None:
        raise ValueError(f"{operator} needs a value")
    if operator in INTEGER_OPERATORS and _integer(value) is None:
        raise ValueError(f"{operator} compares integers: {value!r} is not an integer")
    positive = NEGATED.get(operator, operator)
    pattern = None
    if positive == "REGEX MATCH":
        try:
            pattern = patterns.dotnet_regex(str(value))
        except patterns.PatternError as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    return Clause(attribute, operator, value, _test(positive, value, pattern), operator in NEGATED)


@dataclass(frozen=True)
class ScopingFilter:
    name: str
    clauses: tuple[Clause, ...]

    def trace(self, row: dict[str, Any]) -> list[tuple[str, bool]]:
        return [(clause.describe(), self._holds(clause, row)) for clause in self.clauses]

    def passes(self, row: dict[str, Any]) -> bool:
        return all(self._holds(clause, row) for clause in self.clauses)

    def _holds(self, clause: Clause, row: dict[str, Any]) -> bool:
        try:
            return clause.evaluate(row)
        except patterns.RegexTimeout as exc:
            raise ScopingError(f"scoping filter {self.name!r}, clause {clause.describe()}: {exc}") from None


def in_scope(filters: Sequence[ScopingFilter], row: dict[str, Any]) -> bool:
    """No filters: everyone passes. Otherwise any filter whose clauses all hold. Raises
    ScopingError when a clause cannot be decided for this row."""
    return not filters or any(f.passes(row) for f in filters)
