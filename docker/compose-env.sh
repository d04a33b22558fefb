#!/usr/bin/env bash
# Writes docker/.env for docker/docker-compose.yaml once (never overwrites it): a random JWT secret
# and Fernet key shared by every Airflow component, a Grafana admin password, and a predictions
# service API key, printed once; only the key's sha256 is stored. `make compose-up` runs this.
set -euo pipefail
env_file="$(dirname "$0")/.env"
if [[ -f "$env_file" ]]; then
  echo "docker/.env exists: keeping it (delete it to generate new secrets)"
  exit 0
fi
python3 - "$env_file" <<'PY'
import base64, hashlib, os, secrets, sys

key = secrets.token_urlsafe(32)
values = {
    "AIRFLOW_UID": str(os.getuid()) if os.getuid() != 0 else "50000",
    "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(48),
    "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(18),
    "DRIFTLINE_API_KEY_SHA256": hashlib.sha256(key.encode()).hexdigest(),
}
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w") as out:
    out.write("# Written by docker/compose-env.sh; read by docker compose. Keep it out of git.\n")
    out.writelines(f"{k}={v}\n" for k, v in values.items())
print(f"wrote {sys.argv[1]} (mode 0600)")
print(f"predictions service API key (shown once, only its sha256 is stored): {key}")
PY
