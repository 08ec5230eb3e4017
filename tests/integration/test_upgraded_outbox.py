"""Actions planned by an earlier version (which stored SCIM request bodies in the outbox) and
resumed after an upgrade are not sent: each fails with a clear reason, and the next cycle plans
those objects afresh, without duplicates."""

from collections import Counter

from sqlalchemy import select, update

from provisioning.cycle import steps
from provisioning.state import tables
from tests.integration.cycle_helpers import Harness

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def test_changes_stored_by_an_earlier_version_are_not_sent_and_the_next_cycle_converges(
    directory_db, scim_app, tmp_path
):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    ctx = harness.context("cycle-1")
    for step in (steps.extract_assignments, steps.match, steps.diff):
        step(ctx)
    outbox = tables.outbox
    with harness.store.engine.begin() as conn:
        planned = conn.execute(select(outbox.c.change_id, outbox.c.attributes)).all()
        for index, (change_id, attributes) in enumerate(planned):
            conn.execute(
                update(outbox)
                .where(outbox.c.change_id == change_id)
                .values(
                    payload={"schemas": [CORE_USER], **attributes, "active": True},
                    status="in_flight" if index == 0 else "pending",  # one was out when it stopped
                )
            )
    summary = steps.apply(ctx)
    assert summary["failed"] == 0 and len(planned) > 0
    assert scim_app.users() == [] and scim_app.proxy.count("POST") == 0  # nothing sent
    log = harness.store.log("demo_wiki", "cycle-1")
    assert len(log) == len(planned)
    assert {(r["status"], r["error_code"]) for r in log} == {("skipped", "UnreadableChange")}
    assert "planned before an upgrade" in log[0]["error_message"]
    assert steps.report(ctx)["quarantine"] == {"quarantined": False}  # not the app's fault

    harness.cycles = 1
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    names = Counter(a["userName"].lower() for a in scim_app.users())
    assert set(names) == set(harness.expected_wiki_users().index)
    assert max(names.values()) == 1
