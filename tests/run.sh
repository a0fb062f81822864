#!/usr/bin/env bash
# The README's second command: install what is missing, build with
# AddressSanitizer and UndefinedBehaviorSanitizer, and run every test.
# A throwaway PostgreSQL cluster is started for the PostgreSQL tests and
# stopped on exit.  The last line is "N passed, N failed".
#
# For a subset while developing: CS_TEST_BUILD=/tmp/build-x bash tests/run.sh server store
# (the build directory, default build-test, and meson test names; CS_SKIP_DEPS=1 skips apt).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

[ "${CS_SKIP_DEPS:-0}" = 1 ] || deploy/install-deps.sh --test || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

build=${CS_TEST_BUILD:-build-test}
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null ||
        { echo "meson setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$build" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Our own odbcinst.ini: Debian's enables psqlODBC's CommLog, which litters /tmp.
work=$(mktemp -d /tmp/cs-test.XXXXXX)
chmod 755 "$work"
export ODBCSYSINI=$work/odbc
mkdir -p "$ODBCSYSINI"
cp tests/odbcinst.ini "$ODBCSYSINI/odbcinst.ini"

pgdir=$work/pg
cleanup() {
    bash tests/pg.sh stop "$pgdir" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
if out=$(bash tests/pg.sh start "$pgdir"); then
    eval "$out"
    export ODBCSYSINI=$work/odbc   # pg.sh may set its own; keep ours (it has the same PG section)
else
    echo "warning: could not start PostgreSQL; its tests will fail" >&2
fi
export CS_TEST_WORK=$work

meson test -C "$build" --print-errorlogs --no-rebuild --num-processes 2 -t 3 "$@"
/usr/bin/python3 tests/summary.py "$build/meson-logs/testlog.json"
