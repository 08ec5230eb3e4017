"""The app's learned rate and 429 pause, shared through the state store by every partition: what
one partition learns and the pause it was asked for reach the others, scaled by their share."""

import time

import pytest
from sqlalchemy import create_engine

from provisioning.state.rate_share import StoreRateShare
from provisioning.state.schema import upgrade


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    url = (
        request.getfixturevalue("pg_database")
        if request.param == "postgres"
        else f"sqlite:///{tmp_path}/s.db"
    )
    engine = create_engine(url)
    upgrade(engine)
    return engine


def test_partitions_share_the_app_rate_scaled_by_their_share_and_the_latest_pause(engine):
    first, second = StoreRateShare(engine, "crm", clients=4), StoreRateShare(engine, "crm", clients=4)
    alone = StoreRateShare(engine, "crm")
    assert first.observe() == (None, 0.0)
    now = time.time()
    first.publish(5.0, now + 3)  # a partition learned 5 req/s of its quarter of the budget
    assert second.observe() == (5.0, now + 3)
    assert alone.observe() == (20.0, now + 3)  # the whole app, for a step that runs alone
    second.publish(None, now + 1)  # an earlier pause does not shorten the later one; no rate kept
    assert first.observe() == (5.0, now + 3)
    second.publish(4.0, now + 9)
    assert alone.observe() == (16.0, now + 9)
    assert StoreRateShare(engine, "wiki").observe() == (None, 0.0)  # per app
