"""What a cycle needs from a source of users and groups, whatever it reads (SQL, LDAP, HR files).

A source returns one ``DirectorySnapshot`` of four frames, with Entra ID's attribute names
(engine/directory_model.py; the columns are documented in docs/directory.md):

- ``users``: ``USER_ATTRIBUTES`` and the configured extra attributes; ids as text (None when null);
- ``groups``: ``id``, ``displayName`` as text, ``description`` and ``updatedAt`` when the source has
  them, and the configured extra attributes;
- ``memberships``: ``group_id``, ``member_id``, ``member_type`` (``user`` or ``group``);
- ``assignments``: ``app``, ``principal_id``, ``principal_type`` (``user`` or ``group``), and
  ``role`` when the source has app roles.

A source raises ``DirectoryError`` when it cannot be read as documented (a missing relation or
column). It does not judge the data: repeated ids, an empty or shrunken directory are refused
above every source (cycle/source_checks.py), so each new source inherits those checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

# The four relations of a snapshot, by the names sources and their errors use.
RELATIONS = ("users", "groups", "group_members", "app_assignments")


class DirectoryError(RuntimeError):
    """The directory cannot be read as documented (missing relation/column, bad rows)."""


@dataclass
class DirectorySnapshot:
    users: pd.DataFrame
    groups: pd.DataFrame  # id, displayName, description and configured extras
    memberships: pd.DataFrame  # group_id, member_id, member_type
    assignments: pd.DataFrame  # app, principal_id, principal_type


class DirectorySource(Protocol):
    """One read of the whole directory per cycle step that needs it."""

    # Where each of the RELATIONS is read from (a table, a view, an LDAP base, a file), as errors
    # about its data name it.
    relations: Mapping[str, str]

    # A source whose size should hold steady from read to read (an HR export, where a truncated
    # file looks like a wave of leavers) sets a ratio, and cycle/source_checks.py refuses a read
    # with fewer users than that share of the last healthy cycle's; None: no such check.
    min_users_ratio: float | None

    def read(
        self, extra_user_attributes: Sequence[str] = (), extra_group_attributes: Sequence[str] = ()
    ) -> DirectorySnapshot: ...
