"""Each SCIM app profile through full cycles against a real scim2-server that answers as that app
does (tests/support/app_behaviour_proxy.py): filters it cannot run, member PATCHes above its
limit, group reads without members, cursor paging, its required headers and create attributes,
its rate. Every cycle must end with the app exactly as the directory says, having sent nothing
the app would refuse. Member limits are lowered here so that the demo's groups (dozens of
members) exceed them; the presets' own numbers are checked in tests/unit/config."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from provisioning.config.scim_profile import ScimProfile
from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.connector import ScimConnector, client_options
from provisioning.cycle.context import CycleContext
from provisioning.cycle.options import RunOptions
from provisioning.demo.scim_server import ScimServer
from tests.conftest import TOKEN, ScimApp
from tests.integration.cycle_helpers import (
    DEPARTMENTS_AND_DIVISIONS,
    MEMBERS_SQL,
    Harness,
    directory_groups,
    wiki_scope,
)
from tests.support.app_behaviour_proxy import AppBehaviourProxy
from tests.support.fault_proxy import RateLimit

MEMBER_LIMIT = 5  # the demo's division groups hold dozens of members
# what Salesforce wants on create: the user's profile, as an entitlement
ENTITLEMENT = {
    "target": 'entitlements[type eq "profile"].value',
    "value": "00e000000000001",
    "apply": "on_create",
}


class ProfileHarness(Harness):
    """The cycle helpers' harness, its client built as the Airflow hook builds it for a profile:
    the profile's headers, paging and ServiceProviderConfig path, and the target's rate."""

    def context(self, cycle_id: str) -> CycleContext:
        ctx = super().context(cycle_id)
        target = self.config.target
        ctx.open_app = lambda: ScimConnector.for_app(
            ScimClient(
                self.scim_app.url,
                self.scim_app.token,
                backoff_initial=0.01,
                max_retries=3,
                page_size=target.page_size,
                requests_per_second=target.requests_per_second,
                **client_options(target.profile),
            ),
            self.config,
        )
        return ctx


@contextmanager
def app_behaving_as(profile: ScimProfile, rate_limit: RateLimit | None = None) -> Iterator[ScimApp]:
    with ScimServer(token=TOKEN) as server, AppBehaviourProxy(server.url, profile, rate_limit) as proxy:
        yield ScimApp(server, proxy)  # type: ignore[arg-type]  # the proxy has the fault proxy's reads


def harness_for(directory_db, scim_app: ScimApp, tmp_path, profile: dict, users: dict | None = None):
    harness = ProfileHarness(directory_db, scim_app, tmp_path / "state.db")
    target = {k: v for k, v in harness.raw("target").items() if k != "page_size"}  # the profile's page
    harness.configure(target={**target, "profile": profile}, groups={**DEPARTMENTS_AND_DIVISIONS})
    if users:
        harness.configure(users={**harness.raw("users"), **users})
    assert harness.config.problems() == []
    return harness


def assert_exact(harness: Harness) -> None:
    """The app holds exactly the directory's users and groups, each group exactly its members
    (read from the server directly, the app's own reads being what is under test)."""
    app = harness.scim_app
    users = app.users()
    scope = wiki_scope(harness)
    assert {u["userName"] for u in users if u.get("active", True)} == scope
    names = {u["id"]: u["userName"] for u in users}
    groups = app.groups()
    wanted = directory_groups(harness)
    assert set(groups) == set(wanted.values())
    for group_id, name in wanted.items():
        members = {names.get(m["value"], m["value"]) for m in groups[name].get("members", [])}
        assert members == harness.upns(MEMBERS_SQL, g=group_id) & scope, name


def assert_obeyed(proxy: AppBehaviourProxy) -> None:
    assert proxy.violations == []
    assert proxy.throttled == []


def move_people(harness: Harness) -> None:
    """Two engineers leave Engineering (one leaves the wiki with it), a Sales person joins it."""
    engineers = harness.rows("select member_id from group_members where group_id = 'g-dept-engineering'")
    for (member,) in engineers[:2]:
        harness.sql(
            "delete from group_members where group_id = 'g-dept-engineering' and member_id = :m", m=member
        )
    seller = harness.rows("select id from users where department = 'Sales' and accountEnabled = 1")[0][0]
    harness.sql("insert into group_members values ('g-dept-engineering', :u, 'user')", u=seller)


def largest_group(harness: Harness) -> int:
    scope = wiki_scope(harness)
    return max(len(harness.upns(MEMBERS_SQL, g=g) & scope) for g in directory_groups(harness))


def test_aws_identity_center(directory_db, tmp_path):
    profile = {"preset": "aws_identity_center", "max_members_per_patch": MEMBER_LIMIT}
    with app_behaving_as(ScimProfile.model_validate({**profile})) as app:
        # the preset with a lowered limit, as the harness's config resolves it
        harness = harness_for(directory_db, app, tmp_path, profile)
        app.proxy.profile = harness.config.target.profile
        assert largest_group(harness) > MEMBER_LIMIT
        first = harness.cycle()
        assert first["apply"]["failed"] == 0, first
        assert_exact(harness)
        assert_obeyed(app.proxy)
        assert any("cursor=" in r.path for r in app.proxy.requests)

        # the app shows no members: the diff works from what the last cycle wrote
        move_people(harness)
        second = harness.cycle()
        assert second["apply"]["failed"] == 0, second
        assert_exact(harness)

        # a full reconcile reads groups without members: that is not drift, nothing is rewritten
        app.proxy.reset()
        harness.options = RunOptions(full_reconcile=True)
        third = harness.cycle()
        assert third["match"]["groups"]["reconcile"]["member_drift"] == 0
        assert app.proxy.writes() == []
        assert_exact(harness)
        assert_obeyed(app.proxy)


def test_github_emu(directory_db, tmp_path):
    # the preset's rate is about 1,000 users an hour: raised here, held below the proxy's limit
    profile = {"preset": "github_emu", "requests_per_second": 150, "max_members_per_patch": MEMBER_LIMIT}
    with app_behaving_as(ScimProfile.model_validate(profile), RateLimit(200, burst=20)) as app:
        harness = harness_for(directory_db, app, tmp_path, profile)
        app.proxy.profile = harness.config.target.profile
        first = harness.cycle()
        assert first["apply"]["failed"] == 0, first
        assert_exact(harness)
        assert_obeyed(app.proxy)
        posts = [r.path.split("?")[0] for r in app.proxy.requests if r.method == "POST"]
        assert posts.index("/Groups") > max(i for i, p in enumerate(posts) if p == "/Users")

        # leavers are suspended with active=false, never deleted
        move_people(harness)
        second = harness.cycle()
        assert second["apply"]["failed"] == 0, second
        assert_exact(harness)
        assert not [r for r in app.proxy.requests if r.method == "DELETE"]
        assert any(u.get("active") is False for u in app.users())
        assert_obeyed(app.proxy)


def test_salesforce(directory_db, tmp_path):
    profile = {"preset": "salesforce", "max_members_per_patch": MEMBER_LIMIT}
    with app_behaving_as(ScimProfile.model_validate(profile)) as app:
        mappings = [*Harness(directory_db, app, tmp_path / "probe.db").raw("users")["mappings"], ENTITLEMENT]
        harness = harness_for(directory_db, app, tmp_path, profile, {"mappings": mappings})
        app.proxy.profile = harness.config.target.profile
        first = harness.cycle()
        assert first["apply"]["failed"] == 0, first
        assert_exact(harness)
        assert_obeyed(app.proxy)
        assert any(r.path.startswith("/ServiceProviderConfigs") for r in app.proxy.requests)
        assert all(u["entitlements"][0]["value"] == "00e000000000001" for u in app.users())
        move_people(harness)
        assert harness.cycle()["apply"]["failed"] == 0
        assert_exact(harness)
        assert_obeyed(app.proxy)


def test_slack_held_below_the_orgs_rate(directory_db, tmp_path):
    # Slack's 3 requests a second scaled up for speed: the profile's rate under the proxy's limit
    profile = {"preset": "slack", "requests_per_second": 80, "max_members_per_patch": MEMBER_LIMIT}
    with app_behaving_as(ScimProfile.model_validate(profile), RateLimit(100, burst=10)) as app:
        harness = harness_for(directory_db, app, tmp_path, profile)
        app.proxy.profile = harness.config.target.profile
        first = harness.cycle()
        assert first["apply"]["failed"] == 0, first
        assert_exact(harness)
        assert_obeyed(app.proxy)


def test_an_app_updated_by_put(directory_db, tmp_path):
    """No preset takes PUT only, but an app may: changes and disables are whole-resource PUTs
    of what the app holds, and nothing else about the account is lost."""
    profile = {"update_method": "put"}
    with app_behaving_as(ScimProfile.model_validate(profile)) as app:
        harness = harness_for(directory_db, app, tmp_path, profile)
        assert harness.cycle()["apply"]["failed"] == 0
        mover, leaver = sorted(wiki_scope(harness))[:2]
        harness.sql("update users set jobTitle = 'Principal Gardener' where userPrincipalName = :u", u=mover)
        harness.sql("update users set accountEnabled = 0 where userPrincipalName = :u", u=leaver)
        second = harness.cycle()
        assert second["apply"]["failed"] == 0, second
        assert_exact(harness)
        accounts = app.by_username()
        assert accounts[mover]["title"] == "Principal Gardener" and accounts[leaver]["active"] is False
        assert accounts[leaver]["name"]["familyName"]  # the PUT kept what it did not change
        assert {r.method for r in app.proxy.writes() if r.path.startswith("/Users/")} == {"PUT"}
        assert_obeyed(app.proxy)


def test_slack_429_retry_after_is_honoured():
    """Above the org's rate Slack answers 429 with Retry-After: the client waits that long, then
    every request succeeds."""
    profile = ScimProfile.model_validate({"preset": "slack"})
    limit = RateLimit(4, burst=2)
    with app_behaving_as(profile, limit) as app:
        # no rate of ours: the app's 429s alone pace the client
        with ScimClient(app.url, TOKEN, max_retries=5, **client_options(profile)) as client:
            made = [
                client.create_resource("user", {"schemas": [USER], "userName": f"u{i}"}) for i in range(6)
            ]
        assert len({u["id"] for u in made}) == 6
        assert len(app.users()) == 6
        proxy: AppBehaviourProxy = app.proxy  # type: ignore[assignment]
        assert proxy.retry_after, "the rate limit was never reached"
        for answered, seconds in proxy.retry_after:
            early = [t for t in proxy.arrivals if answered < t < answered + seconds - 0.05]
            assert early == [], f"a request came {min(early) - answered:.2f}s after a {seconds}s Retry-After"
        assert proxy.violations == []


USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def test_a_request_the_profile_forbids_is_refused_by_the_proxy(tmp_path):
    """The proxy itself: what the app refuses is refused and recorded (the other tests' zero
    violations mean something only if it catches them)."""
    profile = ScimProfile.model_validate({"preset": "aws_identity_center", "max_members_per_patch": 2})
    with (
        app_behaving_as(profile) as app,
        ScimClient(app.url, TOKEN, max_retries=0, **client_options(profile)) as client,
        ScimClient(app.url, TOKEN, max_retries=0) as standard,
    ):
        with pytest.raises(Exception, match="invalidFilter"):
            client.find_resources("user", "emails.value", "a@example.com")
        with pytest.raises(Exception, match="startIndex"):
            list(standard.list_resources("user"))
        group = client.create_resource(
            "group", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "g"}
        )
        users = [
            client.create_resource(
                "user",
                {
                    "schemas": [USER],
                    "userName": f"u{i}",
                    "displayName": f"U {i}",
                    "name": {"givenName": "U", "familyName": str(i)},
                },
            )["id"]
            for i in range(3)
        ]
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": u} for u in users]}],
        }
        with pytest.raises(Exception, match="at most 2"):
            client.patch_resource("group", group["id"], body)
        assert [v.reason.split(":")[0] for v in app.proxy.violations] == [
            "filter attribute not supported",
            "startIndex is not supported (cursor paging)",
            "3 membership changes in one PATCH, at most 2",
        ]
        # through the profile's connector the same members go in two PATCHes, and the group read
        # comes back without them, as AWS answers
        connector = ScimConnector(ScimClient(app.url, TOKEN, **client_options(profile)), {}, profile=profile)
        connector.add_members(group["id"], users)
        assert len(app.proxy.violations) == 3
        assert connector.get("group", group["id"]).members is None
        assert len(app.groups()["g"]["members"]) == 3
