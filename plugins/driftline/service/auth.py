"""API keys, stored hashed: the service never runs anonymous.

Accepted keys are given as sha256 hex digests, one per line (`<sha256>` or `<name>:<sha256>`,
`#` comments) in `DRIFTLINE_HOME/api_keys`, or comma-separated in `DRIFTLINE_API_KEY_SHA256`.
`driftline api-key` makes a new key, prints it once and stores only its hash. Clients send the
key as `X-API-Key: <key>` or `Authorization: Bearer <key>`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from driftline.exceptions import PermanentError
from driftline.settings import driftline_home

ENV_VAR = "DRIFTLINE_API_KEY_SHA256"


class NoApiKeysError(PermanentError):
    """The service has no API keys to accept: it refuses to start rather than run anonymous."""


def keys_file() -> Path:
    return driftline_home() / "api_keys"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def load_key_hashes(path: Path | None = None) -> frozenset[str]:
    """Every accepted key hash from the file and the environment; raises when there is none."""
    path = path or keys_file()
    hashes: set[str] = set()
    if path.exists():
        for n, raw in enumerate(path.read_text().splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            value = line.rsplit(":", 1)[-1].strip().lower()
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise NoApiKeysError(f"{path}:{n}: expected a sha256 hex digest (64 hex characters)")
            hashes.add(value)
    for value in filter(None, (v.strip().lower() for v in os.environ.get(ENV_VAR, "").split(","))):
        if len(value) != 64:
            raise NoApiKeysError(f"{ENV_VAR}: {value[:8]}... is not a sha256 hex digest")
        hashes.add(value)
    if not hashes:
        raise NoApiKeysError(
            f"no API keys: create one with `driftline api-key` (stores its hash in {path}) or set {ENV_VAR}; "
            "the predictions service never runs without authentication"
        )
    return frozenset(hashes)


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents, read as FastAPI's APIKeyHeader("X-API-Key") and HTTPBearer
    (auto_error off) read it: the X-API-Key header when non-empty, else the credentials of an
    `Authorization: Bearer <key>` header (scheme case-insensitive), else None."""
    from fastapi.security.utils import get_authorization_scheme_param  # HTTPBearer's own parser

    key = headers.get("x-api-key")
    if key:
        return key
    authorization = headers.get("authorization")
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


def is_valid(key: str | None, hashes: frozenset[str]) -> bool:
    if not key:
        return False
    given = digest(key)
    return any(hmac.compare_digest(given, h) for h in hashes)


def create_key(name: str = "default", path: Path | None = None) -> str:
    """A new random key; only its hash is stored (appended to the keys file)."""
    path = path or keys_file()
    key = "dl_" + secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(f"{name}:{digest(key)}\n")
    path.chmod(0o600)
    return key
