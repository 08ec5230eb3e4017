"""A failed alert post names its connection, never its URL: a Slack or Teams webhook URL is the
credential, and the notifier's error goes to the task log."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from provisioning.glue.notifiers import WebhookError, WebhookNotifier
from tests.conftest import connection_env

SECRET_PATH = "/services/T0001/B0001/s3cr3tw3bh00k"


@pytest.mark.parametrize("answer", ["an error status", "no answer"])
def test_a_failed_post_is_named_by_its_connection_never_by_its_url(monkeypatch, answer):
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)  # answers a POST with 501
    port = server.server_address[1]
    if answer == "no answer":
        server.server_close()  # nothing listens on the port any more
    else:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(
        *connection_env("slack_alerts", conn_type="http", host=f"http://127.0.0.1:{port}{SECRET_PATH}")
    )
    try:
        with pytest.raises(WebhookError) as failed:
            WebhookNotifier("slack_alerts", {"text": "quarantine"}).notify({})
    finally:
        if answer != "no answer":
            server.shutdown()
            server.server_close()
    message = str(failed.value)
    assert message.startswith("the webhook of connection 'slack_alerts' ")
    assert ("answered 501" in message) == (answer == "an error status")
    assert "s3cr3t" not in message and str(port) not in message
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
