"""The outbox's two records: an action waiting to be sent, and what became of it.

They live in the engine, the bottom layer, because both the cycle (which sends actions and builds
outcomes) and the state store (which keeps them) speak them. Built by keyword: an outcome has many
optional fields, and a positional mix-up of two ids would link the wrong account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioning.engine.vocabulary import Action, ObjectType, OutboxStatus


@dataclass(frozen=True, kw_only=True)
class OutboxRow:
    """One action of the outbox as the apply step reads it back (pending or in flight)."""

    change_id: str
    object_type: ObjectType
    source_id: str
    display: str
    target_id: str | None
    action: Action
    payload: dict[str, Any] | None
    attributes: dict[str, Any]
    active: bool
    modified: list[dict[str, Any]]
    reason: str | None
    status: OutboxStatus
    attempts: int
    lifecycle: str | None = None  # joiner | mover | leaver (engine/lifecycle.py)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The result of one outbox action; on success the link/snapshot is updated with it."""

    change_id: str
    status: OutboxStatus  # succeeded | failed
    target_id: str | None = None
    matched_by: str | None = None
    attributes: dict[str, Any] | None = None
    active: bool | None = None
    action: Action | None = None  # when the action became another (create -> update after a 409)
    modified: list[dict[str, Any]] | None = None
    detail: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    duration_ms: float | None = None
    stops_cycle: bool = False  # the app is unusable (bad credentials, protocol violation): stop sending
    permanent: bool = False  # a failure the same request will hit again (escrow backs off longer)
    # a failed create the app may have carried out: the action stays open as ``unresolved``, so
    # whichever attempt comes next (a rerun, or the next cycle even if the object left the scope)
    # looks for the object first
    unresolved: bool = False
    members: list[list[str]] | None = None  # membership actions: [source, app id] now in the group
