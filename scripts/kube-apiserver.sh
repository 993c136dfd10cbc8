#!/bin/bash
# Builds kube-apiserver from Debian's kubernetes source package (1.20.2) and
# caches it outside the repository; rebuilt only when absent. Prints the
# binary's path. The Kubernetes driver's tests (make test-k8s) run it.
#
#   scripts/kube-apiserver.sh            # build if needed, print the path
#
# The deb-src list is derived from the system's own debian.sources (Types:
# deb -> deb-src) into a private apt directory, so the system's apt setup is
# left as it is. The vendored modern-go/reflect2 1.0.1 crashes under Go >=
# 1.18 on the first Deployment; Debian's golang-github-modern-go-reflect2-dev
# (1.0.2) replaces it. Needs scripts/deps.sh k8s (golang-go, rsync, dpkg-dev).
set -euo pipefail

VERSION=1.20.2
CACHE=${BERTH_K8S_CACHE:-/var/cache/berth/kube-apiserver-$VERSION}
BIN=$CACHE/kube-apiserver
if [ -x "$BIN" ]; then
    echo "$BIN"
    exit 0
fi

SOURCES=/etc/apt/sources.list.d/debian.sources
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
for need in go rsync dpkg-source; do
    command -v $need >/dev/null || { echo "kube-apiserver.sh: $need is missing: run scripts/deps.sh k8s" >&2; exit 1; }
done
[ -f "$SOURCES" ] || { echo "kube-apiserver.sh: $SOURCES not found" >&2; exit 1; }
[ -d "$REFLECT2" ] || { echo "kube-apiserver.sh: $REFLECT2 missing (golang-github-modern-go-reflect2-dev)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/berth-kube-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
apt_dir=$work/apt
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
sed 's/^Types:.*deb\b.*/Types: deb-src/' "$SOURCES" >"$apt_dir/sources.list.d/debian.sources"
APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "APT::Sandbox::User=root")
echo "kube-apiserver.sh: fetching the kubernetes source package" >&2
apt-get "${APT_OPTS[@]}" -qq update >&2
mkdir -p "$work/src"
(cd "$work/src" && apt-get "${APT_OPTS[@]}" -qq source --download-only "kubernetes=$VERSION*" >&2 ||
     apt-get "${APT_OPTS[@]}" -qq source --download-only kubernetes >&2)
dsc=$(ls "$work"/src/kubernetes_*.dsc | head -1)
dpkg-source --no-check -x "$dsc" "$work/k" >&2

# reflect2 1.0.2 for the vendored 1.0.1: Go sources only.
vendored=$work/k/vendor/github.com/modern-go/reflect2
[ -d "$vendored" ] || { echo "kube-apiserver.sh: no vendored reflect2 in the tree" >&2; exit 1; }
find "$vendored" -maxdepth 1 -name '*.go' -delete
cp "$REFLECT2"/*.go "$vendored"/
rm -f "$vendored"/*_test.go

echo "kube-apiserver.sh: building (about 9 minutes on 2 cores)" >&2
export GO111MODULE=off GOFLAGS= GOCACHE=$work/gocache GOPATH=$work/gopath
(cd "$work/k" && nice make WHAT=cmd/kube-apiserver KUBE_BUILD_PLATFORMS=linux/amd64 >&2)
out=$(find "$work/k/_output" -type f -name kube-apiserver -perm -u+x | head -1)
[ -n "$out" ] || { echo "kube-apiserver.sh: the build made no kube-apiserver" >&2; exit 1; }
mkdir -p "$CACHE"
install -m 0755 "$out" "$BIN.new"
mv "$BIN.new" "$BIN"
echo "$BIN"
