"""Provisioning through an app that rations requests: a real scim2-server behind the proxy's token
bucket, which answers 429 with Retry-After. The throttle must learn the rate from the first few
429s and then stay under it: outcomes are counted here (accounts, 429s), timings are left to
scripts/benchmark_rate_limit.py."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from provisioning.connectors.rate_share import InMemoryRateShare
from provisioning.connectors.scim.client import ScimClient
from provisioning.demo.directory import build_sqlite
from tests.integration.cycle_helpers import Harness
from tests.support.fault_proxy import RateLimit

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def assert_each_created_once(scim_app, expected: set[str]) -> None:
    names = Counter(user["userName"] for user in scim_app.users())
    assert set(names) == expected and max(names.values()) == 1


@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
def test_a_cycle_learns_the_apps_rate_and_is_seldom_refused(scim_app, tmp_path, retry_after):
    directory = tmp_path / "directory.db"
    build_sqlite(directory, users=1000, seed=5)  # the wiki gets about 300 of them
    harness = Harness(directory, scim_app, tmp_path / "state.db")
    scim_app.proxy.rate_limit = limit = RateLimit(50, retry_after=retry_after)
    result = harness.cycle()["apply"]
    assert result["failed"] == 0
    assert_each_created_once(scim_app, set(harness.expected_wiki_users().index))
    assert result.get("throttled", 0) == limit.refused
    assert 0 < limit.refused < 0.1 * (limit.accepted + limit.refused)


def test_clients_sharing_a_rate_share_are_seldom_refused_together(scim_app):
    """Two partitions of one apply, each with its own client and half the app's 8 connections,
    spending one app budget."""
    scim_app.proxy.rate_limit = limit = RateLimit(50)
    share = InMemoryRateShare()
    names = [f"user{i:03d}@x" for i in range(400)]

    def create_half(half: list[str]) -> ScimClient:
        client = ScimClient(scim_app.url, scim_app.token, max_connections=4, rate_share=share)
        with client, ThreadPoolExecutor(4) as threads:
            list(
                threads.map(
                    lambda n: client.create_resource("user", {"schemas": [USER], "userName": n}), half
                )
            )
        return client

    with ThreadPoolExecutor(2) as partitions:
        clients = list(partitions.map(create_half, [names[::2], names[1::2]]))
    assert_each_created_once(scim_app, set(names))
    assert sum(client.throttle.throttled for client in clients) == limit.refused
    assert limit.refused < 0.1 * (limit.accepted + limit.refused)
    assert all(client.throttle.learned for client in clients)  # one learned it, or both
