#!/usr/bin/env bash
# bench/container.sh - create -> Normal for a custom image on the container driver (Podman's
# Docker-compatible service, a local docker-registry), pull excluded and included, divided by
# the process driver's for the same program, in the same run. Run from anywhere once `make` has
# built build/berthd, as root (Podman's service); about half a minute with the defaults. Prints
# a Markdown table; raw figures in bench/results/container.json. See bench/container.py for the
# steps and docs/benchmarks.md ("Containers") for the figures.
#
# Environment knobs:
#   BENCH_ROUNDS=5   repetitions of each measure
set -euo pipefail
cd "$(dirname "$0")/.."
uptime
exec /usr/bin/python3 bench/container.py
