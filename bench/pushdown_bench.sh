#!/usr/bin/env bash
# Pushdown against streaming (issue 9): wall time and peak RSS of
# `creditsense scan --mode stream` and `--mode pushdown` for
# SAMPLE_APPLICATION and SAMPLE_INSTALLMENTS, on SQLite (native reader) and,
# when $CS_PG_ODBC is set (tests/pg.sh start DIR prints it), on PostgreSQL.
#   CUSTOMERS=300000   customers of the generated data set (demo-data)
#   DB=/path/x.db      reuse an existing demo database instead
#   BUILD=build-bench  a release build directory (made when absent)
# Usage: bash bench/pushdown_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD:-build-bench}
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null
case $build in /*) exe=$build/creditsense ;; *) exe=$root/$build/creditsense ;; esac
work=$(mktemp -d /tmp/cs-pdbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
db=${DB:-$work/sample.db}
if [ ! -f "$db" ]; then
    "$exe" demo-data --out "$db" --customers "${CUSTOMERS:-300000}" >/dev/null
fi
mkdir -p "$work/rules"
cfg() { # $1 connection string, $2 native_sqlite
    cat <<JSON
{"source": {"odbc": "$1", "native_sqlite": $2}, "rules_dir": "$work/rules",
 "tables": {"SAMPLE_APPLICATION": {"primary_key": ["SK_ID_CURR"],
                                   "columns": {"DAYS_*": {"allow_negative": true, "sentinels": [365243]}}},
            "SAMPLE_INSTALLMENTS": {"primary_key": ["SK_ID_PREV", "NUM_INSTALMENT_NUMBER", "NUM_INSTALMENT_VERSION"],
                                    "columns": {"DAYS_*": {"allow_negative": true}}}}}
JSON
}
measure() { # $1 label, $2 config, $3 table, $4 mode
    local out
    /usr/bin/time -o "$work/time" -f "%e %M" "$exe" scan --config "$2" --table "$3" --mode "$4" --no-store \
        >"$work/report.json" 2>"$work/err" || [ $? -eq 1 ] # 1: findings
    out=$(tail -1 "$work/time")
    local rows findings
    rows=$(python3 -c "import json;r=json.load(open('$work/report.json'));print(r['rows_scanned'], len(r['findings']))")
    printf "%-12s %-20s %-9s %8ss %9s MB  rows=%s findings=%s\n" "$1" "$3" "$4" "${out% *}" \
        "$(( ${out#* } / 1024 ))" ${rows}
}
echo "# $(date -u +%F) $(nproc) CPUs; $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || true)"
cfg "Driver=SQLite3;Database=$db" true >"$work/sqlite.json"
for table in SAMPLE_APPLICATION SAMPLE_INSTALLMENTS; do
    for mode in stream pushdown; do
        measure sqlite "$work/sqlite.json" "$table" "$mode"
    done
done
if [ -n "${CS_PG_ODBC:-}" ]; then
    python3 - "$db" <<'PY'
import sqlite3, subprocess, sys, io, csv
src = sqlite3.connect(sys.argv[1])
for table in ("SAMPLE_APPLICATION", "SAMPLE_INSTALLMENTS"):
    cols = src.execute("PRAGMA table_info(%s)" % table).fetchall()
    def pgtype(t):
        t = (t or "").upper()
        return "bigint" if "INT" in t else "double precision" if ("REAL" in t or "FLOA" in t or "DOUB" in t) else "text"
    ddl = 'DROP TABLE IF EXISTS %s; CREATE TABLE %s (%s);' % (
        table.lower(), table.lower(), ", ".join('"%s" %s' % (c[1].lower(), pgtype(c[2])) for c in cols))
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-c", ddl], check=True)
    p = subprocess.Popen(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                          "\\copy %s FROM STDIN WITH (FORMAT csv)" % table.lower()], stdin=subprocess.PIPE, text=True)
    w = csv.writer(p.stdin)
    numeric = [pgtype(c[2]) != "text" for c in cols]
    def cell(v, num):  # PostgreSQL is typed: SQLite's text in a numeric column ('n/a') loads as NULL
        if v is None or (num and isinstance(v, str)):
            return ""
        return v
    for row in src.execute("SELECT * FROM %s" % table):
        w.writerow([cell(v, n) for v, n in zip(row, numeric)])
    p.stdin.close()
    if p.wait() != 0:
        sys.exit("loading %s into PostgreSQL failed" % table)
    subprocess.run(["psql", "-q", "-c", "ANALYZE %s" % table.lower()], check=True)
PY
    cfg "$CS_PG_ODBC" false >"$work/pg.json"
    for table in SAMPLE_APPLICATION SAMPLE_INSTALLMENTS; do
        for mode in stream pushdown; do
            measure postgresql "$work/pg.json" "$table" "$mode"
        done
    done
fi
