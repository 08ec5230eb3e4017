"""What the Provisioning page needs from the platform it is mounted in. The page is built on this
protocol alone, so it runs in-process under tests with a stand-in host and no Airflow;
``airflow_host.AirflowHost`` is the one the plugin mounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Host(Protocol):
    # a FastAPI dependency of every route: keeps the caller, as the platform knows them, in
    # ``request.state.user`` (whose permissions decide which apps the routes show), or raises
    # HTTPException(401) for a caller not signed in
    authenticate: Callable[..., Any]

    def readable_dag_ids(self, user: Any, dag_ids: set[str]) -> set[str]:
        """Of ``dag_ids``, those the caller may read: an app is shown to whoever may read its DAG."""

    def paused(self) -> dict[str, bool]:
        """DAG id -> whether the DAG is paused."""

    def run_url(self, dag_id: str, run_id: str) -> str:
        """Where a person sees one run of a DAG."""

    def state_store_url(self, conn_id: str) -> str:
        """The state store of a connection id, as a URL with its password."""
