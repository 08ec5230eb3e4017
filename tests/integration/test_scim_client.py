"""The SCIM client and hook against a real scim2-server process (through a fault proxy)."""

import time

import pytest

from provisioning.connectors.scim.client import ScimClient, escape_filter_value, parse_retry_after
from provisioning.connectors.scim.errors import (
    ScimAuthError,
    ScimConflictError,
    ScimError,
    ScimNotFoundError,
    ScimProtocolError,
    ScimRejectedError,
    ScimTransientError,
)
from provisioning.connectors.scim.hook import ScimHook
from tests.conftest import connection_env
from tests.support.fault_proxy import Fault, ListingLies
from tests.support.forward_proxy import ForwardProxy

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def client_for(app, **options) -> ScimClient:
    """A client that has read the app's ServiceProviderConfig already, with a reset request log."""
    options.setdefault("backoff_initial", 0.01)
    options.setdefault("backoff_max", 0.05)
    client = ScimClient(app.url, app.token, **options)
    client.effective_page_size()
    app.proxy.reset()
    return client


def new_user(user_name, **extra):
    return {"schemas": [USER], "userName": user_name, **extra}


def test_create_find_patch_and_service_provider_config(scim_app):
    with client_for(scim_app) as client:
        assert client.service_provider_config().patch.supported is True
        created = client.create_resource("user", new_user("ana@x", active=True, name={"givenName": "Ana"}))
        assert [u["id"] for u in client.find_resources("user", "userName", "ANA@x")] == [created["id"]]
        client.patch_resource(
            "user",
            created["id"],
            {
                "schemas": [PATCH],
                "Operations": [
                    {"op": "replace", "path": "name.givenName", "value": "Anna"},
                    {"op": "replace", "path": "active", "value": False},
                ],
            },
        )
    stored = scim_app.by_username()["ana@x"]
    assert stored["name"]["givenName"] == "Anna" and stored["active"] is False


def test_pagination_returns_every_user_once(scim_app):
    with client_for(scim_app, page_size=7) as client:
        for i in range(23):
            client.create_resource("user", new_user(f"user{i:02d}"))
        scim_app.proxy.reset()
        names = [u["userName"] for u in client.list_resources("user", attributes=["userName"])]
    assert sorted(names) == [f"user{i:02d}" for i in range(23)]
    assert scim_app.proxy.count("GET") == 4  # 7 + 7 + 7 + 2 (ServiceProviderConfig was read before)


def test_an_unpaged_app_is_listed_in_one_request_without_count(scim_app):
    with client_for(scim_app, paging="none") as client:
        for i in range(23):
            client.create_resource("user", new_user(f"user{i:02d}"))
        scim_app.proxy.reset()
        names = [u["userName"] for u in client.list_resources("user")]
    assert sorted(names) == [f"user{i:02d}" for i in range(23)]
    (listing,) = scim_app.proxy.requests
    assert "count=" not in listing.path and "startIndex=" not in listing.path


def test_an_unpaged_app_that_pages_anyway_is_refused_not_trusted(scim_app):
    with client_for(scim_app, paging="none") as client:
        for i in range(12):
            client.create_resource("user", new_user(f"user{i:02d}"))
        scim_app.proxy.listing = ListingLies(max_page=10)
        with pytest.raises(
            ScimProtocolError, match="answered 10 of 12 resources, and its profile says it does not page"
        ):
            list(client.list_resources("user"))


def test_page_size_is_capped_by_the_announced_max_results(tmp_path):
    from provisioning.demo.scim_server import ScimServer
    from tests.support.fault_proxy import FaultProxy

    config = tmp_path / "spc.json"
    config.write_text(
        '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"], '
        '"patch": {"supported": true}, "bulk": {"supported": false}, '
        '"filter": {"supported": true, "maxResults": 5}, "changePassword": {"supported": false}, '
        '"sort": {"supported": false}, "etag": {"supported": false}, "authenticationSchemes": []}'
    )
    with (
        ScimServer(token="t", extra_args=["--service-provider-config", str(config)]) as server,
        FaultProxy(server.url) as proxy,
        ScimClient(proxy.url, "t", page_size=100) as client,
    ):
        for i in range(12):
            client.create_resource("user", new_user(f"u{i}"))
        assert client.effective_page_size() == 5
        proxy.reset()
        assert len(list(client.list_resources("user"))) == 12
        assert [r.path.split("count=")[1] for r in proxy.requests] == ["5", "5", "5"]


@pytest.mark.parametrize("name", ['quote"inside', "back\\slash", 'both\\"', "plain"])
def test_filter_values_are_escaped(scim_app, name):
    with client_for(scim_app) as client:
        created = client.create_resource("user", new_user(name))
        client.create_resource("user", new_user(name + "-other"))
        assert [u["id"] for u in client.find_resources("user", "userName", name)] == [created["id"]]
    assert escape_filter_value('a"b\\c') == 'a\\"b\\\\c'


