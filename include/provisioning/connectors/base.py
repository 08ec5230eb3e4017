"""The small interface every app connector offers the provisioning cycle.

SCIM is the first implementation; a connector for another app API implements the same methods
so the cycle code never learns which API it talks to.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class AppConnector(Protocol):
    """``kind`` is ``user`` or ``group``; ids are the app's own, and mean something only in
    ``endpoint`` (base URL and tenant): links record it, and a cycle refuses to write elsewhere."""

    endpoint: str

    def list_resources(
        self, kind: str, attributes: list[str] | None = None, excluded: list[str] | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def find_resources(self, kind: str, attribute: str, value: str) -> list[dict[str, Any]]: ...

    def get_resource(self, kind: str, resource_id: str) -> dict[str, Any]: ...

    def create_resource(self, kind: str, resource: dict[str, Any]) -> dict[str, Any]: ...

    def patch_resource(self, kind: str, resource_id: str, patch: dict[str, Any]) -> None: ...

    def delete_resource(self, kind: str, resource_id: str) -> None: ...
