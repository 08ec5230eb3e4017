"""SCIM errors: each is one of the neutral errors of connectors/errors.py (the cycle catches only
those), with the HTTP status and SCIM ``scimType`` that decide which.

``ScimAuthError`` and ``ScimProtocolError`` mean the whole app is unusable (stop, alert,
quarantine later); ``ScimTransientError`` is worth retrying; the rest fail one action. Messages
carry the HTTP status, SCIM ``scimType`` and ``detail`` -- never the request headers, so a
bearer token cannot leak into logs or the provisioning log.
"""

from __future__ import annotations

from provisioning.connectors.errors import (
    AlreadyExists,
    AppUnusable,
    ConnectorError,
    NotFound,
    QueryRefused,
    Rejected,
    TransientError,
)

# scimType values that the same request will hit again (RFC 7644 3.12)
_PERMANENT_TYPES = (
    "invalidValue",
    "invalidSyntax",
    "invalidPath",
    "noTarget",
    "mutability",
    "deleteNotAllowed",
)


class ScimError(ConnectorError):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        scim_type: str | None = None,
        detail: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ):
        self.status = status
        self.scim_type = scim_type
        self.detail = detail
        self.method = method
        self.path = path
        self.retry_after = retry_after
        parts = [message]
        if method and path:
            parts.append(f"({method} {path})")
        if status is not None:
            parts.append(f"status={status}")
        if scim_type:
            parts.append(f"scimType={scim_type}")
        if detail:
            parts.append(f"detail={detail}")
        # not super(): a subclass may also derive from a neutral error with its own arguments
        ConnectorError.__init__(self, " ".join(parts))

    @property
    def code(self) -> str:
        """Short code for the provisioning log's error column."""
        if self.scim_type:
            return f"{self.status}:{self.scim_type}" if self.status else self.scim_type
        return str(self.status) if self.status is not None else type(self).__name__

    @property
    def permanent(self) -> bool:
        """4xx other than credentials (the app is quarantined instead), 404/409 (the action resolves
        them), 408/429 (transient)."""
        if self.status is None:
            return self.scim_type in _PERMANENT_TYPES
        return 400 <= self.status < 500 and self.status not in (401, 403, 404, 408, 409, 429)


class ScimAuthError(ScimError, AppUnusable):
    """401/403: the credentials are wrong or lack permission; every call will fail."""


class ScimProtocolError(ScimError, AppUnusable):
    """The app answered something that is not SCIM (bad JSON, missing fields)."""

    @property
    def may_have_acted(self) -> bool:
        return True  # e.g. a 201 whose body is not JSON: the object was made


class ScimTransientError(ScimError, TransientError):
    """Connection failures, timeouts, 429 and 5xx: retried with backoff, then surfaced."""

    @property
    def permanent(self) -> bool:
        return False

    @property
    def may_have_acted(self) -> bool:
        """Only a refused connection and a 429 say for sure that the app did nothing."""
        return self.status != 429 and self.scim_type != "connect"


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

    def __init__(self, message: str, *, attribute: str, **details):
        ScimError.__init__(self, message, **details)
        self.attribute = attribute
