"""Entra-compatible attribute-mapping expressions: parsed and interpreted, never ``eval``-ed.

``compile_expression(text)`` checks syntax, function names and argument counts once (when the
config is loaded) and returns an evaluator that runs per directory row.
"""

from provisioning.engine.expressions.compiler import (
    IGNORE,
    CompiledExpression,
    EvaluationError,
    compile_expression,
)
from provisioning.engine.expressions.functions import UNIQUE
from provisioning.engine.expressions.syntax import ExpressionError

__all__ = [
    "IGNORE",
    "UNIQUE",
    "CompiledExpression",
    "EvaluationError",
    "ExpressionError",
    "compile_expression",
]
