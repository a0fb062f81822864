#!/usr/bin/env python3
"""test_pushdown.py -- pushdown findings equal streaming findings (issue 9).

Usage: test_pushdown.py BUILD_DIR

A fixture with planted defects (NULLs, NaN and +-inf where the database
keeps them, numeric and text sentinels -- one text sentinel contains a
quote, so it only works as a bound parameter --, blank strings, negatives,
outliers for z-score, IQR and MAD, a composite key with duplicates, a
mixed-case column, a NULL-only column, an empty table and a keyless table
with whole-row copies) is loaded into SQLite (read natively and through the
SQLite ODBC driver) and, when $CS_PG_ODBC is set, into PostgreSQL.  Every
table is scanned with --mode stream and --mode pushdown and the findings
are compared: check, column, kind, count, total, groups, severity and
message (outliers: bounds within 1e-9 relative instead of the message).
Prints TAP.
"""
import math
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import Tap, ensure_odbcinst, run_json, workdir, write_json  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
EXE = os.path.join(BUILD, "creditsense")
t = Tap()
work = workdir("pushdown")
ensure_odbcinst(work)
# rules_dir names no directory (a warning): an empty one trips a UBSan report in rules.c's listing (qsort of NULL).

QUOTED = "N/A'x"  # a text sentinel with a quote in it


def accounts_rows(with_nan):
    """ACCOUNTS: key (BRANCH, ACC_NO); 300 rows plus 3 repeated keys (one of them twice)."""
    rows = []
    for i in range(300):
        branch = "B%d" % (i % 7)
        acc = i
        z = 1000.0 + (i * 37) % 200          # zscore column, outliers planted below
        q = float((i * 13) % 100)            # IQR column
        m = 50.0 + (i * 7) % 20              # MAD column
        mixed = (i * 11) % 50                # "Amt_Mixed": negatives planted
        days = -(i % 900 + 1)                # DAYS_X: sentinel 365243
        status = ["A", "B", "C"][i % 3]      # STATUS: text sentinels and blanks
        if i in (5, 6, 7):
            z = None
        if i == 8:
            z = 1e7
        if i == 9:
            z = -5e6
        if i in (10, 11):
            q = 10000.0
        if i == 12:
            m = 900.0
        if i in (13, 14):
            mixed = -3 - i
        if 20 <= i < 25:
            days = 365243
        if i == 30:
            status = QUOTED
        if i in (31, 32):
            status = "XNA"
        if i in (33, 34):
            status = ""
        if i == 35:
            status = "  \t"
        if i == 36:
            status = None
        if with_nan and i == 40:
            z = float("nan")
        if with_nan and i == 41:
            q = float("inf")
        if with_nan and i == 42:
            m = float("-inf")
        rows.append((branch, acc, z, q, m, mixed, days, status, None))
    for i in (3, 4, 4):  # composite-key repeats
        r = list(rows[i])
        r[2] = 1001.0
        rows.append(tuple(r))
    return rows


def copies_rows():
    rows = [(i % 10, "n%d" % (i % 10), float(i % 4)) for i in range(40)]
    rows += [(None, None, None), (None, None, None)]
    return rows


ACC_COLS = ["BRANCH", "ACC_NO", "AMT_Z", "AMT_Q", "AMT_M", "Amt_Mixed", "DAYS_X", "STATUS", "ALL_NULL"]


def make_sqlite(path):
    db = sqlite3.connect(path)
    db.execute('CREATE TABLE ACCOUNTS (BRANCH TEXT, ACC_NO INTEGER, AMT_Z REAL, AMT_Q REAL, AMT_M REAL, '
               '"Amt_Mixed" INTEGER, DAYS_X INTEGER, STATUS TEXT, ALL_NULL REAL)')
    db.execute("CREATE TABLE COPIES (A INTEGER, B TEXT, C REAL)")
    db.execute("CREATE TABLE EMPTY_T (ID INTEGER, X REAL, S TEXT)")
    db.executemany("INSERT INTO ACCOUNTS VALUES (?,?,?,?,?,?,?,?,?)", accounts_rows(False))
    db.executemany("INSERT INTO COPIES VALUES (?,?,?)", copies_rows())
    db.commit()
    db.close()


def sql_value(v):
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return "'%s'::float8" % ("NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity"))
    return repr(v)


