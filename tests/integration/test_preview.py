"""Provision-on-demand preview against a real SCIM server: the steps, and nothing written."""

import pytest

from provisioning.config.scoping import ScopingClause, ScopingFilterConfig
from provisioning.cycle.preview import PreviewError, preview, render
from tests.integration.cycle_helpers import Harness


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    return Harness(directory_db, scim_app, tmp_path / "state.db")


def test_a_new_user_would_be_created_and_nothing_is_written(harness):
    upn = harness.expected_wiki_users().index[0]
    report = preview(harness.context("preview"), upn.upper())  # userPrincipalName, any case
    assert report["assignment"]["assigned"]
    assert report["assignment"]["via_groups"] == ["g-division-tech"]  # assigned; reaches the user nested
    assert report["in_scope"] and report["attributes"]["userName"] == upn
    assert report["matching"] == {"outcome": "no existing account"}
    assert report["action"]["action"] == "create"
    assert {"path": "userName", "old": None, "new": upn} in report["action"]["modified"]
    assert harness.scim_app.proxy.writes() == [] and harness.store.log("demo_wiki") == []
    text = render(report)
    assert "1. Assignment" in text and "5. Action: create" in text and f"userName = '{upn}'" in text


def test_an_existing_account_would_be_linked_and_a_linked_user_needs_nothing(harness):
    from provisioning.connectors.scim.client import ScimClient

    upn = harness.expected_wiki_users().index[1]
    with ScimClient(harness.scim_app.server.url, harness.scim_app.token) as client:
        existing = client.create_resource(
            "user", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": upn}
        )
    report = preview(harness.context("preview"), upn)
    assert report["matching"] == {"outcome": "matched", "target_id": existing["id"], "matched_by": "userName"}
    assert report["action"]["action"] == "update (link the existing account)"
    harness.cycle()
    report = preview(harness.context("preview"), upn)
    assert report["matching"] == {"outcome": "linked", "target_id": existing["id"]}
    assert report["action"] == {"action": "none", "reason": "nothing changed"}


def test_scoping_clauses_are_traced(harness):
    users = harness.config.users
    harness.config = harness.config.model_copy(
        update={
            "users": users.model_copy(
                update={
                    "scoping": [
                        ScopingFilterConfig(
                            name="sales only",
                            clauses=[
                                ScopingClause(attribute="department", operator="EQUALS", value="Sales"),
                                ScopingClause(attribute="jobTitle", operator="IS NOT NULL"),
                            ],
                        )
                    ]
                }
            )
        }
    )
    upn = harness.expected_wiki_users().index[0]
    report = preview(harness.context("preview"), upn)
    assert report["scoping"] == [
        {
            "filter": "sales only",
            "passes": False,
            "clauses": [
                {"clause": "department EQUALS 'Sales'", "result": False},
                {"clause": "jobTitle IS NOT NULL", "result": True},
            ],
        }
    ]
    assert not report["in_scope"] and report["out_of_scope_reason"] == "outside the scoping filters"
    assert report["action"] == {"action": "none", "reason": "not in scope"}
    assert "FAIL  department EQUALS 'Sales'" in render(report)


def test_an_unknown_user_is_an_error(harness):
    with pytest.raises(PreviewError, match="no directory user with id or userPrincipalName 'nobody'"):
        preview(harness.context("preview"), "nobody")
