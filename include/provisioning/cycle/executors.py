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
from provisioning.connectors.errors import AlreadyExists, ConnectorError, NotFound, Rejected
from provisioning.cycle.context import CycleContext, ObjectRules
from provisioning.cycle.lookup import Lookup
from provisioning.engine.app_object import AppObject
from provisioning.engine.changes import AttributeUpdate, readable
from provisioning.engine.mapping import redact, sensitive_paths
from provisioning.engine.matching import DUPLICATE_TARGET, match_accounts
from provisioning.engine.outbox import OutboxRow, Outcome
from provisioning.engine.vocabulary import Action, ObjectType, OutboxStatus
from provisioning.state.bounds import storable
from provisioning.state.outbox import CONFIRM_ONLY, UNSETTLED

UNREADABLE = "UnreadableChange"
# an unsettled create that, looked for, proved never made (and is no longer planned)
NOT_MADE = "NotMadeInApp"


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
        outcome = _failure(row, exc)
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
    """Create, unless an earlier attempt made the object already. While the app may hold an object
    this action made that we have not found (an attempt interrupted, or failed in a way the app
    may have acted on), a failure leaves the outcome unresolved: the next attempt looks again
    before creating, even if the object has left the scope meanwhile, so that an account made for
    someone who then left is found and deprovisioned instead of forgotten in the app. Only a
    refusal of the request itself (a 400, not a 409) settles that nothing was made.

    A failed request may still be under way in the app (a timeout: queued, or slow), so a lookup
    right after it proves nothing. The create is sent again at once only when the app would refuse
    a twin (``_app_refuses_twins``); otherwise (groups: apps rarely keep their names unique) it is
    left unresolved, and the next cycle looks again before creating."""
    unsure = row.status in UNSETTLED  # a previous attempt may have made it
    if unsure and row.payload.get(CONFIRM_ONLY):
        return _confirm(ctx, connector, row)
    try:
        if unsure and (existing := _lookup(ctx, connector, row)) is not None:
            return _adopt(ctx, connector, row, existing, "made by an interrupted earlier attempt; linked")
        attributes, active = row.payload["attributes"], row.payload["active"]
        try:
            created = connector.create(row.object_type, attributes, active)
        except AlreadyExists:
            existing = _lookup(ctx, connector, row)
            if existing is None:
                raise  # unresolved if unsure: an app whose searches lag its writes answers so
            return _adopt(ctx, connector, row, existing, "already existed (409); matched and linked")
        except ConnectorError as exc:
            if exc.stops_cycle or not exc.may_have_acted:
                raise  # an app answering garbage is not asked again in this cycle
            # a timeout, a lost answer or a 5xx after the app may have acted: look, then once more
            unsure = True
            if (existing := _lookup(ctx, connector, row)) is not None:
                note = f"created although the request failed ({exc.code}); linked"
                return _adopt(ctx, connector, row, existing, note)
            if not _app_refuses_twins(ctx, row):
                raise  # the first request may land after our lookup: a second could make a twin
            created = connector.create(row.object_type, attributes, active)
    except Rejected as exc:
        return _failure(row, exc)
    except ConnectorError as exc:
        return _failure(row, exc, unresolved=unsure or exc.may_have_acted)
    return Outcome(
        change_id=row.change_id, status=OutboxStatus.SUCCEEDED, target_id=created.id, matched_by="created"
    )