def test_wrong_token_is_an_auth_error_that_never_shows_the_token(scim_app):
    with ScimClient(scim_app.url, "wrong-secret-token") as client, pytest.raises(ScimAuthError) as info:
        list(client.list_resources("user"))
    assert info.value.status == 401 and info.value.stops_cycle
    assert "wrong-secret-token" not in str(info.value) and scim_app.token not in str(info.value)
    assert scim_app.proxy.count("GET", 401) == 1  # not retried: it cannot get better


@pytest.mark.parametrize(
    "body",
    [
        b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400",'
        b'"scimType":"invalidValue","detail":"refused request with Authorization: Bearer %s"}',
        # not JSON: cut at 300 characters, where the token begins (unmasked, its first 4 were kept)
        b"<html>" + b"x" * 283 + b"Bearer %s</html>",
    ],
)
def test_an_app_that_echoes_our_token_in_an_error_never_gets_it_stored(scim_app, body):
    scim_app.proxy.inject(Fault(400, body=body.replace(b"%s", scim_app.token.encode()), methods=("POST",)))
    with client_for(scim_app) as client, pytest.raises(ScimError) as refused:
        client.create_resource("user", new_user("echoed"))
    text = f"{refused.value} {refused.value.detail} {refused.value.code}"
    assert scim_app.token[:4] not in text and "Bearer ***" in text


def test_an_app_that_echoes_a_sensitive_value_in_an_error_never_gets_it_stored(scim_app):
    """The connector knows which mapped paths are sensitive (``sensitive: true``, ``Redact()``): their
    values in a create or an update, new and previous, are masked in the app's error text."""
    from provisioning.config import AppConfig
    from provisioning.connectors.scim.connector import ScimConnector
    from provisioning.engine.changes import AttributeUpdate
    from tests.conftest import demo_config

    raw = demo_config("demo_wiki")
    for mapping in raw["users"]["mappings"]:
        if mapping["target"] == "title":
            mapping["sensitive"] = True
    echo = (
        b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400",'
        b'"detail":"title \\"Director of Mergers 7\\" (was \\"Head of Layoffs 3\\") is not allowed"}'
    )
    with ScimConnector.for_app(client_for(scim_app), AppConfig.model_validate(raw)) as connector:
        scim_app.proxy.inject(Fault(400, body=echo, methods=("POST", "PATCH")), times=2)
        attributes = {"userName": "echo@contoso.example", "title": "Director of Mergers 7"}
        with pytest.raises(ScimError) as on_create:
            connector.create("user", attributes, True)
        change = AttributeUpdate(
            set={"title": "Director of Mergers 7"}, previous={"title": "Head of Layoffs 3"}
        )
        with pytest.raises(ScimError) as on_update:
            connector.update("user", "some-id", change)
    # a create has no previous value to hide: only what it sent is masked
    assert str(on_create.value).endswith('detail=title "***" (was "Head of Layoffs 3") is not allowed')
    assert str(on_update.value).endswith('detail=title "***" (was "***") is not allowed')


def test_conflict_and_not_found_carry_scim_details(scim_app):
    with client_for(scim_app) as client:
        client.create_resource("user", new_user("dup"))
        with pytest.raises(ScimConflictError) as info:
            client.create_resource("user", new_user("DUP"))
        assert info.value.status == 409 and info.value.scim_type == "uniqueness"
        assert "status=409 scimType=uniqueness" in str(info.value) and "POST /Users" in str(info.value)
        with pytest.raises(ScimNotFoundError):
            client.patch_resource(
                "user",
                "nope",
                {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]},
            )
        with pytest.raises(ScimError) as bad:
            client.create_resource("user", {"schemas": [USER], "userName": "x", "notAnAttribute": 1})
        assert bad.value.status == 400 and bad.value.scim_type == "invalidSyntax"


def test_an_app_id_addresses_one_resource_whatever_it_holds(scim_app):
    """Ids are the app's to choose; one holding "/", "?", "#" or dot segments must not reach another
    resource (unencoded, ``DELETE /Users/../Groups/<id>`` deleted the group)."""
    with client_for(scim_app) as client:
        group = client.create_resource("group", {"schemas": [GROUP], "displayName": "Finance"})
        user = client.create_resource("user", new_user("kept", displayName="Kept"))
        disable = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
        for hostile in (f"../Groups/{group['id']}", f"{user['id']}/../../Groups/{group['id']}"):
            with pytest.raises(ScimNotFoundError):
                client.get_resource("user", hostile)
            with pytest.raises(ScimNotFoundError):
                client.delete_resource("user", hostile)
        for hostile in (f"{user['id']}?attributes=id", f"{user['id']}#x", "..", ".", "%2E%2E"):
            with pytest.raises(ScimNotFoundError):
                client.patch_resource("user", hostile, disable)
        assert client.get_resource("group", group["id"])["displayName"] == "Finance"
        assert client.get_resource("user", user["id"]).get("active") is not False
        sent = [r.path for r in scim_app.proxy.requests if r.method in ("DELETE", "PATCH")]
        assert len(sent) == 7 and all(not set("/?#") & set(path.split("/Users/", 1)[1]) for path in sent), (
            sent
        )


