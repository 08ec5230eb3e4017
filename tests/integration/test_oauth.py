"""OAuth 2.0 client credentials against a real authorization server: Canaille (tests/support/
canaille_server.py), a process on 127.0.0.1 issuing 8-second tokens. The SCIM requests go to
Canaille's own SCIM endpoint, a resource server that checks every token in Canaille's database
(expired and revoked tokens get 401), and the token requests are counted twice: by our client
and in Canaille's token table."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from provisioning.connectors.errors import AppUnusable
from provisioning.connectors.oauth import ClientCredentials
from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.errors import ScimAuthError
from provisioning.demo.scim_server import ScimServer
from tests.support.canaille_server import CanailleServer
from tests.support.fault_proxy import FaultProxy

LIFETIME = 8  # seconds, Canaille's lifetime of client-credentials tokens here


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting the statuses the app answered (401s above all)."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: Counter = Counter()
        self.authorizations: list[str] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        with self._lock:
            self.statuses[response.status_code] += 1
            self.authorizations.append(request.headers.get("Authorization", ""))
        return response


@pytest.fixture(scope="module")
def canaille():
    with CanailleServer(token_lifetime=LIFETIME) as server:
        yield server


def scim_client(url: str, oauth: ClientCredentials, transport=None) -> ScimClient:
    return ScimClient(url, None, oauth=oauth, transport=transport, backoff_initial=0.01, max_retries=2)


def credentials(canaille: CanailleServer, client, **options) -> ClientCredentials:
    return ClientCredentials(
        canaille.token_url, client.client_id, client.client_secret, "openid", name="scim_canaille", **options
    )


def test_one_token_serves_many_requests_from_many_threads(canaille):
    client = canaille.register()
    oauth = credentials(canaille, client, margin=0)
    transport = CountingTransport()
    with scim_client(canaille.scim_url, oauth, transport) as scim, ThreadPoolExecutor(8) as pool:
        configs = list(pool.map(lambda _: scim.service_provider_config(), range(40)))
    assert len(configs) == 40 and all(c.patch and c.patch.supported for c in configs)
    assert oauth.fetched == 1
    assert canaille.tokens_issued(client) == 1
    assert transport.statuses == Counter({200: 40})
    assert len(set(transport.authorizations)) == 1


def test_the_token_is_renewed_before_it_expires(canaille):
    """A margin before ``expires_in`` (half the lifetime at most): a new token, and the app never
    sees the old one expire."""
    client = canaille.register()
    oauth = credentials(canaille, client)  # margin 60 s, so half of 8 s: renewed after 4 s
    transport = CountingTransport()
    with scim_client(canaille.scim_url, oauth, transport) as scim:
        scim.service_provider_config()
        first = oauth.token()
        time.sleep(LIFETIME / 2 + 0.5)
        assert canaille.introspect(client, first)["active"] is True  # still valid at the server
        scim.service_provider_config()
        second = oauth.token()
    assert second != first
    assert oauth.fetched == 2 and canaille.tokens_issued(client) == 2
    assert transport.statuses == Counter({200: 2})


def test_an_expired_token_is_replaced(canaille):
    """No margin at all: the token runs out at the server, and the next request gets a new one."""
    client = canaille.register()
    oauth = credentials(canaille, client, margin=0)
    transport = CountingTransport()
    with scim_client(canaille.scim_url, oauth, transport) as scim:
        scim.service_provider_config()
        first = oauth.token()
        time.sleep(LIFETIME + 1)
        assert canaille.introspect(client, first)["active"] is False
        scim.service_provider_config()
    assert oauth.token() != first
    assert oauth.fetched == 2 and canaille.tokens_issued(client) == 2
    assert transport.statuses[401] == 0


def test_a_revoked_token_is_renewed_once_after_the_401(canaille):
    client = canaille.register()
    oauth = credentials(canaille, client, margin=0)
    transport = CountingTransport()
    with scim_client(canaille.scim_url, oauth, transport) as scim:
        scim.service_provider_config()
        revoked = oauth.token()
        canaille.revoke(client, revoked)
        assert canaille.introspect(client, revoked)["active"] is False
        # every thread's request is refused with the same revoked token; one renews it
        with ThreadPoolExecutor(6) as pool:
            barrier = threading.Barrier(6)

            def read(_):
                barrier.wait()
                return scim.service_provider_config()

            assert len(list(pool.map(read, range(6)))) == 6
    assert oauth.token() != revoked
    assert oauth.fetched == 2 and canaille.tokens_issued(client) == 2
    assert 1 <= transport.statuses[401] <= 6  # each refused request was sent again once
    assert transport.statuses[200] == 7


def test_a_wrong_secret_is_an_unusable_app_named_without_the_secret(canaille):
    client = canaille.register()
    wrong = "not-the-secret-" + client.client_secret[:6]
    oauth = ClientCredentials(canaille.token_url, client.client_id, wrong, "openid", name="scim_canaille")
    with scim_client(canaille.scim_url, oauth) as scim, pytest.raises(ScimAuthError) as refused:
        scim.service_provider_config()
    error = refused.value
    assert isinstance(error, AppUnusable) and error.stops_cycle
    message = str(error)
    assert "connection 'scim_canaille'" in message and canaille.token_url in message
    assert "invalid_client" in message and error.status == 401
    assert wrong not in message and client.client_secret not in message
    assert oauth.fetched == 1  # refused credentials are not asked again within the request
    assert canaille.tokens_issued(client) == 0


def test_an_app_refusing_a_fresh_token_too_is_unusable_and_its_echo_is_masked(canaille):
    """An app that does not take the authorization server's tokens (scim2-server wants its own
    static token), echoing the request as careless apps do: one renewal, then the second 401 is
    the answer, and neither token appears in the error."""
    client = canaille.register()
    oauth = credentials(canaille, client)
    with ScimServer(token="the-apps-own-token") as server, FaultProxy(server.url) as proxy:
        proxy.echo_errors = True
        with scim_client(proxy.url, oauth) as scim, pytest.raises(ScimAuthError) as refused:
            scim.get_resource("user", "nobody")
    assert oauth.fetched == 2 and proxy.count("GET", 401) == 2
    text = str(refused.value)
    assert "***" in text
    for secret in oauth.secrets():
        assert secret not in text
    assert client.client_secret not in text
