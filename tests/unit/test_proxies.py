"""Which proxy the environment names for an app's base URL (connectors/proxies.py)."""

import pytest

from provisioning.connectors.proxies import environment_proxy

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def env(monkeypatch):
    """A clean proxy environment; ``env(HTTPS_PROXY=...)`` sets variables in either case."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)

    def set_(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_


def test_no_proxy_configured_means_a_direct_connection(env):
    assert environment_proxy("https://app.example.com/scim/v2") is None


def test_the_proxy_of_the_url_scheme_is_used(env):
    env(HTTPS_PROXY="http://proxy.corp:3128", HTTP_PROXY="http://plain.corp:8080")
    assert environment_proxy("https://app.example.com/scim/v2") == "http://proxy.corp:3128"
    assert environment_proxy("http://app.example.com/scim/v2") == "http://plain.corp:8080"


def test_all_proxy_serves_any_scheme_and_a_bare_host_means_http(env):
    env(ALL_PROXY="proxy.corp:3128")
    assert environment_proxy("https://app.example.com/scim/v2") == "http://proxy.corp:3128"


@pytest.mark.parametrize(
    "no_proxy", ["app.example.com", "example.com", ".example.com", "*", "intranet,app.example.com:8443"]
)
def test_no_proxy_exempts_the_host(env, no_proxy):
    env(HTTPS_PROXY="http://proxy.corp:3128", NO_PROXY=no_proxy)
    assert environment_proxy("https://app.example.com:8443/scim/v2") is None


def test_no_proxy_for_another_host_leaves_the_proxy_in_place(env):
    env(HTTPS_PROXY="http://proxy.corp:3128", NO_PROXY="intranet.example.com,localhost")
    assert environment_proxy("https://app.example.com/scim/v2") == "http://proxy.corp:3128"
