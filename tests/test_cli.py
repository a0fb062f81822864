#!/usr/bin/env python3
"""test_cli.py -- the command-line contract, end to end, on real databases.

Usage: test_cli.py BUILD_DIR

Builds a small fixture whose defects are known exactly, loads it into a
SQLite file (read natively and through Debian's SQLite ODBC driver) and, when
the test runner started one ($CS_PG_ODBC), into PostgreSQL through psqlODBC,
runs `creditsense scan` and `creditsense customer` and asserts the JSON
report, the exit codes (0 good run, 1 --fail-on met, 2 error) and the error
messages for bad input.  Prints TAP.
"""
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import Tap, ensure_odbcinst, run, run_json, workdir, write_json  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
EXE = os.path.join(BUILD, "creditsense")
t = Tap()
work = workdir("cli")
ensure_odbcinst(work)

# ---- the fixture -----------------------------------------------------------
# LOANS: 200 customers 1000..1199 plus a second row for 1001 (duplicate key).
#   AMT_CREDIT  negative for 1010 and 1020, 9,000,000 for 1050 (an outlier)
#   AMT_ANNUITY NULL for 1003..1005, the text 'n/a' for 1006 (invalid)
#   DAYS_EMPLOYED 365243 (sentinel) for 1100..1109
#   CODE_GENDER 'XNA' (sentinel) for 1007
# PAYMENTS: two rows per customer, one exact duplicate row for 1002.


def loans_rows():
    rows = []
    for i in range(1000, 1200):
        credit = 100000.0 + (i * 137) % 5000
        if i in (1010, 1020):
            credit = -500.0 if i == 1010 else -700.0
        if i == 1050:
            credit = 9000000.0
        annuity = None if i in (1003, 1004, 1005) else ("n/a" if i == 1006 else 5000.0 + i % 1000)
        employed = 365243 if 1100 <= i < 1110 else -(i % 3000 + 1)
        gender = "XNA" if i == 1007 else ("F" if i % 3 else "M")
        rows.append((i, credit, annuity, -(10000 + i % 5000), employed, gender))
    rows.append(rows[1])  # customer 1001 again
    return rows


def payments_rows():
    rows = [(i, 1000.0 + (i * 7 + k) % 50, k) for i in range(1000, 1200) for k in (1, 2)]
    rows.append((1002, 1000.0 + (1002 * 7 + 1) % 50, 1))
    return rows


def make_sqlite(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE LOANS (SK_ID_CURR INTEGER, AMT_CREDIT REAL, AMT_ANNUITY REAL, "
               "DAYS_BIRTH INTEGER, DAYS_EMPLOYED INTEGER, CODE_GENDER TEXT)")
    db.execute("CREATE TABLE PAYMENTS (SK_ID_CURR INTEGER, AMT_PAYMENT REAL, NUM_INSTALMENT INTEGER)")
    db.executemany("INSERT INTO LOANS VALUES (?,?,?,?,?,?)", loans_rows())
    db.executemany("INSERT INTO PAYMENTS VALUES (?,?,?)", payments_rows())
    db.commit()
    db.close()


def sql_value(v):
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


def make_postgres():
    """Load the fixture into the test cluster with lower-case names (PostgreSQL's habit).
    PostgreSQL is typed, so the 'n/a' annuity becomes NULL there."""
    stmts = ["DROP TABLE IF EXISTS loans, payments;",
             "CREATE TABLE loans (sk_id_curr bigint, amt_credit double precision, amt_annuity double precision,"
             " days_birth integer, days_employed integer, code_gender text);",
             "CREATE TABLE payments (sk_id_curr bigint, amt_payment double precision, num_instalment integer);"]
    for r in loans_rows():
        r = tuple(None if v == "n/a" else v for v in r)
        stmts.append("INSERT INTO loans VALUES (%s);" % ",".join(sql_value(v) for v in r))
    for r in payments_rows():
        stmts.append("INSERT INTO payments VALUES (%s);" % ",".join(sql_value(v) for v in r))
    p = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", os.environ.get("PGDATABASE", "creditsense")],
                       input="\n".join(stmts), capture_output=True, text=True)
    return p.returncode == 0, p.stderr