def _confirm(ctx: CycleContext, connector: AppConnector, row: OutboxRow) -> Outcome:
    """An unsettled create the current plan no longer wants: link what the earlier attempt made,
    exactly as the app holds it (the next diff disables it if its owner left scope), else settle
    that nothing was made. A failed lookup keeps it unresolved, to look again."""
    try:
        found = _lookup(ctx, connector, row)
    except ConnectorError as exc:
        return _failure(row, exc, unresolved=True)
    if found is None:
        return Outcome(
            change_id=row.change_id,
            status=OutboxStatus.SKIPPED,
            error_code=NOT_MADE,
            error_message=f"an earlier attempt at this create failed; the app holds no such "
            f"{row.object_type}, and the current plan no longer creates it",
        )
    account, matched_by = found
    return Outcome(
        change_id=row.change_id,
        status=OutboxStatus.SUCCEEDED,
        target_id=account.id,
        matched_by=matched_by,
        attributes={p: account.attributes.get(p) for p in _rules(ctx, row).paths},
        active=account.active,
        action="update",
        detail="made by an earlier attempt that failed; linked as the app holds it (the current plan "
        "no longer creates it: the next cycle disables it if it is out of scope)",
    )


def _app_refuses_twins(ctx: CycleContext, row: OutboxRow) -> bool:
    """Whether the create sends a value the app keeps unique (a SCIM userName). A second create is
    then safe even while the first may still land: the app refuses whichever reaches it second."""
    return any(row.attributes.get(path) not in (None, "") for path in _rules(ctx, row).unique_paths)


def _failure(row: OutboxRow, error: ConnectorError, *, unresolved: bool = False) -> Outcome:
    return Outcome(
        change_id=row.change_id,
        status=OutboxStatus.FAILED,
        error_code=error.code,
        error_message=str(error),
        stops_cycle=error.stops_cycle,
        permanent=error.permanent,
        unresolved=unresolved,
        detail=(
            f"the app may have created this {row.object_type}: the next attempt looks for it before "
            "creating it again"
            if unresolved
            else None
        ),
    )


def _lookup(ctx: CycleContext, connector: AppConnector, row: OutboxRow) -> tuple[AppObject, str] | None:
    """The account an earlier or failed create may have made, by the matching rules (and by the
    attributes the app keeps unique, e.g. a SCIM userName)."""
    rules = _rules(ctx, row).lookup_rules
    links = ctx.store.links(ctx.app, row.object_type)
    owners = {link.target_id: source for source, link in links.items() if source != row.source_id}
    found = Lookup(ctx, connector, row.object_type, rules).find(row.source_id, row.display, row.attributes)
    matches, conflicts = match_accounts([(row.source_id, row.attributes)], found, rules, owners)
    twins = [c for c in conflicts if c.code == DUPLICATE_TARGET]
    if twins:  # the app already holds several: another create would only add one more
        raise AmbiguousInApp(f"{twins[0].message}: remove the extra ones in the app", code=DUPLICATE_TARGET)
    return (matches[0].account, matches[0].matched_by) if matches else None


class AmbiguousInApp(ConnectorError):
    """Several objects in the app match the one a create may have made: none is linked and none is
    created until an operator removes the twins (retrying cannot help)."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message, code=code, permanent=True)


def _adopt(
    ctx: CycleContext, connector: AppConnector, row: OutboxRow, found: tuple[AppObject, str], note: str
) -> Outcome:
    """Link an object that exists already and bring it to the desired attributes."""
    account, matched_by = found
    rules = _rules(ctx, row)
    current = {p: account.attributes.get(p) for p in rules.paths}
    changes = {p: v for p, v in row.attributes.items() if v is not None and current.get(p) != v}
    enable = row.object_type == ObjectType.USER and not account.active
    if changes or enable:
        change = AttributeUpdate(
            set=changes, previous={p: current.get(p) for p in changes}, active=True if enable else None
        )
        connector.update(row.object_type, account.id, change)
    hidden = sensitive_paths(rules.mappings)  # sent to the app, never shown in the log
    return Outcome(
        change_id=row.change_id,
        status=OutboxStatus.SUCCEEDED,
        target_id=account.id,
        matched_by=matched_by,
        attributes={**current, **changes},
        active=True,
        action="update",
        modified=[
            {"path": p, "old": redact(p, current.get(p), hidden), "new": redact(p, v, hidden)}
            for p, v in changes.items()
        ],
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
