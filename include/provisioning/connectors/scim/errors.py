"""SCIM errors: each is one of the neutral errors of connectors/errors.py (the cycle catches only
those), with the HTTP status and SCIM ``scimType`` that decide which; the message, ``code`` and
``permanent`` are every HTTP connector's (connectors/http_errors.py).

``ScimAuthError`` and ``ScimProtocolError`` mean the whole app is unusable (stop, alert,
quarantine later); ``ScimTransientError`` is worth retrying; the rest fail one action. Messages
carry the HTTP status, SCIM ``scimType`` and ``detail`` -- never the request headers, so a
bearer token cannot leak into logs or the provisioning log.
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

# scimType values that the same request will hit again (RFC 7644 3.12)
_PERMANENT_TYPES = (
    "invalidValue",
    "invalidSyntax",
    "invalidPath",
    "noTarget",
    "mutability",
    "deleteNotAllowed",
)


class ScimError(HttpError):
    error_type_label = "scimType"
    error_type_keyword = "scim_type"
    passing_statuses = (401, 403, 404, 408, 409, 429)  # 403: credentials too; 409: the action resolves it

    def __init__(self, message: str, *, scim_type: str | None = None, **details: Any):
        HttpError.__init__(self, message, error_type=scim_type, **details)

    @property
    def scim_type(self) -> str | None:
        return self.error_type

    @property
    def permanent(self) -> bool:
        """4xx other than credentials (the app is quarantined instead), 404/409 (the action resolves
        them), 408/429 (transient); without a status, a ``scimType`` the same request hits again."""
        if self.status is None:
            return self.scim_type in _PERMANENT_TYPES
        return super().permanent


class ScimAuthError(ScimError, AppUnusable):
    """401/403: the credentials are wrong or lack permission; every call will fail."""


class ScimProtocolError(HttpProtocolError, ScimError):
    """The app answered something that is not SCIM (bad JSON, missing fields)."""


class ScimTransientError(HttpTransientError, ScimError):
    """Connection failures, timeouts, 429 and 5xx: retried with backoff, then surfaced."""


class ScimTokenUnavailable(ScimTransientError):
    """The OAuth token endpoint failed or could not be reached: nothing was sent to the app, so
    even a create is retried."""

    @property
    def may_have_acted(self) -> bool:
        return False


class ScimConflictError(ScimError, AlreadyExists):
    """409: the resource already exists (uniqueness) or changed under us."""


class ScimNotFoundError(ScimError, NotFound):
    """404: the resource is gone from the app."""


class ScimRejectedError(ScimError, Rejected):
    """Any other refusal of one request (400, 413, ...)."""


class ScimFilterRefused(ScimError, QueryRefused):
    """400 that blames the filter, not the value: the attribute is not filterable in this app."""

    def __init__(self, message: str, *, attribute: str, **details: Any):
        ScimError.__init__(self, message, **details)
        self.attribute = attribute
