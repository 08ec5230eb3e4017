"""Full reconcile: read every object of the app and make the diff baseline what the app actually
holds, so that changes made directly in the app (drift) are corrected by the ordinary diff.

- A linked object whose attributes or ``active`` differ in the app gets its baseline replaced;
  the diff then PATCHes the drifted paths back, and logs a ``DriftDetected`` note saying which.
- A linked object missing from the listing is read by its id: only a 404 drops its link
  (``MissingInApp``; if it is in scope it is matched or created again in the same cycle). An
  account the read returns keeps its link and is the baseline (servers that page badly or hide
  inactive accounts from listings); a read that fails keeps the link untouched and says so.
- A listing holding fewer than half of the linked objects is refused before anything changes:
  a listing that short is a broken listing far more often than a mass deletion in the app.
- Group members are compared too: members added in the app that the directory does not hold are
  removed, members removed in the app are added back. An app whose group reads carry no members
  (profile ``group_reads_members: false``) cannot show drift there: the members the cycle last
  wrote (the state store's baseline) stay the app's membership as far as the diff knows.
- ``restart=full_reset`` also re-matches linked objects by the matching attributes, so a link to a
  wrong account (a restored or re-created app) is corrected instead of trusted.

Paths the app may not return (create-only and redacted mappings, e.g. passwords) keep their
baseline: their absence from a read is not drift.
"""

from __future__ import annotations

from typing import Any

from provisioning.connectors.base import AppConnector
from provisioning.connectors.errors import ConnectorError, NotFound
from provisioning.cycle import baseline
from provisioning.cycle.context import CycleContext, ObjectRules
from provisioning.engine.app_object import AppObject
from provisioning.engine.matching import match_accounts
from provisioning.engine.plan import LinkState, Skip
from provisioning.engine.vocabulary import ObjectType

# a member the app's group holds that is not one of our linked users: removed by the diff
UNMANAGED_PREFIX = "unmanaged:"
# below this many links a short listing is not suspicious enough to refuse (each is read by id)
FEW_LINKS = 10
UNCONFIRMED = "MissingInListing"
DRIFT = "DriftDetected"


class ListingTooShort(Exception):
    """The app listed far fewer of our linked objects than we hold links to: nothing is dropped."""


def reconcile(
    ctx: CycleContext,
    object_type: str,
    rules: ObjectRules,
    connector: AppConnector,
    listing: list[AppObject],
    known: dict[str, tuple[str, dict[str, Any]]],
    chosen: set[str] | None,
) -> dict[str, Any]:
    """``known``: source id -> (display, mapped attributes) of the directory's objects."""
    links = baseline.links(ctx, object_type)
    if chosen is not None:
        links = {s: link for s, link in links.items() if s in chosen}
    actual = {r.id: r for r in listing}
    read = len(actual)
    _check_listing(object_type, links, actual)
    unobservable = {m.target for m in rules.mappings if m.on_create_only or m.sensitive}
    rows: list[dict[str, Any]] = []
    notes: dict[str, list[str]] = {}
    rematched = _rematch(ctx, rules, links, actual, known) if ctx.options.relinks else {}
    missing = {s: link for s, link in links.items() if s not in rematched and link.target_id not in actual}
    removed, unconfirmed = _confirm_missing(connector, object_type, missing, actual, notes)
    for source_id, link in links.items():
        if source_id in removed or source_id in unconfirmed:
            continue
        account, matched_by = rematched.get(source_id, (actual[link.target_id], None))
        seen = {p: account.attributes.get(p) for p in rules.paths}
        seen.update({p: link.attributes[p] for p in unobservable if p in link.attributes})
        changed = sorted(p for p in seen if seen[p] != link.attributes.get(p))
        active = account.active if object_type == ObjectType.USER else link.active  # groups have no active
        if active != link.active:
            changed.append("active")
        if matched_by:
            notes.setdefault(source_id, []).append(
                f"re-matched by {matched_by}: app id {link.target_id} -> {account.id}"
            )
        if changed or matched_by:
            rows.append(
                {
                    "source_id": source_id,
                    "target_id": account.id,
                    "matched_by": matched_by,
                    "attributes": seen,
                    "active": active,
                }
            )
        if changed:
            notes.setdefault(source_id, []).append("changed in the app: " + ", ".join(changed))
    # a re-matched link is forgotten and written anew: two links may swap their app ids
    relinked = [s for s, (_, by) in rematched.items() if by]
    baseline.save_links(ctx, object_type, rows, [*removed, *relinked])
    member_drift = _reconcile_members(ctx, links, actual, notes) if object_type == ObjectType.GROUP else 0
    codes = {s: "MissingInApp" if s in removed else UNCONFIRMED if s in missing else DRIFT for s in notes}
    ctx.store.record_skips(
        ctx.app,
        ctx.cycle_id,
        [Skip(s, known.get(s, (s,))[0], codes[s], "; ".join(n)) for s, n in notes.items()],
        object_type,
        log_only=True,
    )
    owned = {link.target_id for link in links.values()}
    return {
        "read": read,
        "read_by_id": len(missing) - len(removed) - len(unconfirmed),
        "unconfirmed": len(unconfirmed),
        "drifted": sum(1 for code in codes.values() if code == DRIFT),
        "missing": len(removed),
        "rematched": len(relinked),
        "member_drift": member_drift,
        "not_ours": sum(1 for target in actual if target not in owned),
    }


