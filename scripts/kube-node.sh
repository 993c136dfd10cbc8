#!/bin/bash
# Builds kube-controller-manager, kube-scheduler and kubelet from Debian's
# kubernetes source package (1.20.2), the same tree and recipe as
# scripts/kube-apiserver.sh, and caches them outside the repository; rebuilt
# only when absent. Prints the cache directory. The optional tier of the
# Kubernetes driver's tests (scripts/k8s-node.sh) runs them; make test does not.
#
#   scripts/kube-node.sh            # build if needed, print the directory
#
# As in kube-apiserver.sh: the deb-src list is derived from the system's own
# debian.sources into a private apt directory, and Debian's reflect2 1.0.2
# replaces the vendored 1.0.1 (which crashes under Go >= 1.18). Needs
# scripts/deps.sh k8s (golang-go, rsync, dpkg-dev, reflect2).
set -euo pipefail

VERSION=1.20.2
CACHE=${BERTH_K8S_NODE_CACHE:-/var/cache/berth/kube-node-$VERSION}
BINS="kube-controller-manager kube-scheduler kubelet"
have=1
for b in $BINS; do [ -x "$CACHE/$b" ] || have=""; done
if [ -n "$have" ]; then
    echo "$CACHE"
    exit 0
fi

SOURCES=/etc/apt/sources.list.d/debian.sources
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
for need in go rsync dpkg-source gcc; do
    command -v $need >/dev/null || { echo "kube-node.sh: $need is missing: run scripts/deps.sh k8s" >&2; exit 1; }
done
[ -f "$SOURCES" ] || { echo "kube-node.sh: $SOURCES not found" >&2; exit 1; }
[ -d "$REFLECT2" ] || { echo "kube-node.sh: $REFLECT2 missing (golang-github-modern-go-reflect2-dev)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/berth-kube-node-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
apt_dir=$work/apt
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
sed 's/^Types:.*deb\b.*/Types: deb-src/' "$SOURCES" >"$apt_dir/sources.list.d/debian.sources"
APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "APT::Sandbox::User=root")
echo "kube-node.sh: fetching the kubernetes source package" >&2
apt-get "${APT_OPTS[@]}" -qq update >&2
mkdir -p "$work/src"
(cd "$work/src" && apt-get "${APT_OPTS[@]}" -qq source --download-only "kubernetes=$VERSION*" >&2 ||
     apt-get "${APT_OPTS[@]}" -qq source --download-only kubernetes >&2)
dsc=$(ls "$work"/src/kubernetes_*.dsc | head -1)
dpkg-source --no-check -x "$dsc" "$work/k" >&2

vendored=$work/k/vendor/github.com/modern-go/reflect2
[ -d "$vendored" ] || { echo "kube-node.sh: no vendored reflect2 in the tree" >&2; exit 1; }
find "$vendored" -maxdepth 1 -name '*.go' -delete
cp "$REFLECT2"/*.go "$vendored"/
rm -f "$vendored"/*_test.go

what=""
for b in $BINS; do what="$what cmd/$b"; done
echo "kube-node.sh: building$what (15 minutes or more on 2 cores)" >&2
export GO111MODULE=off GOFLAGS= GOCACHE=$work/gocache GOPATH=$work/gopath
(cd "$work/k" && nice make WHAT="${what# }" KUBE_BUILD_PLATFORMS=linux/amd64 >&2)
mkdir -p "$CACHE"
for b in $BINS; do
    out=$(find "$work/k/_output" -type f -name "$b" -perm -u+x | head -1)
    [ -n "$out" ] || { echo "kube-node.sh: the build made no $b" >&2; exit 1; }
    install -m 0755 "$out" "$CACHE/$b.new"
done
for b in $BINS; do mv "$CACHE/$b.new" "$CACHE/$b"; done
echo "$CACHE"
