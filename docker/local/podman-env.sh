#!/usr/bin/env bash
# Source this file to point podman, buildah and podman-compose at a state folder of Driftline's
# own (never the machine's global storage), with the settings a root session on a machine
# without systemd needs:
#   runtime runc  crun 1.8 (Debian bookworm) rejects the hybrid cgroup layout such machines have;
#   cgroupfs      no systemd to manage cgroups;
#   ulimits       the default "nofile" and "nproc" of containers may not exceed this shell's hard limits.
#
#   source docker/local/podman-env.sh      (make images does it for you)
#
# DRIFTLINE_CONTAINERS_HOME (default ~/.cache/driftline/containers) holds the image store and the
# generated configuration; `podman system reset` with these variables set deletes it.
export DRIFTLINE_CONTAINERS_HOME="${DRIFTLINE_CONTAINERS_HOME:-$HOME/.cache/driftline/containers}"
mkdir -p "$DRIFTLINE_CONTAINERS_HOME/storage" "$DRIFTLINE_CONTAINERS_HOME/run"
hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = "unlimited" ] && hard_nofile=1048576
nofile=$(( hard_nofile < 65536 ? hard_nofile : 65536 ))
hard_nproc=$(ulimit -Hu)
[ "$hard_nproc" = "unlimited" ] && hard_nproc=1048576
# 65536 was refused here (EPERM from runc) though under the hard limit; 32768 works.
nproc=$(( hard_nproc < 32768 ? hard_nproc : 32768 ))
cat > "$DRIFTLINE_CONTAINERS_HOME/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$DRIFTLINE_CONTAINERS_HOME/storage"
runroot = "$DRIFTLINE_CONTAINERS_HOME/run"
CONF
cat > "$DRIFTLINE_CONTAINERS_HOME/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_STORAGE_CONF="$DRIFTLINE_CONTAINERS_HOME/storage.conf"
export CONTAINERS_CONF="$DRIFTLINE_CONTAINERS_HOME/containers.conf"
