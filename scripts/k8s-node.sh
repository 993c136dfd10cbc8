#!/bin/bash
# The optional tier of the Kubernetes test bed: a single node that runs pods
# for real next to the API server of `scripts/k8s-cluster.sh start DIR`:
# dockerd (Debian's docker.io, its data and sockets under DIR), and
# kube-controller-manager, kube-scheduler and kubelet 1.20.2 from the same
# source build (scripts/kube-node.sh). It changes host state (a daemon, cgroups
# under kubepods, a few kernel settings the kubelet wants, /var/log/pods), so
# make test never runs it; stop undoes all of it.
#
#   scripts/k8s-node.sh start DIR              # after k8s-cluster.sh start DIR
#   scripts/k8s-node.sh load DIR TARBALL REF   # a root file system tar as image REF
#   scripts/k8s-node.sh stop DIR               # before k8s-cluster.sh stop DIR
#
# Node "127.0.0.1": the kubelet refuses a loopback --node-ip, but takes a
# --hostname-override that is an IP as the node's InternalIP, so pods with
# hostNetwork (berthd --kube-pod-network host) have 127.0.0.1 as their IP.
# There is no pod network: dockerd runs with --bridge=none --iptables=false.
# Nothing is pulled: the pause image is a static binary compiled here.
# This host lacks CAP_SYS_RESOURCE, so a runc wrapper (dockerd's default
# runtime) raises a negative oomScoreAdj (the kubelet's -998 for pause and
# Guaranteed pods) to the current value before runc sees it.
#
# DIR/node/env (sourceable): DOCKER_HOST, BERTH_K8S_NODE (the node's name).
# Needs scripts/deps.sh k8s-node.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|load|stop DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/k8s-lib.sh"
dir=$(cd "$dir" && pwd)
node=$dir/node
DOCKER=/usr/bin/docker # Debian's client; another may come first in PATH
NODE_NAME=127.0.0.1
PAUSE=localhost/berth-pause:1
# The settings the kubelet's container manager writes (setupKernelTunables).
SYSCTLS="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
kernel/keys/root_maxkeys kernel/keys/root_maxbytes"
# Outside DIR, what the components make where they do not take a flag for it
# (the kubelet's logs, containerd's shim sockets, ...): removed by stop if new.
HOST_PATHS="/var/log/pods /var/log/containers /run/containerd /run/docker /var/run/docker
/etc/docker/key.json /var/lib/docker /var/lib/dockershim /var/lib/kubelet /var/lib/containerd
/usr/libexec/kubernetes /etc/kubernetes /etc/cni /opt/cni /opt/containerd /run/mount"

docker_() { "$DOCKER" -H "unix://$node/docker.sock" "$@"; }

runc_wrapper() {
    cat >"$node/runc" <<'SH'
#!/bin/sh
# dockerd's default runtime on the test node: runc, with the bundle's negative
# oomScoreAdj raised to this process's own (writing a lower one needs
# CAP_SYS_RESOURCE, which this host does not grant).
bundle=""
prev=""
for a in "$@"; do
    case $prev in --bundle|-b) bundle=$a ;; esac
    case $a in --bundle=*) bundle=${a#--bundle=} ;; esac
    prev=$a
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
    python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
with open("/proc/self/oom_score_adj") as f:
    floor = int(f.read())
with open(path) as f:
    spec = json.load(f)
p = spec.get("process") or {}
if p.get("oomScoreAdj", floor) < floor:
    p["oomScoreAdj"] = floor
    with open(path, "w") as f:
        json.dump(spec, f)
PY
fi
exec /usr/sbin/runc "$@"
SH
    chmod 755 "$node/runc"
}

# A pause that pauses: sleeps until SIGTERM/SIGINT, reaps what ends.
pause_image() {
    docker_ image inspect "$PAUSE" >/dev/null 2>&1 && return 0
    mkdir -p "$node/pause/root"
    cat >"$node/pause/pause.c" <<'C'
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig)
{
    (void)sig;
    _exit(0);
}

