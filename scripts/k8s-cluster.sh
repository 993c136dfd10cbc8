#!/bin/bash
# A real Kubernetes API server on loopback for the driver's tests: etcd and
# kube-apiserver (scripts/kube-apiserver.sh), TLS with a CA of its own, token
# users and RBAC. No controller-manager, scheduler or kubelet: nothing makes
# pods, so tests write the status a kubelet would (as envtest users do).
#
#   scripts/k8s-cluster.sh start DIR       # start; writes DIR/env
#   scripts/k8s-cluster.sh restart-apiserver DIR   # the server only, same port and etcd
#   scripts/k8s-cluster.sh stop-apiserver|start-apiserver DIR   # the same in two steps
#   scripts/k8s-cluster.sh stop DIR        # end what start started, remove DIR
#
# DIR/env (sourceable): BERTH_K8S_SERVER, BERTH_K8S_CA, BERTH_K8S_ADMIN_TOKEN
# (system:masters), BERTH_K8S_BERTH_TOKEN (only deploy/kubernetes/rbac.yaml's
# Role, in namespaces berth-a and berth-b), BERTH_K8S_NOBODY_TOKEN (no rights),
# BERTH_K8S_KUBECONFIG (user berth, namespace berth-a).
set -euo pipefail
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|restart-apiserver|stop-apiserver|start-apiserver DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/k8s-lib.sh"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_apiserver() {
    . "$dir/env"
    "$KAS" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$KAS_PORT" \
        --insecure-port=0 --tls-cert-file="$dir/server.crt" --tls-private-key-file="$dir/server.key" \
        --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
        --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
        --service-account-issuer=https://kubernetes.default.svc \
        --service-cluster-ip-range=10.0.0.0/24 --disable-admission-plugins=ServiceAccount \
        --cert-dir="$dir/certs" --profiling=false --logtostderr=true --v=1 \
        >>"$dir/apiserver.log" 2>&1 &
    echo $! >"$dir/apiserver.pid"
    for _ in $(seq 1 600); do
        if curl -fsS --cacert "$dir/ca.crt" -H "Authorization: Bearer $BERTH_K8S_ADMIN_TOKEN" \
            "$BERTH_K8S_SERVER/readyz" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null || { tail -20 "$dir/apiserver.log" >&2; return 1; }
        sleep 0.1
    done
    echo "k8s-cluster.sh: kube-apiserver not ready in 60 s" >&2
    tail -20 "$dir/apiserver.log" >&2
    return 1
}


case $cmd in
start)
    KAS=$("$here/kube-apiserver.sh")
    mkdir -p "$dir/certs"
    dir=$(cd "$dir" && pwd)
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=berth-test-ca \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' >"$dir/san.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/server.crt" 2>/dev/null
    openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
    openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
    tok() { openssl rand -hex 16; }
    admin=$(tok) berth=$(tok) nobody=$(tok)
    {
        echo "$admin,admin,uid-admin,\"system:masters\""
        echo "$berth,berth,uid-berth"
        echo "$nobody,nobody,uid-nobody"
    } >"$dir/tokens.csv"
    chmod 600 "$dir"/*.key "$dir/tokens.csv"
    ETCD_PORT=$(free_port) ETCD_PEER=$(free_port) KAS_PORT=$(free_port)
    cat >"$dir/env" <<ENV
BERTH_K8S_SERVER=https://127.0.0.1:$KAS_PORT
BERTH_K8S_CA=$dir/ca.crt
BERTH_K8S_ADMIN_TOKEN=$admin
BERTH_K8S_BERTH_TOKEN=$berth
BERTH_K8S_NOBODY_TOKEN=$nobody
BERTH_K8S_KUBECONFIG=$dir/berth.kubeconfig
KAS=$KAS
KAS_PORT=$KAS_PORT
ETCD_PORT=$ETCD_PORT
ENV
    etcd --name berth-test --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
        --initial-cluster "berth-test=http://127.0.0.1:$ETCD_PEER" --log-level warn \
        >"$dir/etcd.log" 2>&1 &
    echo $! >"$dir/etcd.pid"
    start_apiserver
    . "$dir/env"
    # Namespaces, and the driver's Role bound to user berth in two of them.
    python3 "$here/k8s-rbac.py" "$dir/env" "$here/../deploy/kubernetes/rbac.yaml" berth-a berth-b
    write_kubeconfig "$dir/berth.kubeconfig" "$BERTH_K8S_SERVER" "$dir/ca.crt" berth "$berth" berth-a
    echo "k8s-cluster.sh: kube-apiserver at $BERTH_K8S_SERVER ($dir/env)" >&2
    ;;
restart-apiserver)
    stop_pid "$dir/apiserver.pid"
    start_apiserver
    ;;
stop-apiserver)
    stop_pid "$dir/apiserver.pid"
    ;;
start-apiserver)
    start_apiserver
    ;;
stop)
    stop_pid "$dir/apiserver.pid"
    stop_pid "$dir/etcd.pid"
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop|restart-apiserver|stop-apiserver|start-apiserver DIR" >&2
    exit 2
    ;;
esac