def config(conn, native=True, **extra):
    cfg = {
        "source": {"odbc": conn, "native_sqlite": native, "batch_rows": 64},
        "tables": {
            "LOANS": {"customer_key": "SK_ID_CURR", "primary_key": "SK_ID_CURR",
                      "columns": {"DAYS_*": {"allow_negative": True},
                                  "DAYS_EMPLOYED": {"allow_negative": True, "sentinels": [365243]},
                                  "CODE_GENDER": {"sentinels": ["XNA"]}}},
            "PAYMENTS": {"customer_key": "SK_ID_CURR", "columns": {"NUM_INSTALMENT": {"outlier": False}}},
        },
    }
    cfg.update(extra)
    return cfg


def cfg_file(name, cfg):
    return write_json(os.path.join(work, name + ".json"), cfg)


def summary(report):
    """{(check, column, kind): count} of a report, columns upper-cased."""
    return {(f["check"], f["column"].upper(), f["kind"]): f["count"] for f in report["findings"]}


EXPECTED_LOANS = {
    ("missing", "AMT_ANNUITY", "null"): 3,
    ("missing", "AMT_ANNUITY", "invalid"): 1,
    ("missing", "CODE_GENDER", "sentinel"): 1,
    ("missing", "DAYS_EMPLOYED", "sentinel"): 10,
    ("negative", "AMT_CREDIT", "value"): 2,
    ("duplicate", "SK_ID_CURR", "key"): 1,
    ("outlier", "AMT_CREDIT", "zscore"): 1,
}


def find(report, check, column, kind=None):
    for f in report["findings"]:
        if f["check"] == check and f["column"].upper() == column and (kind is None or f["kind"] == kind):
            return f
    return None


def check_table_scan(label, cfgpath, expected, source_kind):
    rc, rep, err = run_json([EXE, "scan", "--config", cfgpath, "--table", "LOANS"])
    if not t.ok(rc == 0 and rep is not None, "%s: scan LOANS exits 0 with JSON" % label, err):
        return
    t.eq(rep["scope"], "table", "%s: scope is table" % label)
    t.eq(rep["rows_scanned"], 201, "%s: all 201 rows scanned" % label)
    t.eq(rep["source"], source_kind, "%s: source kind" % label)
    t.eq(summary(rep), expected, "%s: exactly the planted defects are found" % label)
    for key in ("run_id", "started_at", "finished_at", "duration_ms", "config_hash", "summary", "findings"):
        t.ok(key in rep, "%s: report has %s" % (label, key))
    dup = find(rep, "duplicate", "SK_ID_CURR")
    if dup:
        t.eq(dup["groups"], 1, "%s: one duplicate key group" % label)
        t.eq(dup["sample_keys"], [1001], "%s: the duplicated key is the sample" % label)
        t.eq(dup["severity"], "high", "%s: duplicate keys under 1%% are high" % label)
    neg = find(rep, "negative", "AMT_CREDIT")
    if neg:
        t.eq(sorted(neg["sample_keys"]), [1010, 1020], "%s: negative samples are the planted rows" % label)
        t.eq(neg["total"], 201, "%s: negative total counts every row" % label)
    out = find(rep, "outlier", "AMT_CREDIT")
    if out:
        t.eq(out["sample_keys"], [1050], "%s: the outlier sample is customer 1050" % label)
        t.ok(out["lower"] < 100000 < out["upper"] < 9000000, "%s: outlier bounds bracket normal credits" % label,
             out)
        t.eq(out["threshold"], 3.0, "%s: default z-score threshold 3" % label)
    sent = find(rep, "missing", "DAYS_EMPLOYED", "sentinel")
    if sent:
        t.eq(sent["severity"], "low", "%s: 5%% sentinels are low" % label)
    rc, rep, err = run_json([EXE, "scan", "--config", cfgpath, "--table", "PAYMENTS"])
    t.ok(rc == 0 and rep is not None and summary(rep) == {("duplicate", "*", "row"): 1},
         "%s: PAYMENTS has one whole-row duplicate and nothing else" % label, rep and summary(rep))


