#!/bin/bash
# kube-build.sh - build commands of Debian's kubernetes source package
# (1.20.2) into a cache directory outside the repository, each only when
# absent. The one recipe behind scripts/kube-apiserver.sh (the test bed's API
# server) and scripts/kube-node.sh (the optional tier's node).
#
#   scripts/kube-build.sh TAG CACHE CMD...   e.g. kube-node.sh /var/cache/... kubelet
#
# TAG names the caller in messages. The deb-src list is derived from the
# system's own debian.sources (Types: deb -> deb-src) into a private apt
# directory, so the system's apt setup is left as it is. The vendored
# modern-go/reflect2 1.0.1 crashes under Go >= 1.18 on the first Deployment;
# Debian's golang-github-modern-go-reflect2-dev (1.0.2) replaces it. Built with
# Debian's Go in GOPATH mode (`make WHAT=cmd/...`); the tree is removed after.
# Needs scripts/deps.sh k8s (golang-go, rsync, dpkg-dev, reflect2).
set -euo pipefail

tag=$1 cache=$2
shift 2
VERSION=1.20.2
missing=""
for b in "$@"; do [ -x "$cache/$b" ] || missing="$missing $b"; done
[ -n "$missing" ] || exit 0

SOURCES=/etc/apt/sources.list.d/debian.sources
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
for need in go rsync dpkg-source gcc; do
    command -v $need >/dev/null || { echo "$tag: $need is missing: run scripts/deps.sh k8s" >&2; exit 1; }
done
[ -f "$SOURCES" ] || { echo "$tag: $SOURCES not found" >&2; exit 1; }
[ -d "$REFLECT2" ] || { echo "$tag: $REFLECT2 missing (golang-github-modern-go-reflect2-dev)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/berth-kube-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
apt_dir=$work/apt
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
sed 's/^Types:.*deb\b.*/Types: deb-src/' "$SOURCES" >"$apt_dir/sources.list.d/debian.sources"
APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "APT::Sandbox::User=root")
echo "$tag: fetching the kubernetes source package" >&2
apt-get "${APT_OPTS[@]}" -qq update >&2
mkdir -p "$work/src"
(cd "$work/src" && apt-get "${APT_OPTS[@]}" -qq source --download-only "kubernetes=$VERSION*" >&2 ||
     apt-get "${APT_OPTS[@]}" -qq source --download-only kubernetes >&2)
dsc=$(ls "$work"/src/kubernetes_*.dsc | head -1)
dpkg-source --no-check -x "$dsc" "$work/k" >&2

# reflect2 1.0.2 for the vendored 1.0.1: Go sources only.
vendored=$work/k/vendor/github.com/modern-go/reflect2
[ -d "$vendored" ] || { echo "$tag: no vendored reflect2 in the tree" >&2; exit 1; }
find "$vendored" -maxdepth 1 -name '*.go' -delete
cp "$REFLECT2"/*.go "$vendored"/
rm -f "$vendored"/*_test.go

what=""
for b in $missing; do what="$what cmd/$b"; done
echo "$tag: building$what (kube-apiserver about 9 minutes on 2 cores, the node's three about 13)" >&2
export GO111MODULE=off GOFLAGS= GOCACHE=$work/gocache GOPATH=$work/gopath
(cd "$work/k" && nice make WHAT="${what# }" KUBE_BUILD_PLATFORMS=linux/amd64 >&2)
mkdir -p "$cache"
for b in $missing; do
    out=$(find "$work/k/_output" -type f -name "$b" -perm -u+x | head -1)
    [ -n "$out" ] || { echo "$tag: the build made no $b" >&2; exit 1; }
    install -m 0755 "$out" "$cache/$b.new"
done
for b in $missing; do mv "$cache/$b.new" "$cache/$b"; done
