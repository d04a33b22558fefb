#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster, then stop and delete the cluster.
#
#   scripts/with_postgres.sh make test          # what .ci/run does
#   scripts/with_postgres.sh .venv/bin/pytest tests/integration/test_postgres_concurrency.py
#
# The cluster lives in a new temporary folder, listens on 127.0.0.1 only, on a free port, with a
# generated superuser password (scram-sha-256 for every connection, its Unix socket inside the
# temporary folder). The command gets DRIFTLINE_PG_URL=postgresql://postgres:<password>@127.0.0.1:<port>/postgres;
# tests create their own databases in it. The cluster is stopped and deleted on exit, whatever
# the command did, and the command's exit code is returned.
#
# PostgreSQL 15 (DRIFTLINE_PG_VERSION) is taken from /usr/lib/postgresql/<version>/bin; when it is
# missing and this runs as root on Debian, postgresql-<version> is installed from Debian's packages
# (without the packaged `main` cluster). initdb refuses to run as root, so as root the server runs as
# the `postgres` system user (created by the package) or, when that user does not exist, as a system
# user `driftline-pg` created for it.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

PG_VERSION="${DRIFTLINE_PG_VERSION:-15}"
PG_BIN="/usr/lib/postgresql/${PG_VERSION}/bin"

if [ ! -x "${PG_BIN}/initdb" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "with_postgres: ${PG_BIN} is missing: installing postgresql-${PG_VERSION} from Debian's packages"
        # No packaged `main` cluster: nothing is left running on port 5432.
        mkdir -p /etc/postgresql-common
        if ! grep -qs '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf; then
            echo "create_main_cluster = false" >>/etc/postgresql-common/createcluster.conf
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "postgresql-${PG_VERSION}" >/dev/null
    else
        echo "with_postgres: PostgreSQL ${PG_VERSION} is not installed (${PG_BIN}/initdb missing);" \
            "install postgresql-${PG_VERSION} (Debian) or set DRIFTLINE_PG_VERSION" >&2
        exit 1
    fi
fi

PG_USER="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
    PG_USER=postgres
    if ! id -u "${PG_USER}" >/dev/null 2>&1; then
        PG_USER=driftline-pg
        id -u "${PG_USER}" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "${PG_USER}"
    fi
fi

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "${PG_USER}" -- "$@"
    else
        "$@"
    fi
}

ROOT="$(mktemp -d "${TMPDIR:-/tmp}/driftline-pg.XXXXXX")"
chmod 0755 "${ROOT}"
mkdir -p "${ROOT}/sock"
PASSWORD="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
(umask 077 && printf '%s\n' "${PASSWORD}" >"${ROOT}/pwfile")
chown -R "${PG_USER}" "${ROOT}"

stop_cluster() {
    if [ -f "${ROOT}/data/postmaster.pid" ]; then
        as_pg "${PG_BIN}/pg_ctl" -D "${ROOT}/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "${ROOT}"
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg "${PG_BIN}/initdb" -D "${ROOT}/data" -U postgres --auth=scram-sha-256 --pwfile="${ROOT}/pwfile" \
    --encoding=UTF8 --locale=C.UTF-8 >"${ROOT}/initdb.log" 2>&1 || {
    cat "${ROOT}/initdb.log" >&2
    exit 1
}
rm -f "${ROOT}/pwfile"
# A throwaway cluster: durability settings off (nothing here survives the run anyway).
if ! as_pg "${PG_BIN}/pg_ctl" -D "${ROOT}/data" -l "${ROOT}/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p ${PORT} -c unix_socket_directories=${ROOT}/sock -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null; then
    echo "with_postgres: the server did not start:" >&2
    cat "${ROOT}/server.log" >&2
    exit 1
fi
echo "with_postgres: PostgreSQL $("${PG_BIN}/postgres" --version | awk '{print $3}') on 127.0.0.1:${PORT} (data ${ROOT}/data, stopped and deleted on exit)"

export DRIFTLINE_PG_URL="postgresql://postgres:${PASSWORD}@127.0.0.1:${PORT}/postgres"
set +e
"$@"
status=$?
set -e
exit "${status}"
