"""The small interface every app connector offers the provisioning cycle.

SCIM is the first implementation; a connector for another app API implements the same methods
so the cycle code never learns which API it talks to.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class AppConnector(Protocol):
    def list_users(self, attributes: list[str] | None = None) -> Iterator[dict[str, Any]]: ...

    def find_users(self, attribute: str, value: str) -> list[dict[str, Any]]: ...

    def create_user(self, resource: dict[str, Any]) -> dict[str, Any]: ...

    def patch_user(self, user_id: str, patch: dict[str, Any]) -> None: ...

    def delete_user(self, user_id: str) -> None: ...
