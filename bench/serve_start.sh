#!/usr/bin/env bash
# bench/serve_start.sh - berth-serve's start time with the torch module against the same
# berth-serve linked with libtorch (the layout before the module). Run from anywhere as
# `bench/serve_start.sh` (or `make bench-start`) once build/ is built; about a minute with the
# defaults. What it measures: bench/serve_start.py's header; figures in docs/benchmarks.md
# ("Start time").
#
# Environment knobs:
#   BUILD=build             the build whose berth-serve is measured and relinked
#   BENCH_ROUNDS=30         starts of each binary (alternating)
#   BENCH_OUT=bench/results/serve_start.md
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
make -s -f bench/bench.mk BUILD="$BUILD" "$BUILD/bench/berth-serve-linked"
exec /usr/bin/python3 bench/serve_start.py "$ROOT/$BUILD/berth-serve" "$ROOT/$BUILD/bench/berth-serve-linked" \
    "${BENCH_OUT:-bench/results/serve_start.md}"
