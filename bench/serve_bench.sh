#!/usr/bin/env bash
# The daemon's benchmark: `creditsense serve` against a FastAPI + pandas
# /process_customer (the seed's approach), side by side, with wrk.
# Usage: bash bench/serve_bench.sh   (CUSTOMERS=N DURATION=s CONNS=n; see bench/serve_bench.py)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --bench
for p in wrk python3-fastapi python3-uvicorn; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        { echo "bench/serve_bench.sh needs $p: apt-get install wrk python3-fastapi python3-uvicorn" >&2; exit 1; }
done
build=${BUILD:-build-bench}
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null
exec /usr/bin/python3 bench/serve_bench.py "$build"
