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
Sample keys of missing, negative and outlier findings must equal streaming's
too: the first offending rows in scan order, and for outliers the farthest
first (ties low before high, then in key order, which is scan order here).
The table MANY has findings of more than 100 rows, whose keys come from
LIMIT 10 subqueries instead of the aggregates (docs/pushdown.md, round C).

Lua rules with a SQL predicate (rule{sql = ...}) are compared the same way,
mixed with rules that have none (those read the rows): on the fixture
(quotes, division, mixed case, a keyless table) and with the shipped rules
over the sample data, on SQLite and PostgreSQL.  Table profiles built by
pushdown statements (profile.mode "pushdown") must equal streamed ones, and
a customer run must give the same findings with either.
Prints TAP.
"""
import glob
import io
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import Tap, ensure_odbcinst, run, run_json, workdir, write_json  # noqa: E402

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
    db.execute("CREATE TABLE MANY (ID INTEGER, X REAL, Y INTEGER, Z REAL, W REAL)")
    db.executemany("INSERT INTO MANY VALUES (?,?,?,?,?)", many_rows())
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
    stmts.append("DROP TABLE IF EXISTS pd_many; CREATE TABLE pd_many (id bigint, x double precision, y integer, "
                 "z double precision, w double precision);")
    stmts.append("INSERT INTO pd_many VALUES %s;" % ",".join("(%s)" % ",".join(sql_value(v) for v in r)
                                                          for r in many_rows()))
    p = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", os.environ.get("PGDATABASE", "creditsense")],
                       input="\n".join(stmts), capture_output=True, text=True)
    return p.returncode == 0, p.stderr


def many_rows():
    """MANY: key ID; X NULL in 1,500 of 2,500 rows and Y negative in 1,250 (LIMIT 10 subqueries), Z NULL in 8
    (the aggregate), W with outliers 1000 (twice, tied) and -500."""
    rows = []
    for i in range(2500):
        w = float(i % 10)
        if i in (100, 200):
            w = 1000.0
        if i == 300:
            w = -500.0
        rows.append((i + 1, None if i % 5 else float(i), -i if i % 2 else i, None if i % 350 == 7 else 1.0, w))
    return rows


def config(conn, native, names):
    acc, cop, emp = names[:3]
    many = "MANY" if acc == "ACCOUNTS" else "pd_many"
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
            many: {"primary_key": ["ID"]},
        },
    }


def shape(report):
    """{(check, COLUMN, kind): finding} of a report (columns upper-cased: PostgreSQL folds to lower case)."""
    return {(f["check"], f["column"].upper(), f["kind"]): f for f in report["findings"]}


def close(a, b):
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def compare(label, cfgpath, table, expect_keys=None, same_keys=True):
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
        if same_keys and k[0] != "duplicate" and fs.get("sample_keys") != fp.get("sample_keys"):
            bad.append("%s sample_keys: %r vs %r" % (k, fs.get("sample_keys"), fp.get("sample_keys")))
    t.ok(not bad, "%s %s: counts, totals, groups, severities, messages, bounds%s agree" %
         (label, table, " and sample keys" if same_keys else ""), "\n".join(bad))
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
    p = compare(label, cfgpath, names[1], {("duplicate", "*", "row")}, same_keys=False)
    if p is not None:
        d = shape(p).get(("duplicate", "*", "row"))
        t.ok(d is not None and d["count"] == 21 and d["groups"] == 21,
             "%s: whole-row copies (NULL equals NULL)" % label, d)
    p = compare(label, cfgpath, names[2])
    if p is not None:
        t.eq(p["findings"], [], "%s: an empty table has no findings" % label)
    many = "MANY" if names[0] == "ACCOUNTS" else "pd_many"
    p = compare(label, cfgpath, many, {("missing", "X", "null"), ("negative", "Y", "value"), ("missing", "Z", "null"),
                                       ("outlier", "W", "zscore")})
    if p is not None:
        f = shape(p)
        x, y, w = (f.get(k, {}) for k in (("missing", "X", "null"), ("negative", "Y", "value"),
                                          ("outlier", "W", "zscore")))
        t.ok(x.get("count") == 2000 and x.get("sample_keys") == [2, 3, 4, 5, 7, 8, 9, 10, 12, 13] and
             y.get("count") == 1250 and y.get("sample_keys") == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20],
             "%s: findings of more than 100 rows name their first 10 rows" % label, (x, y))
        t.eq(w.get("sample_keys"), [101, 201, 301], "%s: outliers the farthest first, ties in scan order" % label)


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
# LATE: the text value only after the first 100,000 rows, which the early probe reads; the
# exact guard of the full aggregate pass must still send the table to streaming.
c.execute("CREATE TABLE LATE (ID INTEGER, X REAL)")
c.executemany("INSERT INTO LATE VALUES (?,?)", [(i, "n/a" if i == 100500 else float(i % 97)) for i in range(100600)])
c.commit()
c.close()
cfg2 = write_json(os.path.join(work, "fallback.json"),
                  {"source": {"odbc": "Driver=SQLite3;Database=" + db2}, "rules_dir": os.path.join(work, "no-rules"),
                   "tables": {"T": {"primary_key": ["ID"]}, "LATE": {"primary_key": ["ID"]}}})
for table, how in (("T", "its first rows hold text"), ("LATE", "1 rows hold text")):
    rc, rep, err = run_json([EXE, "scan", "--config", cfg2, "--table", table, "--mode", "pushdown", "--no-store"],
                            env={"CREDITSENSE_LOG": "info"})
    t.ok(rep is not None and "mode" not in rep and shape(rep).get(("missing", "X", "invalid"), {}).get("count") == 1 and how in err,
         "SQLite text in a numeric column of %s: logged (%s) and streamed, the invalid value reported" % (table, how),
         err[-800:])

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

# ---- Lua rules with SQL predicates ----------------------------------------------------------

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_RULES = """
rule {name = "z_far", description = "AMT_Z is far beyond the usual", table = "ACCOUNTS", columns = {"AMT_Z"},
      sql = "AMT_Z > 1000000 OR AMT_Z < 0",
      row = function(r) if r.AMT_Z and (r.AMT_Z > 1000000 or r.AMT_Z < 0) then return "AMT_Z " .. r.AMT_Z end end}
