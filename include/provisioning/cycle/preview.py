"""Provision-on-demand preview: every step a cycle would take for one user, writing nothing.

The same functions as a cycle (scope, scoping trace, mapping, matching, plan) on one user; the
app is only read (filter queries), the state store only read.
"""

from __future__ import annotations

from typing import Any

from provisioning.cycle.context import CycleContext
from provisioning.cycle.source_checks import read_directory
from provisioning.engine.assignments import assigned_user_ids, member_of
from provisioning.engine.desired import desired_users
from provisioning.engine.mapping import redact, sensitive_paths
from provisioning.engine.matching import match_accounts, source_conflicts
from provisioning.engine.references import resolve_references
from provisioning.engine.user_plan import DeprovisionPolicy, plan_users
from provisioning.engine.validation import validate_users
from provisioning.engine.vocabulary import ObjectType


class PreviewError(LookupError):
    pass


def preview(ctx: CycleContext, who: str) -> dict[str, Any]:
    snapshot = read_directory(ctx)
    users = snapshot.users
    found = users[(users["id"] == who) | (users["userPrincipalName"].str.lower() == who.lower())]
    if found.empty:
        raise PreviewError(f"no directory user with id or userPrincipalName {who!r}")
    user_id = str(found.iloc[0]["id"])
    names = dict(zip(snapshot.groups["id"], snapshot.groups["displayName"], strict=True))
    groups = member_of(snapshot.memberships, names).get(user_id, [])
    mine = snapshot.assignments[snapshot.assignments["app"] == ctx.app]
    assigned_groups = sorted(set(mine.loc[mine["principal_type"] == "group", "principal_id"]) & set(groups))
    direct = user_id in set(mine.loc[mine["principal_type"] == "user", "principal_id"])
    row = found.astype(object).where(found.notna(), None).to_dict("records")[0]
    row["memberOf"] = groups
    report: dict[str, Any] = {
        "user": {"id": user_id, "userPrincipalName": row.get("userPrincipalName")},
        "assignment": {
            "scope": ctx.config.users.scope,
            "assigned": ctx.config.users.scope == "all"
            or user_id in assigned_user_ids(ctx.app, snapshot.assignments, snapshot.memberships),
            "directly": direct,
            "via_groups": assigned_groups,
        },
        "account_enabled": row.get("accountEnabled"),
        "scoping": [
            {
                "filter": f.name,
                "clauses": [{"clause": c, "result": r} for c, r in f.trace(row)],
                "passes": f.passes(row),
            }
            for f in ctx.users.filters
        ],
    }
    (desired,) = desired_users(
        ctx.app,
        ctx.config.users.scope,
        found,
        snapshot.assignments,
        snapshot.memberships,
        ctx.users.mappings,
        ctx.users.filters,
        names,
    )
    (desired,) = validate_users([desired], ctx.users.paths, ctx.users.mappings, users)
    sensitive = sensitive_paths(ctx.users.mappings)
    report["in_scope"] = desired.in_scope
    report["out_of_scope_reason"] = desired.reason
    report["mapping_error"] = desired.error
    report["attributes"] = {k: redact(k, v, sensitive) for k, v in desired.attributes.items()}

    links = ctx.store.links(ctx.app)
    link = links.get(user_id)
    matching: dict[str, Any]
    if link is not None:
        matching = {"outcome": "linked", "target_id": link.target_id}
    elif desired.in_scope and not desired.error:
        others = [(s, {}) for s in links]  # linked users' values are not needed to judge one user
        conflicts = source_conflicts([(user_id, desired.attributes)], others, ctx.users.rules)
        if conflicts:
            matching = {"outcome": "conflict", "code": conflicts[0].code, "message": conflicts[0].message}
        else:
            app = ctx.connector()
            accounts = []
            for rule in ctx.users.rules:
                value = desired.attributes.get(rule.path.text)
                if value not in (None, ""):
                    accounts += app.find(ObjectType.USER, rule.path.text, str(value))
            unique = list({a.id: a for a in accounts}.values())
            owners = {lk.target_id: s for s, lk in links.items()}
            matches, more = match_accounts([(user_id, desired.attributes)], unique, ctx.users.rules, owners)
            if more:
                matching = {"outcome": "conflict", "code": more[0].code, "message": more[0].message}
            elif matches:
                matching = {
                    "outcome": "matched",
                    "target_id": matches[0].account.id,
                    "matched_by": matches[0].matched_by,
                }
            else:
                matching = {"outcome": "no existing account"}
    else:
        matching = {"outcome": "not needed (not in scope)"}
    report["matching"] = matching

    (resolved,) = resolve_references([desired], ctx.users.mappings, links)
    plan_links = {user_id: link} if link else {}
    policy = ctx.config.users.deprovision
    plan = plan_users(
        [resolved],
        plan_links,
        ctx.users.mappings,
        ctx.users.paths,
        ctx.config.users.actions,
        deprovision=DeprovisionPolicy(policy.action, policy.delete_after_days),
    )
    if matching["outcome"] == "conflict":
        report["action"] = {"action": "skip", "reason": matching["message"]}
    elif plan.skipped:
        report["action"] = {"action": "skip", "reason": plan.skipped[0].reason}
    elif plan.actions:
        action = plan.actions[0]
        name = "update (link the existing account)" if matching["outcome"] == "matched" else action.action
        report["action"] = {"action": name, "modified": action.modified_properties(), "reason": action.reason}
    else:
        report["action"] = {"action": "none", "reason": "nothing changed" if link else "not in scope"}
    return report


def render(report: dict[str, Any]) -> str:
    """The steps as a person reads them in Entra's provision-on-demand."""
    a = report["assignment"]
    lines = [f"User {report['user']['userPrincipalName']} ({report['user']['id']})", "1. Assignment"]
    if a["scope"] == "all":
        lines.append("   scope: all users")
    else:
        via = ", ".join(a["via_groups"]) or "no assigned group"
        lines.append(f"   assigned: {a['assigned']} (directly: {a['directly']}; via groups: {via})")
    lines.append(f"   accountEnabled: {report['account_enabled']}")
    lines.append("2. Scoping filters" + ("" if report["scoping"] else ": none (everyone passes)"))
    for f in report["scoping"]:
        lines.append(f"   {f['filter']}: {'passes' if f['passes'] else 'fails'}")
        lines += [f"     {'PASS' if c['result'] else 'FAIL'}  {c['clause']}" for c in f["clauses"]]
    lines.append(
        f"   in scope: {report['in_scope']}"
        + (f" ({report['out_of_scope_reason']})" if report["out_of_scope_reason"] else "")
    )
    lines.append(
        "3. Mapped attributes" + (f": ERROR {report['mapping_error']}" if report["mapping_error"] else "")
    )
    lines += [f"   {k} = {v!r}" for k, v in report["attributes"].items()]
    m = report["matching"]
    lines.append(
        f"4. Matching: {m['outcome']}" + "".join(f"; {k} {v}" for k, v in m.items() if k != "outcome")
    )
    act = report["action"]
    lines.append(f"5. Action: {act['action']}" + (f" ({act['reason']})" if act.get("reason") else ""))
    lines += [f"   {c['path']}: {c['old']!r} -> {c['new']!r}" for c in act.get("modified") or []]
    return "\n".join(lines)
