"""The ``users`` and ``groups`` sections: which objects are provisioned and what happens to them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from provisioning.config.mappings import Mapping, MatchingRule, infer_mapping_type
from provisioning.config.scoping import ScopingFilterConfig
from provisioning.config.strict import StrictModel
from provisioning.engine.scoping import ScopingFilter

Action = Literal["create", "update", "disable", "delete"]


class Deprovisioning(StrictModel):
    """What happens to the account of a user who leaves scope (or whose directory row is gone)."""

    action: Literal["disable", "delete", "skip"] = Field(
        "disable",
        description="disable (active=false); delete (opt-in); skip: leave the account alone "
        "(Entra's SkipOutOfScopeDeletions)",
    )
    delete_after_days: int = Field(
        0, ge=0, le=3650, description="with action delete: disable first, delete after this many days"
    )


class ObjectProvisioning(StrictModel):
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
        return [infer_mapping_type(item) for item in value] if isinstance(value, list) else value

    def scoping_filters(self) -> list[ScopingFilter]:
        return [
            ScopingFilter(f.name or f"filter {i + 1}", tuple(c.compiled() for c in f.clauses))
            for i, f in enumerate(self.scoping)
        ]


class UserProvisioning(ObjectProvisioning):
    actions: list[Action] = Field(default_factory=lambda: ["create", "update", "disable"])
    deprovision: Deprovisioning = Field(default_factory=Deprovisioning)


class MemberSync(StrictModel):
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