rule {name = "status_placeholder", description = "STATUS is a placeholder", table = "ACCOUNTS",
      columns = {"STATUS", "BRANCH"}, sql = "STATUS IN ('XNA', 'N/A''x') AND BRANCH <> 'B9'",
      row = function(r) if r.STATUS == "XNA" or r.STATUS == "N/A'x" then return "status " .. r.STATUS end end}
rule {name = "mixed_quarter", description = "A quarter of Amt_Mixed is below -4", table = "ACCOUNTS",
      columns = {"Amt_Mixed"}, sql = "Amt_Mixed / 4 < -4",
      row = function(r) return r.Amt_Mixed ~= nil and r.Amt_Mixed / 4 < -4 end}
rule {name = "status_missing", description = "STATUS is NULL", table = "ACCOUNTS", columns = {"STATUS"},
      sql = "STATUS IS NULL", row = function(r) return r.STATUS == nil end}
rule {name = "days_lua_only", description = "DAYS_X holds the placeholder", table = "ACCOUNTS", columns = {"DAYS_X"},
      row = function(r) if r.DAYS_X == 365243 then return "placeholder" end end}
rule {name = "q_total", description = "AMT_Q adds up", table = "ACCOUNTS", columns = {"AMT_Q"},
      aggregate = {init = function() return {n = 0} end,
                   row = function(s, r) if r.AMT_Q and r.AMT_Q > 90 then s.n = s.n + 1; return true end end,
                   finish = function(s, rows) return s.n .. " of " .. rows, s.n end}}
rule {name = "copies_c", description = "C is 3", table = "COPIES", columns = {"C"}, sql = "C = 3",
      row = function(r) if r.C == 3 then return "C is 3" end end}
"""


def fixture_rules(label, names):
    """A rules directory for the fixture's tables as this database names them."""
    d = os.path.join(work, label + "-rules")
    os.makedirs(d, exist_ok=True)
    text = FIXTURE_RULES
    if label == "postgresql":  # text > bigint: PostgreSQL refuses it (SQLite would compare storage classes)
        text += """
rule {name = "typed_wrong", description = "STATUS is XNA", table = "ACCOUNTS", columns = {"STATUS"},
      sql = "STATUS > 5", row = function(r) return r.STATUS == "XNA" end}
"""
    with open(os.path.join(d, "fixture.lua"), "w") as f:
        f.write(text.replace('"ACCOUNTS"', '"%s"' % names[0]).replace('"COPIES"', '"%s"' % names[1]))
    return d


