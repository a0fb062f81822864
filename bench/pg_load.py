#!/usr/bin/env python3
"""pg_load.py -- copy tables of a CreditSense demo SQLite file into PostgreSQL.

Usage: pg_load.py SQLITE_DB TABLE...

psql must reach the target database through the usual PG* environment
variables (tests/pg.sh start DIR prints them for a throwaway cluster on a
unix socket).  Each table is dropped, recreated with lower-case names
(INTEGER -> bigint, REAL -> double precision, else text), filled with
COPY ... FROM STDIN (CSV) and ANALYZEd.  PostgreSQL is typed, so text that
SQLite let into a numeric column ('n/a') loads as NULL; the streaming and
pushdown scans of the PostgreSQL copy agree with each other, not with the
SQLite file, on those cells.
"""
import csv
import sqlite3
import subprocess
import sys


def pgtype(decl):
    decl = (decl or "").upper()
    if "INT" in decl:
        return "bigint"
    if any(t in decl for t in ("REAL", "FLOA", "DOUB")):
        return "double precision"
    return "text"


def psql(*args, **kw):
    return subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", *args], check=True, **kw)


def load(src, table):
    cols = src.execute("SELECT name, type FROM pragma_table_info(?)", (table,)).fetchall()
    if not cols:
        sys.exit("pg_load: no table %s in the SQLite file" % table)
    name = table.lower()
    psql("-c", 'DROP TABLE IF EXISTS "%s"; CREATE TABLE "%s" (%s);' % (
        name, name, ", ".join('"%s" %s' % (c.lower(), pgtype(t)) for c, t in cols)))
    numeric = [pgtype(t) != "text" for _, t in cols]
    p = subprocess.Popen(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                          '\\copy "%s" FROM STDIN WITH (FORMAT csv)' % name], stdin=subprocess.PIPE, text=True)
    w = csv.writer(p.stdin)
    quoted = ", ".join('"%s"' % c for c, _ in cols)
    for row in src.execute('SELECT %s FROM "%s"' % (quoted, table)):
        w.writerow(["" if v is None or (num and isinstance(v, str)) else v for v, num in zip(row, numeric)])
    p.stdin.close()
    if p.wait() != 0:
        sys.exit("pg_load: loading %s into PostgreSQL failed" % table)
    psql("-c", 'ANALYZE "%s"' % name)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src = sqlite3.connect(sys.argv[1])
    for table in sys.argv[2:]:
        load(src, table)


main()
