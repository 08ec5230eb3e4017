"""One object's failing lookup is that object's: match goes on for everyone else, a filter the app
refuses falls back to the next rule and is not asked again (real scim2-server behind the fault
proxy, real SQLite state store)."""

from collections import Counter
from urllib.parse import unquote_plus

import pytest

from provisioning.cycle.options import RunOptions
from tests.integration.cycle_helpers import Harness
from tests.support.fault_proxy import Fault

APP = "demo_wiki"
INVALID_FILTER = (
    b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400",'
    b'"scimType":"invalidFilter","detail":"emails.value is not filterable"}'
)
EMAIL_FILTER = "filter=emails.value eq"


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    harness.cycle()  # every in-scope user has an account and a link
    return harness


def forget_links(harness: Harness, count: int, skip: int = 0) -> dict[str, tuple[str, str]]:
    """Lose some links (a restored state store): source id -> (userName, the account's id)."""
    names = {a["id"]: a["userName"] for a in harness.scim_app.users()}
    links = sorted(harness.store.links(APP).items())[skip : skip + count]
    harness.store.delete_links(APP, "user", [s for s, _ in links])
    return {s: (names[link.target_id], link.target_id) for s, link in links}


def assert_relinked(harness: Harness, lost: dict[str, tuple[str, str]]) -> None:
    links = harness.store.links(APP)
    assert {s: links[s].target_id for s in lost if s in links} == {s: t for s, (_, t) in lost.items()}


def assert_no_duplicates(harness: Harness) -> None:
    counts = Counter(a["userName"] for a in harness.scim_app.users())
    assert set(counts) == set(harness.expected_wiki_users().index) and max(counts.values()) == 1


def log_rows(harness: Harness, cycle: str, code: str) -> list[dict]:
    return [r for r in harness.store.log(APP, cycle) if r["error_code"] == code]


def test_a_refused_filter_falls_back_to_the_next_rule_and_is_not_asked_again(harness):
    users = harness.raw("users")
    users["matching"] = [{"target": 'emails[type eq "work"].value'}, {"target": "userName"}]
    harness.configure(users=users)
    harness.scim_app.proxy.inject(Fault(400, body=INVALID_FILTER, path_contains=EMAIL_FILTER), times=100)
    lost = forget_links(harness, 5)
    harness.scim_app.proxy.reset()

    result = harness.cycle()

    assert result["match"]["matched"] == 5 and result["match"]["lookup"] == "filter"
    assert result["report"]["status"] == "succeeded"
    assert_relinked(harness, lost)
    assert_no_duplicates(harness)
    asked = [r for r in harness.scim_app.proxy.requests if EMAIL_FILTER in r.path.replace("+", " ")]
    assert len(asked) == 1  # the first lookup learnt it; the other four went straight to userName
    (note,) = log_rows(harness, "cycle-2", "FilterRefused")
    assert note["status"] == "skipped" and note["action"] == "note"
    assert "the app refuses filters on emails.value" in note["error_message"]
    assert "scimType=invalidFilter" in note["error_message"]

    # the next cycle remembers: no emails filter at all, no new note
    lost = forget_links(harness, 3, skip=10)
    harness.scim_app.proxy.reset()
    result = harness.cycle()
    assert result["match"]["matched"] == 3
    assert_relinked(harness, lost)
    assert_no_duplicates(harness)
    assert not [r for r in harness.scim_app.proxy.requests if "emails.value" in r.path.replace("+", " ")]
    assert log_rows(harness, "cycle-3", "FilterRefused") == []


def test_a_failing_lookup_fails_only_its_object(harness):
    lost = forget_links(harness, 4)
    (rejected, _), (unavailable, _) = list(lost.values())[:2]
    # one value the app rejects outright, one lookup that stays 503 through every retry (3 tries)
    harness.scim_app.proxy.inject(
        Fault(
            400,
            body=b'{"status":"400","scimType":"invalidValue","detail":"bad value"}',
            path_contains=f'userName eq "{rejected}"',
        )
    )
    harness.scim_app.proxy.inject(Fault(503, path_contains=f'userName eq "{unavailable}"'), times=3)
    leaver = sorted(set(harness.expected_wiki_users().index) - {n for n, _ in lost.values()})[0]
    harness.sql("update users set accountEnabled = 0 where userPrincipalName = :u", u=leaver)

    result = harness.cycle()

    assert result["match"]["matched"] == 2 and result["match"]["conflicts"] == 2
    failed = {r["source_display"]: r for r in log_rows(harness, "cycle-2", "LookupFailed")}
    assert set(failed) == {rejected, unavailable}
    assert all(r["status"] == "skipped" and r["action"] == "skip" for r in failed.values())
    assert "looking the user up in the app failed" in failed[rejected]["error_message"]
    assert "status=400 scimType=invalidValue" in failed[rejected]["error_message"]
    assert "status=503" in failed[unavailable]["error_message"]
    # the rest of the cycle went on: the others relinked, the leaver disabled, nothing duplicated
    links = harness.store.links(APP)
    assert {s for s in lost if s in links} == set(list(lost)[2:])
    accounts = harness.scim_app.by_username()
    assert accounts[leaver]["active"] is False
    assert Counter(a["userName"] for a in harness.scim_app.users()).most_common(1)[0][1] == 1
    assert result["report"]["status"] == "succeeded"

    # both wait in escrow: the transient failure is retried next cycle, the rejected value in 6 h
    escrow = harness.store.escrow(APP)
    assert {escrow[k]["display"] for k in escrow} == {rejected, unavailable}
    assert "escrow: failure 1, retried not before" in failed[rejected]["error_message"]
    assert "escrow: failure 1, retried next cycle" in failed[unavailable]["error_message"]
    harness.scim_app.proxy.reset()
    result = harness.cycle()
    assert result["match"]["matched"] == 1
    (waiting,) = log_rows(harness, "cycle-3", "LookupFailed")
    assert (
        waiting["source_display"] == rejected and "in escrow, retried not before" in waiting["error_message"]
    )
    assert not any(
        f'userName eq "{rejected}"' in unquote_plus(r.path) for r in harness.scim_app.proxy.requests
    )
    assert list(harness.store.escrow(APP)) == [
        ("user", next(s for s, (n, _) in lost.items() if n == rejected))
    ]

    # the operator releases escrow: found and linked, not created again
    harness.options = RunOptions(restart="escrow", triggered_by="erin")
    result = harness.cycle()
    assert result["match"]["matched"] == 1 and harness.store.escrow(APP) == {}
    assert_relinked(harness, lost)
    assert Counter(a["userName"] for a in harness.scim_app.users()).most_common(1)[0][1] == 1
