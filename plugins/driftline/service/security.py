"""What the service refuses before any route runs, the headers on every answer, and what logs never hold.

`Guard` is a pure ASGI middleware (no per-request task or body copy beyond the limit):
- A request body over `max_body_bytes` is refused with 413 before the route sees it: a declared
  `Content-Length` over the limit at once, a chunked body as soon as the bytes read pass it (a
  body is read into memory only up to the limit, then replayed to the route).
- Every answer carries `SECURITY_HEADERS`: no MIME sniffing, no framing, no referrer, no caching
  of anything under /v1 (predictions are per-entity data), and a Content-Security-Policy that
  allows nothing (the OpenAPI page, /docs, gets one that allows its own script and style only).
- It records each request's latency and status in the service's metrics (driftline.service.metrics).

`redact(text)` masks credentials in a log message: the userinfo of URLs (`https://u:p@host`), API
keys (`dl_...`), and the values of `X-API-Key`, `Authorization`, `password`, `secret`, `token` and
`aws_secret_access_key` pairs. `RedactingFilter` applies it to every record of the loggers the
service and uvicorn write through (installed by `install_log_redaction`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# DynamoDB's own limit for a partition key value: a longer id can never have a prediction.
MAX_ENTITY_ID_BYTES = 2048
# A category or string feature value longer than this is refused (no model's category is longer).
MAX_STRING_FEATURE_CHARS = 1024

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# FastAPI's /docs and /redoc pages load Swagger UI / ReDoc from jsDelivr and run an inline script.
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"()"),
)
NO_STORE = (b"cache-control", b"no-store")
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Guard:
    """Body size limit, security headers and request metrics around `app`."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        observe: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope.get("path", "")
        status = [500]
        headers = [*SECURITY_HEADERS]
        headers.append(
            (b"content-security-policy", (DOCS_CSP if path in DOCS_PATHS else STRICT_CSP).encode())
        )
        if path.startswith("/v1/") or path == "/metrics":
            headers.append(NO_STORE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                own = {k.lower() for k, _ in headers}
                message["headers"] = [
                    *(h for h in message.get("headers", []) if h[0].lower() not in own),
                    *headers,
                ]
            await send(message)

        try:
            if scope["method"] in BODY_METHODS:
                too_big = self._declared_too_big(scope)
                body = None if too_big else await self._read_limited(receive)
                if too_big or body is None:
                    await self._refuse(send_with_headers)
                    return
                await self.app(scope, _replay(body, receive), send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            if self.observe is not None:
                route = scope.get("route")
                self.observe(getattr(route, "path", "unmatched"), status[0], time.perf_counter() - started)

    def _declared_too_big(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                try:
                    return int(value) > self.max_body_bytes
                except ValueError:
                    return True
        return False

    async def _read_limited(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it passes the limit (the rest is not read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, send: Send) -> None:
        body = (
            b'{"detail":"the request body is larger than the service accepts ('
            + str(self.max_body_bytes).encode()
            + b' bytes; DRIFTLINE_SERVICE_MAX_BODY_BYTES)"}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = [False]

    async def replay() -> Message:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replay


_SECRET_PATTERNS = (
    # userinfo in URLs: scheme://user:password@host
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1***:***@"),
    # Driftline API keys (driftline.service.auth.create_key)
    (re.compile(r"\bdl_[A-Za-z0-9_-]{6,}"), "dl_***"),
    # header / key=value / "key": "value" pairs that name a credential
    (
        re.compile(
            r"(?i)((?:x-api-key|authorization|api[_-]?key|password|passwd|secret|token|"
            r"aws_secret_access_key|aws_session_token)[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+|basic\s+)?[^\s\"',}]+"
        ),
        r"\1***",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's final message (its args are merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message or record.exc_info:
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
            record.msg, record.args = cleaned, None
        return True


LOGGERS = ("driftline", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "mlflow", "botocore")


def install_log_redaction() -> None:
    """Put a RedactingFilter on the service's loggers and on every handler of the root logger."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
