"""The error of a connector that talks HTTP, whatever its protocol: the request, the answer.

SCIM and Synapse errors (scim/errors.py, synapse/errors.py) subclass it, each naming its
protocol's error type its own way (SCIM ``scimType``, Matrix ``errcode``); the status, the app's
detail, the request's method and path, a ``Retry-After``, the message made of them, the short
``code`` and what is ``permanent`` are the same for both. Messages carry the method and path,
never the request headers, so a bearer token cannot leak into logs or the provisioning log.
"""

from __future__ import annotations

from typing import Any

from provisioning.connectors.errors import AppUnusable, ConnectorError, TransientError


class HttpError(ConnectorError):
    error_type_label = "type"  # how the message names the protocol's error type
    error_type_keyword = "error_type"  # the keyword a subclass takes it by (``scim_type``)
    # 4xx statuses the same request may get past: credentials (the app is quarantined instead),
    # a missing object (the action resolves it), a timeout and throttling (transient)
    passing_statuses: tuple[int, ...] = (401, 404, 408, 429)

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        detail: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
    ):
        self.status = status
        self.error_type = error_type
        self.detail = detail
        self.method = method
        self.path = path
        self.retry_after = retry_after
        parts = [message]
        if method and path:
            parts.append(f"({method} {path})")
        if status is not None:
            parts.append(f"status={status}")
        if error_type:
            parts.append(f"{self.error_type_label}={error_type}")
        if detail:
            parts.append(f"detail={detail}")
        # not super(): a subclass may also derive from a neutral error with its own arguments
        ConnectorError.__init__(self, " ".join(parts), permanent=permanent)

    @classmethod
    def typed(cls, message: str, error_type: str, **details: Any) -> HttpError:
        """This error with ``error_type`` given by the subclass's own keyword: how code shared
        by the protocols (connectors/http_exchange.py) makes one."""
        return cls(message, **{cls.error_type_keyword: error_type}, **details)

    @property
    def code(self) -> str:
        """Short code for the provisioning log's error column."""
        if self.error_type:
            return f"{self.status}:{self.error_type}" if self.status else self.error_type
        return str(self.status) if self.status is not None else type(self).__name__

    @property
    def permanent(self) -> bool:
        """The same request would fail again: said by the connector, or a 4xx other than the
        ``passing_statuses``."""
        if self._permanent:
            return True
        return (
            self.status is not None and 400 <= self.status < 500 and self.status not in self.passing_statuses
        )


# A protocol's errors of these kinds derive from both (``class ScimTransientError(HttpTransientError,
# ScimError)``), this one first: what it says of ``permanent`` and ``may_have_acted`` wins.


class HttpProtocolError(HttpError, AppUnusable):
    """An answer that is not the protocol's (bad JSON, missing fields)."""

    @property
    def may_have_acted(self) -> bool:
        return True  # e.g. a 201 whose body is not JSON: the object was made


class HttpTransientError(HttpError, TransientError):
    """Connection failures, timeouts, 429 and 5xx: retried with backoff, then surfaced."""

    @property
    def permanent(self) -> bool:
        return False

    @property
    def may_have_acted(self) -> bool:
        """Only a refused connection and a 429 say for sure that the app did nothing."""
        return self.status != 429 and self.error_type != "connect"
