from provisioning.engine.app_object import AppObject
from provisioning.engine.attribute_path import AttributePath
from provisioning.engine.matching import (
    DUPLICATE_SOURCE,
    DUPLICATE_TARGET,
    NO_MATCHING_VALUE,
    MatchRule,
    match_accounts,
    source_conflicts,
)

RULES = [
    MatchRule(AttributePath("userName"), case_sensitive=False),
    MatchRule(AttributePath('emails[type eq "work"].value'), case_sensitive=False),
    MatchRule(AttributePath("externalId"), case_sensitive=True),
]
WORK = 'emails[type eq "work"].value'


def account(id_, user_name, email=None, external_id=None):
    return AppObject(id_, {"userName": user_name, WORK: email, "externalId": external_id})


def test_first_rule_in_precedence_order_wins_and_username_ignores_case():
    accounts = [account("a1", "Ana@X.example"), account("a2", "other", email="ana@x.example")]
    matches, conflicts = match_accounts(
        [("u1", {"userName": "ana@x.example", WORK: "ana@x.example"})], accounts, RULES, {}
    )
    assert conflicts == []
    assert [(m.source_id, m.account.id, m.matched_by) for m in matches] == [("u1", "a1", "userName")]


def test_falls_through_to_later_rules():
    accounts = [account("a2", "legacy-name", email="BO@x.example")]
    matches, _ = match_accounts(
        [("u2", {"userName": "bo@x.example", WORK: "bo@x.example"})], accounts, RULES, {}
    )
    assert [(m.account.id, m.matched_by) for m in matches] == [("a2", WORK)]


def test_case_sensitive_rule_does_not_fold_case():
    accounts = [account("a3", "zz", external_id="E1")]
    matches, _ = match_accounts([("u3", {"userName": "u3", "externalId": "e1"})], accounts, RULES, {})
    assert matches == []


def test_one_user_matching_two_accounts_is_a_conflict_not_a_guess():
    accounts = [account("a1", "x", email="c@x"), account("a2", "y", email="C@x")]
    matches, conflicts = match_accounts([("u1", {"userName": "c@x", WORK: "c@x"})], accounts, RULES, {})
    assert matches == []
    assert [(c.source_id, c.code) for c in conflicts] == [("u1", DUPLICATE_TARGET)]
    assert "a1" in conflicts[0].message and "a2" in conflicts[0].message


def test_two_users_claiming_one_account_or_an_already_linked_one():
    accounts = [account("a1", "d@x")]
    matches, conflicts = match_accounts(
        [("u1", {"userName": "d@x"}), ("u2", {"userName": "D@x"})], accounts, RULES, {}
    )
    assert [m.source_id for m in matches] == ["u1"]
    assert [(c.source_id, c.code) for c in conflicts] == [("u2", DUPLICATE_SOURCE)]
    _, conflicts = match_accounts([("u3", {"userName": "d@x"})], accounts, RULES, {"a1": "u9"})
    assert conflicts[0].code == DUPLICATE_SOURCE and "u9" in conflicts[0].message


def test_source_conflicts_are_found_before_any_api_call():
    candidates = [
        ("u1", {"userName": "same@x"}),
        ("u2", {"userName": "SAME@x"}),
        ("u3", {"userName": None, WORK: None, "externalId": ""}),
        ("u4", {"userName": "unique@x"}),
        ("u5", {"userName": "taken@x"}),
    ]
    linked = [("u9", {"userName": "taken@x"})]
    conflicts = {c.source_id: c.code for c in source_conflicts(candidates, linked, RULES)}
    assert conflicts == {
        "u1": DUPLICATE_SOURCE,
        "u2": DUPLICATE_SOURCE,
        "u3": NO_MATCHING_VALUE,
        "u5": DUPLICATE_SOURCE,
    }


def test_case_insensitive_means_letter_by_letter_never_unicode_folding():
    accounts = [account("a1", "strasse@x.example"), account("a2", "STRAẞE@X.example")]
    matches, conflicts = match_accounts([("u1", {"userName": "Straße@x.example"})], accounts, RULES, {})
    # ß is not ss: only the account spelled with ß (capital ẞ lowers to ß) is the same name
    assert conflicts == [] and [(m.source_id, m.account.id) for m in matches] == [("u1", "a2")]
    matches, _ = match_accounts([("u2", {"userName": "strasse@x.example"})], accounts[:1], RULES, {})
    assert [m.account.id for m in matches] == ["a1"]
    matches, _ = match_accounts([("u3", {"userName": "straße@x.example"})], accounts[:1], RULES, {})
    assert matches == []
    # İ lowers to two characters in Python; the key keeps it one, so İ and i stay different names
    matches, _ = match_accounts(
        [("u4", {"userName": "İlker@x.example"})], [account("a3", "ilker@x.example")], RULES, {}
    )
    assert matches == []
    assert (
        source_conflicts([("u5", {"userName": "Straße"}), ("u6", {"userName": "STRASSE"})], [], RULES[:1])
        == []
    )


def test_an_account_without_active_is_of_unknown_state():
    from provisioning.connectors.scim.connector import is_active

    assert is_active({"id": "a1"}) is None and is_active({"id": "a1", "active": None}) is None
    assert is_active({"active": True}) is True and is_active({"active": False}) is False
