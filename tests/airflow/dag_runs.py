"""Running a provisioning DAG for real with ``dag.test()`` and reading back what it recorded."""

from __future__ import annotations

import importlib.util
import os
import uuid
from pathlib import Path
from typing import Any


def load_dag(app: str):
    """Import the app's DAG file from the session DAGs folder (fresh module, current config)."""
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"provision_{app}.py"
    spec = importlib.util.spec_from_file_location(f"dagfile_{app}_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def run_dag(app: str, **params: Any):
    """One run through ``dag.test()``; ``params`` as an operator would set them in the trigger form."""
    return load_dag(app).test(run_conf=params or None)


def xcoms(dag_run) -> dict[str, Any]:
    """The return_value XCom of each task of a run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, key="return_value")
        )
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


def task_states(dag_run) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}