def lua_findings(report):
    return {(f["check"], f["column"].upper()): f for f in report["findings"] if f.get("source") == "lua"}


def compare_rules(label, cfgpath, table, keyed=True, env=None, require_some=True):
    """Stream and pushdown: the Lua findings agree.  Returns the pushdown run's stderr."""
    env = dict(env or {}, CREDITSENSE_LOG="info")
    rc1, s, e1 = run_json([EXE, "scan", "--config", cfgpath, "--table", table, "--mode", "stream", "--no-store"],
                          env=env)
    rc2, p, e2 = run_json([EXE, "scan", "--config", cfgpath, "--table", table, "--mode", "pushdown", "--no-store"],
                          env=env)
    if not t.ok(s is not None and p is not None and p.get("mode") == "pushdown",
                "%s %s: rules stream and push down" % (label, table), (e1 + e2)[-2000:]):
        return ""
    a, b = lua_findings(s), lua_findings(p)
    t.eq(sorted(b), sorted(a), "%s %s: the same rules report" % (label, table))
    bad = []
    for k in a:
        fs, fp = a[k], b.get(k, {})
        flds = ("count", "total", "severity", "kind") + (("message", "sample_keys") if keyed else ())
        for fld in flds:
            if fs.get(fld) != fp.get(fld):
                bad.append("%s %s: %r vs %r" % (k, fld, fs.get(fld), fp.get(fld)))
    t.ok(not bad and (a or not require_some), "%s %s: %d rule findings agree (count, total, severity%s)" %
         (label, table, len(a), ", message, sample keys" if keyed else ""), "\n".join(bad))
    return e2


def check_rules(label, conn, native, names):
    cfg = config(conn, native, names)
    cfg["rules_dir"] = fixture_rules(label, names)
    cfgpath = write_json(os.path.join(work, label + "-rules.json"), cfg)
    err = compare_rules(label, cfgpath, names[0])
    t.ok("read the rows (their columns only)" in err, "%s: rules without a predicate read only their columns" % label,
         err[-1500:])
    if label == "postgresql":
        t.ok("typed_wrong" in err and "refuses its sql predicate" in err,
             "postgresql: a predicate the database refuses sends only its rule back to the rows", err[-1500:])
    err = compare_rules(label, cfgpath, names[1], keyed=False)
    rc, p, _ = run_json([EXE, "scan", "--config", cfgpath, "--table", names[1], "--mode", "pushdown", "--no-store"])
    f = lua_findings(p or {"findings": []}).get(("copies_c", "C"))
    t.ok(f is not None and f["sample_keys"] == [] and "First case: C is 3" in f["message"],
         "%s: a keyless table has no sample keys in SQL, and the message quotes the first case" % label, f)
    rc, p, _ = run_json([EXE, "scan", "--config", cfgpath, "--table", names[0], "--mode", "pushdown", "--no-store"])
    counts = {k[0]: f["count"] for k, f in lua_findings(p or {"findings": []}).items()}
    want = {"z_far": 2, "status_placeholder": 3, "mixed_quarter": 1, "status_missing": 1, "days_lua_only": 5,
            "q_total": counts.get("q_total", -1)}
    if label == "postgresql":
        want["typed_wrong"] = 2  # refused by the database, so counted by its row function
    t.eq(counts, want,
         "%s: the planted rows are counted (quoted text bound, integer division as Lua's)" % label)


check_rules("sqlite-native", "Driver=SQLite3;Database=" + db, True, sqlite_names)
check_rules("sqlite-odbc", "Driver=SQLite3;Database=" + db, False, sqlite_names)


# ---- the shipped rules and table profiles over the sample data -----------------------------------

DEMO = os.path.join(work, "demo.db")
TABLES = ["SAMPLE_APPLICATION", "SAMPLE_BUREAU", "SAMPLE_PREVIOUS_APP", "SAMPLE_INSTALLMENTS"]