def check_customer(label, cfgpath, invalid_visible=True):
    rc, rep, err = run_json([EXE, "customer", "--config", cfgpath, "--id", "1050"])
    if t.ok(rc == 0 and rep is not None, "%s: customer 1050 exits 0" % label, err):
        t.eq(rep["scope"], "customer", "%s: scope is customer" % label)
        t.eq(str(rep["customer_id"]), "1050", "%s: customer id echoed" % label)
        t.eq(rep["rows_scanned"], 3, "%s: one loan row and two payment rows" % label)
        o = find(rep, "outlier", "AMT_CREDIT")
        t.ok(o is not None and o["severity"] == "medium" and o["sample_keys"] == [1050],
             "%s: 9,000,000 is an outlier against the table profile" % label, rep["findings"])
    rc, rep, err = run_json([EXE, "customer", "--config", cfgpath, "--id", "1001"])
    t.ok(rc == 0 and rep and find(rep, "duplicate", "SK_ID_CURR") is not None,
         "%s: customer 1001's two application rows are a duplicate key" % label, err)
    if invalid_visible:
        rc, rep, err = run_json([EXE, "customer", "--config", cfgpath, "--id", "1006"])
        t.ok(rc == 0 and rep and find(rep, "missing", "AMT_ANNUITY", "invalid") is not None,
             "%s: customer 1006's text annuity is reported invalid" % label, err)
    rc, out, err = run([EXE, "customer", "--config", cfgpath, "--id", "99999"])
    t.ok(rc == 2 and "99999" in err, "%s: unknown customer exits 2 naming the id" % label, err)
    for bad in ("abc", "1 OR 1=1", "1050; DROP TABLE LOANS", "", "99999999999999999999999"):
        rc, out, err = run([EXE, "customer", "--config", cfgpath, "--id", bad])
        t.ok(rc == 2 and out == "" and "creditsense:" in err, "%s: malformed id %r exits 2" % (label, bad), err)


def check_exit_codes(cfgpath):
    rc, _, err = run([EXE, "scan", "--config", cfgpath, "--table", "LOANS", "--fail-on", "critical"])
    t.eq(rc, 0, "--fail-on critical: nothing critical, exit 0")
    rc, _, err = run([EXE, "scan", "--config", cfgpath, "--table", "LOANS", "--fail-on", "high"])
    t.eq(rc, 1, "--fail-on high: a high finding, exit 1")
    rc, _, err = run([EXE, "scan", "--config", cfgpath, "--table", "LOANS", "--fail-on", "severe"])
    t.ok(rc == 2 and "severe" in err, "--fail-on with an unknown severity exits 2", err)
    rc, out, err = run([EXE, "scan", "--config", cfgpath, "--table", "LOANS", "--format", "text"])
    t.ok(rc == 0 and "LOANS" in out and "AMT_CREDIT" in out and "duplicate" in out,
         "--format text shows the table, the columns and the checks", out[:400])
    rc, out, err = run([EXE, "scan", "--config", cfgpath])
    t.ok(rc == 2 and "--table" in err, "scan without --table exits 2 and says what is missing", err)
    rc, out, err = run([EXE, "frobnicate"])
    t.ok(rc == 2 and "frobnicate" in err, "an unknown command exits 2", err)
    rc, out, err = run([EXE, "help"])
    t.ok(rc == 0 and "scan" in out and "customer" in out and "demo-data" in out, "help lists the commands")
    rc, out, err = run([EXE, "version"])
    t.ok(rc == 0 and out.startswith("creditsense "), "version prints the version", out)


