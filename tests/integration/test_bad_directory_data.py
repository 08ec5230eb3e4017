"""Bad directory rows: each bad user is skipped with a clear reason in the provisioning log, and
every other user is provisioned normally (real SQLite directory, real SCIM server)."""

import unicodedata

import pytest

from tests.integration.cycle_helpers import Harness

MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"


@pytest.fixture
def harness(directory_db, scim_app, tmp_path):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    mappings = [*harness.raw("users")["mappings"], {"target": MANAGER, "source": "manager", "type": "direct"}]
    harness.configure(users={**harness.raw("users"), "mappings": mappings})
    return harness


def corrupt(harness: Harness) -> dict[str, str]:
    """Damage a few in-scope users, one way each; returns directory id -> what is wrong."""
    ids = sorted(
        harness.upns(
            "select u.id from users u join group_members m on m.member_id = u.id "
            "where m.group_id = 'g-dept-engineering' and u.accountEnabled = 1"
        )
    )
    bad = dict(
        zip(
            ["blank", "dup_a", "dup_b", "email", "long", "nfd_a", "nfd_b", "zero_width", "loop_a", "loop_b"],
            ids,
            strict=False,
        )
    )
    set_ = "update users set {} where id = :id"
    harness.sql(set_.format("userPrincipalName = '  '"), id=bad["blank"])
    harness.sql(set_.format("userPrincipalName = 'Same.Person@contoso.example'"), id=bad["dup_a"])
    harness.sql(set_.format("userPrincipalName = 'same.person@CONTOSO.example'"), id=bad["dup_b"])
    harness.sql(set_.format("mail = 'not an address'"), id=bad["email"])
    harness.sql(set_.format("displayName = :v"), id=bad["long"], v="x" * 2000)
    harness.sql(
        set_.format("userPrincipalName = :v"),
        id=bad["nfd_a"],
        v=unicodedata.normalize("NFD", "josé@contoso.example"),
    )
    harness.sql(
        set_.format("userPrincipalName = :v"),
        id=bad["nfd_b"],
        v=unicodedata.normalize("NFC", "josé@contoso.example"),
    )
    harness.sql(set_.format("userPrincipalName = :v"), id=bad["zero_width"], v="jo\u200bhn@contoso.example")
    harness.sql(set_.format("manager = :m"), id=bad["loop_a"], m=bad["loop_b"])
    harness.sql(set_.format("manager = :m"), id=bad["loop_b"], m=bad["loop_a"])
    return bad


def test_each_bad_user_is_skipped_with_its_reason_and_everyone_else_is_provisioned(harness):
    bad = corrupt(harness)
    result = harness.cycle()
    assert result["report"]["status"] == "succeeded"
    skips = {r["source_id"]: r for r in harness.store.log("demo_wiki") if r["status"] == "skipped"}
    assert set(skips) == set(bad.values())
    reason = {name: (skips[i]["error_code"], skips[i]["error_message"]) for name, i in bad.items()}
    assert reason["blank"] == ("InvalidDirectoryData", "userName is blank")
    assert reason["dup_a"][0] == reason["dup_b"][0] == "DuplicateSourceEntries"
    assert bad["dup_b"] in reason["dup_a"][1]
    assert reason["email"] == (
        "InvalidDirectoryData",
        "emails[type eq \"work\"].value 'not an address' is not an e-mail address",
    )
    assert reason["long"] == ("InvalidDirectoryData", "displayName is 2000 characters long (at most 1024)")
    # composed and decomposed "josé" are one name: a duplicate, not two accounts
    assert reason["nfd_a"][0] == reason["nfd_b"][0] == "DuplicateSourceEntries"
    assert reason["zero_width"] == (
        "InvalidDirectoryData",
        "userName contains invisible U+200B ZERO WIDTH SPACE at position 3",
    )
    loop = f"manager chain loops: {bad['loop_a']} -> {bad['loop_b']} -> {bad['loop_a']}"
    assert reason["loop_a"][0] == "ManagerCycle" and reason["loop_a"][1] in (
        loop,
        f"manager chain loops: {bad['loop_b']} -> {bad['loop_a']} -> {bad['loop_b']}",
    )
    # everyone else: provisioned as usual
    expected = set(harness.expected_wiki_users().index) - harness.upns(
        "select userPrincipalName from users where id in ({})".format(
            ",".join(f"'{i}'" for i in bad.values())
        )
    )
    assert set(harness.scim_app.by_username()) == expected


def test_a_fixed_user_is_provisioned_by_the_next_cycle(harness):
    bad = corrupt(harness)
    harness.cycle()
    harness.sql("update users set mail = 'fixed@contoso.example' where id = :id", id=bad["email"])
    harness.cycle()
    fixed = harness.upns("select userPrincipalName from users where id = :id", id=bad["email"]).pop()
    assert harness.scim_app.by_username()[fixed]["emails"] == [
        {"type": "work", "value": "fixed@contoso.example"}
    ]


def test_a_decomposed_name_is_sent_composed(harness):
    harness.sql(
        "update users set givenName = :v where id = "
        "(select min(id) from users where department = 'Engineering' and accountEnabled = 1)",
        v=unicodedata.normalize("NFD", "Zoë"),
    )
    harness.cycle()
    given = {a["name"]["givenName"] for a in harness.scim_app.users()}
    assert unicodedata.normalize("NFC", "Zoë") in given and unicodedata.normalize("NFD", "Zoë") not in given
    harness.cycle()  # fills in the managers created by the first cycle
    harness.scim_app.proxy.reset()
    harness.cycle()
    assert harness.scim_app.proxy.writes() == []  # no flapping between the two forms
