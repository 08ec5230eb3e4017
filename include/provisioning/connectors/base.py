"""The interface every app connector offers the provisioning cycle, in neutral terms.

The cycle plans changes on attribute paths as the app config names them (``userName``,
``emails[type eq "work"].value``, ``cn``): what a path means, how a change is sent and what an
error means for the cycle (connectors/errors.py) is the connector's business. SCIM is the first
implementation; a connector for another app API implements the same verbs, so the cycle never
learns which API it talks to.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from provisioning.engine.app_object import AppObject
from provisioning.engine.changes import AttributeUpdate


class AppConnector(Protocol):
    """``object_type`` is ``user`` or ``group``; ids are the app's own, and mean something only in
    ``endpoint`` (address and tenant): links record it, and a cycle refuses to write elsewhere."""

    endpoint: str
    throttled: int  # how often the app told us to slow down since the connector was opened

    def list(self, object_type: str, *, members: bool = True) -> Iterator[AppObject]:
        """Every object; group members are read only when asked (they can be huge)."""
        ...

    def find(self, object_type: str, path: str, value: str) -> list[AppObject]:
        """Objects whose ``path`` holds ``value`` (by the app's own comparison rules), without
        members; raises QueryRefused when the app cannot search by that path."""
        ...

    def get(self, object_type: str, app_id: str) -> AppObject: ...

    def create(self, object_type: str, attributes: dict[str, Any], active: bool | None) -> AppObject: ...

    def update(self, object_type: str, app_id: str, change: AttributeUpdate) -> None: ...

    def set_active(self, object_type: str, app_id: str, active: bool) -> None: ...

    def delete(self, object_type: str, app_id: str) -> None: ...

    def add_members(self, group_id: str, member_ids: list[str]) -> None: ...

    def remove_members(self, group_id: str, member_ids: list[str]) -> None: ...

    def replace_members(self, group_id: str, member_ids: list[str]) -> None: ...

    def close(self) -> None:
        """Release the connections it holds; a step's context calls it when the step ends."""
        ...
