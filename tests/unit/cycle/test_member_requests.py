"""The PATCH bodies each member-removal style sends, from the executor through the SCIM connector.
A recording stand-in for the SCIM client is used
because the one real SCIM server available here (scim2-server) rejects the Entra style, which
real apps built for Entra expect; the RFC and replace styles are exercised against the real
server in tests/integration/test_groups.py."""

import pytest

from provisioning.connectors.scim.connector import ScimConnector
from provisioning.cycle.executors import AppIds, execute
from provisioning.engine.outbox import OutboxRow

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class RecordingClient:
    endpoint = "http://127.0.0.1:1/scim"

    def __init__(self):
        self.patches = []

    def patch_resource(self, kind, resource_id, patch):
        self.patches.append((kind, resource_id, patch))


def connector(client: RecordingClient, style: str = "rfc") -> ScimConnector:
    return ScimConnector(client, {}, style)


def row(action, members):
    return OutboxRow(
        change_id="c1",
        object_type="membership",
        source_id="g1",
        display="G1",
        target_id=None,
        action=action,
        payload={"members": members},
        attributes={},
        active=True,
        modified=[],
        reason=None,
        status="pending",
        attempts=0,
    )


IDS = AppIds(users={"u1": "a1", "u2": "a2"}, groups={"g1": "app-g1"})


@pytest.mark.parametrize(
    ("style", "operations"),
    [
        (
            "rfc",
            [
                {"op": "remove", "path": 'members[value eq "a1"]'},
                {"op": "remove", "path": 'members[value eq "a\\"2"]'},
            ],
        ),
        ("entra", [{"op": "remove", "path": "members", "value": [{"value": "a1"}, {"value": 'a"2'}]}]),
    ],
)
def test_removal_styles(style, operations):
    app = RecordingClient()
    outcome = execute(None, connector(app, style), row("remove_members", [["u1", "a1"], ["u2", 'a"2']]), IDS)
    assert outcome.status == "succeeded"
    assert app.patches == [("group", "app-g1", {"schemas": [PATCH], "Operations": operations})]


def test_adds_resolve_members_created_this_cycle_and_leave_out_the_rest():
    app = RecordingClient()
    outcome = execute(None, connector(app), row("add_members", ["u1", "u2", "u3"]), IDS)
    assert app.patches[0][2]["Operations"] == [
        {"op": "add", "path": "members", "value": [{"value": "a1"}, {"value": "a2"}]}
    ]
    assert outcome.members == [["u1", "a1"], ["u2", "a2"]]
    assert outcome.detail == "1 member(s) not provisioned yet: added in a later cycle"


def test_members_of_a_group_that_was_never_created_fail_clearly():
    outcome = execute(None, connector(RecordingClient()), row("add_members", ["u1"]), AppIds(users=IDS.users))
    assert outcome.status == "failed" and outcome.error_code == "GroupNotProvisioned"
