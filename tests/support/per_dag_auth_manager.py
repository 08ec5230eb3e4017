"""An Airflow auth manager with per-DAG read permissions, for the page's authorization tests.

Airflow's simple auth manager has roles but no per-DAG grants, and the FAB provider (which has them)
is not a dependency of this project. This is a custom auth manager as a deployment may write one:
the simple manager's users, logins and roles, and for the users named in the JSON of
``PROVISIONING_TEST_DAG_GRANTS`` ({"user": ["dag_id", ...]}) only those DAGs. The page asks it
through Airflow's own auth-manager API, as it asks FAB or Keycloak in production.
"""

from __future__ import annotations

import json
import os
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


class PerDagAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        grants = json.loads(os.environ.get("PROVISIONING_TEST_DAG_GRANTS", "{}")).get(user.get_name())
        if grants is not None and (details is None or details.id not in grants):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