static void reap(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int main(void)
{
    signal(SIGINT, quit);
    signal(SIGTERM, quit);
    signal(SIGCHLD, reap);
    for (;;)
        pause();
}
C
    gcc -static -O2 -Wall -Werror -o "$node/pause/root/pause" "$node/pause/pause.c"
    tar -C "$node/pause/root" --numeric-owner --owner=0 --group=0 -cf "$node/pause/pause.tar" .
    docker_ import --change 'ENTRYPOINT ["/pause"]' "$node/pause/pause.tar" "$PAUSE" >/dev/null
}

wait_for() { # what, tries of 0.1 s, command...
    local what=$1 n=$2
    shift 2
    for _ in $(seq 1 "$n"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "k8s-node.sh: $what not ready in $((n / 10)) s" >&2
    return 1
}

kube_get() {
    curl -fsS --cacert "$BERTH_K8S_CA" -H "Authorization: Bearer $BERTH_K8S_ADMIN_TOKEN" "$BERTH_K8S_SERVER$1"
}

node_ready() {
    kube_get "/api/v1/nodes/$NODE_NAME" | python3 -c '
import json, sys
n = json.load(sys.stdin)
ok = any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
sys.exit(0 if ok else 1)'
}

case $cmd in
start)
    [ -f "$dir/env" ] || { echo "k8s-node.sh: no $dir/env: run scripts/k8s-cluster.sh start $dir first" >&2; exit 1; }
    [ ! -e "$node" ] || { echo "k8s-node.sh: $node exists: stop it first" >&2; exit 1; }
    command -v dockerd >/dev/null || { echo "k8s-node.sh: dockerd is missing: run scripts/deps.sh k8s-node" >&2; exit 1; }
    # containerd's socket lies under the exec root: unix socket paths are short.
    [ ${#node} -le 40 ] || { echo "k8s-node.sh: $dir is too long a path for the sockets" >&2; exit 1; }
    . "$dir/env"
    BIN=$("$here/kube-node.sh")
    mkdir -p "$node"
    # What exists before, so that stop removes only what start made.
    for s in $SYSCTLS; do echo "$s $(cat "/proc/sys/$s")"; done >"$node/sysctl.saved"
    for p in $HOST_PATHS; do [ -e "$p" ] || echo "$p"; done >"$node/made.paths"
    # The kubelet's kubepods in every hierarchy (v1 ones, and the v2 one beside them).
    for h in /sys/fs/cgroup/*/; do
        [ -e "${h}kubepods" ] || echo "${h}kubepods"
    done >"$node/made.cgroups"
    write_kubeconfig "$node/admin.kubeconfig" "$BERTH_K8S_SERVER" "$BERTH_K8S_CA" admin "$BERTH_K8S_ADMIN_TOKEN"
    runc_wrapper
    cat >"$node/daemon.json" <<JSON
{"runtimes": {"berth-runc": {"path": "$node/runc"}}, "default-runtime": "berth-runc"}
JSON
    dockerd --config-file "$node/daemon.json" --data-root "$node/docker" --exec-root "$node/x" \
        --pidfile "$node/dockerd.pidfile" -H "unix://$node/docker.sock" \
        --iptables=false --ip6tables=false --bridge=none --ip-masq=false --ip-forward=false \
        --oom-score-adjust=0 --exec-opt native.cgroupdriver=cgroupfs --log-level=warn \
        >>"$node/dockerd.log" 2>&1 &
    echo $! >"$node/dockerd.pid"
    wait_for dockerd 300 docker_ version || { tail -20 "$node/dockerd.log" >&2; exit 1; }
    pause_image
    "$BIN/kube-controller-manager" --kubeconfig="$node/admin.kubeconfig" --leader-elect=false \
        --port=0 --secure-port=0 --use-service-account-credentials=false \
        --flex-volume-plugin-dir="$node/volume-plugins" \
        --service-account-private-key-file="$dir/sa.key" --root-ca-file="$BERTH_K8S_CA" \
        --logtostderr=true --v=1 >>"$node/controller-manager.log" 2>&1 &
    echo $! >"$node/controller-manager.pid"
    "$BIN/kube-scheduler" --kubeconfig="$node/admin.kubeconfig" --leader-elect=false \
        --port=0 --secure-port=0 --logtostderr=true --v=1 >>"$node/scheduler.log" 2>&1 &
    echo $! >"$node/scheduler.pid"
    KUBELET_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$node/kubelet" "$node/dockershim" "$node/volume-plugins"
    "$BIN/kubelet" --kubeconfig="$node/admin.kubeconfig" --hostname-override="$NODE_NAME" \
        --container-runtime=docker --docker-endpoint="unix://$node/docker.sock" \
        --container-runtime-endpoint="unix://$node/dockershim.sock" \
        --image-service-endpoint="unix://$node/dockershim.sock" \
        --experimental-dockershim-root-directory="$node/dockershim" \
        --pod-infra-container-image="$PAUSE" --cgroup-driver=cgroupfs \
        --root-dir="$node/kubelet" --cert-dir="$node/kubelet/pki" --volume-plugin-dir="$node/volume-plugins" \
        --address=127.0.0.1 --port="$KUBELET_PORT" --read-only-port=0 --healthz-port=0 \
        --fail-swap-on=false --oom-score-adj=0 --make-iptables-util-chains=false \
        --eviction-hard='memory.available<100Mi' --image-gc-high-threshold=100 \
        --image-gc-low-threshold=99 --serialize-image-pulls=false \
        --logtostderr=true --v=1 >>"$node/kubelet.log" 2>&1 &
    echo $! >"$node/kubelet.pid"
    cat >"$node/env" <<ENV
DOCKER_HOST=unix://$node/docker.sock
BERTH_K8S_NODE=$NODE_NAME
KUBELET_PORT=$KUBELET_PORT
ENV
    t0=$SECONDS
    if ! wait_for "node $NODE_NAME" 1200 node_ready; then
        tail -30 "$node/kubelet.log" >&2
        exit 1
    fi
    echo "k8s-node.sh: node $NODE_NAME Ready $((SECONDS - t0)) s after the kubelet's start ($node/env)" >&2
    ;;
load)
    tarball=${3:-} ref=${4:-}
    [ -n "$tarball" ] && [ -n "$ref" ] || { echo "usage: $0 load DIR TARBALL REF" >&2; exit 2; }
    # As scripts/runtime-image.sh imports it into podman.
    docker_ import --change 'ENTRYPOINT ["/usr/bin/berth-serve"]' \
        --change 'CMD ["--rest_api_host=0.0.0.0", "--rest_api_port=8501", "--model_name=m", "--model_base_path=/srv/base"]' \
        --change 'EXPOSE 8501' "$tarball" "$ref" >/dev/null
    echo "$ref"
    ;;
stop)
    [ -d "$node" ] || exit 0
    # The kubelet first, so that nothing starts the pods again.
    stop_pid "$node/kubelet.pid" 150
    if [ -S "$node/docker.sock" ] && docker_ version >/dev/null 2>&1; then
        ids=$(docker_ ps -aq)
        # shellcheck disable=SC2086
        [ -z "$ids" ] || docker_ rm -f $ids >/dev/null
    fi
    stop_pid "$node/scheduler.pid"
    stop_pid "$node/controller-manager.pid"
    stop_pid "$node/dockerd.pid" 300
    # What the kubelet mounted (secret volumes) and dockerd left, deepest first.
    { findmnt -rn -o TARGET | grep "^$node/" || true; } | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    if [ -f "$node/sysctl.saved" ]; then
        while read -r s v; do
            [ "$(cat "/proc/sys/$s")" = "$v" ] || echo "$v" >"/proc/sys/$s" 2>/dev/null || true
        done <"$node/sysctl.saved"
    fi
    if [ -f "$node/made.cgroups" ]; then
        while read -r c; do
            [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done <"$node/made.cgroups"
    fi
    if [ -f "$node/made.paths" ]; then
        while read -r p; do rm -rf "$p"; done <"$node/made.paths"
    fi
    rm -rf "$node"
    ;;
*)
    echo "usage: $0 start|load|stop DIR" >&2
    exit 2
    ;;
esac
