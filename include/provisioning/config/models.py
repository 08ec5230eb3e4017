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

from provisioning.connectors.scim.paths import (
    ENTERPRISE_USER_SCHEMA,
    ScimPath,
    ScimPathError,
    attribute_path,
    parse_scim_path,
)
from provisioning.engine.attribute_path import AttributePath
from provisioning.engine.directory_model import COMPUTED_ATTRIBUTES, GROUP_ATTRIBUTES, USER_ATTRIBUTES
from provisioning.engine.expressions import CompiledExpression, ExpressionError, compile_expression
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
        description="columns of users beyond the documented schema that mappings may read",
    )
    extra_group_attributes: list[str] = Field(
        default_factory=list,
        description="columns of groups beyond the documented schema that group mappings may read",
    )


class TargetConfig(_Strict):
    kind: Literal["scim"] = "scim"
    conn_id: str = Field(min_length=1, description="Airflow connection of the app's SCIM endpoint")
    max_concurrency: int = Field(8, ge=1, le=64, description="requests in flight at once")
    page_size: int = Field(200, ge=1, le=1000, description="resources per page when listing the app")
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(5, ge=0, le=20)
    requests_per_second: float | None = Field(
        None, gt=0, le=10_000, description="cap on requests per second to the app (null: no cap)"
    )
    shared_with: list[str] = Field(
        default_factory=list,
        description="other apps that deliberately write the same object types to this connection",
    )
    request_deadline_seconds: float = Field(
        120.0, gt=0, le=3600, description="total time for one request, the response body included"
    )
    max_response_mib: float = Field(16, gt=0, le=1024, description="larger response bodies are refused")

    def attribute_path(self, text: str, object_type: str) -> AttributePath:
        return attribute_path(parse_scim_path(text), object_type)

    def unique_attributes(self, object_type: str) -> tuple[str, ...]:
        """Mapped paths (lower case) the app keeps unique: an interrupted create is looked up by them."""
        return ("username",) if object_type == "user" else ()


class _MappingBase(_Strict):
    target: str = Field(description="SCIM attribute path in the app")
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


Action = Literal["create", "update", "disable", "delete"]


class Deprovisioning(_Strict):
    """What happens to the account of a user who leaves scope (or whose directory row is gone)."""

    action: Literal["disable", "delete", "skip"] = Field(
        "disable",
        description="disable (active=false); delete (opt-in); skip: leave the account alone "
        "(Entra's SkipOutOfScopeDeletions)",
    )
    delete_after_days: int = Field(
        0, ge=0, le=3650, description="with action delete: disable first, delete after this many days"
    )


class ObjectProvisioning(_Strict):
    """Scoping, matching and mappings: the same shape for users and groups."""

    scope: Literal["assigned", "all"] = Field(
        "assigned", description="assigned: directly (users also via groups, nested included); all: every one"
    )
    scoping: list[ScopingFilterConfig] = Field(
        default_factory=list,
        description="any filter whose clauses all hold puts an object in scope (OR of ANDs)",
    )
    matching: list[MatchingRule] = Field(min_length=1, description="precedence order, first match wins")
    mappings: list[Mapping] = Field(min_length=1)

    @field_validator("mappings", mode="before")
    @classmethod
    def _types(cls, value: object) -> object:
        return [_infer_mapping_type(item) for item in value] if isinstance(value, list) else value

    def scoping_filters(self) -> list[ScopingFilter]:
        return [
            ScopingFilter(f.name or f"filter {i + 1}", tuple(c.compiled() for c in f.clauses))
            for i, f in enumerate(self.scoping)
        ]


class UserProvisioning(ObjectProvisioning):
    actions: list[Action] = Field(default_factory=lambda: ["create", "update", "disable"])
    deprovision: Deprovisioning = Field(default_factory=Deprovisioning)


class MemberSync(_Strict):
    batch_size: int = Field(200, ge=1, le=10_000, description="members per PATCH request")
    removal: Literal["rfc", "entra", "replace"] = Field(
        "rfc",
        description='rfc: remove path members[value eq "id"]; entra: path members with a value list; '
        "replace: one replace of the whole member list",
    )