def test_429_retry_after_is_honoured(scim_app):
    with client_for(scim_app) as client:
        scim_app.proxy.inject(Fault(429, retry_after="1"), times=2)
        started = time.monotonic()
        assert list(client.list_resources("user")) == []
        elapsed = time.monotonic() - started
    assert elapsed >= 2.0  # two waits of the announced second, not our 10 ms backoff
    assert [r.status for r in scim_app.proxy.requests] == [429, 429, 200]


def test_429_without_retry_after_and_5xx_back_off_then_succeed(scim_app):
    with client_for(scim_app) as client:
        scim_app.proxy.inject(Fault(429))
        scim_app.proxy.inject(Fault(502, methods=("GET",)))
        client.create_resource(
            "user", new_user("after-faults")
        )  # a POST is retried on 429: the app did not act
        assert [u["userName"] for u in client.list_resources("user")] == [
            "after-faults"
        ]  # GET retried on 502
    assert [(r.method, r.status) for r in scim_app.proxy.requests] == [
        ("POST", 429),
        ("POST", 201),
        ("GET", 502),
        ("GET", 200),
    ]


def test_post_is_not_retried_when_the_app_may_have_acted(scim_app):
    scim_app.proxy.inject(Fault(500, methods=("POST",)))
    with client_for(scim_app) as client, pytest.raises(ScimTransientError) as info:
        client.create_resource("user", new_user("maybe-created"))
    assert info.value.status == 500
    assert scim_app.proxy.count("POST") == 1


def test_retries_give_up_after_max_retries(scim_app):
    client = client_for(scim_app, max_retries=2)
    scim_app.proxy.inject(Fault(503), times=10)
    with client, pytest.raises(ScimTransientError):
        list(client.list_resources("user"))
    assert scim_app.proxy.count("GET", 503) == 3


def test_timeouts_apply_to_every_call(scim_app):
    client = client_for(scim_app, timeout=0.2, max_retries=1)
    scim_app.proxy.delay = 1.0
    with client, pytest.raises(ScimTransientError) as info:
        client.create_resource("user", new_user("slow"))
    assert info.value.scim_type == "timeout"


def test_unreachable_app(scim_app):
    scim_app.server.stop()
    client = ScimClient(scim_app.server.url, "t", max_retries=1, backoff_initial=0.01)
    with client, pytest.raises(ScimTransientError, match="cannot connect"):
        list(client.list_resources("user"))


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("100000") == 300.0  # capped
    assert parse_retry_after("garbage") is None and parse_retry_after(None) is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") <= 1  # past date -> now


def test_hook_builds_client_from_connection_and_tests_it(scim_app, monkeypatch):
    monkeypatch.setenv(
        *connection_env(
            "scim_ok", conn_type="scim", host=scim_app.url, password=scim_app.token, extra={"page_size": 50}
        )
    )
    monkeypatch.setenv(*connection_env("scim_bad", conn_type="scim", host=scim_app.url, password="nope"))
    hook = ScimHook("scim_ok")
    assert hook.get_conn().page_size == 50
    ok, message = hook.test_connection()
    assert ok and "PATCH supported" in message
    ok, message = ScimHook("scim_bad").test_connection()
    assert not ok and "401" in message and "nope" not in message


def test_a_create_answered_with_an_oversized_201_may_have_made_the_account(scim_app):
    with client_for(scim_app, max_response_bytes=2000) as client:
        huge = b'{"id": "x", "padding": "' + b"p" * 5000 + b'"}'
        scim_app.proxy.inject(Fault(201, methods=("POST",), path="/Users", after_upstream=True, body=huge))
        with pytest.raises(ScimTransientError, match="larger than the limit of 2,000 bytes") as info:
            client.create_resource("user", new_user("big@x"))
    assert info.value.may_have_acted  # the cycle looks the account up before any second create
    assert scim_app.proxy.count("POST") == 1  # not re-sent by the client
    assert list(scim_app.by_username()) == ["big@x"]


def test_an_oversized_error_answer_is_a_refusal_of_that_request(scim_app):
    with client_for(scim_app, max_response_bytes=2000) as client:
        scim_app.proxy.inject(Fault(400, methods=("POST",), path="/Users", body=b"e" * 5000))
        with pytest.raises(ScimRejectedError, match="larger than the limit") as info:
            client.create_resource("user", new_user("big@x"))
    assert not info.value.may_have_acted and scim_app.users() == []


