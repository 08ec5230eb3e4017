"""``target.profile``: a preset by name, a preset with overrides, or settings alone; the presets'
documented numbers; what a profile rules out elsewhere in the config, named at the field to fix;
and the connector obeying the profile without sending a request (member PATCH sizes, filters,
DELETE). Full cycles against an app that behaves as each preset are in
tests/integration/test_scim_profiles.py."""

import pytest

from provisioning.config import load_app_config
from provisioning.config.scim_profile import PRESETS, ScimProfile
from provisioning.connectors.errors import QueryRefused, Rejected
from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.connector import ScimConnector, client_options
from tests.unit.config.test_loader import GOOD, problems, write

TARGET = "{conn_id: scim_x}"


def with_profile(profile: str, extra: str = "") -> str:
    return GOOD.replace(TARGET, f"{{conn_id: scim_x, profile: {profile}{extra}}}")


def test_no_profile_is_standard_scim(tmp_path):
    config = load_app_config(write(tmp_path, GOOD))
    assert config.target.profile is None
    assert config.target.requests_per_second is None and config.target.page_size == 200
    assert client_options(None) == {}


def test_the_presets_hold_their_apps_documented_limits():
    aws = ScimProfile.model_validate({"preset": "aws_identity_center"})
    assert (aws.filter_operators, aws.max_members_per_patch, aws.paging) == (["eq", "and"], 100, "cursor")
    assert not aws.group_reads_members and not aws.member_replace and aws.max_page_size == 100
    github = ScimProfile.model_validate({"preset": "github_emu"})
    assert not github.delete_allowed and github.users_before_groups
    assert "User-Agent" in github.headers and github.requests_per_second == pytest.approx(1000 / 3600, 0.05)
    slack = ScimProfile.model_validate({"preset": "slack"})
    assert slack.requests_per_second == 3.0  # 180 writes a minute per Users endpoint
    salesforce = ScimProfile.model_validate({"preset": "salesforce"})
    assert salesforce.service_provider_config_path == "/ServiceProviderConfigs"
    assert "entitlements" in salesforce.required_on_create["user"]
    assert set(PRESETS) == {"aws_identity_center", "github_emu", "slack", "salesforce"}


def test_a_preset_by_name_sets_the_targets_rate_and_page_size(tmp_path):
    config = load_app_config(write(tmp_path, with_profile("slack")))
    assert config.target.profile.preset == "slack" and config.target.requests_per_second == 3.0
    aws = GOOD.replace(TARGET, "{conn_id: scim_x, profile: aws_identity_center}")
    aws = aws.replace(
        "    - {target: userType, value: Employee}\n",
        "    - {target: displayName, source: displayName}\n"
        "    - {target: name.givenName, source: givenName}\n"
        "    - {target: name.familyName, source: surname}\n",
    )
    assert load_app_config(write(tmp_path, aws)).target.page_size == 100


def test_overrides_win_and_a_written_rate_wins_over_the_presets(tmp_path):
    text = with_profile("{preset: slack, max_members_per_patch: 50, headers: {X-Team: t1}}")
    profile = load_app_config(write(tmp_path, text)).target.profile
    assert profile.max_members_per_patch == 50 and profile.headers == {"X-Team": "t1"}
    assert profile.requests_per_second == 3.0  # the rest of the preset stays
    text = GOOD.replace(TARGET, "{conn_id: scim_x, requests_per_second: 1.5, profile: slack}")
    assert load_app_config(write(tmp_path, text)).target.requests_per_second == 1.5
    alone = load_app_config(write(tmp_path, with_profile("{paging: cursor}"))).target.profile
    assert alone.preset is None and alone.paging == "cursor" and alone.delete_allowed


@pytest.mark.parametrize(
    ("profile", "field", "message"),
    [
        ("carrier_pigeon", "target.profile", "unknown SCIM profile preset 'carrier_pigeon' (known presets: "),
        ("{preset: slack, max_members_per_patch: 0}", "target.profile.max_members_per_patch", "greater than"),
        ("{preset: slack, paging: scroll}", "target.profile.paging", "'index', 'cursor' or 'none'"),
        ("{preset: slack, colour: red}", "target.profile.colour", "unknown setting"),
        ("{headers: {Authorization: x}}", "target.profile.headers", "set by the SCIM client itself"),
        (
            "{service_provider_config_path: spc}",
            "target.profile.service_provider_config_path",
            "starting with",
        ),
        ("{users_before_groups: false}", "target.profile.users_before_groups", "always applies users"),
        ("{update_method: put, group_reads_members: false}", "target.profile", "would empty the group"),
    ],
)
def test_a_bad_profile_is_named_at_its_field(tmp_path, profile, field, message):
    found = dict(problems(write(tmp_path, with_profile(profile))))
    assert message in found[field], found


def test_attributes_the_app_requires_on_create_must_be_mapped(tmp_path):
    found = problems(write(tmp_path, with_profile("salesforce")))
    assert found == [
        (
            "users.mappings",
            "app 'acme' (SCIM profile salesforce) requires 'name.familyName' when a user is created: map it "
            "(a constant value will do)",
        ),
        (
            "users.mappings",
            "app 'acme' (SCIM profile salesforce) requires 'entitlements' when a user is created: map it "
            "(a constant value will do)",
        ),
    ]
    text = with_profile("salesforce").replace(
        "    - {target: userType, value: Employee}\n",
        "    - {target: name.familyName, source: surname}\n"
        "    - {target: 'entitlements[type eq \"profile\"].value', value: 00e000000000001}\n",
    )
    assert load_app_config(write(tmp_path, text)).target.profile.preset == "salesforce"


