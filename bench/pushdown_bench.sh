#!/usr/bin/env bash
# Pushdown against streaming against pandas against a DBA's hand-written query
# (issue 9), side by side in one run, printed as ONE Markdown table: per
# database and table the best wall time of REPEAT runs and the peak RSS of
# the client process (for PostgreSQL the server's own memory is not in it),
# with the CPU time of that run (user + system of the client process: the
# whole work for SQLite and pandas, next to nothing for a PostgreSQL query),
# and the ratios of wall times pandas / pushdown and pushdown / DBA query.
#
#   CUSTOMERS=300000  customers of the generated data set (creditsense demo-data);
#                     600000 gives SAMPLE_INSTALLMENTS its real 13.6 million rows
#   DB=/path/x.db     reuse an existing demo database instead
#   TABLES="SAMPLE_APPLICATION SAMPLE_INSTALLMENTS"
#   PG=1              also PostgreSQL: a throwaway cluster (tests/pg.sh, unix socket),
#                     loaded with bench/pg_load.py (COPY); PG=0 skips it
#   REPEAT=1          runs per measurement (best wall time kept)
#   BUILD=build-bench a release build directory (made when absent)
#   PYTHON=/usr/bin/python3  the interpreter that has pandas
#   BASE=/path/build  another build (say, of the previous commit) whose pushdown
#                     is measured in the same run, in an extra column
# Usage: CUSTOMERS=600000 REPEAT=3 bash bench/pushdown_bench.sh
#
# The DBA queries are bench/dba_<dialect>_<table>.sql (bench/pushdown_dba.py
# wrote them): plain SQL, no extension, run by the sqlite3 shell and psql.
# "counts agree" compares the findings' (check, column, kind) -> count of
# pushdown, streaming and pandas.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD:-build-bench}
repeat=${REPEAT:-1}
py=${PYTHON:-/usr/bin/python3}
tables=${TABLES:-SAMPLE_APPLICATION SAMPLE_INSTALLMENTS}
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null
case $build in /*) exe=$build/creditsense ;; *) exe=$root/$build/creditsense ;; esac
base=""
if [ -n "${BASE:-}" ]; then
    case $BASE in /*) base=$BASE/creditsense ;; *) base=$root/$BASE/creditsense ;; esac
    [ -x "$base" ] || { echo "pushdown_bench: no creditsense in BASE=$BASE" >&2; exit 2; }
fi
work=$(mktemp -d /tmp/cs-pdbench.XXXXXX)
chmod 755 "$work"
cleanup() {
    bash tests/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
db=${DB:-$work/sample.db}
[ -f "$db" ] || "$exe" demo-data --out "$db" --customers "${CUSTOMERS:-300000}" >/dev/null
mkdir -p "$work/rules" "$work/odbc"
export ODBCSYSINI=$work/odbc
cp tests/odbcinst.ini "$ODBCSYSINI/odbcinst.ini"

cfg() { # $1 connection string, $2 native_sqlite, $3 1 for lower-case names (PostgreSQL)
    "$py" - "$1" "$2" "$3" <<'PY'
import json, sys
conn, native, lower = sys.argv[1], sys.argv[2] == "true", sys.argv[3] == "1"
f = (lambda s: s.lower()) if lower else (lambda s: s)
print(json.dumps({"source": {"odbc": conn, "native_sqlite": native}, "rules_dir": "RULES",
    "tables": {f("SAMPLE_APPLICATION"): {"primary_key": [f("SK_ID_CURR")],
                                         "columns": {f("DAYS_*"): {"allow_negative": True, "sentinels": [365243]}}},
               f("SAMPLE_INSTALLMENTS"): {"primary_key": [f(c) for c in ("SK_ID_PREV", "NUM_INSTALMENT_NUMBER",
                                                                        "NUM_INSTALMENT_VERSION")],
                                          "columns": {f("DAYS_*"): {"allow_negative": True}}}}}))
PY
}

# measure OUT CMD...: "wall cpu rss_kib" of the fastest (wall) of $repeat runs in OUT.t; stdout in OUT.out
measure() {
    local out=$1 best="" t
    shift
    for _ in $(seq "$repeat"); do
        /usr/bin/time -o "$work/time" -f "%e %U %S %M" "$@" >"$work/$out.out" 2>"$work/$out.err" || [ $? -eq 1 ]
        t=$(tail -1 "$work/time" | awk '{print $1, $2 + $3, $4}')
        if [ -z "$best" ] || awk -v a="${t%% *}" -v b="${best%% *}" 'BEGIN{exit !(a < b)}'; then
            best=$t
        fi
    done
    echo "$best" >"$work/$out.t"
}

# counts KIND FILE: {"check|column|kind": count} of a report (or pandas' output already in that form)
counts() {
    "$py" - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
if sys.argv[1] == "report":
    d = {"%s|%s|%s" % (f["check"], f["column"], f["kind"]): f["count"] for f in d["findings"]}
print(json.dumps({k.lower(): v for k, v in d.items()}, sort_keys=True))
PY
}

cell() { awk '{printf "%.2f s (%.2f s CPU), %d MB", $1, $2, $3 / 1024}' "$work/$1.t"; }
ratio() { awk -v a="$(cut -d' ' -f1 "$work/$1.t")" -v b="$(cut -d' ' -f1 "$work/$2.t")" 'BEGIN{printf "%.1fx", (b > 0 ? a / b : 0)}'; }

rows=()
run_db() { # $1 label, $2 config, $3 dba dialect, $4 1 for lower-case names
    local label=$1 conf=$2 dialect=$3 lower=$4 t name note agree
    for t in $tables; do
        name=$t
        [ "$lower" = 1 ] && name=$(echo "$t" | tr 'A-Z' 'a-z')
        measure pd "$exe" scan --config "$conf" --table "$name" --mode pushdown --no-store
        basecell=""
        if [ -n "$base" ]; then
            measure pb "$base" scan --config "$conf" --table "$name" --mode pushdown --no-store
            basecell=" $(cell pb) |"
        fi
        measure st "$exe" scan --config "$conf" --table "$name" --mode stream --no-store
        if [ "$dialect" = sqlite ]; then
            measure pa "$py" bench/peer_pandas.py "$conf" "$db" "$name"
            measure dba sqlite3 "$db" ".read bench/dba_sqlite_$t.sql"
        else
            measure pa "$py" bench/pushdown_pandas_pg.py "$conf" "$name"
            measure dba psql -X -q -A -t -v ON_ERROR_STOP=1 -f "bench/dba_postgresql_$t.sql"
        fi
        note=""
        grep -q '"mode": *"pushdown"' "$work/pd.out" || note=" (streamed instead: see the log)"
        agree=no
        if [ "$(counts report "$work/pd.out")" = "$(counts report "$work/st.out")" ] &&
           [ "$(counts report "$work/st.out")" = "$(counts pandas "$work/pa.out")" ]; then
            agree=yes
        fi
        local nrows
        nrows=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['rows_scanned'])" "$work/st.out")
        rows+=("| $label | $t | $nrows |$basecell $(cell pd)$note | $(cell st) | $(cell pa) | $(cell dba) | $(ratio pa pd) | $(ratio pd dba) | $agree |")
    done
}

cfg "Driver=SQLite3;Database=$db" true 0 | sed "s#RULES#$work/rules#" >"$work/sqlite.json"
run_db "SQLite (native)" "$work/sqlite.json" sqlite 0
if [ "${PG:-1}" = 1 ]; then
    eval "$(bash tests/pg.sh start "$work/pg")"
    export ODBCSYSINI=$work/odbc
    # shellcheck disable=SC2086
    /usr/bin/time -o "$work/load.time" -f "%e" "$py" bench/pg_load.py "$db" $tables
    echo "# PostgreSQL loaded in $(cat "$work/load.time") s (bench/pg_load.py, COPY)" >&2
    cfg "$CS_PG_ODBC" false 1 | sed "s#RULES#$work/rules#" >"$work/pg.json"
    run_db "PostgreSQL $(psql -X -A -t -c 'SHOW server_version' | cut -d' ' -f1)" "$work/pg.json" postgresql 1
fi

echo "# $(date -u +%F) $(nproc) CPUs; SQLite $(sqlite3 --version | cut -d' ' -f1); best of $repeat; $(basename "$db")"
echo
if [ -n "$base" ]; then
    echo "| database | table | rows | pushdown ($BASE) | pushdown | streaming | pandas | DBA query | pandas / pushdown | pushdown / DBA | counts agree |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
else
    echo "| database | table | rows | pushdown | streaming | pandas | DBA query | pandas / pushdown | pushdown / DBA | counts agree |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
fi
printf "%s\n" "${rows[@]}"
