"""Statements over many rows go in bounded batches: SQLite caps the bound parameters of one
statement, and one huge IN list or multi-row INSERT is slow on every database."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