def _check_listing(object_type: str, links: dict[str, LinkState], actual: dict[str, AppObject]) -> None:
    """Refuse a listing that holds fewer than half of the linked objects, before anything changes."""
    listed = sum(1 for link in links.values() if link.target_id in actual)
    if len(links) > FEW_LINKS and listed * 2 < len(links):
        raise ListingTooShort(
            f"full reconcile refused: the app listed {len(actual)} {object_type}s, {listed} of the "
            f"{len(links)} linked ones; a listing that short is more likely broken (paging, inactive "
            "accounts hidden) than that many deleted in the app. No link was dropped; check the app's "
            "listing (or its page size) and run again"
        )


def _confirm_missing(
    connector: AppConnector,
    object_type: str,
    missing: dict[str, LinkState],
    actual: dict[str, AppObject],
    notes: dict[str, list[str]],
) -> tuple[set[str], set[str]]:
    """Read by id each linked object the listing lacks: only a 404 drops a link. Found ones join
    ``actual``. Returns (gone, unconfirmed: the read failed and the link is kept as it is)."""
    gone: set[str] = set()
    unconfirmed: set[str] = set()
    for source_id, link in missing.items():
        note = notes.setdefault(source_id, [])
        try:
            account = connector.get(object_type, link.target_id)
        except NotFound:
            gone.add(source_id)
            note.append(
                f"{object_type} {link.target_id} is gone from the app (404 when read by id); "
                "the link is dropped"
            )
            continue
        except ConnectorError as exc:
            if exc.stops_cycle:
                raise
            unconfirmed.add(source_id)
            note.append(
                f"{object_type} {link.target_id} is missing from the listing and reading it failed ({exc}); "
                "the link is kept"
            )
            continue
        actual[link.target_id] = account
        note.append(
            f"{object_type} {link.target_id} is missing from the listing but exists (read by id); "
            "the link is kept"
        )
    return gone, unconfirmed


def _rematch(
    ctx: CycleContext,
    rules: ObjectRules,
    links: dict[str, LinkState],
    actual: dict[str, AppObject],
    known: dict[str, tuple[str, dict[str, Any]]],
) -> dict[str, tuple[AppObject | None, str | None]]:
    """Linked object -> (the account its matching attributes find, how); links whose object cannot
    be found by its attributes keep their id (when it still exists), never a guess."""
    candidates = [(s, known[s][1]) for s in links if s in known and known[s][1]]
    matches, _ = match_accounts(candidates, list(actual.values()), rules.rules, {})
    moved = {m.source_id: m for m in matches if m.account.id != links[m.source_id].target_id}
    held = {link.target_id for s, link in links.items() if s not in moved}
    return {
        s: (m.account, f"{m.matched_by} (full reset)") for s, m in moved.items() if m.account.id not in held
    }


def _reconcile_members(
    ctx: CycleContext,
    links: dict[str, LinkState],
    actual: dict[str, AppObject],
    notes: dict[str, list[str]],
) -> int:
    owners = {link.target_id: s for s, link in baseline.links(ctx, ObjectType.USER).items()}
    applied = baseline.members(ctx)
    changed: dict[str, dict[str, str]] = {}
    for source_id, link in links.items():
        group = actual.get(link.target_id)
        if group is None or group.members is None:
            continue  # members unknown (the app's group reads carry none): the baseline stands
        in_app = {owners.get(m, UNMANAGED_PREFIX + m): m for m in group.members or []}
        before = applied.get(source_id, {})
        if in_app != before:
            changed[source_id] = in_app
            added, dropped = len(in_app.keys() - before.keys()), len(before.keys() - in_app.keys())
            notes.setdefault(source_id, []).append(
                f"members changed in the app: {added} added, {dropped} removed"
            )
    baseline.save_members(ctx, changed)
    return len(changed)
