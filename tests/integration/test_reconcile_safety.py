"""Links are never dropped on the strength of a listing alone, paging survives lying servers, and
a create whose outcome is unknown is looked up before it is sent again (real scim2-server behind
the fault proxy, real SQLite state store)."""

from collections import Counter

import pytest
import yaml

from provisioning.config.errors import ConfigError
from provisioning.config.loader import DEFAULT_APPS_DIR, load_app_config
from provisioning.connectors.scim.client import ScimClient
from provisioning.cycle.options import RunOptions
from provisioning.cycle.reconcile import ListingTooShort
from tests.integration.cycle_helpers import Harness
from tests.support.fault_proxy import Fault, ListingLies

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
APP = "demo_wiki"


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    return Harness(directory_db, scim_app, tmp_path / "state.db")


def behind_our_back(harness: Harness) -> ScimClient:
    """Someone editing the app directly (not through the proxy)."""
    return ScimClient(harness.scim_app.server.url, harness.scim_app.token)


def deactivate(harness: Harness, user_names: list[str]) -> None:
    accounts = harness.scim_app.by_username()
    with behind_our_back(harness) as client:
        for name in user_names:
            client.patch_resource(
                "user",
                accounts[name]["id"],
                {"Operations": [{"op": "replace", "path": "active", "value": False}]},
            )


def targets(harness: Harness) -> dict[str, str]:
    return {s: link.target_id for s, link in harness.store.links(APP).items()}


def notes(harness: Harness, cycle: str, code: str) -> dict[str, str]:
    return {
        r["source_display"]: r["error_message"]
        for r in harness.store.log(APP, cycle)
        if r["action"] == "note" and r["error_code"] == code
    }


def test_accounts_the_listing_hides_are_read_by_id_and_keep_their_links(harness):
    harness.cycle()
    before = targets(harness)
    names = sorted(harness.scim_app.by_username())
    hidden, deleted = names[:8], names[8:10]
    deactivate(harness, hidden)
    with behind_our_back(harness) as client:
        for name in deleted:
            client.delete_resource("user", harness.scim_app.by_username()[name]["id"])
    harness.scim_app.proxy.listing = ListingLies(hide_inactive=True)  # listings and filters alike
    harness.options = RunOptions(full_reconcile=True)

    result = harness.cycle()

    accounts = harness.scim_app.users()
    counts = Counter(a["userName"] for a in accounts)
    assert set(counts) == set(harness.expected_wiki_users().index) and max(counts.values()) == 1
    by_name = {a["userName"]: a for a in accounts}
    assert all(by_name[name]["active"] is True for name in hidden)  # the drift corrected, same accounts
    after = targets(harness)
    assert set(after) == set(before)
    moved = {s for s in before if after[s] != before[s]}
    assert {by_name[n]["id"] for n in deleted} == {after[s] for s in moved} and len(moved) == 2
    reconciled = result["match"]["reconcile"]
    assert reconciled["read_by_id"] == 8 and reconciled["missing"] == 2
    kept = notes(harness, "cycle-2", "MissingInListing")
    assert set(kept) == set(hidden)
    assert all(
        "missing from the listing but exists (read by id); the link is kept" in n for n in kept.values()
    )
    gone = notes(harness, "cycle-2", "MissingInApp")
    assert set(gone) == set(deleted)
    assert all("gone from the app (404 when read by id); the link is dropped" in n for n in gone.values())
    assert result["report"]["status"] == "succeeded"


def test_a_listing_far_shorter_than_the_links_is_refused_before_anything_is_dropped(harness):
    harness.cycle()
    before = targets(harness)
    names = sorted(harness.scim_app.by_username())
    deactivate(harness, names[:60])
    harness.scim_app.proxy.listing = ListingLies(hide_inactive=True)
    harness.options = RunOptions(full_reconcile=True)
    harness.scim_app.proxy.reset()

    result = harness.cycle_tolerant()

    error = result["match"]
    assert isinstance(error, ListingTooShort)
    shown = len(names) - 60
    assert (
        f"full reconcile refused: the app listed {shown} users, {shown} of the {len(before)} linked ones"
        in str(error)
    )
    assert "No link was dropped" in str(error)
    assert targets(harness) == before
    assert harness.scim_app.proxy.writes() == []
    assert sorted(harness.scim_app.by_username()) == names
    assert result["report"]["status"] == "failed" and "full reconcile refused" in result["report"]["error"]
    assert notes(harness, "cycle-2", "MissingInApp") == {}


