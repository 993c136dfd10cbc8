#!/bin/bash
# Builds kube-apiserver from Debian's kubernetes source package (1.20.2) and
# caches it outside the repository; rebuilt only when absent. Prints the
# binary's path. The Kubernetes driver's tests (make test-k8s) run it. The
# recipe (deb-src from the system's own sources, Debian's reflect2 for the
# vendored one) is scripts/kube-build.sh's.
#
#   scripts/kube-apiserver.sh            # build if needed, print the path
set -euo pipefail
CACHE=${BERTH_K8S_CACHE:-/var/cache/berth/kube-apiserver-1.20.2}
"$(dirname "$0")/kube-build.sh" kube-apiserver.sh "$CACHE" kube-apiserver
echo "$CACHE/kube-apiserver"
