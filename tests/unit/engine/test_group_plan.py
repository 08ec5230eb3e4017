from provisioning.config.mappings import DirectMapping
from provisioning.connectors.scim.paths import GROUP_SCHEMA
from provisioning.engine.desired_groups import DesiredGroup
from provisioning.engine.group_plan import plan_groups
from provisioning.engine.mapping import compile_mappings
from provisioning.engine.plan import LinkState
from tests.support.scim_requests import scim_paths, scim_request

CONFIG = [
    DirectMapping(target="displayName", source="displayName"),
    DirectMapping(target="externalId", source="id"),
]
MAPPINGS = compile_mappings(CONFIG)
PATHS = scim_paths(CONFIG, "group")


def group(source_id, members=(), name=None, in_scope=True):
    attrs = {"displayName": name or f"G {source_id}", "externalId": source_id} if in_scope else {}
    return DesiredGroup(
        source_id, name or source_id, in_scope, None if in_scope else "gone", attrs, None, list(members)
    )


def link(source_id, name=None):
    return LinkState(
        f"app-{source_id}", {"displayName": name or f"G {source_id}", "externalId": source_id}, True
    )


def plan(groups, links=None, applied=None, provisioned=(), **options):
    settings = {"on_leave_scope": "keep", "batch_size": 2, "removal": "rfc", **options}
    return plan_groups(groups, links or {}, applied or {}, set(provisioned), MAPPINGS, PATHS, **settings)


def test_a_new_group_is_created_then_filled_in_batches_of_provisioned_members():
    result = plan([group("g1", ["u1", "u2", "u3", "u9"])], provisioned={"u1", "u2", "u3"})
    create, *batches = result.actions
    assert create.action == "create" and create.object_type == "group"
    assert scim_request(create) == {"schemas": [GROUP_SCHEMA], "displayName": "G g1", "externalId": "g1"}
    assert [(a.action, a.payload["members"]) for a in batches] == [
        ("add_members", ["u1", "u2"]),
        ("add_members", ["u3"]),
    ]
    assert all(a.object_type == "membership" and a.phase == 2 for a in batches)
    (note,) = result.notes
    assert (
        note[2] == "MembersNotProvisioned"
        and note[3].startswith("1 member(s) have no account")
        and "u9" in note[3]
    )


def test_renames_and_member_changes_against_what_was_applied():
    result = plan(
        [group("g1", ["u1", "u3"], name="Renamed")],
        links={"g1": link("g1")},
        applied={"g1": {"u1": "a1", "u2": "a2"}},
        provisioned={"u1", "u2", "u3"},
    )
    update, add, remove = result.actions
    assert update.action == "update" and scim_request(update)["Operations"] == [
        {"op": "replace", "path": "displayName", "value": "Renamed"}
    ]
    assert add.payload["members"] == ["u3"] and remove.payload["members"] == [["u2", "a2"]]


def test_nothing_changed_is_no_action_and_no_note_every_cycle():
    result = plan(
        [group("g1", ["u1", "u9"])],
        links={"g1": link("g1")},
        applied={"g1": {"u1": "a1"}},
        provisioned={"u1"},
    )
    assert result.actions == [] and result.notes == [] and result.unchanged == 1


def test_replace_style_sends_the_whole_list_once():
    result = plan(
        [group("g1", ["u1", "u2", "u3"])],
        links={"g1": link("g1")},
        applied={"g1": {"u1": "a1", "u4": "a4"}},
        provisioned={"u1", "u2", "u3"},
        removal="replace",
    )
    (replace,) = result.actions
    assert replace.action == "replace_members" and replace.payload["members"] == ["u1", "u2", "u3"]


def test_groups_leaving_scope_are_kept_or_deleted():
    groups = [group("g1", in_scope=False)]
    links = {"g1": link("g1"), "g2": link("g2")}  # g2 is gone from the directory
    assert plan(groups, links=links).actions == []
    deleted = plan(groups, links=links, on_leave_scope="delete").actions
    assert [(a.action, a.source_id, a.target_id) for a in deleted] == [
        ("delete", "g1", "app-g1"),
        ("delete", "g2", "app-g2"),
    ]


def test_a_group_without_display_name_is_skipped():
    result = plan([DesiredGroup("g1", "g1", True, None, {"displayName": None, "externalId": "g1"})])
    assert result.actions == [] and result.skipped == [
        ("g1", "g1", "MissingRequiredAttribute", "displayName has no value")
    ]


def test_sensitive_group_attributes_are_sent_but_never_shown():
    secret = [*CONFIG, DirectMapping(target="description", source="description", sensitive=True)]
    mappings = compile_mappings(secret)
    desired = group("g1")
    desired.attributes["description"] = "cost centre 4711"
    linked = LinkState("app-g1", {"displayName": "G g1", "externalId": "g1", "description": "old 0815"}, True)
    settings = {"on_leave_scope": "keep", "batch_size": 2, "removal": "rfc"}
    paths = scim_paths(secret, "group")
    (create,) = plan_groups([desired], {}, {}, set(), mappings, paths, **settings).actions
    (update,) = plan_groups([desired], {"g1": linked}, {}, set(), mappings, paths, **settings).actions
    assert create.payload["attributes"]["description"] == "cost centre 4711"  # the app gets the value
    assert update.payload["set"] == {"description": "cost centre 4711"}
    shown = str(create.modified_properties()) + str(update.modified_properties())
    assert "4711" not in shown and "0815" not in shown and shown.count("[redacted]") == 3