@pytest.mark.parametrize(
    ("lies", "pages"),
    [
        (ListingLies(total_results=5), 4),  # says 5, holds 23: full pages go on, the short one ends it
        (ListingLies(max_page=5), 5),  # the server serves 5 a page whatever we ask: the total goes on
        (ListingLies(max_page=5, total_results=1000), 6),  # short pages and a high total: until empty
    ],
    ids=["total-too-low", "server-caps-pages", "total-too-high"],
)
def test_paging_reads_every_account_whatever_the_total_says(scim_app, lies, pages):
    with ScimClient(scim_app.url, scim_app.token, page_size=7) as client:
        for i in range(23):
            client.create_resource("user", {"schemas": [USER_SCHEMA], "userName": f"user{i:02d}"})
        client.effective_page_size()
        scim_app.proxy.listing = lies
        scim_app.proxy.reset()
        names = [u["userName"] for u in client.list_resources("user")]
    assert sorted(names) == [f"user{i:02d}" for i in range(23)]
    assert scim_app.proxy.count("GET") == pages


def test_a_server_that_repeats_its_first_page_ends_the_listing_without_duplicates(scim_app):
    with ScimClient(scim_app.url, scim_app.token, page_size=7) as client:
        for i in range(23):
            client.create_resource("user", {"schemas": [USER_SCHEMA], "userName": f"user{i:02d}"})
        client.effective_page_size()
        scim_app.proxy.listing = ListingLies(ignore_start_index=True, total_results=10_000)
        scim_app.proxy.reset()
        ids = [u["id"] for u in client.list_resources("user")]
    assert len(ids) == len(set(ids)) == 7
    assert scim_app.proxy.count("GET") == 2  # the second page brought no new id


def test_a_page_size_below_one_is_refused_with_a_clear_error(tmp_path, scim_app):
    raw = yaml.safe_load((DEFAULT_APPS_DIR / f"{APP}.yaml").read_text())
    raw["target"]["page_size"] = 0
    path = tmp_path / f"{APP}.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_app_config(path)
    assert "target.page_size: Input should be greater than or equal to 1" in str(info.value)
    # the connection's extras bypass the config: the client refuses too, rather than list nothing
    with pytest.raises(ValueError, match="page_size must be at least 1, got -3"):
        ScimClient(scim_app.url, scim_app.token, page_size=-3)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(503, methods=("POST",), after_upstream=True),
        Fault(504, methods=("POST",), after_upstream=True),
        Fault(0, methods=("POST",), after_upstream=True, drop=True),  # reset after sending
    ],
    ids=["503", "504", "reset"],
)
def test_a_create_with_unknown_outcome_is_looked_up_before_it_is_sent_again(harness, fault):
    harness.scim_app.proxy.inject(fault, times=3)

    result = harness.cycle()

    assert result["report"]["status"] == "succeeded"
    counts = Counter(a["userName"] for a in harness.scim_app.users())
    assert set(counts) == set(harness.expected_wiki_users().index) and max(counts.values()) == 1
    # each failed POST is followed by a lookup that finds the account: never a second POST for it
    assert harness.scim_app.proxy.count("POST") == len(counts)
    assert harness.scim_app.proxy.count("POST", 409) == 0
    linked = [r for r in harness.store.log(APP, "cycle-1") if "request failed" in (r["detail"] or "")]
    assert len(linked) == 3 and all(r["status"] == "success" and r["target_id"] for r in linked)
    assert set(targets(harness).values()) == {a["id"] for a in harness.scim_app.users()}