def test_a_404_page_that_is_not_scim_is_not_read_as_a_missing_account(scim_app):
    """A wrong base URL or a proxy that does not pass the path answers 404 with a web page: read as
    "the account is gone", a leaver's disable would pass for done while the account stays active."""
    with client_for(scim_app) as client:
        user = client.create_resource("user", new_user("ana@x", active=True))
        page = b"<html><body><h1>404 Not Found</h1>nginx</body></html>"
        scim_app.proxy.inject(Fault(404, methods=("PATCH",), body=page))
        with pytest.raises(ScimProtocolError, match="404 with a page that is not a SCIM error") as info:
            client.patch_resource(
                "user",
                user["id"],
                {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]},
            )
        assert info.value.stops_cycle
        scim_app.proxy.inject(Fault(404, methods=("GET",)))  # the app's own SCIM 404: gone indeed
        with pytest.raises(ScimNotFoundError):
            client.get_resource("user", user["id"])
        scim_app.proxy.inject(Fault(404, methods=("GET",), body=b""))  # an empty 404 too
        with pytest.raises(ScimNotFoundError):
            client.get_resource("user", user["id"])
    assert scim_app.by_username()["ana@x"]["active"] is True


def test_the_test_button_finds_salesforces_service_provider_configs(monkeypatch):
    from provisioning.config.scim_profile import ScimProfile
    from provisioning.demo.scim_server import ScimServer
    from tests.support.app_behaviour_proxy import AppBehaviourProxy

    salesforce = ScimProfile.model_validate({"preset": "salesforce"})
    with ScimServer(token="t") as server, AppBehaviourProxy(server.url, salesforce) as proxy:
        monkeypatch.setenv(*connection_env("salesforce", conn_type="scim", host=proxy.url, password="t"))
        ok, message = ScimHook("salesforce").test_connection()
        assert ok, message
        assert [r.path for r in proxy.requests][:2] == ["/ServiceProviderConfig", "/ServiceProviderConfigs"]
        assert [v.path for v in proxy.violations] == ["/ServiceProviderConfig"]  # the 404 we fell back from


def _hammer(client, threads: int, each: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: client.request("GET", "/Users", params={"count": 1}), range(threads * each)))


def test_a_429_pauses_every_thread_not_just_the_one_request(scim_app):
    with client_for(scim_app) as client:
        _hammer(client, 8, 2)  # warm up: connections open
        scim_app.proxy.reset()
        scim_app.proxy.inject(Fault(429, retry_after="1"))
        _hammer(client, 8, 10)
        assert client.throttle.throttled == 1
    times = [(r.at, r.status) for r in scim_app.proxy.requests]
    (throttled_at,) = [at for at, status in times if status == 429]
    # requests already on the wire may land just after the 429; nothing new is sent during the pause
    during = [at for at, _ in times if throttled_at + 0.1 < at < throttled_at + 0.9]
    assert during == [] and len(times) == 81


def test_requests_per_second_caps_the_whole_client(scim_app):
    with client_for(scim_app, requests_per_second=20) as client:
        started = time.monotonic()
        _hammer(client, 8, 5)
        elapsed = time.monotonic() - started
    assert elapsed >= 39 / 20 * 0.95  # 40 requests, at most 20 a second, however many threads


@pytest.fixture
def without_proxies(monkeypatch):
    """No proxy settings from the machine's environment (either case of each variable)."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_requests_go_through_the_proxy_the_environment_names(scim_app, without_proxies):
    with ForwardProxy() as forward, without_proxies.context() as env:
        env.setenv("HTTP_PROXY", forward.url)
        with ScimClient(scim_app.url, scim_app.token) as client:
            created = client.create_resource("user", new_user("ana@x", active=True))
            found = client.find_resources("user", "userName", "ana@x")
    assert [u["id"] for u in found] == [created["id"]]  # gzip-compressed answers, decoded
    assert scim_app.by_username()["ana@x"]["id"] == created["id"]
    methods = [method for method, _ in forward.requests]
    assert "POST" in methods and "GET" in methods
    assert all(url.startswith(f"{scim_app.url}/") for _, url in forward.requests)


def test_no_proxy_sends_requests_straight_to_the_app(scim_app, without_proxies):
    with ForwardProxy() as forward, without_proxies.context() as env:
        env.setenv("HTTP_PROXY", forward.url)
        env.setenv("NO_PROXY", "localhost,127.0.0.1")
        with ScimClient(scim_app.url, scim_app.token) as client:
            client.create_resource("user", new_user("ben@x"))
    assert forward.requests == [] and "ben@x" in scim_app.by_username()
