"""Attribute mappings and matching rules: what each app attribute gets, and how accounts are found.

Mappings are a union discriminated by ``type`` (Entra's mapping types), so expression and
"none" mappings slot in beside direct and constant ones without changing the rest of the model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from provisioning.config.strict import StrictModel
from provisioning.engine.expressions import CompiledExpression, ExpressionError, compile_expression


class _MappingBase(StrictModel):
    target: str = Field(description="attribute path in the app, in the target kind's syntax")
    apply: Literal["always", "on_create"] = "always"
    default: str | int | bool | None = Field(None, description="value used when the source is null")
    sensitive: bool = Field(False, description="redact values in the provisioning log")
    clear_when_null: bool = Field(
        False, description="a null value removes the attribute in the app (default: nulls are not sent)"
    )
    max_length: int | None = Field(
        None,
        ge=1,
        description="longer values skip the object with a clear reason (default 254 for emails, else 1024)",
    )

    @field_validator("target")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        """What a path may be is the target kind's to say (AppConfig.problems)."""
        if not value.strip():
            raise ValueError("a target attribute path must be a non-empty string")
        return value.strip()


class DirectMapping(_MappingBase):
    type: Literal["direct"] = "direct"
    source: str = Field(description="directory attribute")


class ConstantMapping(_MappingBase):
    type: Literal["constant"] = "constant"
    value: str | int | bool


class NoneMapping(_MappingBase):
    """Entra's "None": the attribute is left alone, except that an empty one gets ``default``."""

    type: Literal["none"] = "none"
    default: str | int | bool = Field(description="set when the attribute is empty in the app")


class ExpressionMapping(_MappingBase):
    type: Literal["expression"] = "expression"
    expression: str = Field(description='Entra expression, e.g. Join("@", [givenName], "contoso.com")')

    @field_validator("expression")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compile_expression(value)
        except ExpressionError as exc:
            raise ValueError(f"{exc} in {value!r}") from None
        return value

    @property
    def compiled(self) -> CompiledExpression:
        return compile_expression(self.expression)


Mapping = Annotated[
    DirectMapping | ConstantMapping | ExpressionMapping | NoneMapping, Field(discriminator="type")
]


def infer_mapping_type(raw: object) -> object:
    """Let configs omit ``type`` when the keys say it: ``source`` -> direct, ``value`` -> constant."""
    if isinstance(raw, dict) and "type" not in raw:
        for key, kind in (("source", "direct"), ("value", "constant"), ("expression", "expression")):
            if key in raw:
                return {**raw, "type": kind}
    return raw


class MatchingRule(StrictModel):
    target: str = Field(description="a mapped target attribute used to find existing accounts")
    case_sensitive: bool | None = Field(
        None, description="default: the target kind's (SCIM: insensitive for userName and emails)"
    )
