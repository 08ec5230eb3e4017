"""Matching directory users to accounts that already exist in the app, by precedence.

Entra's rule: matching attributes are tried in precedence order and the first that finds an
account wins. Ambiguity is never guessed: one user matching several accounts
(DuplicateTargetEntries) or several users claiming one account or one value
(DuplicateSourceEntries) is a conflict, neither created nor linked, and logged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from provisioning.engine.app_object import AppObject
from provisioning.engine.attribute_path import AttributePath

DUPLICATE_TARGET = "DuplicateTargetEntries"
DUPLICATE_SOURCE = "DuplicateSourceEntries"
NO_MATCHING_VALUE = "MissingMatchingAttribute"


def fold_case(text: str) -> str:
    """Case-insensitive the way SCIM's caseExact=false is: per character, never Unicode folding.

    ``casefold`` would map "straße" to "strasse" and link two different people; ``lower`` alone
    expands "İ" to two characters. Only a character whose lower case is itself one character is
    lowered, so the result has the length of the input.
    """
    lowered = text.lower()
    if len(lowered) == len(text):  # no character expanded: the common case, at C speed
        return lowered
    return "".join(low if len(low := char.lower()) == 1 else char for char in text)


@dataclass(frozen=True)
class MatchRule:
    path: AttributePath
    case_sensitive: bool

    def key(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        text = str(value)
        return text if self.case_sensitive else fold_case(text)


@dataclass(frozen=True)
class Match:
    source_id: str
    account: AppObject
    matched_by: str


@dataclass(frozen=True)
class Conflict:
    source_id: str
    code: str
    message: str


def source_conflicts(
    candidates: Sequence[tuple[str, dict[str, Any]]],
    others: Iterable[tuple[str, dict[str, Any]]],
    rules: Sequence[MatchRule],
) -> list[Conflict]:
    """Before any API call: unlinked users with no matching value, or sharing one with another user.

    ``candidates`` are (source id, desired attributes) of unlinked in-scope users; ``others`` the
    linked in-scope users, whose values also count as taken.
    """
    if not candidates:  # the usual cycle: everyone is linked, so no conflict can be reported
        return []
    owners: dict[tuple[int, str], list[str]] = defaultdict(list)
    for source_id, attrs in [*candidates, *others]:
        for index, rule in enumerate(rules):
            key = rule.key(attrs.get(rule.path.text))
            if key is not None:
                owners[(index, key)].append(source_id)
    conflicts = []
    for source_id, attrs in candidates:
        keys = [(i, rule.key(attrs.get(rule.path.text))) for i, rule in enumerate(rules)]
        if all(key is None for _, key in keys):
            names = ", ".join(rule.path.text for rule in rules)
            conflicts.append(
                Conflict(source_id, NO_MATCHING_VALUE, f"no value for any matching attribute ({names})")
            )
            continue
        for index, key in keys:
            sharing = [other for other in owners.get((index, key), []) if other != source_id]
            if key is not None and sharing:
                conflicts.append(
                    Conflict(
                        source_id,
                        DUPLICATE_SOURCE,
                        f"{rules[index].path.text} value is shared with directory object(s) "
                        f"{', '.join(sharing[:5])}",
                    )
                )
                break
    return conflicts


def match_accounts(
    candidates: Sequence[tuple[str, dict[str, Any]]],
    accounts: Sequence[AppObject],
    rules: Sequence[MatchRule],
    linked_owner: dict[str, str],
) -> tuple[list[Match], list[Conflict]]:
    """Link unlinked users to app accounts; ``linked_owner`` maps app id -> already linked source id."""
    index: list[dict[str, list[AppObject]]] = []
    for rule in rules:
        by_value: dict[str, list[AppObject]] = defaultdict(list)
        for account in accounts:
            key = rule.key(account.attributes.get(rule.path.text))
            if key is not None:
                by_value[key].append(account)
        index.append(by_value)

    matches: list[Match] = []
    conflicts: list[Conflict] = []
    claimed: dict[str, str] = {}
    for source_id, attrs in candidates:
        for rule, by_value in zip(rules, index, strict=True):
            found = by_value.get(rule.key(attrs.get(rule.path.text)) or "", [])
            if not found:
                continue
            if len(found) > 1:
                ids = ", ".join(a.id for a in found[:5])
                conflicts.append(
                    Conflict(
                        source_id, DUPLICATE_TARGET, f"{rule.path.text} matches {len(found)} accounts ({ids})"
                    )
                )
            else:
                account = found[0]
                owner = linked_owner.get(account.id) or claimed.get(account.id)
                if owner is not None:
                    conflicts.append(
                        Conflict(
                            source_id,
                            DUPLICATE_SOURCE,
                            f"account {account.id} found by {rule.path.text} is already linked to {owner}",
                        )
                    )
                else:
                    claimed[account.id] = source_id
                    matches.append(Match(source_id, account, rule.path.text))
            break
    return matches, conflicts