def make_demo():
    """Sample data with the planted text-in-numeric cells set to NULL (SQLite pushdown streams such tables,
    and PostgreSQL cannot hold them), so that every table really goes to the database."""
    rc, _, err = run([EXE, "demo-data", "--out", DEMO, "--customers", "400"])
    if rc != 0:
        return err
    c = sqlite3.connect(DEMO)
    for tbl in TABLES:
        for _, name, typ, *_ in c.execute('PRAGMA table_info("%s")' % tbl).fetchall():
            ok = {"INTEGER": "('integer','null')", "REAL": "('integer','real','null')"}.get(typ.upper())
            if ok:
                c.execute('UPDATE "%s" SET "%s" = NULL WHERE typeof("%s") NOT IN %s' % (tbl, name, name, ok))
    c.commit()
    c.close()
    return ""


def csv_cell(v):
    """PostgreSQL CSV: NULL unquoted and empty, text always quoted, numbers exactly (repr round-trips)."""
    if v is None:
        return ""
    if isinstance(v, str):
        return '"' + v.replace('"', '""') + '"'
    return repr(v)


def demo_postgres():
    """The sample data in PostgreSQL, lower-case names as PostgreSQL users write them."""
    c = sqlite3.connect(DEMO)
    out = io.StringIO()
    for tbl in TABLES:
        cols = c.execute('PRAGMA table_info("%s")' % tbl).fetchall()
        types = {"INTEGER": "bigint", "REAL": "double precision"}
        out.write('DROP TABLE IF EXISTS %s;\nCREATE TABLE %s (%s);\n' % (
            tbl.lower(), tbl.lower(), ", ".join("%s %s" % (n.lower(), types.get(ty.upper(), "text"))
                                               for _, n, ty, *_ in cols)))
        out.write("COPY %s FROM STDIN WITH (FORMAT csv);\n" % tbl.lower())
        for row in c.execute('SELECT * FROM "%s"' % tbl):
            out.write(",".join(csv_cell(v) for v in row) + "\n")
        out.write("\\.\n")
    c.close()
    text = out.getvalue()
    p = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", os.environ.get("PGDATABASE", "creditsense")],
                       input=text, capture_output=True, text=True)
    return p.returncode == 0, p.stderr[-2000:]


def demo_config(label, conn, native, profile_mode=None):
    with open(os.path.join(REPO, "deploy", "creditsense.json")) as f:
        base = json.load(f)
    cfg = {"source": {"odbc": conn, "native_sqlite": native}, "tables": base["tables"],
           "rules_dir": os.path.join(REPO, "rules")}
    if profile_mode:
        cfg["profile"] = {"cache_dir": os.path.join(work, "%s-profiles-%s" % (label, profile_mode)),
                          "mode": profile_mode}
    return write_json(os.path.join(work, "%s-demo-%s.json" % (label, profile_mode or "scan")), cfg)


def check_shipped_rules(label, conn, native):
    cfgpath = demo_config(label, conn, native)
    for tbl in TABLES:
        keyed = tbl != "SAMPLE_INSTALLMENTS"  # configured without a primary key
        err = compare_rules(label + " shipped rules", cfgpath, tbl, keyed=keyed, require_some=False)
        t.ok("refuses" not in err and "disagree" not in err,
             "%s %s: the database runs every shipped predicate, and they agree with the functions" % (label, tbl),
             err[-1500:])
        if tbl == "SAMPLE_APPLICATION":
            t.ok("read the rows" not in err, "%s: every rule of %s has a predicate, no row is read" % (label, tbl),
                 err[-1500:])


