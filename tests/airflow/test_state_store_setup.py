"""Where the state store is and whether it may be used: `provisioning db upgrade` prepares it
(through the Airflow connection, as a deployment runs it), a task never creates tables and fails at
once on a store that was not upgraded, and a distributed executor without a state store connection
is an error, not a SQLite file per worker."""

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, inspect, make_url

from provisioning.cli import main
from provisioning.glue import resources
from provisioning.glue.resources import StateStoreMissing, state_store_url
from provisioning.state.schema import head_revision
from tests.conftest import REPO, connection_env

pytestmark = pytest.mark.airflow


def test_db_upgrade_prepares_every_store_the_connection_names(airflow_db, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(*connection_env("cli_state", conn_type="sqlite", host=str(tmp_path / "state.db")))
    assert main(["db", "check", "--conn-id", "cli_state"]) == 1
    assert f"at no version, this release needs {head_revision()}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--conn-id", "cli_state"]) == 0
    assert "cli_state (sqlite:///" in (out := capsys.readouterr().out)
    assert f"upgraded from no version to {head_revision()}" in out
    assert main(["db", "upgrade", "--conn-id", "cli_state"]) == 0
    assert f"already at {head_revision()}" in capsys.readouterr().out
    assert main(["db", "check", "--conn-id", "cli_state"]) == 0


def test_a_task_on_a_store_not_upgraded_fails_at_once_and_creates_nothing(airflow_db, tmp_path, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from provisioning.config.loader import app_config_path, load_app_config
    from provisioning.glue.dag_factory import build_dag

    apps = tmp_path / "apps"
    apps.mkdir()
    shutil.copy(REPO / "include" / "apps" / "demo_wiki.yaml", apps)
    monkeypatch.setenv("PROVISIONING_APPS_DIR", str(apps))
    state = make_url(f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setattr(resources, "state_store_url", lambda _: state)
    task = build_dag(load_app_config(app_config_path("demo_wiki"))).get_task("extract_assignments")
    run = SimpleNamespace(run_id="scheduled__1", run_type="scheduled", triggering_user_name=None)
    with pytest.raises(AirflowFailException, match=r"no schema version.*run `provisioning db upgrade`"):
        task.execute({"dag_run": run, "params": {}})
    assert inspect(create_engine(state)).get_table_names() == []


def test_a_distributed_executor_needs_a_state_store_connection(airflow_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with pytest.raises(StateStoreMissing, match=r"'absent_state'.*required with Celery"):
        state_store_url("absent_state")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    fallback = Path(os.environ["AIRFLOW_HOME"]) / "provisioning_state.db"
    assert state_store_url("absent_state").database == str(fallback)
