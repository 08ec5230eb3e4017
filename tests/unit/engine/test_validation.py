import unicodedata

import pandas as pd
import pytest

from provisioning.config.mappings import DirectMapping
from provisioning.engine.desired import DesiredUser
from provisioning.engine.mapping import compile_mappings
from provisioning.engine.validation import manager_cycles, validate_users
from tests.support.scim_requests import scim_paths

CONFIG = [
    DirectMapping(target="userName", source="userPrincipalName"),
    DirectMapping(target='emails[type eq "work"].value', source="mail"),
    DirectMapping(target="displayName", source="displayName", max_length=10),
    DirectMapping(
        target="urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", source="manager"
    ),
]
MAPPINGS = compile_mappings(CONFIG)
PATHS = scim_paths(CONFIG)


def users(*rows):
    return pd.DataFrame(rows, columns=["id", "manager"])


def desired(source_id, **attrs):
    base = {"userName": f"{source_id}@x.example", 'emails[type eq "work"].value': f"{source_id}@x.example"}
    return DesiredUser(source_id, source_id, True, None, {**base, **attrs})


def test_manager_cycles_find_loops_not_chains_into_them():
    frame = users(("a", "b"), ("b", "c"), ("c", "b"), ("d", "d"), ("e", None), ("f", "e"))
    loops = manager_cycles(frame)
    assert set(loops) == {"b", "c", "d"}  # a reports into the loop but is not on it
    assert loops["b"] in ("b -> c -> b", "c -> b -> c") and loops["d"] == "d -> d"


def test_problems_are_named_with_the_attribute_and_position():
    result = validate_users(
        [
            desired("ok", displayName="Short"),
            desired("long", displayName="Much too long"),
            desired("mail", **{'emails[type eq "work"].value': "a@b"}),
            desired("ctrl", displayName="a\x07b"),
            desired("zw", userName="a\u200d@x.example"),
            DesiredUser("out", "out", False, "not assigned"),
        ],
        PATHS,
        MAPPINGS,
        users(("ok", None)),
    )
    errors = {d.source_id: d.error for d in result}
    assert errors == {
        "ok": None,
        "long": "displayName is 13 characters long (at most 10)",
        "mail": "emails[type eq \"work\"].value 'a@b' is not an e-mail address",
        "ctrl": "displayName contains control character U+0007 at position 2",
        "zw": "userName contains invisible U+200D ZERO WIDTH JOINER at position 2",
        "out": None,
    }
    assert {d.error_code for d in result if d.error} == {"InvalidDirectoryData"}


def test_invisible_characters_are_fine_outside_identifiers_and_strings_become_nfc():
    name = unicodedata.normalize("NFD", "Mehr\u200cnaz é")[:10]
    (user,) = validate_users([desired("u", displayName=name)], PATHS, MAPPINGS, users(("u", None)))
    assert user.error is None and user.attributes["displayName"] == unicodedata.normalize("NFC", name)


def test_a_manager_loop_skips_the_users_on_it():
    result = validate_users(
        [desired("a"), desired("b"), desired("c")], PATHS, MAPPINGS, users(("a", "b"), ("b", "a"), ("c", "a"))
    )
    assert [(d.source_id, d.error_code) for d in result] == [
        ("a", "ManagerCycle"),
        ("b", "ManagerCycle"),
        ("c", None),
    ]


def test_an_over_long_directory_id_cannot_be_stored():
    (user,) = validate_users([desired("x" * 129)], PATHS, MAPPINGS, users())
    assert user.error == "the directory id is 129 characters long (at most 128)"


@pytest.mark.parametrize(
    ("attribute", "value", "error"),
    [
        ("displayName", "Jürgen\x85", "displayName contains control character U+0085 at position 7"),
        ("displayName", "Jürg\ten", None),  # tab, CR and LF are text
        ("displayName", "Jür\u200bgen", None),  # a format character is fine outside identifiers
        (
            "userName",
            "jür\u200bgen@x.example",
            "userName contains invisible U+200B ZERO WIDTH SPACE at position 4",
        ),
        ("userName", "jür\x7fgen@x.example", "userName contains control character U+007F at position 4"),
        ("userName", "jürgen@x.example", None),
    ],
)
def test_non_ascii_values_are_searched_for_controls_and_invisibles(attribute, value, error):
    (user,) = validate_users([desired("u", **{attribute: value})], PATHS, MAPPINGS, users(("u", None)))
    assert user.error == error
