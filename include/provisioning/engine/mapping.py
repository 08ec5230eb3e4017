"""Attribute mappings: directory row -> flat ``{target path: value}`` for one app.

Values stay flat (path -> scalar) through diff and the state store so that "what changed" is a
per-path comparison; only the target connector turns them into its nested records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from provisioning.engine.expressions import IGNORE, CompiledExpression, EvaluationError, compile_expression

REDACTED = "[redacted]"


@dataclass(frozen=True)
class CompiledMapping:
    """A mapping ready to evaluate per row: config parsing done once, not per user."""

    target: str
    source: str | None
    constant: Any
    default: Any
    on_create_only: bool
    sensitive: bool
    expression: CompiledExpression | None = None
    only_if_empty: bool = False  # Entra's None mapping: the default fills an empty attribute only
    clear_when_null: bool = False
    max_length: int | None = None

    def evaluate(self, row: dict[str, Any]) -> Any:
        if self.expression is not None:
            value = normalize_value(self.expression.evaluate(row))
            if value is IGNORE:  # IgnoreFlowIfNullOrEmpty: leave the attribute alone, no default
                return None
        elif self.source is None:
            value = self.constant
        else:
            value = normalize_value(row.get(self.source))
        return self.default if value is None else value


def compile_mappings(mappings: Sequence[Any]) -> list[CompiledMapping]:
    """Compile config mappings (direct, constant, expression) into evaluators."""
    compiled = []
    for mapping in mappings:
        expression = compile_expression(mapping.expression) if mapping.type == "expression" else None
        compiled.append(
            CompiledMapping(
                target=mapping.target,
                source=getattr(mapping, "source", None),
                constant=getattr(mapping, "value", None),
                default=mapping.default,
                on_create_only=mapping.apply == "on_create",
                sensitive=mapping.sensitive or bool(expression and expression.redacts),
                expression=expression,
                only_if_empty=mapping.type == "none",
                clear_when_null=mapping.clear_when_null,
                max_length=mapping.max_length,
            )
        )
    return compiled


class MappingError(ValueError):
    """One object's data cannot be mapped (e.g. a date CDate cannot read): that object is skipped."""


def map_row(row: dict[str, Any], mappings: Sequence[CompiledMapping]) -> dict[str, Any]:
    values = {}
    for mapping in mappings:
        try:
            values[mapping.target] = mapping.evaluate(row)
        except EvaluationError as exc:
            raise MappingError(f"mapping to {mapping.target} failed: {exc}") from None
    return values


def normalize_value(value: Any) -> Any:
    """Directory values as JSON-safe scalars: NaN/NaT -> None, timestamps -> ISO 8601 strings."""
    if value is None or type(value) is str:  # nearly every value: answered before the checks
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalar
        return normalize_value(value.item())
    if isinstance(value, str):  # a str subclass
        return value
    try:
        import pandas as pd

        if value is pd.NaT or (pd.api.types.is_scalar(value) and pd.isna(value)):
            return None
    except (TypeError, ValueError):
        pass
    return value


def sensitive_paths(mappings: Sequence[CompiledMapping]) -> frozenset[str]:
    """The paths whose values the app gets and no log, preview or alert shows."""
    return frozenset(m.target for m in mappings if m.sensitive)


def redact(path: str, value: Any, sensitive_paths: frozenset[str]) -> Any:
    return REDACTED if path in sensitive_paths and value is not None else value
