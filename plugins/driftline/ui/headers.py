"""The response headers that keep what Driftline serves inert in Airflow's origin.

The Driftline app is mounted in Airflow's API server, so every response it sends shares the origin
of Airflow's UI and API (the `_token` session cookie authenticates that API). Three kinds:

- `PAGE`: Driftline's own HTML. It runs no JavaScript at all (`default-src 'none'`, no
  `script-src`), so a value that escaped `html.escape` still could not run; it may be framed only
  by Airflow's own UI (`frame-ancestors 'self'`) and may frame only Driftline's reports.
- `REPORT`: a stored Evidently report. Evidently draws it with inline scripts, so scripts may run,
  but only inside `sandbox allow-scripts` without `allow-same-origin`: the document gets an opaque
  origin, cannot read Airflow's cookies or storage, and its requests to Airflow are cross-site (the
  `SameSite=Lax` session cookie is not sent); `connect-src`/`img-src`/`form-action` keep it from
  sending anything anywhere, and without `allow-popups`/`allow-top-navigation` it cannot leave its
  frame. `app.py` renders it only inside the report page's `<iframe sandbox="allow-scripts">`;
  opened any other way it is a download (`Content-Disposition: attachment`).
- `API`: JSON, which no browser may sniff into HTML or frame.
"""

from __future__ import annotations

PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
REPORT_SANDBOX = "allow-scripts"  # never with allow-same-origin: that would give back Airflow's origin
REPORT_CSP = (
    f"sandbox {REPORT_SANDBOX}; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PAGE = {**COMMON, "Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "SAMEORIGIN"}
REPORT = {**COMMON, "Content-Security-Policy": REPORT_CSP, "X-Frame-Options": "SAMEORIGIN"}
API = {**COMMON, "Content-Security-Policy": API_CSP, "X-Frame-Options": "DENY"}


def for_content_type(content_type: str | None) -> dict[str, str]:
    """The headers of a response that did not set its own: HTML gets `PAGE`, everything else `API`."""
    return PAGE if (content_type or "").startswith("text/html") else API
