"""Synapse's answers as the neutral errors of connectors/errors.py.

Matrix errors carry an ``errcode`` (``M_FORBIDDEN``, ``M_USER_IN_USE``, ...) and a human ``error``;
the message keeps both, with the request's method and path -- never its headers, so the admin
token cannot reach a log (the message, ``code`` and ``permanent`` are every HTTP connector's,
connectors/http_errors.py). A 403 from the admin API saying "You are not a server admin" means
every request will fail (the app is unusable); any other 403 is about one room (the admin account
is not in it, or someone to kick already left) and fails only that request.

Only a 404 whose body is Matrix's ``M_NOT_FOUND`` means "no such account or room" (what Synapse
answers for an unknown user, room, alias or address). Any other 404 -- Synapse's
``M_UNRECOGNIZED`` for an endpoint it does not serve, or a reverse proxy's HTML page because it
does not pass ``/_synapse/admin`` -- says nothing about the object: taken for "gone", a disable
would be recorded as done and a delete as already made while the account stays active. It is a
protocol error that stops the cycle.
"""

from __future__ import annotations

from typing import Any

from provisioning.connectors.errors import (
    AlreadyExists,
    AppUnusable,
    NotFound,
    QueryRefused,
    Rejected,
)
from provisioning.connectors.http_errors import HttpError, HttpProtocolError, HttpTransientError

ADMIN_PREFIX = "/_synapse/admin/"


class SynapseError(HttpError):
    error_type_label = "errcode"
    error_type_keyword = "errcode"

    def __init__(self, message: str, *, errcode: str | None = None, **details: Any):
        HttpError.__init__(self, message, error_type=errcode, **details)

    @property
    def errcode(self) -> str | None:
        return self.error_type


class SynapseAuthError(SynapseError, AppUnusable):
    """401, or 403 from the admin API: the token is wrong, expired, or not a server admin's."""


class SynapseProtocolError(HttpProtocolError, SynapseError):
    """An answer that is not what Synapse's admin API gives (not JSON, fields missing)."""


class SynapseTransientError(HttpTransientError, SynapseError):
    """Connection failures, timeouts, 429 (``M_LIMIT_EXCEEDED``) and 5xx."""


class SynapseNotFound(SynapseError, NotFound):
    """404 ``M_NOT_FOUND``: no such account or room."""


class SynapseConflict(SynapseError, AlreadyExists):
    """``M_USER_IN_USE`` / ``M_ROOM_IN_USE``, or an account a create found already there."""


class SynapseRejected(SynapseError, Rejected):
    """Any other refusal of one request (``M_INVALID_USERNAME``, ``M_BAD_JSON``, a kick of someone
    not in the room, a rename of a localpart...)."""


class SynapseQueryRefused(SynapseError, QueryRefused):
    """Synapse cannot look accounts or rooms up by this field."""

    def __init__(self, message: str, *, attribute: str):
        SynapseError.__init__(self, message)
        self.attribute = attribute


CONFLICT_CODES = ("M_USER_IN_USE", "M_ROOM_IN_USE")
NOT_FOUND = "M_NOT_FOUND"
# what Synapse's admin API says to a token whose account is no server admin; its other 403s are
# about one room (the admin account is not in it) and fail only that request
NOT_ADMIN = "not a server admin"


def error_for(
    status: int,
    errcode: str | None,
    detail: str | None,
    method: str,
    path: str,
    retry_after: float | None = None,
) -> SynapseError:
    kwargs = {"status": status, "errcode": errcode, "detail": detail, "method": method, "path": path}
    if status == 401 or (status == 403 and path.startswith(ADMIN_PREFIX) and NOT_ADMIN in (detail or "")):
        return SynapseAuthError(
            "Synapse refused the token (it must be a server admin's access token)", **kwargs
        )
    if status == 404 and errcode == NOT_FOUND:
        return SynapseNotFound("not found", **kwargs)
    if status == 404:
        return SynapseProtocolError(
            "the Synapse admin API is not reachable at this path (a 404 without Matrix's M_NOT_FOUND: "
            "an endpoint this Synapse does not serve, or a reverse proxy that does not pass "
            "/_synapse/admin and /_matrix to Synapse); check the connection's host",
            **kwargs,
        )
    if errcode in CONFLICT_CODES or status == 409:
        return SynapseConflict("already exists", **kwargs)
    if status == 429 or status >= 500:
        return SynapseTransientError(
            "Synapse is unavailable or rate limiting", retry_after=retry_after, **kwargs
        )
    return SynapseRejected("Synapse rejected the request", **kwargs)


class SynapseMisconfigured(SynapseError, AppUnusable):
    """The connection and the app config disagree (another server name): nothing is written."""
