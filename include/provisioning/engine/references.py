"""Reference attributes: a directory id becomes the referenced object's id *in the app*.

``manager`` holds the manager's directory id; the app needs the manager's account id. It is
resolved through the links at diff time, so a manager not provisioned yet leaves the attribute
unset and the next cycle fills it in once the manager's account exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from provisioning.engine.desired import DesiredUser
from provisioning.engine.mapping import CompiledMapping
from provisioning.engine.plan import LinkState

REFERENCE_SOURCES = ("manager",)


def resolve_references(
    desired: Iterable[DesiredUser], mappings: Sequence[CompiledMapping], links: dict[str, LinkState]
) -> list[DesiredUser]:
    targets = [m.target for m in mappings if m.source in REFERENCE_SOURCES]
    if not targets:
        return list(desired)
    resolved = []
    for user in desired:
        attributes = dict(user.attributes)
        for target in targets:
            directory_id = attributes.get(target)
            if directory_id is not None:
                link = links.get(str(directory_id))
                attributes[target] = link.target_id if link and link.active else None
        resolved.append(dataclasses.replace(user, attributes=attributes))
    return resolved
