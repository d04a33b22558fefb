"""The Airflow notifier of each alert channel, and the message an alert becomes.

SMTP: the smtp provider's `SmtpNotifier` (an Airflow SMTP connection). Slack: the slack provider
is not a Driftline dependency, so `SlackWebhookNotifier` posts Slack's incoming-webhook JSON
through an Airflow HTTP connection. Webhook: the http provider's `HttpNotifier` with the alert
as JSON. Secrets (passwords, webhook tokens) live in the connections, never in the config.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier

from driftline.alerting.event import AlertEvent
from driftline.config.models import Channel, SlackChannel, SmtpChannel, WebhookChannel


def run_link(dag_id: str | None, run_id: str | None) -> str | None:
    """The run's page in the Airflow UI, from `[api] base_url` (a relative path when that is unset)."""
    if not dag_id:
        return None
    from airflow.sdk.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    path = f"/dags/{quote(dag_id, safe='')}"
    if run_id:
        path += f"/runs/{quote(run_id, safe='')}"
    return base + path


@dataclass(frozen=True)
class AlertMessage:
    """What every channel sends for one alert and rule."""

    subject: str
    text: str
    html: str
    payload: dict[str, Any]


def render(event: AlertEvent, rule: str, link: str | None) -> AlertMessage:
    subject = f"[Driftline] {event.severity.upper()} {event.model}: {event.kind}"
    lines = [f"{subject}", event.message]
    if link:
        lines.append(f"Run: {link}")
    if event.details:
        lines.append("Details: " + json.dumps(event.details, default=str, sort_keys=True)[:2000])
    text = "\n".join(lines)
    link_html = f'<p><a href="{html.escape(link)}">Open the run in Airflow</a></p>' if link else ""
    body = (
        f"<p><b>{html.escape(subject)}</b></p><p>{html.escape(event.message)}</p>{link_html}"
        f"<pre>{html.escape(json.dumps(event.details, default=str, indent=2, sort_keys=True)[:5000])}</pre>"
    )
    payload = json.loads(json.dumps({**event.to_dict(), "rule": rule, "link": link}, default=str))
    return AlertMessage(subject=subject, text=text, html=body, payload=payload)


class SlackWebhookNotifier(BaseNotifier):
    """Post a message to a Slack incoming webhook held by an Airflow HTTP connection.

    :param http_conn_id: the HTTP connection whose host (with schema) and endpoint are the webhook URL.
    :param text: the message (templated).
    """

    template_fields: Sequence[str] = ("text",)

    def __init__(self, *, http_conn_id: str, text: str, endpoint: str = "") -> None:
        super().__init__()
        self.http_conn_id = http_conn_id
        self.text = text
        self.endpoint = endpoint

    def notify(self, context: Any) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        HttpHook(method="POST", http_conn_id=self.http_conn_id).run(
            endpoint=self.endpoint, json={"text": self.text}, headers={"Content-Type": "application/json"}
        )


def build_notifier(channel: Channel, message: AlertMessage) -> BaseNotifier:
    """The notifier that sends `message` through `channel`."""
    if isinstance(channel, SmtpChannel):
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return SmtpNotifier(
            to=channel.to,
            from_email=channel.from_email,
            subject=message.subject,
            html_content=message.html,
            smtp_conn_id=channel.conn_id,
        )
    if isinstance(channel, SlackChannel):
        return SlackWebhookNotifier(http_conn_id=channel.conn_id, text=message.text)
    if isinstance(channel, WebhookChannel):
        from airflow.providers.http.notifications.http import HttpNotifier

        return HttpNotifier(
            http_conn_id=channel.conn_id,
            endpoint=channel.endpoint,
            json=message.payload,
            headers={"Content-Type": "application/json"},
        )
    raise TypeError(f"unknown alert channel {channel!r}")
