"""The product's words, one name per concept, shared by every layer.

``StrEnum`` members equal their text, so they are stored, sent in XComs and compared with values
read back from the state store as the plain strings they always were.
"""

from __future__ import annotations

from enum import StrEnum


class ObjectType(StrEnum):
    """What an action is about. Memberships are their own type: they are applied after users and
    groups exist and counted apart by the accidental-deletion guard."""

    USER = "user"
    GROUP = "group"
    MEMBERSHIP = "membership"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ENABLE = "enable"
    DISABLE = "disable"
    DELETE = "delete"
    SKIP = "skip"
    ADD_MEMBERS = "add_members"
    REMOVE_MEMBERS = "remove_members"
    REPLACE_MEMBERS = "replace_members"


class OutboxStatus(StrEnum):
    """An action's life: pending -> in_flight -> succeeded / failed; staged while held by the
    accidental-deletion guard; skipped when settled without a request; superseded when a later
    plan replaced it before it was sent; unresolved when a create failed in a way the app may
    have acted on (the next attempt, in whichever cycle, looks for the object first)."""

    STAGED = "staged"
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    SUPERSEDED = "superseded"
    UNRESOLVED = "unresolved"


class LogStatus(StrEnum):
    """A provisioning log row's status, in Entra's words."""

    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"
    STAGED = "staged"
    INFO = "info"
    DRY_RUN = "dry_run"


class CycleStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STAGED = "staged"  # removals held for approval
    SKIPPED = "skipped"  # another run held the app's lease, or it is quarantined
    DRY_RUN = "dry_run"
