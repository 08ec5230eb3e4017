"""Diff for groups: group create/update/delete and member add/remove, against what we last applied.

Members are users *provisioned in the app*: a directory member outside the app's user scope
cannot be sent (the app has no account for it); it is reported and sent once it is provisioned.
Member changes carry directory ids, resolved to app ids when they are applied, after the users of
the same cycle have been created.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from provisioning.engine.attribute_path import AttributePath, missing_required
from provisioning.engine.changes import AttributeUpdate, create_payload
from provisioning.engine.desired_groups import DesiredGroup
from provisioning.engine.mapping import CompiledMapping, redact, sensitive_paths
from provisioning.engine.plan import LinkState, Plan, PlannedAction, Skip
from provisioning.engine.vocabulary import Action, ObjectType

NOT_PROVISIONED_SAMPLE = 10


def plan_groups(
    desired: Iterable[DesiredGroup],
    links: dict[str, LinkState],
    applied_members: dict[str, dict[str, str]],
    provisioned: set[str],
    mappings: Sequence[CompiledMapping],
    paths: dict[str, AttributePath],
    *,
    on_leave_scope: str,
    batch_size: int,
    removal: str,
    excluded: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> Plan:
    """``applied_members``: group source id -> {member source id: member app id} as last applied;
    ``provisioned``: users that have (or get this cycle) an active account in the app; ``keep``:
    users whose memberships stay as they are this cycle (skipped, or their removal is held)."""
    excluded = set(excluded)
    keep = frozenset(keep)
    create_only = {m.target for m in mappings if m.on_create_only}
    sensitive = sensitive_paths(mappings)
    actions: list[PlannedAction] = []
    skipped: list[Skip] = []
    notes: list[Skip] = []
    unchanged = 0
    seen: set[str] = set()
    for group in desired:
        seen.add(group.source_id)
        if group.source_id in excluded:
            continue
        link = links.get(group.source_id)
        if not group.in_scope:
            if link is not None and on_leave_scope == Action.DELETE:
                actions.append(_delete(group.source_id, group.display, link, group.reason))
            continue
        if group.error:
            skipped.append(Skip(group.source_id, group.display, "MappingError", group.error))
            continue
        if link is None:
            created = _create(group, paths, sensitive)
            if isinstance(created, Skip):
                skipped.append(created)
                continue
            actions.append(created)
            updated = None
        else:
            updated = _update(group, link, create_only, sensitive)
            actions += filter(None, [updated])
        member_actions = _member_actions(
            group, link, applied_members.get(group.source_id, {}), provisioned, keep, batch_size, removal
        )
        if not member_actions and link is not None and updated is None:
            unchanged += 1
        actions += member_actions
        if member_actions or link is None:
            notes += filter(None, [_unsent_members(group, provisioned)])
    if on_leave_scope == Action.DELETE:
        actions += [
            _delete(source_id, source_id, link, "deleted from the directory")
            for source_id, link in links.items()
            if source_id not in seen and source_id not in excluded
        ]
    return Plan(actions, skipped, unchanged, notes)


def _member_actions(
    group: DesiredGroup,
    link: LinkState | None,
    applied: dict[str, str],
    provisioned: set[str],
    keep: frozenset[str],
    batch_size: int,
    removal: str,
) -> list[PlannedAction]:
    wanted = [m for m in group.members if m in provisioned]
    add = [m for m in wanted if m not in applied]
    wanted_set = set(wanted)
    remove = sorted(m for m in applied if m not in wanted_set and m not in keep)
    wanted += [m for m in applied if m not in wanted_set and m in keep]  # a replace keeps them
    target = link.target_id if link else None

    def action(name: str, members: list, count_old: int, count_new: int) -> PlannedAction:
        return PlannedAction(
            name,
            group.source_id,
            group.display,
            target,
            {"members": members},
            {},
            True,
            [{"path": "members", "old": count_old, "new": count_new}],
            object_type=ObjectType.MEMBERSHIP,
        )

    if removal == "replace":
        if not add and not remove:
            return []
        replace = action(Action.REPLACE_MEMBERS, wanted, len(applied), len(wanted))
        replace.payload["removed"] = remove  # what the guard counts; the request sends ``members``
        return [replace]
    actions = [
        action(Action.ADD_MEMBERS, add[i : i + batch_size], 0, len(add[i : i + batch_size]))
        for i in range(0, len(add), batch_size)
    ]
    actions += [
        action(
            Action.REMOVE_MEMBERS,
            [[m, applied[m]] for m in remove[i : i + batch_size]],
            len(remove[i : i + batch_size]),
            0,
        )
        for i in range(0, len(remove), batch_size)
    ]
    return actions


def _delete(source_id: str, display: str, link: LinkState, reason: str | None) -> PlannedAction:
    return PlannedAction(
        Action.DELETE,
        source_id,
        display,
        link.target_id,
        None,
        link.attributes,
        False,
        [],
        reason,
        object_type=ObjectType.GROUP,
    )


def _create(
    group: DesiredGroup, paths: dict[str, AttributePath], sensitive: frozenset[str]
) -> PlannedAction | Skip:
    values = {k: v for k, v in group.attributes.items() if v is not None}
    missing = missing_required(paths, values)
    if missing:
        return Skip(
            group.source_id, group.display, "MissingRequiredAttribute", f"{', '.join(missing)} has no value"
        )
    return PlannedAction(
        Action.CREATE,
        group.source_id,
        group.display,
        None,
        create_payload(values, None),
        values,
        True,
        None,  # every attribute, from nothing: derived from ``values`` when read
        object_type=ObjectType.GROUP,
        redacted=sensitive,
    )


def _update(
    group: DesiredGroup, link: LinkState, create_only: set[str], sensitive: frozenset[str]
) -> PlannedAction | None:
    """The changed attributes of a linked group, or None when none changed."""
    old = link.attributes
    changes = {
        p: v
        for p, v in group.attributes.items()
        if v is not None and p not in create_only and old.get(p) != v
    }
    if not changes:
        return None
    change = AttributeUpdate(set=changes, previous={p: old.get(p) for p in changes})
    return PlannedAction(
        Action.UPDATE,
        group.source_id,
        group.display,
        link.target_id,
        change.to_payload(),
        {**old, **changes},
        True,
        [
            {"path": p, "old": redact(p, old.get(p), sensitive), "new": redact(p, v, sensitive)}
            for p, v in changes.items()
        ],
        object_type=ObjectType.GROUP,
    )


def _unsent_members(group: DesiredGroup, provisioned: set[str]) -> Skip | None:
    """A note (not a skip) naming members who have no account in the app to be added as."""
    missing = [m for m in group.members if m not in provisioned]
    if not missing:
        return None
    return Skip(
        group.source_id,
        group.display,
        "MembersNotProvisioned",
        f"{len(missing)} member(s) have no account in the app (outside its user scope) and "
        f"are not sent; each is added once provisioned: "
        f"{', '.join(missing[:NOT_PROVISIONED_SAMPLE])}",
    )
