#!/usr/bin/env bash
# What a Lua rule costs per row: the same 1,000,000-row scan without rules
# and with a one-comparison row rule, side by side, in one run.
# Usage: bash bench/rules_bench.sh
#   ROWS=1000000       rows of the generated table
#   REPEAT=7           runs per variant, interleaved (the best and the median are shown)
#   BUILD=build-bench  a release build (made here when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" --buildtype=release >/dev/null
ninja -C "$BUILD" >/dev/null
exec /usr/bin/python3 bench/rules_bench.py "$BUILD"
