"""Carrying out one outbox action against the app, safely when repeated.

Every executor may run twice for the same action (a crash after the app acted, a rerun, a
retried timeout), so each is written to converge: a create first looks for what an interrupted
attempt may have made; a 409 or a maybe-applied 5xx is resolved by looking, not by guessing;
member adds and removes are idempotent; a delete or disable of something already gone has
nothing left to do.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from provisioning.connectors.base import AppConnector
from provisioning.connectors.errors import AlreadyExists, ConnectorError, NotFound, TransientError
from provisioning.cycle.context import CycleContext, ObjectRules
from provisioning.cycle.lookup import Lookup
from provisioning.engine.app_object import AppObject
from provisioning.engine.changes import AttributeUpdate, readable
from provisioning.engine.matching import match_accounts
from provisioning.engine.outbox import OutboxRow, Outcome
from provisioning.engine.vocabulary import Action, ObjectType, OutboxStatus
from provisioning.state.bounds import storable

UNREADABLE = "UnreadableChange"


@dataclass
class AppIds:
    """Directory id -> app id of users and groups, read when the membership phase starts (after
    this cycle's users and groups exist)."""

    users: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, ctx: CycleContext) -> AppIds:
        users = {
            s: link.target_id for s, link in ctx.store.links(ctx.app, ObjectType.USER).items() if link.active
        }
        groups = {s: link.target_id for s, link in ctx.store.links(ctx.app, ObjectType.GROUP).items()}
        return cls(users, groups)


def execute(ctx: CycleContext, connector: AppConnector, row: OutboxRow, ids: AppIds) -> Outcome:
    started = time.monotonic()
    if not readable(row.action, row.payload):
        return storable(
            Outcome(
                change_id=row.change_id,
                status=OutboxStatus.SKIPPED,  # not the app's failure: no escrow, no quarantine
                error_code=UNREADABLE,
                error_message=f"this {row.action} was stored in a format this version cannot read (planned "
                "before an upgrade); it was not sent, and the next cycle plans the object afresh",
            )
        )
    try:
        if row.object_type == ObjectType.MEMBERSHIP:
            outcome = _members(connector, row, ids)
        elif row.action == Action.CREATE:
            outcome = _create(ctx, connector, row)
        elif row.action == Action.DELETE:
            outcome = _delete(connector, row)
        else:
            outcome = _change(connector, row)
    except ConnectorError as exc:
        outcome = Outcome(
            change_id=row.change_id,
            status=OutboxStatus.FAILED,
            error_code=exc.code,
            error_message=str(exc),
            stops_cycle=exc.stops_cycle,
            permanent=exc.permanent,
        )
    return storable(dataclasses.replace(outcome, duration_ms=round((time.monotonic() - started) * 1000, 1)))


def _rules(ctx: CycleContext, row: OutboxRow) -> ObjectRules:
    return ctx.groups if row.object_type == ObjectType.GROUP else ctx.users


def _change(connector: AppConnector, row: OutboxRow) -> Outcome:
    """An update (a re-enable included) or a disable."""
    try:
        if row.action == Action.DISABLE:
            connector.set_active(row.object_type, row.target_id, row.payload["active"])
        else:
            connector.update(row.object_type, row.target_id, AttributeUpdate.from_payload(row.payload))
    except NotFound:
        if row.action != Action.DISABLE:
            raise
        return Outcome(
            change_id=row.change_id,
            status=OutboxStatus.SUCCEEDED,
            detail=f"the {row.object_type} no longer exists in the app",
        )
    return Outcome(change_id=row.change_id, status=OutboxStatus.SUCCEEDED)


def _delete(connector: AppConnector, row: OutboxRow) -> Outcome:
    try:
        connector.delete(row.object_type, row.target_id)
    except NotFound:
        return Outcome(
            change_id=row.change_id, status=OutboxStatus.SUCCEEDED, detail="already gone from the app"
        )
    return Outcome(change_id=row.change_id, status=OutboxStatus.SUCCEEDED)


