"""A hung step or run is bounded: execution_timeout and dagrun_timeout come from the app config,
and a step that times out is recorded on its cycle (no real runs: the DagBag and one task)."""

import shutil

import pytest

from tests.airflow.test_dagbag import dagbag
from tests.conftest import REPO

pytestmark = pytest.mark.airflow


def test_every_task_and_the_run_are_bounded_by_the_config_timeouts(airflow_db, tmp_path, monkeypatch):
    from datetime import timedelta

    apps, dags = tmp_path / "apps", tmp_path / "dags"
    apps.mkdir()
    dags.mkdir()
    config = (REPO / "include" / "apps" / "demo_wiki.yaml").read_text()
    (apps / "bounded.yaml").write_text(config + "timeouts: {task_minutes: 7, run_minutes: 25}\n")
    (apps / "hung.yaml").write_text(config + "timeouts: {task_minutes: 0}\n")
    shutil.copy(REPO / "include" / "apps" / "demo_crm.yaml", apps)
    for app in ("bounded", "hung", "demo_crm"):
        shutil.copy(REPO / "dags" / "provision_demo_wiki.py", dags / f"provision_{app}.py")
    monkeypatch.setenv("PROVISIONING_APPS_DIR", str(apps))
    bag = dagbag(dags)
    bounded, default = bag.get_dag("provision_bounded"), bag.get_dag("provision_demo_crm")
    assert bounded.dagrun_timeout == timedelta(minutes=25)
    assert {t.execution_timeout for t in bounded.tasks} == {timedelta(minutes=7)}
    assert default.dagrun_timeout == timedelta(minutes=60)
    assert {t.execution_timeout for t in default.tasks} == {timedelta(minutes=30)}
    ((file, error),) = bag.import_errors.items()
    assert file.endswith("provision_hung.py")
    assert "timeouts.task_minutes: Input should be greater than 0" in error


def test_a_timed_out_step_is_recorded_on_the_cycle_so_report_and_alerts_name_it(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowTaskTimeout
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from provisioning.config.loader import app_config_path, load_app_config
    from provisioning.cycle import steps
    from provisioning.cycle.alerts import cycle_summary
    from provisioning.glue import resources
    from provisioning.glue.dag_factory import build_dag
    from provisioning.state.schema import upgrade as upgrade_schema

    apps = tmp_path / "apps"
    apps.mkdir()
    shutil.copy(REPO / "include" / "apps" / "demo_wiki.yaml", apps)
    monkeypatch.setenv("PROVISIONING_APPS_DIR", str(apps))
    state_url = make_url(f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setattr(resources, "state_store_url", lambda _: state_url)
    upgrade_schema(create_engine(state_url))

    def hangs(ctx):
        ctx.store.start_cycle(ctx.app, ctx.cycle_id)
        raise AirflowTaskTimeout()  # what Airflow raises in the task when execution_timeout passes

    monkeypatch.setattr(steps, "extract_assignments", hangs)
    task = build_dag(load_app_config(app_config_path("demo_wiki"))).get_task("extract_assignments")
    run = SimpleNamespace(run_id="scheduled__1", run_type="scheduled", triggering_user_name=None)
    with pytest.raises(AirflowTaskTimeout):
        task.execute({"dag_run": run, "params": {}})
    store = resources.open_state_store(load_app_config(app_config_path("demo_wiki")))
    summary = cycle_summary(store, "demo_wiki", "scheduled__1")
    assert summary["status"] == "failed"
    assert summary["error"] == "extract_assignments: timed out after 0:30:00 (timeouts.task_minutes)"
