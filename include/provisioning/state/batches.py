"""Statements over many rows go in bounded batches: SQLite caps the bound parameters of one
statement, and one huge IN list or multi-row INSERT is slow on every database."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``. A generator is consumed as it goes, so rows built
    on the fly (a plan's outbox rows) are held one batch at a time, never all at once."""
    rest = iter(items)
    while chunk := list(islice(rest, size)):
        yield chunk
