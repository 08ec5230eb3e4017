"""Provision on demand: a run limited to the directory users and groups named in its params.

Everything else about the cycle stays as it is -- scope, scoping, mappings, matching, safety --
but objects outside the selection are neither planned nor, crucially, treated as gone: the
diff only sees the links of selected objects, so nobody else is disabled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from provisioning.cycle.context import CycleContext
from provisioning.cycle.options import InvalidRunOptions
from provisioning.engine.desired import DesiredUser
from provisioning.engine.desired_groups import DesiredGroup
from provisioning.engine.matching import fold_case
from provisioning.engine.vocabulary import ObjectType

SELECTION = "selection"


class SelectionError(InvalidRunOptions):
    """A name in the ``users``/``groups`` params matches no directory object."""


def _resolve(
    object_type: str, names: Sequence[str], keys: Iterable[tuple[str, list[str]]], attribute: str
) -> list[str]:
    index: dict[str, str] = {}
    for source_id, aliases in keys:
        index[source_id] = source_id
        for alias in aliases:
            if alias:
                index.setdefault(fold_case(str(alias)), source_id)
    found, unknown = [], []
    for name in names:
        source_id = index.get(name) or index.get(fold_case(name.strip()))
        (found if source_id else unknown).append(source_id or name)
    if unknown:
        raise SelectionError(
            f"provision on demand: no directory {object_type} with id or {attribute} "
            + ", ".join(repr(u) for u in unknown)
            + " (names are matched case-insensitively; nothing was provisioned)"
        )
    return sorted(set(found))


def save_selection(ctx: CycleContext, users: list[DesiredUser], groups: list[DesiredGroup]) -> dict:
    """Resolve the params' names to directory ids (unknown names fail the cycle before any change)."""
    options = ctx.options
    # besides its id, an object is named by its display or the attribute the target requires
    user_key = ctx.config.target.required_attribute(ObjectType.USER)[0]
    group_key = ctx.config.target.required_attribute(ObjectType.GROUP)[0]
    selection = {
        ObjectType.USER: _resolve(
            ObjectType.USER,
            options.users,
            ((u.source_id, [u.display, u.attributes.get(user_key)]) for u in users),
            user_key,
        ),
        ObjectType.GROUP: _resolve(
            ObjectType.GROUP,
            options.groups,
            ((g.source_id, [g.display, g.attributes.get(group_key)]) for g in groups),
            group_key,
        ),
    }
    ctx.store.put_artifact(ctx.app, ctx.cycle_id, SELECTION, selection)
    return selection


def selected(ctx: CycleContext, object_type: str) -> set[str] | None:
    """The selected ids of this kind in an on-demand run; None when the run is not on demand."""
    if not ctx.options.on_demand:
        return None
    return set(ctx.store.get_artifact(ctx.app, ctx.cycle_id, SELECTION)[object_type])


def restrict(items: dict, chosen: set[str] | None) -> dict:
    return items if chosen is None else {k: v for k, v in items.items() if k in chosen}
