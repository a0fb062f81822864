#!/bin/sh
# load.sh -- load the files export.sh wrote into PostgreSQL.
#
#   sh DIR/load.sh             (DIR is where export.sh wrote; psql's PG* variables say where to)
#
# Creates the sample tables (lower-case names: the daemon matches
# SAMPLE_APPLICATION to sample_application), copies the CSV files in,
# indexes the customer key SK_ID_CURR (customer runs look customers up by
# it) and analyzes.  Skips everything when sample_application already
# exists, unless RELOAD=1.  Runs in the postgres image (psql, POSIX sh).
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
[ -f "$dir/tables.txt" ] || { echo "load.sh: no $dir/tables.txt; run export.sh first" >&2; exit 2; }

# The server may still be starting (compose and Kubernetes start both at once).
tries=0
until psql -X -q -c 'SELECT 1' >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { echo "load.sh: PostgreSQL at ${PGHOST:-local socket} does not answer" >&2; exit 2; }
    sleep 2
done

if [ "${RELOAD:-0}" != 1 ] && [ "$(psql -X -tA -c "SELECT to_regclass('sample_application') IS NOT NULL")" = t ]; then
    echo "load.sh: the sample tables are already loaded (RELOAD=1 to load them again)"
    exit 0
fi

# One transaction: a failed load leaves no half-loaded tables behind.
script=$(mktemp)
trap 'rm -f "$script"' EXIT
{
    cat "$dir/schema.sql"
    while read -r t; do
        lower=$(echo "$t" | tr 'A-Z' 'a-z')
        printf '%s\n' "\\copy $lower FROM '$dir/$t.csv' WITH (FORMAT csv, HEADER true)"
        if head -1 "$dir/$t.csv" | tr ',' '\n' | grep -qix 'SK_ID_CURR'; then
            echo "CREATE INDEX ON $lower (sk_id_curr);"
        fi
    done <"$dir/tables.txt"
} >"$script"
psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f "$script" 2>&1 | grep -v 'NOTICE: .* does not exist, skipping' >&2 || true
[ "$(psql -X -tA -c "SELECT to_regclass('sample_application') IS NOT NULL")" = t ] ||
    { echo "load.sh: loading failed (see above)" >&2; exit 2; }
psql -X -q -v ON_ERROR_STOP=1 -c 'ANALYZE'
while read -r t; do
    lower=$(echo "$t" | tr 'A-Z' 'a-z')
    echo "load.sh: $lower: $(psql -X -tA -c "SELECT count(*) FROM $lower") rows"
done <"$dir/tables.txt"
echo "load.sh: done"
