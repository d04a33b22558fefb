"""Real receivers on loopback: an SMTP server (aiosmtpd) and an HTTP server that keeps every POST."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd handler hook
        from email import message_from_bytes, policy

        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append({"to": list(envelope.rcpt_tos), "from": envelope.mail_from, "message": msg})
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """An SMTP server on loopback; Airflow connection `smtp_test` points at it."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_TEST",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "driftline@test.local"},
            }
        ),
    )
    try:
        yield box
    finally:
        controller.stop()


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.port = 0

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def http_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """An HTTP server on loopback keeping every POST; connections `hook_test` and `slack_test` use it."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
            )
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ("HOOK_TEST", "SLACK_TEST"):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{name}",
            json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": receiver.port, "schema": "http"}),
        )
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.test")
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
