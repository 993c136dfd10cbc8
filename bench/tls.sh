#!/usr/bin/env bash
# bench/tls.sh - requests/s and latency through the gateway with and without TLS (bench/tls.py
# says what runs; docs/benchmarks.md, "TLS"). Needs build/ (make), wrk and the openssl command.
#   BENCH_SECONDS=3 BENCH_ROUNDS=3 BENCH_CONNECTIONS="16 1" BENCH_NEW_CONNECTIONS=4
#   BENCH_IDLE_CONNECTIONS=400
#   BENCH_OUT=bench/results/tls.md   BERTH_BIN_DIR=build (the binaries' folder)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v wrk >/dev/null || { echo "tls-bench: wrk is not installed (scripts/deps.sh)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "tls-bench: no openssl command" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # the idle-connection count
exec /usr/bin/python3 bench/tls.py