class GroupProvisioning(ObjectProvisioning):
    """Groups as app objects: their attributes and their members (users provisioned in the app)."""

    members: MemberSync = Field(default_factory=MemberSync)
    on_leave_scope: Literal["keep", "delete"] = Field(
        "keep", description="keep: leave the app's group alone; delete: delete it in the app"
    )


class AccidentalDeletions(_Strict):
    """Entra's accidental-deletion prevention: hold mass removals (disables, deletes, group deletes,
    member removals; each type counted alone) until approved. See engine/removal_guard.py."""

    enabled: bool = True
    max_count: int = Field(500, ge=1, description="more disables + deletes than this in one cycle: staged")
    max_percent: float = Field(
        30.0, gt=0, le=100, description="more than this share of the app's linked accounts: staged"
    )
    min_count: int = Field(10, ge=0, description="never staged below this many (small apps)")
    window_hours: float = Field(
        24, gt=0, le=24 * 30, description="removals applied without approval count this long (slow leaks)"
    )
    baseline_days: float = Field(
        7, gt=0, le=90, description="the collapse baseline: the largest healthy count over this many days"
    )
    collapse_ratio: float = Field(
        0.5, gt=0, le=1, description="a relation below this share of its baseline holds every removal"
    )


class RunLease(_Strict):
    """One run of an app at a time (scheduled, manual, backfill, a retried task): the lease."""

    ttl_minutes: float = Field(
        15, gt=0, le=24 * 60, description="a lease its holder stops renewing (a lost worker) frees after this"
    )
    wait_seconds: float = Field(
        60, ge=0, le=3600, description="a second run waits this long for the lease, then is skipped"
    )


class QuarantinePolicy(_Strict):
    failure_ratio: float = Field(
        0.4, gt=0, le=1, description="a cycle whose failed share of actions exceeds this quarantines the app"
    )
    min_actions: int = Field(10, ge=1, description="the ratio counts only from this many attempted actions")


ALERT_KINDS = ("cycle_failed", "objects_failed", "quarantine", "deletions_staged")


class EmailAlerts(_Strict):
    to: list[str] = Field(min_length=1, description="recipients")
    smtp_conn_id: str = Field("smtp_default", description="an Airflow SMTP connection")
    from_email: str | None = Field(None, description="sender; default: the connection's from_email")


class WebhookAlerts(_Strict):
    conn_id: str = Field(
        description="an Airflow connection whose host is the webhook URL (its password, if set, is sent "
        "as a bearer token): the URL is a secret, so it lives in a connection, not in this file"
    )


class Timeouts(_Strict):
    """Bounds on a hung step and a hung run: Airflow fails them, so the failure alerts fire."""

    task_minutes: int = Field(30, gt=0, le=24 * 60, description="each step's execution_timeout")
    run_minutes: int = Field(60, gt=0, le=7 * 24 * 60, description="the DAG run's dagrun_timeout")

    @property
    def task(self) -> timedelta:
        return timedelta(minutes=self.task_minutes)

    @property
    def run(self) -> timedelta:
        return timedelta(minutes=self.run_minutes)


