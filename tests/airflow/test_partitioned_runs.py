"""A partitioned apply in a real DAG run (dag.test): ``apply`` mapped over the partitions, then
``apply_groups``, then ``report``; the app ends exact and the report shows every partition."""

from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from provisioning.state import StateStore
from tests.airflow.dag_runs import run_dag, xcoms
from tests.conftest import demo_config
from tests.integration.cycle_helpers import Harness

pytestmark = pytest.mark.airflow

# a DAG id of its own: the metadata DB of the session keeps the DAGs it has seen, and the other
# tests' provision_demo_wiki has an unmapped apply
APP = "partwiki"


def install_partitioned(install_app, directory_db, scim_app, partitions: int) -> None:
    """The demo wiki under another name, with the wiki's assignments in the directory."""
    engine = create_engine(f"sqlite:///{directory_db}")
    with engine.begin() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(text("select * from app_assignments where app='demo_wiki'"))
        ]
        columns = ", ".join(rows[0])
        conn.execute(
            text(f"insert into app_assignments ({columns}) values ({', '.join(':' + c for c in rows[0])})"),
            [{**r, "app": APP} for r in rows],
        )
    config = {**demo_config("demo_wiki", APP), "retries": 0}
    config["target"] = {**config["target"], "partitions": partitions}
    install_app(config, directory=directory_db, scim=scim_app)


def test_apply_mapped_over_partitions_then_groups_then_report(
    airflow_db, install_app, directory_db, scim_app, tmp_path
):
    install_partitioned(install_app, directory_db, scim_app, 3)
    expected = Harness(directory_db, scim_app, tmp_path / "unused.db").expected_wiki_users()

    run = run_dag(APP)
    assert str(run.state) == "success"
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = {(ti.task_id, ti.map_index): ti for ti in run.get_task_instances(session=session)}
        applied = sorted(
            (i, ti.rendered_map_index, str(ti.state)) for (task, i), ti in tis.items() if task == "apply"
        )
        groups_state = str(tis[("apply_groups", -1)].state)
    assert applied == [(i, f"partition {i}", "success") for i in range(3)]
    assert groups_state == "success"
    names = Counter(u["userName"].lower() for u in scim_app.users())
    assert set(names) == set(expected.index) and max(names.values()) == 1
    assert scim_app.groups()  # the wiki's groups, made after every partition
    report = xcoms(run)["report"]
    assert report["status"] == "succeeded"
    assert [(p["partition"], p["status"]) for p in report["partitions"]] == [
        (i, "succeeded") for i in range(3)
    ]
    assert sum(p["succeeded"] for p in report["partitions"]) == len(expected)
    cycle = StateStore(f"sqlite:///{tmp_path / f'state_{APP}.db'}").cycle(APP, run.run_id)
    assert cycle["status"] == "succeeded"


def test_failed_partitions_still_let_groups_and_the_report_run(
    airflow_db, install_app, directory_db, scim_app, tmp_path
):
    from tests.support.fault_proxy import Fault

    install_partitioned(install_app, directory_db, scim_app, 2)
    scim_app.proxy.inject(Fault(400, methods=("POST",), path="/Users"), times=10_000)  # every create

    run = run_dag(APP)
    assert str(run.state) == "failed"
    from airflow.utils.session import create_session

    with create_session() as session:
        states = sorted(
            (ti.task_id, ti.map_index, str(ti.state)) for ti in run.get_task_instances(session=session)
        )
    assert ("apply", 0, "failed") in states and ("apply", 1, "failed") in states
    assert ("apply_groups", -1, "success") in states and ("report", -1, "failed") in states
    assert scim_app.users() == [] and scim_app.groups()  # groups made, with the members that exist
    report = xcoms(run)["report"]
    assert [p["status"] for p in report["partitions"]] == ["failed", "failed"]
    assert report["failed"] == sum(p["failed"] for p in report["partitions"]) > 0
