#!/bin/bash
# Builds kube-controller-manager, kube-scheduler and kubelet from Debian's
# kubernetes source package (1.20.2), with the recipe kube-apiserver.sh uses
# (scripts/kube-build.sh), and caches them outside the repository; rebuilt
# only when absent. Prints the cache directory. The optional tier of the
# Kubernetes driver's tests (scripts/k8s-node.sh) runs them; make test does not.
#
#   scripts/kube-node.sh            # build if needed, print the directory
set -euo pipefail
CACHE=${BERTH_K8S_NODE_CACHE:-/var/cache/berth/kube-node-1.20.2}
"$(dirname "$0")/kube-build.sh" kube-node.sh "$CACHE" kube-controller-manager kube-scheduler kubelet
echo "$CACHE"
