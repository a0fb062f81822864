#!/usr/bin/env python3
"""pushdown_dba.py -- write bench/dba_<dialect>_<table>.sql, the single query a DBA would write.

Usage: pushdown_dba.py SQLITE_DB OUT_DIR

For SAMPLE_APPLICATION and SAMPLE_INSTALLMENTS under the benchmark's config
(bench/pushdown_run.sh: DAYS_* may be negative, 365243 is a DAYS_* sentinel,
the primary keys below), one statement per table and dialect that returns
the same counts as a CreditSense pushdown run: rows; NULLs per column;
sentinels; negatives and the lowest negative; z-score outliers (beyond mean
+- 3 population sd, sentinels left out); duplicate keys (groups and rows).
Plain SQL as a DBA writes it by hand: the statistics in a CTE (one scan),
the counts in a second scan joined to it, the duplicates as a GROUP BY
subquery.  On SQLite without an extension: sd as sqrt(avg(x*x) - avg(x)^2),
the textbook form (CreditSense uses the stable one).  Identifiers as the
dialect folds them (PostgreSQL: lower case, bench/pg_load.py).
"""
import os
import sqlite3
import sys

PK = {"SAMPLE_APPLICATION": ["SK_ID_CURR"],
      "SAMPLE_INSTALLMENTS": ["SK_ID_PREV", "NUM_INSTALMENT_NUMBER", "NUM_INSTALMENT_VERSION"]}
SENTINEL = 365243


def numeric(decl):
    d = (decl or "").upper()
    return "INT" in d or any(t in d for t in ("REAL", "FLOA", "DOUB"))


def statement(dialect, table, cols):
    pg = dialect == "postgresql"
    name = (lambda c: c.lower()) if pg else (lambda c: c)
    q = lambda c: '"%s"' % name(c)  # noqa: E731
    pk = PK[table]
    stats, counts = [], ["COUNT(*) AS n_rows"]
    for i, (c, decl) in enumerate(cols):
        days = c.startswith("DAYS_")
        v = "NULLIF(%s, %d)" % (q(c), SENTINEL) if days else q(c)
        counts.append("COUNT(*) FILTER (WHERE %s IS NULL) AS null_%d" % (q(c), i))
        if not numeric(decl):
            continue
        if days:
            counts.append("COUNT(*) FILTER (WHERE %s = %d) AS sentinel_%d" % (q(c), SENTINEL, i))
        else:
            counts.append("COUNT(*) FILTER (WHERE %s < 0) AS neg_%d, MIN(%s) FILTER (WHERE %s < 0) AS low_%d"
                          % (q(c), i, q(c), q(c), i))
        if c in pk:
            continue
        sd = ("STDDEV_POP(%s)" % v) if pg else ("sqrt(AVG(%s * %s) - AVG(%s) * AVG(%s))" % (v, v, v, v))
        stats.append("AVG(%s) AS m_%d, %s AS sd_%d" % (v, i, sd, i))
        counts.append("COUNT(*) FILTER (WHERE ABS(%s - s.m_%d) > 3 * s.sd_%d) AS out_%d" % (v, i, i, i))
    keys = ", ".join(q(c) for c in pk)
    present = " AND ".join("%s IS NOT NULL" % q(c) for c in pk)
    t = q(table)
    return ("-- The single statement a DBA would write for the counts of a CreditSense pushdown run\n"
            "-- (bench/pushdown_dba.py; %s, %s).\n"
            "WITH s AS (SELECT %s FROM %s),\n"
            "d AS (SELECT COUNT(*) AS dup_groups, SUM(n) AS dup_rows FROM (SELECT COUNT(*) AS n FROM %s WHERE %s "
            "GROUP BY %s HAVING COUNT(*) > 1) g)\n"
            "SELECT %s,\n  (SELECT dup_groups FROM d), (SELECT dup_rows FROM d)\nFROM %s, s;\n"
            % (dialect, "STDDEV_POP" if pg else "pure SQL, no extension",
               ",\n  ".join(stats), t, t, present, keys, ",\n  ".join(counts), t))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    db = sqlite3.connect(sys.argv[1])
    for table in PK:
        cols = db.execute("SELECT name, type FROM pragma_table_info(?)", (table,)).fetchall()
        for dialect in ("sqlite", "postgresql"):
            path = os.path.join(sys.argv[2], "dba_%s_%s.sql" % (dialect, table))
            with open(path, "w") as f:
                f.write(statement(dialect, table, cols))


main()
