"""Finding the app account of one directory object by its matching attributes.

Rules are asked in precedence order and the first that finds the account ends the lookup, as the
engine's matching does. A query the app refuses (a SCIM 400 ``invalidFilter`` on
``emails.value``) is not this object's fault: the lookup falls back to the next rule, and the
refusal is remembered in the state store (logged once) so that later lookups skip that rule for a
while instead of failing every cycle. An object none of whose rules the app accepts is looked for
in one listing of the app. Any other error is raised for the caller to pin on this one object;
only an unusable app (``stops_cycle``) ends more than that.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from provisioning.connectors.base import AppConnector
from provisioning.connectors.errors import ConnectorError, QueryRefused
from provisioning.cycle.context import CycleContext
from provisioning.cycle.guards import now
from provisioning.engine.app_object import AppObject
from provisioning.engine.matching import Conflict, MatchRule
from provisioning.engine.plan import Skip
from provisioning.state.escrow import action_fingerprint

FILTER_REFUSED = "FilterRefused"
LOOKUP_FAILED = "LookupFailed"
# how long a refused filter attribute is not asked again (an app may learn it with an upgrade)
REFUSAL_MEMORY = timedelta(days=7)


class Lookup:
    """One per step (or per action): reads the refused attributes once, lists the app at most once."""

    def __init__(self, ctx: CycleContext, connector: AppConnector, object_type: str, rules: list[MatchRule]):
        self.ctx = ctx
        self.connector = connector
        self.object_type = object_type
        self.rules = rules
        self.refused = ctx.store.refused_filters(ctx.app, object_type, now() - REFUSAL_MEMORY)
        self._listing: list[AppObject] | None = None

    def find(self, source_id: str, display: str, attrs: dict[str, Any]) -> list[AppObject]:
        """Accounts that may be this object's (the engine then applies the exact rules)."""
        found: list[AppObject] = []
        asked = refused = False
        for rule in self.rules:
            value = attrs.get(rule.path.text)
            if value in (None, ""):
                continue
            resources = self._ask(rule, value, source_id, display)
            if resources is None:
                refused = True
                continue
            asked = True
            found += resources
            if any(rule.key(r.attributes.get(rule.path.text)) == rule.key(value) for r in resources):
                break
        return self._list_all() if refused and not asked else found

    def _ask(self, rule: MatchRule, value: Any, source_id: str, display: str) -> list[AppObject] | None:
        """One query; None when the app cannot search by the rule's attribute."""
        path = rule.path.text
        if path in self.refused:
            return None
        try:
            return self.connector.find(self.object_type, path, str(value))
        except QueryRefused as exc:
            self._refused(path, exc, source_id, display)
            return None

    def _list_all(self) -> list[AppObject]:
        if self._listing is None:
            self._listing = list(self.connector.list(self.object_type, members=False))
        return self._listing

    def _refused(self, path: str, error: QueryRefused, source_id: str, display: str) -> None:
        self.refused.add(path)
        self.ctx.store.refuse_filter(self.ctx.app, self.object_type, path, str(error))
        note = (
            f"the app refuses filters on {error.attribute} ({error}); matching skips that rule for "
            f"{REFUSAL_MEMORY.days} days and uses the next one"
        )
        self.ctx.store.record_skips(
            self.ctx.app,
            self.ctx.cycle_id,
            [Skip(source_id, display, FILTER_REFUSED, note)],
            self.object_type,
            log_only=True,
        )


def find_each(
    ctx: CycleContext,
    connector: AppConnector,
    object_type: str,
    rules: list[MatchRule],
    objects: list[tuple[str, str, dict[str, Any]]],
) -> tuple[list[AppObject], list[Conflict]]:
    """Filter queries per object; the engine then applies the exact rules. A lookup error is that
    object's: a skip row and escrow (backing off as a failed action does, until its matching values
    change or ``restart=escrow``); only an unusable app stops the step."""
    lookup = Lookup(ctx, connector, object_type, rules)
    escrow = {} if ctx.options.clears_escrow else ctx.store.escrow(ctx.app)
    current = now()
    found: dict[str, AppObject] = {}
    failed: list[Conflict] = []
    recovered: dict[str, str] = {}
    for source_id, display, attrs in objects:
        key = action_fingerprint(object_type, "lookup", {r.path.text: attrs.get(r.path.text) for r in rules})
        entry = escrow.get((object_type, source_id))
        if entry and entry["fingerprint"] == key and entry["next_retry_at"] > current:
            failed.append(
                Conflict(
                    source_id,
                    LOOKUP_FAILED,
                    f"looking the {object_type} up failed {entry['failures']} time(s) "
                    f"({entry['error_message']}); "
                    f"in escrow, retried not before {entry['next_retry_at']:%Y-%m-%d %H:%M} UTC",
                )
            )
            continue
        try:
            resources = lookup.find(source_id, display, attrs)
        except ConnectorError as exc:
            if exc.stops_cycle:
                raise
            message = f"looking the {object_type} up in the app failed: {exc}"
            if not ctx.options.dry_run:
                note = ctx.store.escrow_failure(
                    ctx.app, object_type, source_id, display, key, exc.permanent, exc.code, str(exc)
                )
                message = f"{message}; {note}"
            failed.append(Conflict(source_id, LOOKUP_FAILED, message))
            continue
        if entry:
            recovered[source_id] = key
        found.update((r.id, r) for r in resources)
    if recovered and not ctx.options.dry_run:
        ctx.store.leave_escrow(ctx.app, object_type, list(recovered), set(recovered.values()))
    return list(found.values()), failed
