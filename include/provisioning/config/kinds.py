"""Sections chosen by ``kind``: one model per kind, so a new source or target is one more model.

The loader turns the error below into ``<section>.kind: unknown kind ... (known kinds: ...)``.
"""

from __future__ import annotations

from pydantic import BaseModel, Discriminator

UNKNOWN_KIND = "unknown_kind"  # the pydantic error type of a kind no model has


def by_kind(known: tuple[str, ...], default: str) -> Discriminator:
    """The discriminator of a section's union: ``kind`` when given, else ``default`` (so files
    written before the section had kinds keep working); anything but a mapping goes to the default
    model, whose own error (e.g. "a valid dictionary") says what is wrong."""

    def kind_of(raw: object) -> str:
        if isinstance(raw, dict):
            return raw.get("kind", default)
        if isinstance(raw, BaseModel):
            return getattr(raw, "kind", default)
        return default

    return Discriminator(
        kind_of,
        custom_error_type=UNKNOWN_KIND,
        custom_error_message="unknown kind (known kinds: {known})",
        custom_error_context={"known": ", ".join(known)},
    )
