#!/usr/bin/env bash
# Benchmarks CreditSense against the pandas script it replaces, side by side
# in one run, and writes BENCHMARKS.md.  Usage: bash bench/run.sh
#   SIZES="30000 300000"  customer counts of the generated data sets
#   REPEAT=3              runs per measurement (the best time is kept)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --bench
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench >/dev/null
exec /usr/bin/python3 bench/run.py build-bench