def test_deletes_and_member_replaces_the_app_refuses_are_config_errors(tmp_path):
    text = with_profile("github_emu").replace(
        "    - {target: userType, value: Employee}\n",
        "    - {target: externalId, source: id}\n    - {target: displayName, source: displayName}\n",
    )
    text += "  actions: [create, update, disable, delete]\n  deprovision: {action: delete}\n"
    found = dict(problems(write(tmp_path, text)))
    assert set(found) == {"users.actions", "users.deprovision.action"}
    assert "does not allow DELETE of users" in found["users.deprovision.action"]
    text = with_profile("{member_replace: false, max_page_size: 50}", ", page_size: 80")
    text += (
        "groups:\n  matching: [{target: displayName}]\n"
        "  mappings: [{target: displayName, source: displayName}]\n"
        "  members: {removal: replace}\n"
    )
    found = dict(problems(write(tmp_path, text)))
    assert "refuses replacing a group's members" in found["groups.members.removal"]
    assert "at most 50 resources a page" in found["target.page_size"]
    found = dict(
        problems(write(tmp_path, text.replace("member_replace: false", "max_members_per_patch: 100")))
    )
    assert "at most 100 members a PATCH: a replace in several PATCHes" in found["groups.members.removal"]


def connector(profile: dict, sent: list) -> ScimConnector:
    """A connector whose client records what it would send instead of sending it."""
    shaped = ScimProfile.model_validate(profile)
    client = ScimClient("http://127.0.0.1:9", "t", **client_options(shaped))
    client.patch_resource = lambda kind, rid, body, hidden=(): sent.append(body)  # no app here
    return ScimConnector(client, {"user": ["userName", 'emails[type eq "work"].value']}, profile=shaped)


def test_member_changes_go_in_patches_of_the_apps_limit():
    sent: list = []
    members = [f"u{i}" for i in range(250)]
    aws = connector({"preset": "aws_identity_center"}, sent)
    aws.add_members("g", members)
    assert [len(body["Operations"][0]["value"]) for body in sent] == [100, 100, 50]
    sent.clear()
    aws.remove_members("g", members[:150])
    assert [len(body["Operations"]) for body in sent] == [100, 50]  # one path per member (rfc)
    sent.clear()
    standard = connector({}, sent)
    standard.replace_members("g", members)
    assert len(sent) == 1 and sent[0]["Operations"][0]["op"] == "replace"
    sent.clear()
    # a replace larger than the cap is never sent in parts (the later parts' members would be out
    # of the group meanwhile): the missing ones are added, then the strangers removed
    capped = connector({"max_members_per_patch": 100}, sent)
    held = [{"value": m} for m in [*members[:50], "stranger-1", "stranger-2"]]
    capped.client.get_resource = lambda kind, rid: {"id": rid, "members": held}
    capped.replace_members("g", members)
    assert [(b["Operations"][0]["op"], len(b["Operations"])) for b in sent] == [
        ("add", 1),
        ("add", 1),
        ("remove", 2),
    ]
    assert [len(b["Operations"][0]["value"]) for b in sent[:2]] == [100, 100]
    assert {op["path"] for op in sent[2]["Operations"]} == {
        'members[value eq "stranger-1"]',
        'members[value eq "stranger-2"]',
    }


def test_a_filter_or_a_delete_the_app_refuses_is_not_sent():
    sent: list = []
    aws = connector({"preset": "aws_identity_center"}, sent)
    with pytest.raises(QueryRefused) as info:
        aws.find("user", 'emails[type eq "work"].value', "a@example.com")  # no request: port 9 is closed
    assert info.value.attribute == "emails.value"
    github = connector({"preset": "github_emu"}, sent)
    with pytest.raises(Rejected, match="does not allow deleting users"):
        github.delete("user", "u1")
    assert connector({"filter_operators": ["pr"]}, sent).profile.filterable("user", "userName") is False


def test_the_airflow_hook_opens_the_app_with_its_profile(monkeypatch, tmp_path):
    """As the DAG opens it: the profile's headers, paging, ServiceProviderConfig path, page cap and
    rate reach the client, the profile the connector."""
    from provisioning.connectors.scim.hook import open_scim_connector
    from tests.conftest import connection_env

    fields = {"conn_type": "scim", "host": "https://crm.example.com/scim/v2", "password": "t0k"}
    monkeypatch.setenv(*connection_env("scim_x", **fields, extra={}))
    text = with_profile("{preset: salesforce, headers: {User-Agent: acme}, requests_per_second: 4}")
    text = text.replace(
        "    - {target: userType, value: Employee}\n",
        "    - {target: name.familyName, source: surname}\n"
        "    - {target: 'entitlements[type eq \"profile\"].value', value: 00e000000000001}\n",
    )
    opened = open_scim_connector(load_app_config(write(tmp_path, text)))
    client = opened.client
    assert opened.profile.preset == "salesforce"
    assert client._headers["User-Agent"] == "acme" and client._headers["Authorization"] == "Bearer t0k"
    assert client.service_provider_config_path == "/ServiceProviderConfigs"
    assert (client.paging, client.max_page_size, client.throttle.cap) == ("index", 200, 4)
    opened.close()


def test_members_are_unknown_only_when_the_app_cannot_show_them():
    """An empty group is a group without members; a group whose app never shows members, or read
    without them, has unknown members (None), which the cycle never takes for empty."""
    group = {"id": "g1", "displayName": "g"}
    standard, aws = connector({}, []), connector({"preset": "aws_identity_center"}, [])
    assert standard.record("group", group, with_members=True).members == []
    assert standard.record("group", {**group, "members": [{"value": "u1"}]}, True).members == ["u1"]
    assert standard.record("group", group).members is None
    assert aws.record("group", {**group, "members": [{"value": "u1"}]}, with_members=True).members is None
