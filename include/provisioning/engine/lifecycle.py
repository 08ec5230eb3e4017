"""Joiner, mover, leaver: what an account change means for the person, as HR and auditors say it.

Derived from the planned action, whatever the source: an account created or re-enabled is a
joiner's, one disabled or deleted because its person left scope a leaver's, and an update that
changes an attribute mapped from the person's place in the organisation (department, job title,
manager) a mover's. Other updates (a corrected name, a new e-mail) carry no label.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from provisioning.engine.mapping import CompiledMapping
from provisioning.engine.vocabulary import Action


class Lifecycle(StrEnum):
    JOINER = "joiner"
    MOVER = "mover"
    LEAVER = "leaver"


# the directory attributes that place a person in the organisation
MOVER_ATTRIBUTES = frozenset({"department", "jobTitle", "manager"})


def mover_paths(mappings: Sequence[CompiledMapping]) -> frozenset[str]:
    """Target paths whose values come from a mover attribute, directly or through an expression."""
    return frozenset(
        m.target
        for m in mappings
        if m.source in MOVER_ATTRIBUTES or (m.expression and MOVER_ATTRIBUTES & set(m.expression.attributes))
    )


def lifecycle_of(
    action: str, changed_paths: Iterable[str] = (), movers: frozenset[str] = frozenset()
) -> str | None:
    if action in (Action.CREATE, Action.ENABLE):
        return Lifecycle.JOINER
    if action in (Action.DISABLE, Action.DELETE):
        return Lifecycle.LEAVER
    if action == Action.UPDATE and movers.intersection(changed_paths):
        return Lifecycle.MOVER
    return None
