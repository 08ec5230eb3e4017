"""DAG files parse into one DAG per app; a broken config is that DAG's import error only."""

import shutil

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.airflow


def dagbag(folder):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


def test_the_shipped_dags_folder_gives_one_dag_per_app_config(airflow_db, monkeypatch):
    monkeypatch.delenv("PROVISIONING_APPS_DIR")
    bag = dagbag(REPO / "dags")
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["provision_demo_chat", "provision_demo_crm", "provision_demo_wiki"]
    dag = bag.get_dag("provision_demo_wiki")
    assert [t.task_id for t in dag.topological_sort()] == [
        "extract_assignments",
        "match",
        "diff",
        "apply",
        "report",
    ]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert "provisioning" in dag.tags and "demo" in dag.tags
    assert "scim_demo_wiki" in dag.doc_md and "userPrincipalName" in dag.doc_md
    assert (
        dag.get_task("report").trigger_rule == "none_skipped"
    )  # runs after failures, not after a quarantine skip
    assert dag.get_task("apply").retries == 2
    assert {t.pool for t in dag.tasks} == {"provisioning_demo_wiki"}  # the pool in airflow_settings.yaml
    assert dag.params["allow_deletions"] is False and dag.params["restart"] == "none"
    assert (
        dag.params["users"] == [] and dag.params["dry_run"] is False and dag.params["full_reconcile"] is False
    )
    schema = dag.params.get_param("restart").schema
    assert schema["enum"] == ["none", "escrow", "quarantine", "watermark", "all", "full_reset", "relink"]
    assert "relink" in dag.params.get_param("restart").description
    assert dag.params["approve"] == "" and "held" in dag.params.get_param("approve").description
    assert "quarantine" in dag.params.get_param("restart").description
    assert dag.params.get_param("users").schema["maxItems"] == 50
    assert dag.on_failure_callback and dag.get_task("report").on_failure_callback  # alerts
    assert dag.schedule == "*/10 * * * *"
    from datetime import timedelta

    assert bag.get_dag("provision_demo_crm").schedule == timedelta(minutes=10)
    chat = bag.get_dag("provision_demo_chat")  # people from the demo's Active Directory
    assert "`ldap` source, connection `demo_ldap`" in chat.doc_md and "ldap" in chat.tags


def test_a_broken_config_is_an_import_error_naming_file_field_and_problem(tmp_path, monkeypatch):
    apps, dags = tmp_path / "apps", tmp_path / "dags"
    apps.mkdir()
    dags.mkdir()
    for app in ("demo_wiki", "demo_crm"):
        shutil.copy(REPO / "include" / "apps" / f"{app}.yaml", apps)
        shutil.copy(REPO / "dags" / f"provision_{app}.py", dags)
    broken = (
        (REPO / "include" / "apps" / "demo_crm.yaml")
        .read_text()
        .replace("max_concurrency: 4", "max_concurrency: -1")
    )
    (apps / "broken.yaml").write_text(broken)
    shutil.copy(REPO / "dags" / "provision_demo_crm.py", dags / "provision_broken.py")
    monkeypatch.setenv("PROVISIONING_APPS_DIR", str(apps))
    bag = dagbag(dags)
    assert sorted(bag.dag_ids) == ["provision_demo_crm", "provision_demo_wiki"]
    ((file, error),) = bag.import_errors.items()
    assert file.endswith("provision_broken.py")
    assert str(apps / "broken.yaml") in error
    assert "target.max_concurrency: Input should be greater than or equal to 1" in error
