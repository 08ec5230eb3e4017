"""Fixtures shared by the DAG-run tests."""

import pytest

from provisioning.state import StateStore
from tests.conftest import demo_config
from tests.integration.cycle_helpers import Harness


@pytest.fixture
def wiki(airflow_db, install_app, directory_db, scim_app, tmp_path):
    """The demo wiki installed as a DAG: (the SCIM app, an oracle harness, its state store)."""
    # no task retries: dag.test() would really wait out each retry delay
    install_app({**demo_config("demo_wiki"), "retries": 0}, directory=directory_db, scim=scim_app)
    oracle = Harness(directory_db, scim_app, tmp_path / "unused.db")
    store = StateStore(f"sqlite:///{tmp_path / 'state_demo_wiki.db'}")
    return scim_app, oracle, store