def make_postgres():
    stmts = ['DROP TABLE IF EXISTS pd_accounts, pd_copies, pd_empty;',
             'CREATE TABLE pd_accounts (branch text, acc_no bigint, amt_z double precision, amt_q double precision,'
             ' amt_m double precision, "Amt_Mixed" integer, days_x integer, status text, all_null double precision);',
             'CREATE TABLE pd_copies (a integer, b text, c double precision);',
             'CREATE TABLE pd_empty (id integer, x double precision, s text);']
    for r in accounts_rows(True):
        stmts.append("INSERT INTO pd_accounts VALUES (%s);" % ",".join(sql_value(v) for v in r))
    for r in copies_rows():
        stmts.append("INSERT INTO pd_copies VALUES (%s);" % ",".join(sql_value(v) for v in r))
    p = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", os.environ.get("PGDATABASE", "creditsense")],
                       input="\n".join(stmts), capture_output=True, text=True)
    return p.returncode == 0, p.stderr


def config(conn, native, names):
    acc, cop, emp = names
    return {
        "source": {"odbc": conn, "native_sqlite": native, "batch_rows": 50},
        "rules_dir": os.path.join(work, "no-rules"),
        "tables": {
            acc: {"primary_key": ["BRANCH", "ACC_NO"],
                  "columns": {"AMT_Q": {"outlier": {"method": "iqr"}},
                              "AMT_M": {"outlier": {"method": "mad", "threshold": 3.5}},
                              "DAYS_X": {"allow_negative": True, "sentinels": [365243]},
                              "STATUS": {"sentinels": ["XNA", QUOTED], "empty_is_missing": True}}},
            cop: {},
            emp: {"primary_key": ["ID"]},
        },
    }


def shape(report):
    """{(check, COLUMN, kind): finding} of a report (columns upper-cased: PostgreSQL folds to lower case)."""
    return {(f["check"], f["column"].upper(), f["kind"]): f for f in report["findings"]}


def close(a, b):
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def compare(label, cfgpath, table, expect_keys=None):
    rc1, s, e1 = run_json([EXE, "scan", "--config", cfgpath, "--table", table, "--mode", "stream", "--no-store"])
    rc2, p, e2 = run_json([EXE, "scan", "--config", cfgpath, "--table", table, "--mode", "pushdown", "--no-store"])
    if not t.ok(s is not None and p is not None, "%s %s: both modes report" % (label, table), e1 + e2):
        return None
    t.eq(p.get("mode"), "pushdown", "%s %s: the report says mode pushdown" % (label, table))
    t.ok("mode" not in s, "%s %s: a streamed report has no mode key" % (label, table))
    t.eq(p["tables"], s["tables"], "%s %s: same row counts" % (label, table))
    a, b = shape(s), shape(p)
    t.eq(sorted(b), sorted(a), "%s %s: same findings (check, column, kind)" % (label, table))
    bad = []
    for k in a:
        if k not in b:
            continue
        fs, fp = a[k], b[k]
        for fld in ("count", "total", "groups", "severity"):
            if fs.get(fld) != fp.get(fld):
                bad.append("%s %s: %r vs %r" % (k, fld, fs.get(fld), fp.get(fld)))
        if k[0] == "outlier":
            for fld in ("lower", "upper", "threshold"):
                if not close(fs.get(fld, 0), fp.get(fld, 0)):
                    bad.append("%s %s: %r vs %r" % (k, fld, fs.get(fld), fp.get(fld)))
        elif fs["message"] != fp["message"]:
            bad.append("%s message: %r vs %r" % (k, fs["message"], fp["message"]))
        if len(fp.get("sample_keys", [])) > 10:
            bad.append("%s: more than 10 sample keys" % (k,))
    t.ok(not bad, "%s %s: counts, totals, groups, severities, messages and bounds agree" % (label, table),
         "\n".join(bad))
    if expect_keys is not None:
        t.ok(expect_keys <= set(b), "%s %s: the planted defects are found" % (label, table),
             "missing: %r" % (expect_keys - set(b)))
    return p


PLANTED = {
    ("duplicate", "BRANCH,ACC_NO", "key"),
    ("missing", "AMT_Z", "null"),
    ("missing", "DAYS_X", "sentinel"),
    ("missing", "STATUS", "sentinel"),
    ("missing", "STATUS", "empty"),
    ("missing", "STATUS", "null"),
    ("missing", "ALL_NULL", "null"),
    ("negative", "AMT_MIXED", "value"),
    ("outlier", "AMT_Z", "zscore"),
    ("outlier", "AMT_Q", "iqr"),
    ("outlier", "AMT_M", "mad"),
}


