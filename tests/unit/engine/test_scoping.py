"""Scoping filters: one truth table per operator, nulls included (Entra's rules, plus ours)."""

import pandas as pd
import pytest

from provisioning.engine.assignments import member_of
from provisioning.engine.scoping import ScopingFilter, compile_clause, in_scope

NULLS = [None, ""]


def holds(operator, value, attribute_value):
    return compile_clause("a", operator, value).evaluate({"a": attribute_value})


TABLE = [
    # operator, clause value, attribute value, expected
    ("EQUALS", "Sales", "Sales", True),
    ("EQUALS", "Sales", "sales", False),  # case-sensitive
    ("NOT EQUALS", "Sales", "sales", True),
    ("NOT EQUALS", "Sales", "Sales", False),
    ("&", "Sales,Marketing", "Sales", True),  # the attribute occurs in the clause value
    ("&", "Sales,Marketing", "Legal", False),
    ("!&", "Sales,Marketing", "Legal", True),
    ("!&", "Sales,Marketing", "Sales", False),
    ("Includes", "eng", "Engineering", False),  # case-sensitive
    ("Includes", "Eng", "Engineering", True),
    ("ENDS_WITH", "@contoso.com", "a@contoso.com", True),
    ("ENDS_WITH", "@contoso.com", "a@contoso.org", False),
    ("REGEX MATCH", r".*\@domain.com", "john@domain.com", True),
    ("REGEX MATCH", "([1-9][0-9])", "7", False),
    ("REGEX MATCH", "([1-9][0-9])", "42", True),
    ("NOT REGEX MATCH", r".*\@domain.com", "john@other.com", True),
    ("NOT REGEX MATCH", r".*\@domain.com", "john@domain.com", False),
    ("Greater_Than", 1000000, "1500000", True),
    ("Greater_Than", 1000000, "1000000", False),
    ("Greater_Than", 5, "abc", False),  # not an integer
    ("Greater_Than_OR_EQUALS", 10, 10, True),
    ("Less_Than", 10, "9", True),
    ("Less_Than", 10, 10, False),
    ("Less_Than_OR_EQUALS", 10, "10", True),
    ("IS TRUE", None, True, True),
    ("IS TRUE", None, "true", True),
    ("IS TRUE", None, False, False),
    ("IS FALSE", None, "False", True),
    ("IS FALSE", None, "yes", False),
    ("IS NULL", None, "x", False),
    ("IS NOT NULL", None, "x", True),
]


@pytest.mark.parametrize(("operator", "value", "attribute", "expected"), TABLE)
def test_operator_truth_table(operator, value, attribute, expected):
    assert holds(operator, value, attribute) is expected


@pytest.mark.parametrize(
    "operator",
    [
        "EQUALS",
        "NOT EQUALS",
        "&",
        "!&",
        "Includes",
        "ENDS_WITH",
        "REGEX MATCH",
        "NOT REGEX MATCH",
        "Greater_Than",
        "Less_Than",
        "IS TRUE",
        "IS FALSE",
        "IS NOT NULL",
    ],
)
@pytest.mark.parametrize("null", NULLS)
def test_every_clause_is_false_on_null_or_empty(operator, null):
    value = None if operator.startswith("IS") else ("5" if "Than" in operator else "x")
    assert holds(operator, value, null) is False


@pytest.mark.parametrize("null", NULLS)
def test_is_null_is_true_on_null_or_empty(null):
    assert holds("IS NULL", None, null) is True


def test_multi_valued_attributes():
    groups = ["g-sales", "Department Sales", "g-all"]
    assert holds("EQUALS", "g-sales", groups) and not holds("EQUALS", "g-legal", groups)
    assert holds("NOT EQUALS", "g-legal", groups) and not holds("NOT EQUALS", "g-sales", groups)
    assert holds("REGEX MATCH", "^Department ", groups) and holds("IS NULL", None, [])


def test_clauses_and_filters():
    ny_engineers = ScopingFilter(
        "ny engineers",
        (
            compile_clause("state", "EQUALS", "New York"),
            compile_clause("department", "EQUALS", "Engineering"),
        ),
    )
    contractors = ScopingFilter("contractors", (compile_clause("jobTitle", "ENDS_WITH", "(contractor)"),))
    filters = [ny_engineers, contractors]
    assert in_scope(filters, {"state": "New York", "department": "Engineering"})  # AND holds
    assert not in_scope(filters, {"state": "New York", "department": "Sales"})  # AND fails, OR fails
    assert in_scope(filters, {"state": "Ohio", "jobTitle": "Dev (contractor)"})  # second filter
    assert in_scope([], {})  # no filters: everyone
    assert ny_engineers.trace({"state": "New York"}) == [
        ("state EQUALS 'New York'", True),
        ("department EQUALS 'Engineering'", False),
    ]


@pytest.mark.parametrize(
    ("operator", "value", "message"),
    [
        ("LIKE", "x", "unknown operator 'LIKE'"),
        ("EQUALS", None, "EQUALS needs a value"),
        ("IS NULL", "x", "IS NULL takes no value"),
        ("Greater_Than", "ten", "Greater_Than compares integers: 'ten' is not an integer"),
        ("REGEX MATCH", "([a-z", "is not a valid regular expression"),
    ],
)
def test_clauses_that_cannot_work_are_refused(operator, value, message):
    with pytest.raises(ValueError, match=message):
        compile_clause("a", operator, value)


def test_member_of_is_nested_and_has_names():
    members = pd.DataFrame(
        [
            ("g-all", "g-eng", "group"),
            ("g-eng", "u1", "user"),
            ("g-x", "g-y", "group"),
            ("g-y", "g-x", "group"),
            ("g-y", "u2", "user"),
        ],
        columns=["group_id", "member_id", "member_type"],
    )
    groups = member_of(members, {"g-eng": "Engineering", "g-all": "Everyone"})
    assert groups["u1"] == ["g-all", "g-eng", "Engineering", "Everyone"]
    assert groups["u2"] == ["g-x", "g-y"]
