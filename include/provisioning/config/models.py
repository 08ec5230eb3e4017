"""Typed app config. Every model forbids unknown keys so a typo is an error, not a silent default.

Mappings are a union discriminated by ``type`` (Entra's mapping types), so expression and
"none" mappings slot in beside direct and constant ones without changing the rest of the model.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from provisioning.engine.directory_model import COMPUTED_ATTRIBUTES, USER_ATTRIBUTES
from provisioning.engine.expressions import CompiledExpression, ExpressionError, compile_expression
from provisioning.engine.scim_path import ENTERPRISE_USER_SCHEMA, ScimPath, ScimPathError, parse_scim_path
from provisioning.engine.scoping import Clause, ScopingFilter, compile_clause

SCHEDULE_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@yearly")
_DURATION_RE = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# SCIM compares these case-insensitively (RFC 7643: userName and emails are caseExact=false).
CASE_INSENSITIVE_TARGETS = ("username", "emails")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DirectoryConfig(_Strict):
    conn_id: str = Field(min_length=1, description="Airflow connection of the SQL directory")
    extra_user_attributes: list[str] = Field(
        default_factory=list,
        description="columns beyond the documented schema that mappings may read",
    )


class TargetConfig(_Strict):
    kind: Literal["scim"] = "scim"
    conn_id: str = Field(min_length=1, description="Airflow connection of the app's SCIM endpoint")
    max_concurrency: int = Field(8, ge=1, le=64, description="requests in flight at once")
    page_size: int = Field(200, ge=1, le=1000)
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(5, ge=0, le=20)


class _MappingBase(_Strict):
    target: str = Field(description="SCIM attribute path in the app")
    apply: Literal["always", "on_create"] = "always"
    default: str | int | bool | None = Field(None, description="value used when the source is null")
    sensitive: bool = Field(False, description="redact values in the provisioning log")
    clear_when_null: bool = Field(
        False, description="a null value removes the attribute in the app (default: nulls are not sent)"
    )

    @field_validator("target")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        try:
            path = parse_scim_path(value)
        except ScimPathError as exc:
            raise ValueError(str(exc)) from None
        if path.schema == ENTERPRISE_USER_SCHEMA and path.attribute == "manager" and not path.sub_attribute:
            return f"{path.text}.value"  # SCIM's manager is complex: Entra-style targets address its value
        return value.strip()

    @property
    def path(self) -> ScimPath:
        return parse_scim_path(self.target)


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


def _infer_mapping_type(raw: object) -> object:
    """Let configs omit ``type`` when the keys say it: ``source`` -> direct, ``value`` -> constant."""
    if isinstance(raw, dict) and "type" not in raw:
        for key, kind in (("source", "direct"), ("value", "constant"), ("expression", "expression")):
            if key in raw:
                return {**raw, "type": kind}
    return raw


class MatchingRule(_Strict):
    target: str = Field(description="a mapped target attribute used to find existing accounts")
    case_sensitive: bool | None = Field(
        None, description="default: insensitive for userName and emails, sensitive otherwise"
    )

    @property
    def is_case_sensitive(self) -> bool:
        if self.case_sensitive is not None:
            return self.case_sensitive
        return parse_scim_path(self.target).attribute.lower() not in CASE_INSENSITIVE_TARGETS


class ScopingClause(_Strict):
    attribute: str = Field(description="directory attribute, or memberOf (groups, nested, by id or name)")
    operator: str = Field(description="Entra operator, e.g. EQUALS, REGEX MATCH, IS NOT NULL")
    value: str | int | bool | None = None

    @model_validator(mode="after")
    def _works(self) -> ScopingClause:
        compile_clause(self.attribute, self.operator, self.value)  # ValueError says what is wrong
        return self

    def compiled(self) -> Clause:
        return compile_clause(self.attribute, self.operator, self.value)


class ScopingFilterConfig(_Strict):
    name: str = ""
    clauses: list[ScopingClause] = Field(min_length=1, description="all must hold (AND)")


Action = Literal["create", "update", "disable"]


class UserProvisioning(_Strict):
    scope: Literal["assigned", "all"] = Field(
        "assigned", description="assigned: directly or via any group, nested included; all: every user"
    )
    scoping: list[ScopingFilterConfig] = Field(
        default_factory=list,
        description="any filter whose clauses all hold puts a user in scope (OR of ANDs)",
    )
    matching: list[MatchingRule] = Field(min_length=1, description="precedence order, first match wins")
    mappings: list[Mapping] = Field(min_length=1)
    actions: list[Action] = Field(default_factory=lambda: ["create", "update", "disable"])

    @field_validator("mappings", mode="before")
    @classmethod
    def _types(cls, value: object) -> object:
        return [_infer_mapping_type(item) for item in value] if isinstance(value, list) else value

    def scoping_filters(self) -> list[ScopingFilter]:
        return [
            ScopingFilter(f.name or f"filter {i + 1}", tuple(c.compiled() for c in f.clauses))
            for i, f in enumerate(self.scoping)
        ]

    def mapped_paths(self) -> dict[str, ScimPath]:
        return {m.path.text: m.path for m in self.mappings}


class AppConfig(_Strict):
    app: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="app name; the DAG is provision_<app>")
    description: str = ""
    owner: str = "identity"
    tags: list[str] = Field(default_factory=list)
    schedule: str | None = Field(
        "*/10 * * * *", description="cron expression, preset (@hourly) or duration (10m); null = manual"
    )
    retries: int = Field(2, ge=0, le=10, description="Airflow task retries of each step")
    retry_delay: str = Field("1m", pattern=r"^\d+\s*(s|m|h)$", description="first retry delay, then doubling")
    state_conn_id: str = Field(
        "provisioning_state", description="Airflow connection of the state store (SQLite file if absent)"
    )
    directory: DirectoryConfig
    target: TargetConfig
    users: UserProvisioning

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        if value is None or value in SCHEDULE_PRESETS or _DURATION_RE.match(value.strip()):
            return value
        if not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is not a cron expression, a preset ({', '.join(SCHEDULE_PRESETS)}) "
                "or a duration such as '10m'"
            )
        return value

    def problems(self) -> list[tuple[str, str]]:
        """Checks across fields, each located at the field a user must fix."""
        found: list[tuple[str, str]] = []
        known = set(USER_ATTRIBUTES) | set(self.directory.extra_user_attributes)
        seen: dict[str, int] = {}
        for index, mapping in enumerate(self.users.mappings):
            where = f"users.mappings[{index}]"
            target = mapping.path.text.lower()
            if target in seen:
                found.append(
                    (
                        f"{where}.target",
                        f"{mapping.target!r} is already mapped by users.mappings[{seen[target]}]",
                    )
                )
            seen.setdefault(target, index)
            if target == "active":
                found.append((f"{where}.target", "'active' is managed by the provisioning lifecycle"))
            if isinstance(mapping, ExpressionMapping):
                compiled = mapping.compiled
                unknown = sorted(compiled.attributes - known - set(COMPUTED_ATTRIBUTES))
                if unknown:
                    found.append(
                        (
                            f"{where}.expression",
                            f"[{unknown[0]}] is not a directory attribute (known: "
                            f"{', '.join(sorted(known))}; add others under directory.extra_user_attributes)",
                        )
                    )
                if (
                    "SelectUniqueValue(" in mapping.expression.replace(" ", "")
                    and mapping.apply != "on_create"
                ):
                    found.append(
                        (
                            f"{where}.apply",
                            "SelectUniqueValue only applies when an account is created: "
                            "set 'apply: on_create'",
                        )
                    )
                if compiled.nondeterministic and mapping.apply != "on_create":
                    found.append(
                        (
                            f"{where}.apply",
                            "the expression gives a new value every time (e.g. Guid()): "
                            "set 'apply: on_create', or every cycle would update every account",
                        )
                    )
            if isinstance(mapping, DirectMapping) and mapping.source not in known:
                found.append(
                    (
                        f"{where}.source",
                        f"{mapping.source!r} is not a directory attribute (known: "
                        f"{', '.join(sorted(known))}; add others under directory.extra_user_attributes)",
                    )
                )
        for i, scoping_filter in enumerate(self.users.scoping):
            for j, clause in enumerate(scoping_filter.clauses):
                if clause.attribute not in known | {"memberOf"}:
                    found.append(
                        (
                            f"users.scoping[{i}].clauses[{j}].attribute",
                            f"{clause.attribute!r} is not a directory attribute (or memberOf)",
                        )
                    )
        if "username" not in seen:
            found.append(("users.mappings", "a mapping to 'userName' is required (SCIM requires it)"))
        for index, rule in enumerate(self.users.matching):
            if rule.target.strip().lower() not in seen:
                found.append((f"users.matching[{index}].target", f"{rule.target!r} is not a mapped target"))
            elif any(
                m.path.text.lower() == rule.target.strip().lower() and m.apply == "on_create"
                for m in self.users.mappings
            ):
                found.append(
                    (
                        f"users.matching[{index}].target",
                        f"{rule.target!r} is mapped only on create: it cannot match existing accounts",
                    )
                )
        return found

    @property
    def dag_id(self) -> str:
        return f"provision_{self.app}"

    def retry_delay_value(self) -> timedelta:
        return _duration(self.retry_delay)

    def schedule_value(self) -> str | timedelta | None:
        """The schedule as Airflow takes it: cron/preset string, timedelta, or None."""
        if self.schedule is None:
            return None
        if _DURATION_RE.match(self.schedule.strip()):
            return _duration(self.schedule)
        return self.schedule


def _duration(text: str) -> timedelta:
    match = _DURATION_RE.match(text.strip())
    return timedelta(**{_DURATION_UNITS[match[2]]: int(match[1])})
