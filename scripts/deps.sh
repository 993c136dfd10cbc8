#!/bin/sh
# deps.sh - install, only when missing, the Debian packages that Berth needs;
# idempotent, and the one place that installs packages.
#
#   scripts/deps.sh run     to build and run Berth (make run, make install)
#   scripts/deps.sh test    ... and to run its tests (make test; the default)
#   scripts/deps.sh bench   ... and its benchmarks (make bench)
#   scripts/deps.sh k8s     ... and the Kubernetes test bed (make test-k8s)
#   scripts/deps.sh k8s-node ... and dockerd for its optional tier (scripts/k8s-node.sh)
#
# apt's progress is shown. Daemons that come in a package (nginx, prometheus,
# docker-registry) are not started by the install and not enabled for the
# next boot: the tests and benchmarks start their own, on 127.0.0.1, and stop
# them.
set -eu

LEVEL=${1:-test}

# To build berthd, berth and berth-serve (XGBoost and TorchScript backends),
# to train the demo model, and sqlite3 for the backup procedure (libyaml reads
# kubeconfig files).
PKGS_RUN="build-essential pkg-config
libuv1-dev node-llhttp libjansson-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev libyaml-dev
libxgboost-dev python3 python3-xgboost python3-numpy
libtorch-dev sqlite3"
# The real systems the tests drive, the tools of sanitizer and fuzz builds,
# Node.js for the SDK example (examples/node) and the console's browser tests
# (tests/browser: their npm packages are installed below), and the browser
# they drive with a font that has the console's Chinese.
PKGS_TEST="clang llvm libclang-rt-14-dev
python3-torch wrk prometheus
rsyslog rsyslog-openssl systemd nodejs
podman runc catatonit docker-registry
chromium fonts-wqy-microhei"
# The references the benchmarks measure against.
PKGS_BENCH="nginx-light linux-perf strace"
# The Kubernetes driver's test bed (make test-k8s): kube-apiserver built from
# Debian's kubernetes source package (scripts/kube-apiserver.sh) with etcd;
# busybox-static is the /bin/sh of berthd's image (scripts/berthd-image.sh).
PKGS_K8S="golang-go rsync dpkg-dev etcd-server golang-github-modern-go-reflect2-dev openssl
python3-yaml busybox-static"
# The optional tier's node (scripts/k8s-node.sh): the kubelet runs pods on dockerd.
PKGS_K8S_NODE="docker.io"
# Installed by this script, these must not stay running (nor start at boot).
DAEMONS="nginx prometheus docker-registry etcd docker containerd"

case $LEVEL in
run) PKGS=$PKGS_RUN ;;
test) PKGS="$PKGS_RUN $PKGS_TEST" ;;
bench) PKGS="$PKGS_RUN $PKGS_TEST $PKGS_BENCH" ;;
k8s) PKGS="$PKGS_RUN $PKGS_TEST $PKGS_K8S" ;;
k8s-node) PKGS="$PKGS_RUN $PKGS_TEST $PKGS_K8S $PKGS_K8S_NODE" ;;
*)
    echo "usage: scripts/deps.sh [run|test|bench|k8s|k8s-node]" >&2
    exit 2
    ;;
esac

# berthd runs instances as this unprivileged user (--instance-user); only root
# can create it, and only a berthd running as root switches to it.
INSTANCE_USER=${BERTH_INSTANCE_USER:-berth-instance}
if [ "$(id -u)" = 0 ] && ! getent passwd "$INSTANCE_USER" >/dev/null; then
    echo "deps.sh: creating the user $INSTANCE_USER" >&2
    useradd --system --no-create-home --shell /usr/sbin/nologin "$INSTANCE_USER"
fi

installed() {
    # dpkg-query prints "install ok installed" only for a fully installed package.
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

# The npm packages of examples/node and tests/browser, from their lock files,
# once Node.js is there.
npm_packages() {
    [ "$LEVEL" = run ] && return 0
    ROOT=$(cd "$(dirname "$0")/.." && pwd)
    for dir_pkg in examples/node:tencentcloud-sdk-nodejs-common tests/browser:playwright-core; do
        dir=${dir_pkg%%:*}
        [ -d "$ROOT/$dir/node_modules/${dir_pkg#*:}" ] && continue
        echo "deps.sh: installing the npm packages of $dir" >&2
        npm ci --prefix "$ROOT/$dir" --no-audit --no-fund
    done
}

missing=""
for p in $PKGS; do
    installed "$p" || missing="$missing $p"
done
# Debian's nodejs comes without npm; other builds of it bring their own.
case $LEVEL in run) ;; *) command -v npm >/dev/null || missing="$missing npm" ;; esac
if [ -z "$missing" ]; then
    npm_packages
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "deps.sh: installing$missing" >&2

# Which daemons arrive now (no unit yet): those are the ones to keep stopped.
new_daemons=""
for d in $DAEMONS; do
    [ -e "/lib/systemd/system/$d.service" ] || new_daemons="$new_daemons $d"
done

# invoke-rc.d asks policy-rc.d whether a package may start its service;
# 101 says no. A policy already in place (a container's) stays.
POLICY=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# written by berth scripts/deps.sh for the length of an install\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    own_policy=1
fi
cleanup() {
    if [ -n "$own_policy" ]; then rm -f "$POLICY"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 $missing

for d in $new_daemons; do
    if command -v systemctl >/dev/null && [ -e "/lib/systemd/system/$d.service" ]; then
        systemctl disable --quiet "$d.service" 2>/dev/null || true
        [ -d /run/systemd/system ] && systemctl stop "$d.service" 2>/dev/null || true
        # dockerd also comes with a socket unit that would start it on demand.
        if [ -e "/lib/systemd/system/$d.socket" ]; then
            systemctl disable --quiet "$d.socket" 2>/dev/null || true
            [ -d /run/systemd/system ] && systemctl stop "$d.socket" 2>/dev/null || true
        fi
    fi
done

npm_packages