class AlertPolicy(_Strict):
    on: list[Literal["cycle_failed", "objects_failed", "quarantine", "deletions_staged"]] = Field(
        default_factory=lambda: list(ALERT_KINDS), description="which problems are sent"
    )
    objects_failed_min: int = Field(
        10, ge=1, description="objects_failed is sent when a cycle has at least this many failed actions"
    )
    repeat_after_minutes: int = Field(
        240, ge=10, description="an ongoing problem is sent again at most this often (no alert storm)"
    )
    send_resolved: bool = Field(True, description="say when a problem that was sent is over")
    email: EmailAlerts | None = None
    slack: WebhookAlerts | None = Field(None, description="a Slack incoming webhook")
    webhook: WebhookAlerts | None = Field(None, description="any endpoint taking a JSON POST")

    @property
    def channels(self) -> bool:
        return bool(self.email or self.slack or self.webhook)


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
    pool: str | None = Field(
        None, description="Airflow pool of the app's tasks (default provisioning_<app>; '' for default_pool)"
    )
    directory: DirectoryConfig
    target: TargetConfig
    users: UserProvisioning
    groups: GroupProvisioning | None = Field(None, description="omit to leave the app's groups alone")
    accidental_deletions: AccidentalDeletions = Field(default_factory=AccidentalDeletions)
    lease: RunLease = Field(default_factory=RunLease)
    quarantine: QuarantinePolicy = Field(default_factory=QuarantinePolicy)
    alerts: AlertPolicy = Field(default_factory=AlertPolicy)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    log_retention_days: int = Field(
        30, ge=1, description="provisioning log rows (and finished cycles) older than this are pruned"
    )

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
        users_known = set(USER_ATTRIBUTES) | set(self.directory.extra_user_attributes)
        found = _section_problems("users", self.users, users_known | set(COMPUTED_ATTRIBUTES), "userName")
        if self.users.deprovision.action == "delete" and "delete" not in self.users.actions:
            found.append(
                (
                    "users.deprovision.action",
                    "delete needs 'delete' in users.actions (deletes are opt-in twice); "
                    "add it there, or use disable",
                )
            )
        if self.groups is not None:
            groups_known = set(GROUP_ATTRIBUTES) | set(self.directory.extra_group_attributes)
            found += _section_problems("groups", self.groups, groups_known, "displayName")
        return found

    @property
    def dag_id(self) -> str:
        return f"provision_{self.app}"

    @property
    def pool_name(self) -> str:
        """The app's Airflow pool; default_pool when the config says ''."""
        if self.pool is None:
            return f"provisioning_{self.app}"
        return self.pool or "default_pool"

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


def _section_problems(
    where: str, section: ObjectProvisioning, known: set[str], required: str
) -> list[tuple[str, str]]:
    """Mapping, scoping and matching checks of one object type (users or groups)."""
    found: list[tuple[str, str]] = []
    hint = f"known: {', '.join(sorted(known))}; add others under directory.extra_{where[:-1]}_attributes"
    seen: dict[str, int] = {}
    for index, mapping in enumerate(section.mappings):
        at = f"{where}.mappings[{index}]"
        target = mapping.path.text.lower()
        if target in seen:
            found.append(
                (f"{at}.target", f"{mapping.target!r} is already mapped by {where}.mappings[{seen[target]}]")
            )
        seen.setdefault(target, index)
        if target in ("active", "members"):
            found.append((f"{at}.target", f"{target!r} is managed by the provisioning lifecycle"))
        if isinstance(mapping, ExpressionMapping):
            compiled = mapping.compiled
            unknown = sorted(compiled.attributes - known)
            if unknown:
                found.append(
                    (
                        f"{at}.expression",
                        f"[{unknown[0]}] is not a directory attribute ({hint})",
                    )
                )
            if "SelectUniqueValue(" in mapping.expression.replace(" ", "") and mapping.apply != "on_create":
                found.append(
                    (
                        f"{at}.apply",
                        "SelectUniqueValue only applies when an account is created: set 'apply: on_create'",
                    )
                )
            if compiled.nondeterministic and mapping.apply != "on_create":
                found.append(
                    (
                        f"{at}.apply",
                        "the expression gives a new value every time (e.g. Guid()): "
                        "set 'apply: on_create', or every cycle would update every account",
                    )
                )
        if isinstance(mapping, DirectMapping) and mapping.source not in known:
            found.append(
                (
                    f"{at}.source",
                    f"{mapping.source!r} is not a directory attribute ({hint})",
                )
            )
    for i, scoping_filter in enumerate(section.scoping):
        for j, clause in enumerate(scoping_filter.clauses):
            if clause.attribute not in known | {"memberOf"} or (
                where == "groups" and clause.attribute == "memberOf"
            ):
                found.append(
                    (
                        f"{where}.scoping[{i}].clauses[{j}].attribute",
                        f"{clause.attribute!r} is not a directory attribute"
                        + (" (or memberOf)" if where == "users" else " of groups"),
                    )
                )
    if required.lower() not in seen:
        found.append((f"{where}.mappings", f"a mapping to {required!r} is required (SCIM requires it)"))
    for index, rule in enumerate(section.matching):
        target = rule.target.strip().lower()
        if target not in seen:
            found.append((f"{where}.matching[{index}].target", f"{rule.target!r} is not a mapped target"))
        elif section.mappings[seen[target]].apply == "on_create":
            found.append(
                (
                    f"{where}.matching[{index}].target",
                    f"{rule.target!r} is mapped only on create: it cannot match existing accounts",
                )
            )
    return found
