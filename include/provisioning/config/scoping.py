"""Scoping filters as configured: Entra's OR of AND-ed clauses, each checked when the file loads."""

from __future__ import annotations

from pydantic import Field, model_validator

from provisioning.config.strict import StrictModel
from provisioning.engine.scoping import Clause, compile_clause


class ScopingClause(StrictModel):
    attribute: str = Field(description="directory attribute, or memberOf (groups, nested, by id or name)")
    operator: str = Field(description="Entra operator, e.g. EQUALS, REGEX MATCH, IS NOT NULL")
    value: str | int | bool | None = None

    @model_validator(mode="after")
    def _works(self) -> ScopingClause:
        compile_clause(self.attribute, self.operator, self.value)  # ValueError says what is wrong
        return self

    def compiled(self) -> Clause:
        return compile_clause(self.attribute, self.operator, self.value)


class ScopingFilterConfig(StrictModel):
    name: str = ""
    clauses: list[ScopingClause] = Field(min_length=1, description="all must hold (AND)")
