"""Everything the Provisioning page takes from Airflow, in one place: who is signed in, which
DAGs are paused, the address of a DAG run, and where an app's state store is (the ``Host`` the
plugin mounts the page with)."""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials

from provisioning.glue.notifiers import run_url
from provisioning.glue.resources import state_store_url


class AirflowHost:
    """The page's ``Host`` inside the Airflow API server."""

    async def authenticate(
        self, request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
    ) -> None:
        """Airflow's own check (session cookie or bearer token). Airflow answers a malformed token
        with 403; for this read-only page any failed authentication is 401, so clients re-login."""
        try:
            request.state.user = await get_user(request, None, bearer)
        except HTTPException as exc:
            if exc.status_code == 403:
                raise HTTPException(
                    401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"}
                ) from None
            raise

    def readable_dag_ids(self, user: BaseUser, dag_ids: set[str]) -> set[str]:
        """Asked of the configured auth manager (simple, FAB, Keycloak or a custom one), as Airflow's
        own DAG list asks it: per DAG id, so an app whose DAG is not parsed yet is decided too."""
        return get_auth_manager().filter_authorized_dag_ids(dag_ids=dag_ids, user=user, method="GET")

    def paused(self) -> dict[str, bool]:
        from airflow.models.dag import DagModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            return dict(session.execute(select(DagModel.dag_id, DagModel.is_paused)).all())

    def run_url(self, dag_id: str, run_id: str) -> str:
        return run_url(dag_id, run_id)

    def state_store_url(self, conn_id: str) -> str:
        return state_store_url(conn_id).render_as_string(hide_password=False)
