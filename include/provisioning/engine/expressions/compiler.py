"""Expression tree -> a Python closure, checked once: names, argument counts, placement.

Checking at compile time is what turns "wrong number of arguments" into a config error at load
time instead of a failure in a cycle at 3 a.m.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provisioning.engine.expressions.dates import DateError
from provisioning.engine.expressions.functions import FUNCTIONS, IGNORE, text
from provisioning.engine.expressions.patterns import PatternError, dotnet_regex
from provisioning.engine.expressions.syntax import (
    Attr,
    Call,
    Compare,
    ExpressionError,
    Name,
    Node,
    Num,
    Omitted,
    Str,
    parse,
)

Evaluator = Callable[[Mapping[str, Any]], Any]
TOP_LEVEL_ONLY = ("IgnoreFlowIfNullOrEmpty", "SelectUniqueValue")

__all__ = ["IGNORE", "CompiledExpression", "EvaluationError", "compile_expression"]


@dataclass
class CompiledExpression:
    text: str
    evaluate: Evaluator
    attributes: set[str] = field(default_factory=set)  # directory attributes it reads
    redacts: bool = False  # uses Redact(): its values must not reach the logs
    nondeterministic: bool = False  # Guid() & co: a new value every evaluation


def compile_expression(source: str, clock: Callable[[], datetime] | None = None) -> CompiledExpression:
    """``clock`` fixes what Now() returns (tests, ``provisioning expr --now``)."""
    tree = parse(source)
    result = CompiledExpression(source, lambda row: None)
    body = _Compiler(source, result, clock).compile(tree, top=True)

    def evaluate(row: Mapping[str, Any]) -> Any:
        try:
            value = body(row)
        except (DateError, ValueError, TypeError, OverflowError) as exc:
            raise EvaluationError(f"{source}: {exc}") from None
        return text(value) if isinstance(value, datetime) else value  # DateTimes leave as Entra text

    result.evaluate = evaluate
    return result


class EvaluationError(ValueError):
    """An expression that cannot be evaluated for one object's data (e.g. a date CDate cannot read)."""


class _Compiler:
    def __init__(self, source: str, result: CompiledExpression, clock: Callable[[], datetime] | None):
        self.source = source
        self.result = result
        self.clock = clock

    def error(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(message, pos, self.source)

    def compile(self, node: Node, top: bool = False) -> Evaluator:
        match node:
            case Attr(name=name):
                self.result.attributes.add(name)
                return lambda row: row.get(name)
            case Str(value=value) | Num(value=value):
                return lambda row: value
            case Name(name=name):
                return lambda row: name  # enum constants such as vbTextCompare
            case Omitted():
                return lambda row: None
            case Compare():
                return self.compare(node)
            case Call():
                return self.call(node, top)
        raise self.error("unsupported expression", getattr(node, "pos", 0))

    def call(self, node: Call, top: bool) -> Evaluator:
        function = FUNCTIONS.get(node.name)
        if function is None:
            close = difflib.get_close_matches(node.name, FUNCTIONS, n=1, cutoff=0.6)
            hint = f" (function names are case-sensitive: did you mean {close[0]}?)" if close else ""
            raise self.error(f"unknown function {node.name!r}{hint}", node.pos)
        count = len(node.args)
        if count < function.min_args or (function.max_args is not None and count > function.max_args):
            expected = (
                f"{function.min_args}"
                if function.max_args == function.min_args
                else f"at least {function.min_args}"
                if function.max_args is None
                else f"{function.min_args} to {function.max_args}"
            )
            raise self.error(f"{node.name} takes {expected} argument(s), got {count}", node.pos)
        if function.even_args and count % 2:
            raise self.error(
                f"{node.name} takes an even number of arguments (key/value pairs), got {count}", node.pos
            )
        if node.name in TOP_LEVEL_ONLY and not top:
            raise self.error(f"{node.name} must be the outermost function of the expression", node.pos)
        if node.name == "Replace" and isinstance(node.args[2], Str):
            try:
                dotnet_regex(node.args[2].value)
            except PatternError as exc:
                raise self.error(
                    f"Replace's regexPattern is not a valid regular expression: {exc}", node.args[2].pos
                ) from None
        self.result.redacts |= node.name == "Redact"
        self.result.nondeterministic |= function.nondeterministic
        args = [self.compile(arg) for arg in node.args]
        impl = self.clock if node.name == "Now" and self.clock else function.impl
        return lambda row: impl(*[arg(row) for arg in args])

    def compare(self, node: Compare) -> Evaluator:
        left, right = self.compile(node.left), self.compile(node.right)
        op = node.op
        return lambda row: _compare(op, left(row), right(row))


def _compare(op: str, a: Any, b: Any) -> bool:
    """Numbers compare as numbers, everything else as case-sensitive text; null compares as ""
    (so IIF([country]="", ...) works, which Entra documents as unsupported)."""
    x, y = _number(a), _number(b)
    if x is None or y is None:
        x, y = text(a) or "", text(b) or ""
    return {"=": x == y, "<>": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value) if isinstance(value, str) and value.strip() else None
    except ValueError:
        return None
