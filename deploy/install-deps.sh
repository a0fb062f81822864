#!/usr/bin/env bash
# Installs the Debian 12 packages CreditSense needs to build, run and test,
# skipping those already present.  Usage: deploy/install-deps.sh [--test|--bench]
# (--test adds what only the test suite needs, --bench what the benchmarks need).
set -euo pipefail

build_pkgs=(meson ninja-build pkg-config gcc libc6-dev libjansson-dev libcurl4-openssl-dev unixodbc-dev unixodbc
            libsqliteodbc odbc-postgresql libsqlite3-dev sqlite3 liblua5.4-dev libh2o-evloop-dev libh2o-dev libssl-dev
            zlib1g-dev python3)
test_pkgs=(postgresql-15 python3-yaml binutils chromium nodejs npm)
bench_pkgs=(python3-pandas time)

want=("${build_pkgs[@]}")
[ "${1:-}" = "--test" ] && want+=("${test_pkgs[@]}")
[ "${1:-}" = "--bench" ] && want+=("${bench_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# node and npm may come from outside Debian (e.g. a nodesource install); do not fight it.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=($(printf '%s\n' "${missing[@]}" | grep -vx -e nodejs -e npm || true))
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq || true
    $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# --test: the deploy test's offline schema validators (npm, pinned in tests/deploy/package-lock.json),
# after apt so that a fresh machine has npm by now.
deploy_tests="$(cd "$(dirname "$0")/.." && pwd)/tests/deploy"
if [ "${1:-}" = "--test" ] && [ ! -d "$deploy_tests/node_modules" ] && command -v npm >/dev/null; then
    (cd "$deploy_tests" && npm ci --no-audit --no-fund --loglevel=error) >&2 ||
        echo "warning: npm ci in tests/deploy failed; the deploy test will fail" >&2
fi