def _create(ctx: CycleContext, connector: AppConnector, row: OutboxRow) -> Outcome:
    if row.status == OutboxStatus.IN_FLIGHT:
        # A previous attempt may have created it before dying: look before creating again.
        existing = _lookup(ctx, connector, row)
        if existing is not None:
            return _adopt(
                ctx, connector, row, existing, "created by an interrupted earlier attempt; found and linked"
            )
    attributes, active = row.payload["attributes"], row.payload["active"]
    try:
        created = connector.create(row.object_type, attributes, active)
    except AlreadyExists:
        existing = _lookup(ctx, connector, row)
        if existing is None:
            raise
        return _adopt(ctx, connector, row, existing, "already existed (409); matched and linked")
    except TransientError as exc:
        # Timeout, reset connection or 5xx (502/503/504 too: the client never repeats a POST the app
        # may have acted on) after the app may have acted: look, then try once more.
        existing = _lookup(ctx, connector, row)
        if existing is not None:
            return _adopt(
                ctx, connector, row, existing, f"created although the request failed ({exc.code}); linked"
            )
        created = connector.create(row.object_type, attributes, active)
    return Outcome(
        change_id=row.change_id, status=OutboxStatus.SUCCEEDED, target_id=created.id, matched_by="created"
    )


def _lookup(ctx: CycleContext, connector: AppConnector, row: OutboxRow) -> tuple[AppObject, str] | None:
    """The account an earlier or failed create may have made, by the matching rules (and by the
    attributes the app keeps unique, e.g. a SCIM userName)."""
    rules = _rules(ctx, row).lookup_rules
    links = ctx.store.links(ctx.app, row.object_type)
    owners = {link.target_id: source for source, link in links.items() if source != row.source_id}
    found = Lookup(ctx, connector, row.object_type, rules).find(row.source_id, row.display, row.attributes)
    matches, _ = match_accounts([(row.source_id, row.attributes)], found, rules, owners)
    return (matches[0].account, matches[0].matched_by) if matches else None


def _adopt(
    ctx: CycleContext, connector: AppConnector, row: OutboxRow, found: tuple[AppObject, str], note: str
) -> Outcome:
    """Link an object that exists already and bring it to the desired attributes."""
    account, matched_by = found
    current = {p: account.attributes.get(p) for p in _rules(ctx, row).paths}
    changes = {p: v for p, v in row.attributes.items() if v is not None and current.get(p) != v}
    enable = row.object_type == ObjectType.USER and not account.active
    if changes or enable:
        change = AttributeUpdate(
            set=changes, previous={p: current.get(p) for p in changes}, active=True if enable else None
        )
        connector.update(row.object_type, account.id, change)
    return Outcome(
        change_id=row.change_id,
        status=OutboxStatus.SUCCEEDED,
        target_id=account.id,
        matched_by=matched_by,
        attributes={**current, **changes},
        active=True,
        action="update",
        modified=[{"path": p, "old": current.get(p), "new": v} for p, v in changes.items()],
        detail=note,
    )


def _members(connector: AppConnector, row: OutboxRow, ids: AppIds) -> Outcome:
    """Member changes of one group, resolved to app ids now that this cycle's users exist."""
    group_id = ids.groups.get(row.source_id)
    if group_id is None:
        return Outcome(
            change_id=row.change_id,
            status=OutboxStatus.FAILED,
            error_code="GroupNotProvisioned",
            error_message="the group has no account in the app yet (its create failed or was skipped)",
        )
    members = row.payload["members"]
    resolved: list[list[str]] = []
    detail = None
    try:
        if row.action == Action.REMOVE_MEMBERS:
            connector.remove_members(group_id, [target for _, target in members])
        else:
            resolved = [[m, ids.users[m]] for m in members if m in ids.users]
            unresolved = len(members) - len(resolved)
            detail = (
                f"{unresolved} member(s) not provisioned yet: added in a later cycle" if unresolved else None
            )
            targets = [target for _, target in resolved]
            if row.action == Action.ADD_MEMBERS:
                if not targets:
                    return Outcome(
                        change_id=row.change_id,
                        status=OutboxStatus.SUCCEEDED,
                        target_id=group_id,
                        members=[],
                        detail=detail,
                    )
                connector.add_members(group_id, targets)
            else:
                connector.replace_members(group_id, targets)
    except NotFound:
        if row.action != Action.REMOVE_MEMBERS:
            raise
        detail = "the group no longer exists in the app"
    return Outcome(
        change_id=row.change_id,
        status=OutboxStatus.SUCCEEDED,
        target_id=group_id,
        members=resolved,
        detail=detail,
    )
