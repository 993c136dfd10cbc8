#!/usr/bin/env bash
# bench/floor.sh - berth-serve against nginx `return 200` with the same answer: the HTTP floor.
#
# Run from anywhere as `bench/floor.sh` (or `make bench-floor`) once build/berth-serve exists.
# Everything stays on 127.0.0.1, every load is bounded in time, only processes this run started
# are stopped (by pid), and the whole run takes about 2 minutes with the defaults (3 with
# --xgboost_predictor). See docs/benchmarks.md ("berth-serve against nginx (the HTTP floor)").
#
#   1. trains the issue's model with /usr/bin/python3's XGBoost (binary:logistic, 8 features,
#      50 trees of depth 6) and writes TF :predict bodies of 1, 100, 1000 rows and a V2
#      binary-tensor body of 1000 rows;
#   2. starts berth-serve (--rest_api_num_threads 1) and checks every answer against XGBoost
#      (1e-6), then nginx (one worker, keep-alive, `return 200` with berth-serve's batch-1 answer
#      byte for byte, default_type application/json), both pinned to the first CPU;
#   3. where berth-serve has --xgboost_predictor, one server with =native and one with =library,
#      checked the same way (without the flag those rows say n/a);
#   4. batch-1 TF :predict with wrk -t1 -c16 on the last CPU, berth-serve and nginx in turn,
#      in rounds: req/s and the ratio, the CPU µs per request of each server's threads;
#   5. syscalls per request of each server in one more run (perf stat -e raw_syscalls:sys_enter,
#      strace -f -c without perf);
#   6. rows/s at batch 1, 100, 1000 (TF JSON) and 1000 (V2 binary), native ÷ library;
#   7. a perf profile of berth-serve under the batch-1 load (top symbols, µs per request);
#   8. prints a Markdown report and writes it to bench/results/floor.md (raw figures in
#      bench/results/floor.json).
#
# Environment knobs:
#   BERTH_SERVE=path          server binary (default $BUILD/berth-serve, BUILD defaulting to build)
#   BENCH_SECONDS=4           length of each floor run (berth-serve, nginx)
#   BENCH_ROUNDS=3            floor rounds (each: one run per server, the order alternating)
#   BENCH_CONNECTIONS=16      wrk connections (wrk always uses 1 thread)
#   BENCH_SERVER_THREADS=1    --rest_api_num_threads
#   BENCH_WARMUP=1            warm-up per server, seconds (not reported)
#   BENCH_ROWS_SECONDS=3      length of each rows/s run
#   BENCH_ROWS_ROUNDS=3       rows/s rounds (each: every scenario on every path)
#   BENCH_ROWS_CONNECTIONS=16 wrk connections for the rows/s runs
#   BENCH_SYSCALL_SECONDS=2   the syscall-counting run, per server
#   BENCH_SYSCALL_TOOL=auto   perf, strace, or auto: the count from perf stat where it works
#                             (else strace), the breakdown by syscall from strace
#   BENCH_PROFILE_SECONDS=3   perf record of berth-serve; 0: no profile
#   BENCH_QUIET_WAIT=0        before each round wait up to this many seconds for the machine to
#                             be under BENCH_QUIET_PCT=10 % busy (other helpers building)
#   BENCH_PIN=split           split: servers on the first CPU, wrk on the last; none: no pinning
#   BENCH_NICE=0              run the servers and wrk at this nice value (e.g. -10 on a machine
#                             shared with builds: other work then takes less of their CPUs); with
#                             autogroups on, each in a session of its own, its autogroup at it
#   BENCH_OUT=bench/results/floor.md
#   BENCH_KEEP=1              keep the temp dir (model, bodies, logs, nginx.conf, perf.data)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${BERTH_SERVE:-}" ] && [ "${BERTH_SERVE#/}" = "$BERTH_SERVE" ]; then
    BERTH_SERVE=$PWD/$BERTH_SERVE   # relative to where we were started
fi
cd "$ROOT"

PY=/usr/bin/python3
SERVER=${BERTH_SERVE:-$ROOT/${BUILD:-build}/berth-serve}
OUT=${BENCH_OUT:-bench/results/floor.md}

log() { printf 'floor: %s\n' "$*" >&2; }
die() { printf 'floor: error: %s\n' "$*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh installs it)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx is not installed (apt-get install nginx-light)"
$PY -c 'import xgboost, numpy' 2>/dev/null || die "$PY lacks xgboost or numpy (scripts/deps.sh)"
[ -x "$SERVER" ] || die "$SERVER not found; build it first (make)"
case ${BENCH_PIN:-split} in split | none) ;; *) die "BENCH_PIN must be split or none" ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-floor.XXXXXX")
# A private copy of the binary: a rebuild in build/ during the run cannot swap it under us.
cp "$SERVER" "$tmp/berth-serve"
cleanup() {
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")
[ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ] && git_rev="$git_rev, dirty tree"
git_rev="$git_rev; $(basename "$SERVER") built $(stat -c %y "$SERVER" | cut -c1-19)"

rc=0
env FLOOR_DIR="$tmp" FLOOR_SERVER="$tmp/berth-serve" FLOOR_NGINX="$NGINX" FLOOR_GIT="$git_rev" \
    FLOOR_SECONDS="${BENCH_SECONDS:-4}" FLOOR_ROUNDS="${BENCH_ROUNDS:-3}" \
    FLOOR_CONNECTIONS="${BENCH_CONNECTIONS:-16}" FLOOR_SERVER_THREADS="${BENCH_SERVER_THREADS:-1}" \
    FLOOR_WARMUP="${BENCH_WARMUP:-1}" FLOOR_ROWS_SECONDS="${BENCH_ROWS_SECONDS:-3}" \
    FLOOR_ROWS_ROUNDS="${BENCH_ROWS_ROUNDS:-3}" FLOOR_ROWS_CONNECTIONS="${BENCH_ROWS_CONNECTIONS:-16}" \
    FLOOR_SYSCALL_SECONDS="${BENCH_SYSCALL_SECONDS:-2}" FLOOR_PROFILE_SECONDS="${BENCH_PROFILE_SECONDS:-3}" \
    FLOOR_QUIET_WAIT="${BENCH_QUIET_WAIT:-0}" FLOOR_QUIET_PCT="${BENCH_QUIET_PCT:-10}" \
    FLOOR_PIN="${BENCH_PIN:-split}" FLOOR_SYSCALL_TOOL="${BENCH_SYSCALL_TOOL:-auto}" FLOOR_NICE="${BENCH_NICE:-0}" \
    timeout 1200 $PY bench/floor.py run >/dev/null || rc=$?
[ -s "$tmp/results.json" ] || die "no results (exit $rc)"

echo
$PY bench/floor.py report "$tmp" "$OUT"
log "wrote $OUT and ${OUT%.md}.json"
[ "$rc" = 0 ] || die "the run failed (exit $rc); see the report"