def check_config_errors(conn):
    def expect(name, cfg, needle, what):
        path = cfg_file(name, cfg)
        rc, out, err = run([EXE, "scan", "--config", path, "--table", "LOANS"])
        t.ok(rc == 2 and needle in err and out == "", what, err)

    c = config(conn)
    c["tabels"] = c.pop("tables")
    expect("typo", c, "tabels", "an unknown top-level key is named")
    c = config(conn)
    c["tables"]["LOANS"]["columns"]["AMT_CREDIT"] = {"allow_negatives": True}
    expect("typo2", c, "allow_negative", "an unknown column key suggests the right one")
    c = config(conn)
    c["source"]["batch_rows"] = "many"
    expect("type", c, "batch_rows", "a wrong type names the key")
    c = config(conn)
    c["tables"]["LOANS"]["columns"]["AMT_CREDIT"] = {"outlier": {"method": "sigma", "threshold": 3}}
    expect("method", c, "method", "an unknown outlier method is refused")
    c = config(conn)
    c["tables"]["LOANS"]["primary_key"] = "NO_SUCH_COLUMN"
    expect("pk", c, "NO_SUCH_COLUMN", "a primary key that is not a column is named")
    rc, out, err = run([EXE, "scan", "--config", cfg_file("ok", config(conn)), "--table", "NO_SUCH_TABLE"])
    t.ok(rc == 2 and "NO_SUCH_TABLE" in err, "an unknown table exits 2 naming it", err)
    path = os.path.join(work, "broken.json")
    with open(path, "w") as f:
        f.write('{"source": {"odbc": "x"}, ')
    rc, out, err = run([EXE, "scan", "--config", path, "--table", "LOANS"])
    t.ok(rc == 2 and "broken.json" in err, "malformed JSON exits 2 naming the file", err)
    rc, out, err = run([EXE, "scan", "--config", os.path.join(work, "absent.json"), "--table", "LOANS"])
    t.ok(rc == 2 and "absent.json" in err, "a missing config file exits 2 naming it", err)
    expect("nodb", config("Driver=SQLite3;Database=/nonexistent/dir/x.db"), "x.db",
           "an unreadable database file exits 2 naming it")
    secret = "Hunter2-s3cret"
    for native in (True, False):
        path = cfg_file("secret%d" % native, config(
            "Driver={No Such Driver};Server=127.0.0.1;Uid=u;PWD=%s" % secret, native))
        rc, out, err = run([EXE, "scan", "--config", path, "--table", "LOANS"])
        t.ok(rc == 2 and secret not in err + out and "No Such Driver" in err,
             "a failing connection is reported without its password (native_sqlite=%s)" % native, err)
    os.environ["CS_TEST_DB_PATH"] = os.path.join(work, "fixture.db")
    path = cfg_file("env", config("Driver=SQLite3;Database=${CS_TEST_DB_PATH}"))
    rc, rep, err = run_json([EXE, "scan", "--config", path, "--table", "LOANS"])
    t.ok(rc == 0 and rep and rep["rows_scanned"] == 201, "${VAR} in the connection string comes from the environment",
         err)


def check_default_store(conn):
    """The implicit store (the source database) only warns when it cannot be used;
    a configured store that cannot be used is exit status 2."""
    db = os.path.join(work, "unstorable.db")
    make_sqlite(db)
    c = sqlite3.connect(db)
    c.execute("CREATE VIEW DQ_RUNS AS SELECT 1 AS X")  # blocks the store's schema
    c.commit()
    c.close()
    path = cfg_file("implicit", config("Driver=SQLite3;Database=%s" % db))
    rc, rep, err = run_json([EXE, "scan", "--config", path, "--table", "LOANS"])
    t.ok(rc == 0 and rep and rep["stored"] is False and "run not stored" in err,
         "an unusable default store: report printed, stored false, a warning", err)
    c = config("Driver=SQLite3;Database=%s" % db)
    c["store"] = {"odbc": "Driver=SQLite3;Database=%s" % db}
    rc, out, err = run([EXE, "scan", "--config", cfg_file("explicit", c), "--table", "LOANS"])
    t.ok(rc == 2 and out == "" and "store" in err, "an unusable configured store: exit 2", err)
    rc, out, err = run([EXE, "scan", "--config", path, "--table", "LOANS", "--store"])
    t.ok(rc == 2 and out == "", "an unusable store with --store: exit 2", err)
    rc, rep, err = run_json([EXE, "scan", "--config", path, "--table", "LOANS", "--no-store"])
    t.ok(rc == 0 and rep and rep["stored"] is False and "run not stored" not in err, "--no-store: no attempt", err)


