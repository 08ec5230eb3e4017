import pytest

from provisioning.connectors.scim.paths import ENTERPRISE_USER_SCHEMA, ScimPathError, parse_scim_path
from provisioning.connectors.scim.payloads import build_resource, patch_operations

RESOURCE = {
    "userName": "ana@x.example",
    "name": {"givenName": "Ana"},
    "emails": [{"type": "home", "value": "a@home"}, {"type": "Work", "value": "a@work"}],
    ENTERPRISE_USER_SCHEMA: {"department": "Eng"},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("userName", "ana@x.example"),
        ("USERNAME", "ana@x.example"),  # attribute names are case-insensitive
        ("name.givenName", "Ana"),
        ("name.familyName", None),
        ('emails[type eq "work"].value', "a@work"),  # filter values compare case-insensitively
        ('emails[type eq "other"].value', None),
        (f"{ENTERPRISE_USER_SCHEMA}:department", "Eng"),
        (f"{ENTERPRISE_USER_SCHEMA}:manager", None),
    ],
)
def test_get_reads_the_addressed_value(path, expected):
    assert parse_scim_path(path).get(RESOURCE) == expected


def test_build_resource_nests_values_and_declares_extension_schema():
    values = {
        "userName": "bo@x.example",
        "name.givenName": "Bo",
        'emails[type eq "work"].value': "bo@work",
        f"{ENTERPRISE_USER_SCHEMA}:department": "Sales",
        "title": None,
    }
    paths = {p: parse_scim_path(p) for p in values}
    resource = build_resource(values, paths)
    assert resource == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_SCHEMA],
        "userName": "bo@x.example",
        "name": {"givenName": "Bo"},
        "emails": [{"type": "work", "value": "bo@work"}],
        ENTERPRISE_USER_SCHEMA: {"department": "Sales"},
    }
    for path, value in values.items():  # what we build reads back the same
        assert paths[path].get(resource) == value


def test_filter_value_escapes_are_unescaped():
    path = parse_scim_path(r'emails[type eq "a\"b"].value')
    assert path.filter_value == 'a"b'
    assert path.filter_name == "emails.value"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "non-empty"),
        ("name..givenName", "not a SCIM attribute path"),
        ('emails[type eq "work"]', "must name a sub-attribute"),
        ("emails[type = work].value", "not a SCIM attribute path"),
        ("urn:x:", "extension path"),
        ("1abc", "not a SCIM attribute path"),
    ],
)
def test_bad_paths_are_rejected_with_the_reason(text, problem):
    with pytest.raises(ScimPathError, match=problem):
        parse_scim_path(text)


def test_patch_adds_missing_filtered_elements_whole_and_replaces_the_rest():
    texts = [
        'emails[type eq "work"].value',
        'emails[type eq "work"].primary',
        'phoneNumbers[type eq "mobile"].value',
        "title",
    ]
    paths = {t: parse_scim_path(t) for t in texts}
    new = {texts[0]: "a@work", texts[1]: True, texts[2]: "+1 555", "title": "Dev"}
    old = {texts[2]: "+1 000"}
    assert patch_operations(new, old, paths) == [
        {"op": "add", "path": "emails", "value": [{"type": "work", "value": "a@work", "primary": True}]},
        {"op": "replace", "path": texts[2], "value": "+1 555"},
        {"op": "replace", "path": "title", "value": "Dev"},
    ]
