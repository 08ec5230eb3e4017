"""The Synapse target's mapping targets as the config judges them, before any server exists."""

import pytest
from pydantic import ValidationError

from provisioning.config.target import SynapseTargetConfig
from provisioning.connectors.synapse.connector import _replace_email
from provisioning.connectors.synapse.errors import (
    SynapseAuthError,
    SynapseConflict,
    SynapseNotFound,
    SynapseProtocolError,
    SynapseRejected,
    SynapseTransientError,
    error_for,
)


def test_fields_are_one_word_each_whatever_their_case():
    assert SynapseTargetConfig.normalize_path(" displayName ") == "displayname"
    assert SynapseTargetConfig.path_problem("displayname") is None
    assert "is not a Synapse field" in SynapseTargetConfig.path_problem("name.givenName")
    assert SynapseTargetConfig.normalize_path("name.givenName") == "name.givenName"  # reported as is


def test_required_and_unique_fields_are_the_ids():
    assert SynapseTargetConfig.required_attribute("user")[0] == "localpart"
    assert SynapseTargetConfig.required_attribute("group")[0] == "alias"
    assert SynapseTargetConfig.unique_attributes("user") == ("localpart",)
    assert SynapseTargetConfig.attribute_path("localpart", "user").identifier
    assert SynapseTargetConfig.attribute_path("email", "user").email
    assert not SynapseTargetConfig.case_sensitive_by_default("email")
    assert SynapseTargetConfig.case_sensitive_by_default("displayname")


def test_a_group_field_on_users_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"not a Synapse user field .*localpart, displayname, email, admin"):
        SynapseTargetConfig.attribute_path("topic", "user")


@pytest.mark.parametrize(
    ("status", "errcode", "path", "expected"),
    [
        (401, "M_UNKNOWN_TOKEN", "/_matrix/client/v3/account/whoami", SynapseAuthError),
        (403, "M_FORBIDDEN", "/_synapse/admin/v2/users", SynapseAuthError),
        (403, "M_FORBIDDEN", "/_matrix/client/v3/rooms/!r/kick", SynapseRejected),  # one room's business
        (403, "M_FORBIDDEN", "/_synapse/admin/v1/join/!r", SynapseRejected),  # we are not in that room
        (404, "M_NOT_FOUND", "/_synapse/admin/v2/users/@x:y", SynapseNotFound),
        (404, "M_UNRECOGNIZED", "/_synapse/admin/v2/users/@x:y", SynapseProtocolError),  # no such endpoint
        (404, None, "/_synapse/admin/v2/users/@x:y", SynapseProtocolError),  # a proxy's HTML page
        (400, "M_ROOM_IN_USE", "/_matrix/client/v3/createRoom", SynapseConflict),
        (429, "M_LIMIT_EXCEEDED", "/_synapse/admin/v1/join/!r", SynapseTransientError),
        (502, None, "/_synapse/admin/v2/users", SynapseTransientError),
        (400, "M_INVALID_USERNAME", "/_synapse/admin/v2/users/@X:y", SynapseRejected),
    ],
)
def test_synapse_answers_are_the_cycles_errors(status, errcode, path, expected):
    detail = "You are not a server admin" if path.startswith("/_synapse/admin/v2/users") else "detail"
    error = error_for(status, errcode, detail, "GET", path)
    assert type(error) is expected
    assert f"status={status}" in str(error) and path in str(error)


def test_a_refused_request_is_permanent_a_throttled_one_is_not():
    assert error_for(400, "M_INVALID_USERNAME", None, "PUT", "/x").permanent
    assert not error_for(429, "M_LIMIT_EXCEEDED", None, "POST", "/x").permanent
    assert not error_for(429, "M_LIMIT_EXCEEDED", None, "POST", "/x").may_have_acted


def test_the_disable_mode_is_lock_unless_deactivate_is_asked():
    assert SynapseTargetConfig(conn_id="s").disable == "lock"
    assert SynapseTargetConfig(conn_id="s", disable="deactivate").disable == "deactivate"
    with pytest.raises(ValidationError, match="lock"):
        SynapseTargetConfig(conn_id="s", disable="erase")


PHONE = {"medium": "msisdn", "address": "447700900123"}


@pytest.mark.parametrize(
    ("current", "previous", "new", "expected"),
    [
        # the applied address swapped, the phone and the second address kept
        (
            [{"medium": "email", "address": "old@x.org"}, PHONE, {"medium": "email", "address": "b@x.org"}],
            "Old@x.org",
            "new@x.org",
            [PHONE, {"medium": "email", "address": "b@x.org"}, {"medium": "email", "address": "new@x.org"}],
        ),
        # previous unknown: the first address (what the cycle reads) is the one replaced
        (
            [PHONE, {"medium": "email", "address": "a@x.org"}],
            None,
            "n@x.org",
            [PHONE, {"medium": "email", "address": "n@x.org"}],
        ),
        # cleared: only the applied address goes
        ([{"medium": "email", "address": "a@x.org"}, PHONE], "a@x.org", None, [PHONE]),
        # none yet: added
        ([PHONE], None, "n@x.org", [PHONE, {"medium": "email", "address": "n@x.org"}]),
    ],
)
def test_an_e_mail_change_replaces_only_the_applied_address(current, previous, new, expected):
    assert _replace_email(current, previous, new) == expected
