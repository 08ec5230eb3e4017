"""Several cycles through a fault-injecting proxy (random 5xx, 429 with and without Retry-After,
timeouts, dropped connections, malformed JSON) with directory changes in between; then the app's
actual state is compared with the desired state: equal, no duplicates.

Time passing (escrow backoff, quarantine retry) is simulated by moving the stored retry times
into the past: that is the one thing not real here. Between cycles the test waits until no
request is in flight, so that a request the client gave up on cannot land after a newer one
(a late duplicate write is healed only by reading the app back: docs/lifecycle.md).
"""

import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from provisioning.demo.directory import build_sqlite
from provisioning.state import tables
from tests.conftest import TOKEN
from tests.integration.cycle_helpers import (
    DEPARTMENTS_AND_DIVISIONS,
    Harness,
    directory_groups,
    expected_members,
    wiki_scope,
)
from tests.support.fault_proxy import ACTED_FIRST, CHAOS_KINDS, Chaos, Fault

CHAOS_CYCLES = 8
FAULT_RATE = 0.12


@pytest.fixture
def harness(scim_app, tmp_path):
    directory = tmp_path / "directory.db"
    build_sqlite(directory, users=1000, seed=5)  # the wiki gets about 300 of them
    harness = Harness(directory, scim_app, tmp_path / "state.db", timeout=3.0)
    harness.configure(groups={**DEPARTMENTS_AND_DIVISIONS})
    return harness


def let_time_pass(harness: Harness) -> None:
    """Escrowed objects and a quarantined app are due again."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with harness.store.engine.begin() as conn:
        conn.execute(update(tables.escrow).values(next_retry_at=past))
        conn.execute(update(tables.app_status).values(retry_at=past))


def planned(diff: dict) -> int:
    return sum(n for action, n in diff["counts"].items() if action != "unchanged")


def change_directory(harness: Harness, round_: int) -> None:
    """Joiners, leavers, attribute changes, membership moves and a rename, different every round."""
    harness.sql("update users set jobTitle = :t where rowid % 11 = :r", t=f"Title {round_}", r=round_ % 11)
    harness.sql("update users set accountEnabled = 1 - accountEnabled where rowid % 97 = :r", r=round_)
    harness.sql(
        "update group_members set group_id = case group_id when 'g-dept-product' then 'g-dept-design' "
        "else 'g-dept-product' end where member_type = 'user' and group_id in ('g-dept-product', "
        "'g-dept-design') and rowid % 13 = :r",
        r=round_ % 13,
    )
    harness.sql(
        "update groups set displayName = :n where id = 'g-dept-engineering'", n=f"Department Eng {round_}"
    )


def test_cycles_through_random_faults_end_in_exactly_the_desired_state(harness):
    proxy = harness.scim_app.proxy
    proxy.chaos = Chaos(rate=FAULT_RATE, seed=2026, hang_seconds=4.0)
    statuses = Counter()
    for round_ in range(CHAOS_CYCLES):
        if round_:
            change_directory(harness, round_)
        result = harness.cycle_tolerant()
        statuses[result["report"]["status"]] += 1
        proxy.wait_idle()  # requests the client gave up on have landed before the next cycle plans
        let_time_pass(harness)
    injected = dict(proxy.chaos.injected)
    proxy.chaos = None
    settle = 0
    while settle < 4:  # faults off: the next cycles catch up on whatever failed, until one has no work
        settle += 1  # (a create the faults left unsure, for someone who left meanwhile, is linked by
        result = harness.cycle_tolerant()  # one cycle and deprovisioned by the next)
        if result["report"]["status"] == "succeeded" and not planned(result["diff"]):
            break
        proxy.wait_idle()
        let_time_pass(harness)
    proxy.reset()
    final = harness.cycle()
    print(
        f"\nfault run: {CHAOS_CYCLES} cycles with faults ({dict(statuses)}), injected {injected}, "
        f"{settle} settle cycle(s), final cycle writes {len(proxy.writes())}"
    )

    assert sum(injected.values()) >= 40 and set(injected) == set(Chaos(rate=1).kinds)
    # final diff = 0: nothing left to do, nothing written
    assert planned(final["diff"]) == 0, final["diff"]["counts"]
    writes = [(r.method, r.path, r.status) for r in proxy.writes()]
    assert final["diff"]["memberships"]["requests"] == 0 and writes == [], (final["diff"], writes)
    # users: one account per person, active exactly for those in scope, attributes as the directory says
    accounts = harness.scim_app.users()
    names = Counter(a["userName"] for a in accounts)
    assert max(names.values()) == 1
    scope = wiki_scope(harness)
    assert {a["userName"] for a in accounts if a["active"]} == scope
    titles = dict(harness.rows("select userPrincipalName, jobTitle from users"))
    assert all(a.get("title") == titles[a["userName"]] for a in accounts if a["active"])
    # groups: one per directory group, current name, members exactly the provisioned members
    groups = harness.scim_app.groups()
    assert len(groups) == len(harness.scim_app.groups_list())
    for group_id, name in directory_groups(harness).items():
        assert harness.scim_app.member_names(groups[name]) == expected_members(harness, group_id), name
    assert set(groups) == set(directory_groups(harness).values())


@pytest.mark.parametrize("kind", CHAOS_KINDS)
def test_each_chaos_fault_reaches_the_app_exactly_when_it_says(scim_app_module, kind):
    """The fault run above is only as good as its faults: a refusal (500, 429) must not have reached
    the app, an "after" fault must have. (A 429 sent after the app acted once made the run's
    retried group creates look like a product bug.)"""
    scim_app = scim_app_module  # one app for every kind: each probes a group of its own name
    scim_app.proxy.chaos = Chaos(rate=1.0, kinds=(kind,), hang_seconds=0.5)
    group = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": f"probe {kind}"}
    client = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=0.2)
    with client, contextlib.suppress(httpx.HTTPError):  # dropped or timed out: the app's groups tell
        client.post(f"{scim_app.proxy.url}/Groups", json=group)
    scim_app.proxy.wait_idle()
    scim_app.proxy.chaos = None
    assert (f"probe {kind}" in scim_app.groups()) == (kind in ACTED_FIRST)


def test_apply_says_how_often_the_app_throttled_it(scim_app, directory_db, tmp_path):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    scim_app.proxy.inject(Fault(429, retry_after="0", methods=("POST",)), times=2)
    result = harness.cycle()
    assert result["apply"]["throttled"] == 2
    assert result["apply"]["failed"] == 0 and len(scim_app.users()) == len(harness.expected_wiki_users())