def check_source(label, conn, native, names, planted):
    cfgpath = write_json(os.path.join(work, label + ".json"), config(conn, native, names))
    p = compare(label, cfgpath, names[0], planted)
    if p is not None:
        f = shape(p).get(("missing", "STATUS", "sentinel"))
        t.ok(f is not None and f["count"] == 3, "%s: the quoted text sentinel is matched as a bound value" % label,
             f)
        d = shape(p).get(("duplicate", "BRANCH,ACC_NO", "key"))
        t.ok(d is not None and d["count"] == 3 and d["groups"] == 2,
             "%s: composite-key duplicates: 3 rows in 2 groups" % label, d)
        t.ok(d is not None and all(isinstance(k, list) and len(k) == 2 for k in d["sample_keys"]) and
             len(d["sample_keys"]) == 2, "%s: composite sample keys are [branch, acc_no] pairs" % label, d)
    p = compare(label, cfgpath, names[1], {("duplicate", "*", "row")})
    if p is not None:
        d = shape(p).get(("duplicate", "*", "row"))
        t.ok(d is not None and d["count"] == 21 and d["groups"] == 21,
             "%s: whole-row copies (NULL equals NULL)" % label, d)
    p = compare(label, cfgpath, names[2])
    if p is not None:
        t.eq(p["findings"], [], "%s: an empty table has no findings" % label)


db = os.path.join(work, "pd.db")
make_sqlite(db)
sqlite_names = ("ACCOUNTS", "COPIES", "EMPTY_T")
check_source("sqlite-native", "Driver=SQLite3;Database=" + db, True, sqlite_names, PLANTED)
check_source("sqlite-odbc", "Driver=SQLite3;Database=" + db, False, sqlite_names, PLANTED)

# Text in a numeric SQLite column cannot be judged exactly in SQL: that table is streamed.
db2 = os.path.join(work, "pd2.db")
c = sqlite3.connect(db2)
c.execute("CREATE TABLE T (ID INTEGER, X REAL)")
c.executemany("INSERT INTO T VALUES (?,?)", [(i, "n/a" if i == 3 else float(i)) for i in range(50)])
c.commit()
c.close()
cfg2 = write_json(os.path.join(work, "fallback.json"),
                  {"source": {"odbc": "Driver=SQLite3;Database=" + db2}, "rules_dir": os.path.join(work, "no-rules"),
                   "tables": {"T": {"primary_key": ["ID"]}}})
rc, rep, err = run_json([EXE, "scan", "--config", cfg2, "--table", "T", "--mode", "pushdown", "--no-store"])
t.ok(rep is not None and "mode" not in rep and ("missing", "X", "invalid") in shape(rep) and "streamed" in err,
     "SQLite text in a numeric column: logged and streamed, the invalid value reported", err)

# auto: a small SQLite table streams; source.pushdown_rows 10 pushes it down.
cfg3 = config("Driver=SQLite3;Database=" + db, True, sqlite_names)
rc, rep, err = run_json([EXE, "scan", "--config", write_json(os.path.join(work, "auto.json"), cfg3), "--table",
                         "ACCOUNTS", "--no-store"])
t.ok(rep is not None and "mode" not in rep, "auto streams a small SQLite table", err)
cfg3["source"]["pushdown_rows"] = 10
rc, rep, err = run_json([EXE, "scan", "--config", write_json(os.path.join(work, "auto2.json"), cfg3), "--table",
                         "ACCOUNTS", "--no-store"])
t.ok(rep is not None and rep.get("mode") == "pushdown", "auto pushes down above source.pushdown_rows", err)
rc, rep, err = run_json([EXE, "scan", "--config", cfg2, "--table", "T", "--mode", "sideways"])
t.ok(rc == 2 and "--mode" in err, "an unknown --mode is a usage error", err)

pg = os.environ.get("CS_PG_ODBC")
if pg:
    ok, perr = make_postgres()
    if t.ok(ok, "PostgreSQL fixture loaded", perr):
        planted = PLANTED | {("missing", "AMT_Z", "nan"), ("missing", "AMT_Q", "invalid"),
                             ("missing", "AMT_M", "invalid")}
        check_source("postgresql", pg, False, ("pd_accounts", "pd_copies", "pd_empty"), planted)
        rc, rep, err = run_json([EXE, "scan", "--config", os.path.join(work, "postgresql.json"), "--table",
                                 "pd_accounts", "--no-store"])
        t.ok(rep is not None and rep.get("mode") == "pushdown", "auto pushes a PostgreSQL table down", err)
else:
    t.skip("PostgreSQL pushdown equals streaming", "CS_PG_ODBC is not set")

sys.exit(t.done())
