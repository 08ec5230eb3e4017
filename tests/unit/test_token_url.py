"""A bearer token never crosses a network in clear: plain http only to this machine or where the
connection says so."""

import json

import pytest
from airflow.sdk import Connection

from provisioning.connectors.connection_url import token_url


def conn(host: str, password: str | None = "app-token", **extra) -> Connection:
    return Connection(
        conn_id="scim_wiki", conn_type="scim", host=host, password=password, extra=json.dumps(extra)
    )


@pytest.mark.parametrize(
    "host",
    [
        "https://wiki.example.com/scim/v2",
        "wiki.example.com/scim/v2",  # a bare host means https
        "http://127.0.0.1:8000/scim/v2",
        "http://127.9.9.9/scim/v2",
        "http://localhost:8000",
        "http://[::1]:8000/scim",
    ],
)
def test_https_and_loopback_hosts_take_the_token(host):
    assert token_url(conn(host), "scim_wiki", "the SCIM base URL").endswith(host.split("://")[-1])


@pytest.mark.parametrize(
    "host", ["http://wiki.example.com/scim/v2", "HTTP://10.0.0.5/scim", "http://localhost.example.com"]
)
def test_plain_http_to_another_host_is_refused_with_what_to_do(host):
    with pytest.raises(ValueError) as refused:
        token_url(conn(host), "scim_wiki", "the SCIM base URL")
    message = str(refused.value)
    assert message.startswith("connection 'scim_wiki': the SCIM base URL ") and "plain http" in message
    assert "use https://, or set allow_plain_http: true" in message and "app-token" not in message


@pytest.mark.parametrize(
    "extra",
    [{"allow_plain_http": True}, {"allow_plain_http": "true"}, {"extra__scim__allow_plain_http": True}],
)
def test_a_connection_may_allow_plain_http_explicitly(extra):
    assert token_url(conn("http://10.0.0.5/scim", **extra), "scim_wiki", "x") == "http://10.0.0.5/scim"


@pytest.mark.parametrize("extra", [{"allow_plain_http": False}, {"allow_plain_http": "yes please"}, {}])
def test_anything_but_true_keeps_it_refused(extra):
    with pytest.raises(ValueError, match="plain http"):
        token_url(conn("http://10.0.0.5/scim", **extra), "scim_wiki", "x")


def test_a_connection_without_a_token_has_nothing_to_leak():
    assert (
        token_url(conn("http://hooks.example.com/in", password=None), "hook", "x")
        == "http://hooks.example.com/in"
    )