def check_lanes(conn):
    """Scans of more than a few batches split the checks over two threads: same findings, and a
    check failing on the second thread is a clean error (exit 2, its message), not a hang."""
    one = cfg_file("one-batch", dict(config(conn), source={"odbc": conn, "native_sqlite": True,
                                                             "batch_rows": 100000}))
    tiny = cfg_file("tiny-batches", dict(config(conn), source={"odbc": conn, "native_sqlite": True,
                                                                 "batch_rows": 1}))
    debug = {"CREDITSENSE_LOG": "debug"}
    for table in ("LOANS", "PAYMENTS"):
        _, a, _ = run_json([EXE, "scan", "--config", one, "--table", table, "--format", "json", "--no-store"])
        rc, b, err = run_json([EXE, "scan", "--config", tiny, "--table", table, "--format", "json", "--no-store"],
                              env=debug)
        t.ok(rc == 0 and "checks on a second thread" in err, "%s: 1-row batches split the checks over two "
             "threads" % table, err[-600:])
        t.ok(a is not None and b is not None and a["findings"] == b["findings"] and a["findings"],
             "%s: the same findings (counts, samples, messages) with and without the second thread" % table)
    plugdir = os.path.join(work, "lane-plugins")
    os.makedirs(plugdir, exist_ok=True)
    for name, where in [("missing.so", "plugins"), ("duplicate.so", "plugins"), ("slowpoke.so", "tests"),
                        ("failat.so", "tests")]:
        link = os.path.join(plugdir, name)
        if not os.path.exists(link):
            os.symlink(os.path.join(BUILD, where, name), link)
    failing = cfg_file("lane-fail", dict(config(conn), plugin_dir=plugdir,
                                         source={"odbc": conn, "native_sqlite": True, "batch_rows": 1}))
    rc, out, err = run([EXE, "scan", "--config", failing, "--table", "LOANS", "--format", "json", "--no-store"],
                       env=debug, timeout=120)
    t.ok(rc == 2 and "check failat: planted failure after row 50" in err and out == "",
         "a check failing on the second thread ends the scan with its message and exit 2", "rc=%d %s" % (rc, err[-600:]))
    t.ok("second thread: failat" in err, "the log names the checks that ran on the second thread", err[-600:])


def main():
    db = os.path.join(work, "fixture.db")
    make_sqlite(db)
    conn = "Driver=SQLite3;Database=%s" % db
    native = cfg_file("native", config(conn, True))
    odbc = cfg_file("odbc", config(conn, False))
    check_table_scan("sqlite native", native, EXPECTED_LOANS, "sqlite-native")
    check_table_scan("sqlite odbc", odbc, EXPECTED_LOANS, "odbc")
    check_customer("sqlite native", native)
    check_customer("sqlite odbc", odbc)
    check_exit_codes(native)
    check_config_errors(conn)
    check_default_store(conn)
    check_lanes(conn)
    pg = os.environ.get("CS_PG_ODBC")
    if not pg:
        t.skip("PostgreSQL through psqlODBC", "no PostgreSQL cluster ($CS_PG_ODBC unset)")
        return
    loaded, err = make_postgres()
    if not t.ok(loaded, "fixture loaded into PostgreSQL", err):
        return
    pgcfg = cfg_file("pg", config(pg, False))
    expected = dict(EXPECTED_LOANS)
    del expected[("missing", "AMT_ANNUITY", "invalid")]
    expected[("missing", "AMT_ANNUITY", "null")] = 4
    check_table_scan("postgresql", pgcfg, expected, "odbc")
    check_customer("postgresql", pgcfg, invalid_visible=False)


main()
sys.exit(t.done())
