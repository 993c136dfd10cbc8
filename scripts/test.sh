#!/bin/bash
# test.sh - run the test suites and print one closing line "N passed, N failed, N skipped"
# covering every test run. Usage: scripts/test.sh [unit|fuzz|e2e|k8s|k8s-node]... (default: unit
# fuzz e2e; k8s, the Kubernetes driver's suite against a real kube-apiserver, is `make test-k8s`;
# k8s-node, with a kubelet that runs the pods, is `make test-k8s-node`).
# Exits non-zero when anything failed.
set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
export BERTH_BIN_DIR="$PWD/$BUILD"
# Only read by a SANITIZE=thread build.
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}"
suites=${*:-unit fuzz e2e}
passed=0 failed=0 skipped=0

run_unit() {
    for t in "$BUILD"/${1:-tests}/test_*; do
        [ -x "$t" ] || continue
        out=$("$t" 2>&1)
        rc=$?
        printf '%s\n' "$out"
        p=$(printf '%s\n' "$out" | grep -c '^ok ')
        f=$(printf '%s\n' "$out" | grep -c '^not ok ')
        # A crash part-way leaves tests of the "1..N" plan unreported: count them as failed.
        plan=$(printf '%s\n' "$out" | sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' | head -n 1)
        if [ -n "$plan" ] && [ $((p + f)) -lt "$plan" ]; then
            echo "not ok - $(basename "$t"): $((plan - p - f)) planned tests did not report"
            f=$((plan - p))
        fi
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "not ok - $(basename "$t") exited with status $rc"
            f=1
        fi
        passed=$((passed + p)) failed=$((failed + f))
    done
}

run_fuzz() {
    for t in "$BUILD"/fuzz-replay/fuzz_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t"); name=${name#fuzz_}
        if "$t" "tests/fuzz/corpus/$name" >/tmp/berth-fuzz-$$.log 2>&1; then
            echo "ok - fuzz corpus replay: $name ($(tail -n 1 /tmp/berth-fuzz-$$.log))"
            passed=$((passed + 1))
        else
            cat /tmp/berth-fuzz-$$.log
            echo "not ok - fuzz corpus replay: $name"
            failed=$((failed + 1))
        fi
        rm -f /tmp/berth-fuzz-$$.log
    done
}

# The test bed (scripts/k8s-cluster.sh) for the length of the suite.
run_k8s() {
    bed=$(mktemp -d /tmp/berth-k8s.XXXXXX)
    if ! scripts/k8s-cluster.sh start "$bed"; then
        echo "not ok - the Kubernetes test bed did not start"
        failed=$((failed + 1))
        rm -rf "$bed"
        return
    fi
    BERTH_K8S_ENV=$bed/env run_unit tests-k8s
    BERTH_K8S_ENV=$bed/env run_e2e t2900
    scripts/k8s-cluster.sh stop "$bed"
}

# The same bed with its node (scripts/k8s-node.sh), whose kubelet runs the pods for real.
run_k8s_node() {
    bed=$(mktemp -d /tmp/berth-k8s.XXXXXX)
    if ! scripts/k8s-cluster.sh start "$bed" || ! scripts/k8s-node.sh start "$bed"; then
        echo "not ok - the Kubernetes test bed or its node did not start"
        failed=$((failed + 1))
        scripts/k8s-node.sh stop "$bed" || true
        scripts/k8s-cluster.sh stop "$bed" || true
        return
    fi
    BERTH_K8S_ENV=$bed/env BERTH_K8S_NODE_ENV=$bed/node/env run_e2e t2910
    scripts/k8s-node.sh stop "$bed"
    scripts/k8s-cluster.sh stop "$bed"
}

run_e2e() {
    out=$(mktemp)
    "$PYTHON" tests/e2e/run.py "$@" 2>&1 | tee "$out"
    line=$(grep '^RESULT ' "$out" | tail -n 1)
    rm -f "$out"
    if [ -z "$line" ]; then
        echo "not ok - e2e runner did not finish"
        failed=$((failed + 1))
        return
    fi
    for kv in ${line#RESULT }; do
        case $kv in
        passed=*) passed=$((passed + ${kv#passed=})) ;;
        failed=*) failed=$((failed + ${kv#failed=})) ;;
        skipped=*) skipped=$((skipped + ${kv#skipped=})) ;;
        esac
    done
}

for s in $suites; do
    case $s in
    unit) run_unit ;;
    fuzz) run_fuzz ;;
    e2e) run_e2e ;;
    k8s) run_k8s ;;
    k8s-node) run_k8s_node ;;
    *) echo "test.sh: unknown suite '$s'" >&2; exit 2 ;;
    esac
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
