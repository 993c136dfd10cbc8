#!/bin/sh
# deps.sh - install, only when missing, every Debian package that Berth's build,
# tests and benchmarks need. Idempotent; the one place that installs packages.
set -eu

PKGS="build-essential clang llvm libclang-rt-14-dev pkg-config
libuv1-dev node-llhttp libjansson-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev
libxgboost-dev python3 python3-xgboost python3-numpy
libtorch-dev python3-torch
wrk nginx-light prometheus
rsyslog rsyslog-openssl
podman runc catatonit docker-registry"

# berthd runs instances as this unprivileged user (--instance-user); only root
# can create it, and only a berthd running as root switches to it.
INSTANCE_USER=${BERTH_INSTANCE_USER:-berth-instance}
if [ "$(id -u)" = 0 ] && ! getent passwd "$INSTANCE_USER" >/dev/null; then
    echo "deps.sh: creating the user $INSTANCE_USER" >&2
    useradd --system --no-create-home --shell /usr/sbin/nologin "$INSTANCE_USER"
fi

missing=""
for p in $PKGS; do
    # dpkg-query prints "install ok installed" only for a fully installed package.
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
