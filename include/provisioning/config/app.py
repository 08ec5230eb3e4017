"""The whole app config (``AppConfig``) and the checks that span its sections.

A check that needs two sections (a mapping's source against the directory's extra attributes, a
matching rule against the mapped targets) lives here, located at the field a user must fix.
"""

from __future__ import annotations

import re
from datetime import timedelta

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from provisioning.config.alerts import AlertPolicy
from provisioning.config.directory import DirectoryConfig
from provisioning.config.mappings import DirectMapping, ExpressionMapping
from provisioning.config.objects import GroupProvisioning, ObjectProvisioning, UserProvisioning
from provisioning.config.safety import AccidentalDeletions, QuarantinePolicy, RunLease, Timeouts
from provisioning.config.strict import StrictModel
from provisioning.config.target import DEFAULT_TARGET_KIND, TARGET_MODELS, TargetConfig, path_rules
from provisioning.engine.directory_model import COMPUTED_ATTRIBUTES, GROUP_ATTRIBUTES, USER_ATTRIBUTES
from provisioning.engine.vocabulary import ObjectType

SCHEDULE_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@yearly")
_DURATION_RE = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class AppConfig(StrictModel):
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

    @model_validator(mode="before")
    @classmethod
    def _target_paths(cls, raw: object) -> object:
        """Mapping targets are written in the target kind's syntax, normalized before they load
        (a SCIM manager target addresses its value)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("target"), dict):
            return raw
        kind = TARGET_MODELS.get(raw["target"].get("kind", DEFAULT_TARGET_KIND))
        if kind is None:
            return raw  # the target's own validation names the unknown kind
        raw = dict(raw)
        for where in ("users", "groups"):
            section = raw.get(where)
            if isinstance(section, dict) and isinstance(section.get("mappings"), list):
                raw[where] = {
                    **section,
                    "mappings": [
                        {**m, "target": kind.normalize_path(m["target"])}
                        if isinstance(m, dict) and isinstance(m.get("target"), str)
                        else m
                        for m in section["mappings"]
                    ],
                }
        return raw

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
        sections = {"users": self.users, "groups": self.groups}
        found = target_path_problems(
            self.target.kind, {w: [m.target for m in s.mappings] for w, s in sections.items() if s}
        )
        found += _section_problems(
            "users", self.users, users_known | set(COMPUTED_ATTRIBUTES), self.target, ObjectType.USER
        )
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
            found += _section_problems("groups", self.groups, groups_known, self.target, ObjectType.GROUP)
        return found + self.target.settings_problems(self)

    @property
    def dag_id(self) -> str:
        return dag_id_for(self.app)

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


def target_path_problems(kind: object, targets: dict[str, list[object]]) -> list[tuple[str, str]]:
    """Mapping targets (``users``/``groups`` -> each mapping's target) checked by the target kind.
    The loader also runs it on a config that does not load, so a bad path is reported with the other
    errors; an unknown kind (reported itself) is checked as the default kind."""
    rules = path_rules(kind)
    return [
        (f"{where}.mappings[{index}].target", problem)
        for where, texts in targets.items()
        for index, text in enumerate(texts)
        if isinstance(text, str) and text.strip() and (problem := rules.path_problem(text))
    ]


def _section_problems(
    where: str, section: ObjectProvisioning, known: set[str], target: TargetConfig, object_type: str
) -> list[tuple[str, str]]:
    """Mapping, scoping and matching checks of one object type (users or groups)."""
    found: list[tuple[str, str]] = []
    hint = f"known: {', '.join(sorted(known))}; add others under directory.extra_{where[:-1]}_attributes"
    seen: dict[str, int] = {}
    for index, mapping in enumerate(section.mappings):
        at = f"{where}.mappings[{index}]"
        name = mapping.target.lower()
        if name in seen:
            found.append(
                (f"{at}.target", f"{mapping.target!r} is already mapped by {where}.mappings[{seen[name]}]")
            )
        seen.setdefault(name, index)
        if name in ("active", "members"):
            found.append((f"{at}.target", f"{name!r} is managed by the provisioning lifecycle"))
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
    required, why = target.required_attribute(object_type)
    if required.lower() not in seen:
        found.append((f"{where}.mappings", f"a mapping to {required!r} is required ({why})"))
    for index, rule in enumerate(section.matching):
        name = rule.target.strip().lower()
        if name not in seen:
            found.append((f"{where}.matching[{index}].target", f"{rule.target!r} is not a mapped target"))
        elif section.mappings[seen[name]].apply == "on_create":
            found.append(
                (
                    f"{where}.matching[{index}].target",
                    f"{rule.target!r} is mapped only on create: it cannot match existing accounts",
                )
            )
    return found


def dag_id_for(app: str) -> str:
    """The id of an app's DAG: also what decides who may see the app (its DAG's permissions)."""
    return f"provision_{app}"
