# k8s-lib.sh - what the test bed's scripts share (k8s-cluster.sh, k8s-node.sh);
# sourced, not run.

# End the process whose pid FILE holds: SIGTERM, then SIGKILL after TENTHS
# tenths of a second (default 100); the file goes.
stop_pid() {
    local f=$1 wait=${2:-100} pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 "$wait"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

# A kubeconfig FILE (mode 0600) for SERVER with the CA file CA, as USER with
# bearer TOKEN, in NAMESPACE when one is given.
write_kubeconfig() {
    local f=$1 server=$2 ca=$3 user=$4 token=$5 ns=${6:-}
    cat >"$f" <<KC
apiVersion: v1
kind: Config
clusters:
- name: bed
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$ca")
users:
- name: $user
  user:
    token: $token
contexts:
- name: bed
  context:
    cluster: bed
    user: $user
${ns:+    namespace: $ns
}current-context: bed
KC
    chmod 600 "$f"
}
