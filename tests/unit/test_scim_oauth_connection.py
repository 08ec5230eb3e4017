"""The SCIM connection's OAuth fields: a client id turns the password into the client secret, the
token URL obeys the bearer token's https rule, and the form labels every field."""

from __future__ import annotations

import pytest

from provisioning.connectors.scim.hook import ScimHook
from provisioning.provider_info import get_provider_info
from tests.conftest import connection_env

SECRET = "client-secret-9d2e"


def hook(monkeypatch, **extra) -> ScimHook:
    fields = {"conn_type": "scim", "host": "https://app.example.com/scim/v2", "password": SECRET}
    monkeypatch.setenv(*connection_env("scim_oauth", **fields, extra=extra))
    return ScimHook("scim_oauth")


def test_a_client_id_makes_the_password_the_client_secret(monkeypatch):
    client = hook(
        monkeypatch, client_id="prov", token_url="https://login.example.com/oauth/token", scope="scim.write"
    ).get_conn()
    oauth = client.oauth
    assert oauth is not None
    assert (oauth.token_url, oauth.client_id, oauth.scope) == (
        "https://login.example.com/oauth/token",
        "prov",
        "scim.write",
    )
    assert oauth.auth_method == "client_secret_basic" and oauth.name == "scim_oauth"
    assert SECRET in oauth.secrets()
    assert "Authorization" not in client._headers  # the secret is never sent to the app
    client.close()


def test_fields_saved_by_the_connection_form_are_read_too(monkeypatch):
    client = hook(
        monkeypatch,
        extra__scim__client_id="prov",
        extra__scim__token_url="login.example.com/oauth/token",
        extra__scim__token_auth_method="client_secret_post",
    ).get_conn()
    assert client.oauth.token_url == "https://login.example.com/oauth/token"
    assert client.oauth.auth_method == "client_secret_post"
    client.close()


def test_without_a_client_id_the_password_is_a_static_token(monkeypatch):
    client = hook(monkeypatch).get_conn()
    assert client.oauth is None and client._headers["Authorization"] == f"Bearer {SECRET}"
    client.close()


def test_a_plain_http_token_url_elsewhere_is_refused_naming_the_connection(monkeypatch):
    with pytest.raises(ValueError) as refused:
        hook(monkeypatch, client_id="prov", token_url="http://login.example.com/token").get_conn()
    message = str(refused.value)
    assert message.startswith("connection 'scim_oauth': the OAuth token URL http://login.example.com")
    assert "plain http" in message and SECRET not in message


@pytest.mark.parametrize(
    "extra",
    [
        {"token_url": "http://127.0.0.1:9000/token"},
        {"token_url": "http://idp.internal/token", "allow_plain_http": True},
    ],
)
def test_plain_http_to_this_machine_or_where_allowed(monkeypatch, extra):
    client = hook(monkeypatch, client_id="prov", **extra).get_conn()
    assert client.oauth.token_url == extra["token_url"]
    client.close()


@pytest.mark.parametrize(
    ("extra", "password", "says"),
    [
        ({"client_id": "prov"}, SECRET, "no token_url"),
        ({"client_id": "prov", "token_url": "https://idp.example.com/t"}, None, "no client secret"),
        (
            {"client_id": "prov", "token_url": "https://idp.example.com/t", "token_auth_method": "jwt"},
            SECRET,
            "token_auth_method must be one of",
        ),
    ],
)
def test_incomplete_oauth_settings_are_named(monkeypatch, extra, password, says):
    fields = {"conn_type": "scim", "host": "https://app.example.com/scim/v2", "password": password}
    monkeypatch.setenv(*connection_env("scim_oauth", **fields, extra=extra))
    with pytest.raises(ValueError, match=says) as refused:
        ScimHook("scim_oauth").get_conn()
    assert "scim_oauth" in str(refused.value) and SECRET not in str(refused.value)


def test_the_connection_form_labels_the_oauth_fields():
    scim = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == "scim")
    fields = scim["conn-fields"]
    for name in ("token_url", "client_id", "scope", "token_auth_method"):
        assert fields[name]["label"] and fields[name]["description"]
    assert "client secret" in scim["ui-field-behaviour"]["relabeling"]["password"]
