"""Alerts through Airflow: the DAG's and the report task's callbacks run ``ProvisioningNotifier``,
which asks the cycle which notices are due and hands each to the app's channels -- the SMTP
provider's ``SmtpNotifier`` for e-mail, and ``WebhookNotifier`` for Slack and generic JSON.

A notice names the app, the problem, the counts and a link to the run. It never carries secrets:
messages are built from the cycle's summary, and the app's and directory's connection passwords
are masked again before anything leaves, in case an app echoed one back in an error.
"""

from __future__ import annotations

import html
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk.log import mask_secret

from provisioning.config.loader import app_config_path, load_app_config

MASK = "***"


class WebhookError(RuntimeError):
    """A webhook post that failed, named by its connection: never by its URL, the secret."""


class WebhookNotifier(BaseNotifier):
    """POST a JSON body to the URL held by an Airflow connection (host = URL, password = optional
    bearer token): Slack incoming webhooks, Teams workflows, PagerDuty-style receivers, anything."""

    template_fields = ()

    def __init__(self, conn_id: str, payload: dict[str, Any], timeout: float = 10.0):
        super().__init__()
        self.conn_id = conn_id
        self.payload = payload
        self.timeout = timeout

    def notify(self, context: Any) -> None:
        import httpx

        from provisioning.connectors.connection_url import token_url

        conn = BaseHook.get_connection(self.conn_id)
        url = token_url(conn, self.conn_id, "the webhook URL")
        mask_secret(url)  # a Slack or Teams webhook URL is itself the credential
        headers = {"Authorization": f"Bearer {conn.password}"} if conn.password else {}
        try:
            httpx.post(url, json=self.payload, headers=headers, timeout=self.timeout).raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise WebhookError(
                f"the webhook of connection {self.conn_id!r} answered {exc.response.status_code}"
            ) from None  # httpx's own message, and its chained traceback, hold the URL
        except httpx.HTTPError as exc:
            raise WebhookError(
                f"the webhook of connection {self.conn_id!r} was not reached: {type(exc).__name__}"
            ) from None


class ProvisioningNotifier(BaseNotifier):
    """Callback for the DAG and its report task: sends the app's due notices, once per problem."""

    template_fields = ()

    def __init__(self, app: str):
        super().__init__()
        self.app = app

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Nothing to render. BaseNotifier asks the context's DAG for a template environment even
        so, and under ``airflow dags test`` that DAG is a SerializedDAG, which has none
        (apache/airflow#64649): the callback failed there and no alert was sent."""

    def notify(self, context: Any) -> None:
        from provisioning.cycle.alerts import due_notices, record_sent
        from provisioning.glue.resources import open_state_store

        config = load_app_config(app_config_path(self.app))
        if not config.alerts.channels:
            return
        store = open_state_store(config)
        dag_run = context["dag_run"]
        notices = due_notices(store, config, dag_run.run_id)
        sent = []
        for notice in notices:
            if notice.state == "resolved" and not config.alerts.send_resolved:
                sent.append(notice)  # closed without a message
                continue
            channels = _channels(config, _message(config, notice, dag_run, store))
            delivered = 0
            for channel in channels:
                try:
                    channel.notify(context)
                    delivered += 1
                except Exception as exc:  # one broken channel must not silence the others
                    self.log.error(
                        "alert %s of %s not sent through %s: %s", notice.problem, self.app, channel, exc
                    )
            if delivered:  # an undelivered notice stays due, and is tried again next run
                sent.append(notice)
        record_sent(store, self.app, sent)


def run_url(dag_id: str, run_id: str) -> str:
    from urllib.parse import quote

    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/")
    return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _secrets(config) -> list[str]:
    found = []
    for conn_id in (config.target.conn_id, config.directory.conn_id):
        if conn_id is None:
            continue
        try:
            password = BaseHook.get_connection(conn_id).password
        except Exception:  # a missing connection is the run's problem, not the alert's
            continue
        if password:
            found.append(password)
    return found


def _message(config, notice, dag_run, store) -> dict[str, Any]:
    from provisioning.cycle.alerts import cycle_summary

    summary = cycle_summary(store, config.app, dag_run.run_id)
    counts = {k: summary.get(k) for k in ("failed", "not_applied", "staged", "in_escrow") if k in summary}
    text = notice.message
    for secret in _secrets(config):
        text = text.replace(secret, MASK)
    return {
        "app": config.app,
        "problem": notice.problem,
        "state": notice.state,
        "title": f"[provisioning] {config.app}: {notice.title}",
        "message": text,
        "counts": counts,
        "dag_id": dag_run.dag_id,
        "run_id": dag_run.run_id,
        "run_url": run_url(dag_run.dag_id, dag_run.run_id),
    }


def _channels(config, message: dict[str, Any]) -> list[BaseNotifier]:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    policy = config.alerts
    counts = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in message["counts"].items())
    lines = [message["message"], counts, f"Run: {message['run_url']}"]
    channels: list[BaseNotifier] = []
    if policy.email:
        channels.append(
            SmtpNotifier(
                to=policy.email.to,
                from_email=policy.email.from_email,
                smtp_conn_id=policy.email.smtp_conn_id,
                subject=message["title"],
                html_content="".join(f"<p>{html.escape(line)}</p>" for line in lines if line),
            )
        )
    if policy.slack:
        text = f"*{message['title']}*\n" + "\n".join(line for line in lines if line)
        channels.append(WebhookNotifier(policy.slack.conn_id, {"text": text}))
    if policy.webhook:
        channels.append(WebhookNotifier(policy.webhook.conn_id, message))
    return channels