def close_rel(a, b, rel):
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def check_profiles(label, conn, native, customers, exact):
    """profile.mode stream and pushdown: the cached profiles agree, and so do the customers' findings."""
    runs, files = {}, {}
    for mode in ("stream", "pushdown"):
        cfgpath = demo_config(label, conn, native, mode)
        runs[mode] = []
        for cid in customers:
            rc, rep, err = run_json([EXE, "customer", "--config", cfgpath, "--id", str(cid), "--no-store"],
                                    env={"CREDITSENSE_LOG": "info"})
            runs[mode].append(rep)
            if mode == "pushdown" and cid == customers[0]:
                t.ok(rep is not None and "computed in the database" in err,
                     "%s: profile.mode pushdown builds the profiles in the database" % label, err[-1500:])
        files[mode] = {}
        for path in glob.glob(os.path.join(work, "%s-profiles-%s" % (label, mode), "*.profile.json")):
            with open(path) as f:
                doc = json.load(f)
            files[mode][doc["table"].upper()] = doc["columns"]
    t.eq(sorted(files["pushdown"]), sorted(files["stream"]), "%s: profiles of the same tables are cached" % label)
    bad, ncols = [], 0
    for tbl, cols in files["stream"].items():
        other = {k.upper(): v for k, v in files["pushdown"].get(tbl, {}).items()}
        for col, a in cols.items():
            b = other.get(col.upper())
            ncols += 1
            if b is None:
                bad.append("%s.%s: no pushdown profile" % (tbl, col))
                continue
            for k, v in a.items():
                if k in ("count", "min", "max"):
                    same = v == b[k]
                elif k in ("mean", "sd"):
                    same = close_rel(v, b[k], 1e-12)
                else:
                    same = v == b[k] if exact else close_rel(v, b[k], 1e-9)
                if not same:
                    bad.append("%s.%s %s: %r vs %r" % (tbl, col, k, v, b[k]))
    t.ok(not bad and ncols > 20, "%s: %d column profiles agree (count, min, max exactly; quantiles and MAD %s; "
         "mean and sd to 1e-12)" % (label, ncols, "exactly" if exact else "to 1e-9"), "\n".join(bad[:20]))

    def shape_c(rep):
        return sorted((f["check"], f["table"].upper(), f["column"].upper(), f["kind"], f["count"], f["total"],
                       f["severity"], json.dumps(f.get("sample_keys"))) for f in (rep or {}).get("findings", []))
    same = all(a is not None and shape_c(a) == shape_c(b) for a, b in zip(runs["stream"], runs["pushdown"]))
    nout = sum(1 for rep in runs["stream"] for f in (rep or {}).get("findings", []) if f["check"] == "outlier")
    t.ok(same and nout > 0, "%s: %d customer runs give the same findings with pushdown profiles (%d outlier findings)"
         % (label, len(customers), nout))


derr = make_demo()
if t.ok(derr == "", "sample data for the shipped rules and profiles", derr):
    cdb = sqlite3.connect(DEMO)
    CUSTOMERS = [r[0] for r in cdb.execute("SELECT SK_ID_CURR FROM SAMPLE_APPLICATION ORDER BY SK_ID_CURR LIMIT 40")]
    cdb.close()
    CUSTOMERS = CUSTOMERS[::8]
    check_shipped_rules("sqlite-native", "Driver=SQLite3;Database=" + DEMO, True)
    check_profiles("sqlite-native", "Driver=SQLite3;Database=" + DEMO, True, CUSTOMERS, exact=True)
    # The SQLite ODBC driver hands doubles over as text with about 15 digits, so not to the last bit.
    check_profiles("sqlite-odbc", "Driver=SQLite3;Database=" + DEMO, False, CUSTOMERS[:2], exact=False)

pg = os.environ.get("CS_PG_ODBC")
if pg and derr == "":
    ok, perr = demo_postgres()
    if t.ok(ok, "sample data loaded into PostgreSQL", perr):
        check_shipped_rules("postgresql", pg, False)
        check_profiles("postgresql", pg, False, CUSTOMERS, exact=False)
if pg:
    ok, perr = make_postgres()
    if t.ok(ok, "PostgreSQL fixture loaded", perr):
        planted = PLANTED | {("missing", "AMT_Z", "nan"), ("missing", "AMT_Q", "invalid"),
                             ("missing", "AMT_M", "invalid")}
        check_source("postgresql", pg, False, ("pd_accounts", "pd_copies", "pd_empty"), planted)
        check_rules("postgresql", pg, False, ("pd_accounts", "pd_copies", "pd_empty"))
        rc, rep, err = run_json([EXE, "scan", "--config", os.path.join(work, "postgresql.json"), "--table",
                                 "pd_accounts", "--no-store"])
        t.ok(rep is not None and rep.get("mode") == "pushdown", "auto pushes a PostgreSQL table down", err)
else:
    t.skip("PostgreSQL pushdown equals streaming", "CS_PG_ODBC is not set")

sys.exit(t.done())
