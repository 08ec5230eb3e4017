"""Which SCIM errors the cycle treats as permanent (escrow backs off longer), and that each SCIM
error is the neutral error the cycle catches."""

import pytest

from provisioning.connectors import errors
from provisioning.connectors.scim.errors import (
    ScimAuthError,
    ScimConflictError,
    ScimError,
    ScimFilterRefused,
    ScimNotFoundError,
    ScimProtocolError,
    ScimRejectedError,
    ScimTransientError,
)


@pytest.mark.parametrize(
    ("status", "scim_type", "permanent"),
    [
        (400, "invalidValue", True),
        (400, None, True),
        (422, None, True),
        (401, None, False),  # quarantine's business
        (404, None, False),
        (409, "uniqueness", False),
        (429, None, False),
        (500, None, False),
        (None, "invalidSyntax", True),
        (None, None, False),
    ],
)
def test_which_errors_retrying_cannot_fix(status, scim_type, permanent):
    assert ScimError("x", status=status, scim_type=scim_type).permanent is permanent


@pytest.mark.parametrize(
    ("error", "neutral"),
    [
        (ScimAuthError("x", status=401), errors.AppUnusable),
        (ScimProtocolError("x"), errors.AppUnusable),
        (ScimTransientError("x", status=503), errors.TransientError),
        (ScimNotFoundError("x", status=404), errors.NotFound),
        (ScimConflictError("x", status=409), errors.AlreadyExists),
        (ScimRejectedError("x", status=400), errors.Rejected),
        (ScimFilterRefused("x", attribute="emails.value", status=400), errors.QueryRefused),
    ],
)
def test_each_scim_error_is_a_neutral_one(error, neutral):
    assert isinstance(error, neutral)
    assert error.stops_cycle is (neutral is errors.AppUnusable)
    assert str(error).startswith("x status=") or str(error) == "x"


def test_a_transient_error_is_never_permanent_and_a_refused_filter_names_its_attribute():
    assert ScimTransientError("x", status=400).permanent is False
    refused = ScimFilterRefused("the app rejected the request", attribute="emails.value", status=400)
    assert refused.attribute == "emails.value" and refused.code == "400"


@pytest.mark.parametrize(
    ("error", "may_have_acted"),
    [
        (ScimTransientError("x", scim_type="timeout"), True),
        (ScimTransientError("x", scim_type="transport"), True),  # the answer was lost
        (ScimTransientError("x", status=502), True),  # a gateway may answer so after the app acted
        (ScimTransientError("x", status=500), True),
        (ScimTransientError("x", status=429), False),  # throttled: refused before acting
        (ScimTransientError("x", scim_type="connect"), False),  # never reached the app
        (ScimProtocolError("the app answered with invalid JSON", status=201), True),
        (ScimAuthError("x", status=401), False),
        (ScimRejectedError("x", status=400), False),
        (ScimConflictError("x", status=409), False),
    ],
)
def test_which_failed_requests_the_app_may_still_have_carried_out(error, may_have_acted):
    """A create failing so is looked up before it is sent again, and stays unresolved until found."""
    assert error.may_have_acted is may_have_acted
