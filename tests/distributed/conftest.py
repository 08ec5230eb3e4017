"""The Celery tier, started once per test module: what ``make run-distributed`` starts, on free
ports and fresh databases of its own, with a recording proxy (tests.support.fault_proxy) in front
of each demo SCIM app so tests count and slow down the calls the workers make.

CI machines run Redis and PostgreSQL on 127.0.0.1: when either is missing the tests fail (with
the reason), they are not skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from provisioning.demo.airflow_api import AirflowApi
from provisioning.demo.celery_tier import CeleryTier, TierOptions, TierUnavailable
from provisioning.demo.scim_server import free_port
from tests.conftest import REPO, ScimApp
from tests.integration.cycle_helpers import Harness
from tests.support.fault_proxy import FaultProxy

REDIS_DB = 6  # make run-distributed uses 5
DAGS = ("provision_demo_wiki", "provision_demo_crm")


@dataclass
class Tier:
    celery: CeleryTier
    apps: dict[str, ScimApp]  # by app name: the server, and the proxy the workers call
    harness: Harness  # SQL on the tier's directory (the scope oracles) and its state store

    @property
    def api(self) -> AirflowApi:
        return self.celery.api


@pytest.fixture(scope="module")
def tier(tmp_path_factory) -> Iterator[Tier]:
    proxies: dict[str, FaultProxy] = {}

    def front(conn_id: str, url: str) -> str:
        proxies[conn_id] = FaultProxy(url).start()
        return proxies[conn_id].url

    run = uuid.uuid4().hex[:8]
    options = TierOptions(
        project=REPO,
        home=tmp_path_factory.mktemp("celery-tier"),
        api_port=free_port(),
        redis_db=REDIS_DB,
        airflow_db=f"airflow_tier_{run}",
        state_db=f"provisioning_tier_{run}",
        directory_users=300,
        fixed_scim_ports=False,
        # runs only when a test triggers one; a failed task is retried after 5 s
        app_overrides={"schedule": None, "retry_delay": "5s"},
        keep_databases=False,
    )
    celery = CeleryTier(options, front=front)
    try:
        try:
            celery.start()
        except TierUnavailable as exc:
            pytest.fail(f"the Celery tier did not start: {exc}")
        apps = {
            conn_id.removeprefix("scim_"): ScimApp(server, proxies[conn_id], server.token)
            for conn_id, server in celery.servers.items()
        }
        yield Tier(celery, apps, Harness(celery.directory, apps["demo_wiki"], celery.state_url))
    finally:
        celery.stop()
        for proxy in proxies.values():
            proxy.stop()


@pytest.fixture(scope="module")
def first_cycle(tier: Tier) -> dict[str, str]:
    """Both demo DAGs triggered together and run to the end: their run ids by DAG id."""
    runs = {dag_id: tier.api.trigger(dag_id) for dag_id in DAGS}
    for dag_id, run_id in runs.items():
        tier.api.wait_for_run(dag_id, run_id)
    return runs
