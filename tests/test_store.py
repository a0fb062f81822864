#!/usr/bin/env python3
"""test_store.py -- the run store end to end through the CLI (issue 4).

Usage: test_store.py BUILD_DIR

Scans a small SQLite table repeatedly and checks what lands in the store:
the default store is the source database; "stored": true in the report;
--no-store and "enabled": false; history as JSON and text with bound
filters; drift quiet on five steady runs and loud on a planted null-ratio
jump (exit 1 with --fail-on high); a process killed between inserts and a
failing statement leave no partial run; four processes writing at once all
land; an unreachable store is exit 2 without its password; profiles are
shared between processes through DQ_PROFILES.  With $CS_PG_ODBC, the same
against PostgreSQL with a mixed-case source table and store schema.
Prints TAP.
"""
import json
import os
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import Tap, ensure_odbcinst, run, run_json, workdir, write_json  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
EXE = os.path.join(BUILD, "creditsense")
t = Tap()
work = workdir("store")
ensure_odbcinst(work)

N = 200


def make_db(path, nulls=3):
    """CREDIT: 200 customers; AMT_ANNUITY NULL for the first `nulls` of them."""
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE CREDIT (SK_ID_CURR INTEGER, AMT_CREDIT REAL, AMT_ANNUITY REAL, NAME_TYPE TEXT)")
    rows = [(1000 + i, 100000.0 + (i * 37) % 900, None if i < nulls else 5000.0 + i % 50, "Cash" if i % 3 else "Rev")
            for i in range(N)]
    db.executemany("INSERT INTO CREDIT VALUES (?,?,?,?)", rows)
    db.commit()
    db.close()


def set_nulls(path, nulls):
    db = sqlite3.connect(path)
    db.execute("UPDATE CREDIT SET AMT_ANNUITY = CASE WHEN SK_ID_CURR < ? THEN NULL ELSE 5000.0 + (SK_ID_CURR - 1000) % 50 END",
               (1000 + nulls,))
    db.commit()
    db.close()


def config(conn, **extra):
    cfg = {"source": {"odbc": conn},
           "tables": {"CREDIT": {"customer_key": "SK_ID_CURR", "primary_key": "SK_ID_CURR"}}}
    cfg.update(extra)
    return cfg


def cfg_file(name, cfg):
    return write_json(os.path.join(work, name + ".json"), cfg)


def count(db, sql, args=()):
    c = sqlite3.connect(db, timeout=30)
    try:
        return c.execute(sql, args).fetchone()[0]
    finally:
        c.close()


def drift(rep):
    return [f for f in rep["findings"] if f["check"] == "drift"]


def scan(cfgpath, *more, env=None):
    return run_json([EXE, "scan", "--config", cfgpath, "--table", "CREDIT"] + list(more), env=env)


def check_default_store(db, cfgpath):
    rc, rep, err = scan(cfgpath)
    if not t.ok(rc == 0 and rep is not None, "scan with no store key exits 0", err):
        return
    t.eq(rep.get("stored"), True, "the report says stored: true")
    t.eq(count(db, "SELECT COUNT(*) FROM DQ_RUNS WHERE RUN_ID = ?", (rep["run_id"],)), 1,
         "the run is in DQ_RUNS of the source database")
    t.eq(count(db, "SELECT COUNT(*) FROM DQ_ANOMALIES WHERE RUN_ID = ?", (rep["run_id"],)), len(rep["findings"]),
         "one DQ_ANOMALIES row per finding")
    t.eq(count(db, "SELECT COUNT(*) FROM DQ_METRICS WHERE RUN_ID = ?", (rep["run_id"],)), 5,
         "DQ_METRICS: the table row and one per column")
    nulls = count(db, "SELECT NULL_COUNT FROM DQ_METRICS WHERE RUN_ID = ? AND COLUMN_NAME = 'AMT_ANNUITY'",
                  (rep["run_id"],))
    t.eq(nulls, 3, "DQ_METRICS counts the missing annuities")
    t.eq(count(db, "SELECT MAX(VERSION) FROM DQ_SCHEMA"), 1, "DQ_SCHEMA carries the schema version")
    t.eq(count(db, "SELECT COUNT(*) FROM CREDIT"), N, "the source table is untouched")

    before = count(db, "SELECT COUNT(*) FROM DQ_RUNS")
    rc, rep, err = scan(cfgpath, "--no-store")
    t.ok(rc == 0 and rep and rep["stored"] is False and count(db, "SELECT COUNT(*) FROM DQ_RUNS") == before,
         "--no-store: stored false and nothing written", err)
    off = cfg_file("off", config("Driver=SQLite3;Database=%s" % db, store={"enabled": False}))
    rc, rep, err = scan(off)
    t.ok(rc == 0 and rep and rep["stored"] is False and count(db, "SELECT COUNT(*) FROM DQ_RUNS") == before,
         "store.enabled false: nothing written", err)
    rc, rep, err = scan(off, "--store")
    t.ok(rc == 0 and rep and rep["stored"] is True, "--store overrides enabled: false", err)


def check_drift(db, cfgpath):
    """Fresh history: five steady runs, a sixth steady one, then a planted jump."""
    for i in range(5):
        rc, rep, err = scan(cfgpath)
        t.ok(rc == 0 and rep and not drift(rep), "steady run %d: no drift" % (i + 1), err or (rep and drift(rep)))
    rc, rep, err = scan(cfgpath, "--fail-on", "high")
    t.ok(rc == 0 and rep and not drift(rep), "sixth steady run: still quiet, --fail-on high passes", err)
    set_nulls(db, 60)  # 1.5% -> 30% missing annuities
    rc, rep, err = scan(cfgpath, "--fail-on", "high")
    d = drift(rep) if rep else []
    nr = [f for f in d if f["kind"] == "null_ratio" and f["column"] == "AMT_ANNUITY"]
    t.eq(rc, 1, "a planted null-ratio jump fails --fail-on high")
    if t.ok(len(nr) == 1, "the jump is a drift finding of kind null_ratio on AMT_ANNUITY", d):
        f = nr[0]
        t.eq(f["severity"], "high", "a 20x jump is high")
        t.ok("1.50%" in f["message"] and "30.00%" in f["message"], "the message names old and new values",
             f["message"])
        t.eq((f["count"], f["total"]), (60, N), "count/total are the new missing count and rows")
        t.ok("lower" in f and "upper" in f and f["threshold"] == 3, "the accepted range is reported", f)
        t.eq(count(db, "SELECT COUNT(*) FROM DQ_ANOMALIES WHERE RUN_ID = ? AND CHECK_NAME = 'drift'",
                   (rep["run_id"],)), len(d), "drift findings are stored with the run")
    rc, rep, err = scan(cfgpath)
    t.ok(rc == 0 and rep and any(f["kind"] == "null_ratio" for f in drift(rep)),
         "the next run with the same bad data is still flagged (flagged points leave the baseline)",
         rep and drift(rep))
    set_nulls(db, 3)


def check_history(cfgpath):
    rc, doc, err = run_json([EXE, "history", "--config", cfgpath, "--table", "credit", "--limit", "3"])
    if not t.ok(rc == 0 and doc is not None, "history --table exits 0 with JSON", err):
        return
    runs = doc["runs"]
    t.eq(len(runs), 3, "--limit 3 gives three runs")
    t.ok(all(r["table"] == "CREDIT" and r["scope"] == "table" for r in runs), "--table matches in any case")
    t.ok(runs[0]["started_at"] >= runs[1]["started_at"] >= runs[2]["started_at"], "newest first")
    t.ok(all(len(r["anomalies"]) == r["findings"] for r in runs), "each run lists its findings")
    t.ok(any(a["check"] == "drift" for r in runs for a in r["anomalies"]), "drift findings are listed")
    rc, out, err = run([EXE, "history", "--config", cfgpath, "--table", "CREDIT", "--format", "text", "--limit", "2"])
    t.ok(rc == 0 and "CREDIT" in out and "rows" in out and "missing" in out, "history --format text", out[:300])
    for bad in ("CREDIT' OR '1'='1", "x; DROP TABLE DQ_RUNS"):
        rc, doc, err = run_json([EXE, "history", "--config", cfgpath, "--table", bad])
        t.ok(rc == 0 and doc["runs"] == [], "a hostile --table is a bound value: %r" % bad, err)
    rc, out, err = run([EXE, "history", "--config", cfgpath, "--limit", "0"])
    t.ok(rc == 2 and "--limit" in err, "--limit 0 is a usage error", err)
    rc, out, err = run([EXE, "history"])
    t.ok(rc == 2 and "--config" in err, "history without --config is a usage error", err)


def check_customer_and_profiles(db, cfgpath):
    rc, rep, err = run_json([EXE, "customer", "--config", cfgpath, "--id", "1005"], env={"CREDITSENSE_LOG": "info"})
    t.ok(rc == 0 and rep and rep["stored"] is True, "customer run is stored", err)
    first_built = "building the profile" in err
    rc, rep, err = run_json([EXE, "customer", "--config", cfgpath, "--id", "1006"], env={"CREDITSENSE_LOG": "info"})
    t.ok(rc == 0 and "building the profile" not in err,
         "a second process reuses the stored profile (first built it: %s)" % first_built, err)
    t.ok(count(db, "SELECT COUNT(*) FROM DQ_PROFILES WHERE TABLE_NAME = 'CREDIT'") >= 1, "DQ_PROFILES holds it")
    rc, doc, err = run_json([EXE, "history", "--config", cfgpath, "--customer", "01006"])
    t.ok(rc == 0 and len(doc["runs"]) == 1 and doc["runs"][0]["customer_id"] == "1006",
         "history --customer finds the run (integer ids normalised)", err)
    t.eq(count(db, "SELECT COUNT(*) FROM DQ_METRICS m JOIN DQ_RUNS r ON r.RUN_ID = m.RUN_ID WHERE r.SCOPE = 'customer'"),
         0, "customer runs store findings only, no metrics")


def check_faults(db, cfgpath):
    def totals():
        return tuple(count(db, "SELECT COUNT(*) FROM " + tb) for tb in ("DQ_RUNS", "DQ_ANOMALIES", "DQ_METRICS"))

    before = totals()
    rc, out, err = run([EXE, "scan", "--config", cfgpath, "--table", "CREDIT"],
                       env={"CS_STORE_FAULT": "kill_after_anomalies"})
    t.eq(rc, -9, "the process is killed between inserts")
    t.eq(totals(), before, "a killed writer leaves no partial run")
    rc, out, err = run([EXE, "scan", "--config", cfgpath, "--table", "CREDIT", "--store"],
                       env={"CS_STORE_FAULT": "after_metrics"})
    t.ok(rc == 2 and out == "" and "fault injected" in err, "a failing statement (--store) is exit 2 with a message",
         err)
    t.eq(totals(), before, "a failed transaction leaves no partial run")
    rc, rep, err = scan(cfgpath)
    t.ok(rc == 0 and rep and rep["stored"], "the next run is written normally", err)
    t.eq(totals()[0], before[0] + 1, "exactly one more run")


def check_concurrency(cfgpath, label, counter):
    procs = [subprocess.Popen([EXE, "scan", "--config", cfgpath, "--table", "CREDIT"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    ok = [r for r in results if r[2] == 0]
    t.ok(len(ok) == 4, "%s: four concurrent writers all succeed" % label, [r[1][-300:] for r in results if r[2]])
    ids = {json.loads(r[0])["run_id"] for r in ok}
    t.eq(len(ids), len(ok), "%s: four distinct runs" % label)
    t.eq(counter(ids), len(ids), "%s: all four are in the store" % label)


def check_lock_retry(conn):
    """A writer that finds the store locked beyond the driver's busy timeout retries the transaction."""
    store = os.path.join(work, "locked.db")
    path = cfg_file("locked", config(conn, store={"odbc": "Driver=SQLite3;Database=%s;Timeout=50" % store}))
    rc, rep, err = scan(path)  # creates the schema
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a write lock held for a second
    p = subprocess.Popen([EXE, "scan", "--config", path, "--table", "CREDIT"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=dict(os.environ, CREDITSENSE_LOG="debug"))
    time.sleep(1.0)
    holder.execute("COMMIT")
    holder.close()
    out, err = p.communicate(timeout=300)
    t.ok(p.returncode == 0 and json.loads(out)["stored"] and "lock conflict, retrying" in err,
         "a lock held past the busy timeout: the transaction is retried and the run stored", err[-600:])


def check_unreachable(conn):
    secret = "Hunter2-s3cret"
    bad = cfg_file("badstore", config(conn, store={"odbc": "Driver={No Such Driver};Server=x;Uid=u;PWD=%s" % secret}))
    rc, out, err = run([EXE, "scan", "--config", bad, "--table", "CREDIT"])
    t.ok(rc == 2 and out == "" and "store" in err and secret not in err and "No Such Driver" in err,
         "an unreachable store is exit 2, named, without its password", err)
    os.environ["CS_STORE_DIR"] = work
    sep = cfg_file("sepstore", config(conn, store={"odbc": "Driver=SQLite3;Database=${CS_STORE_DIR}/runs.db"}))
    rc, rep, err = scan(sep)
    t.ok(rc == 0 and rep and rep["stored"] and
         count(os.path.join(work, "runs.db"), "SELECT COUNT(*) FROM DQ_RUNS WHERE RUN_ID = ?", (rep["run_id"],)) == 1,
         "store.odbc (with ${VAR}) writes to a separate database", err)
    return sep


def psql(sql):
    p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d",
                        os.environ.get("PGDATABASE", "creditsense")], input=sql, capture_output=True, text=True)
    return p.returncode, p.stdout.strip(), p.stderr


def check_postgres(pg):
    pid = os.getpid()
    table, schema = "MixedCase_Credit_%d" % pid, "Store_Mixed_%d" % pid
    rows = ",".join("(%d, %s, %s)" % (1000 + i, 100000.0 + i % 7, "NULL" if i < 3 else "5000.0") for i in range(N))
    rc, _, err = psql('CREATE TABLE "%s" ("SK_ID_CURR" bigint, "Amt Credit" double precision, amt_annuity double '
                      'precision); INSERT INTO "%s" VALUES %s;' % (table, table, rows))
    if not t.ok(rc == 0, "postgresql: mixed-case fixture loaded", err):
        return
    cfg = config(pg, store={"schema": schema})
    cfg["tables"] = {table: {"primary_key": "SK_ID_CURR"}}
    path = cfg_file("pg", cfg)
    rc, rep, err = run_json([EXE, "scan", "--config", path, "--table", table])
    if t.ok(rc == 0 and rep and rep["stored"], "postgresql: scan stored into a mixed-case schema", err):
        rc, out, err = psql('SELECT string_agg("column_name", \',\' ORDER BY column_name) FROM "%s".dq_metrics '
                            "WHERE run_id = '%s'" % (schema, rep["run_id"]))
        t.eq(out, "*,Amt Credit,SK_ID_CURR,amt_annuity", "postgresql: column names keep their case")
        rc, out, err = psql('SELECT table_name FROM "%s".dq_runs WHERE run_id = \'%s\'' % (schema, rep["run_id"]))
        t.eq(out, table, "postgresql: the table name keeps its case")
    rc, doc, err = run_json([EXE, "history", "--config", path, "--table", table.lower()])
    t.ok(rc == 0 and doc and len(doc["runs"]) == 1 and doc["runs"][0]["table"] == table,
         "postgresql: history finds the table in any case", err)

    def counter(ids):
        q = ",".join("'%s'" % i for i in ids)
        return int(psql('SELECT COUNT(*) FROM "%s".dq_runs WHERE run_id IN (%s)' % (schema, q))[1] or -1)

    check_concurrency_pg(path, table, counter)
    psql('DROP TABLE "%s"; DROP SCHEMA "%s" CASCADE;' % (table, schema))


def check_concurrency_pg(path, table, counter):
    procs = [subprocess.Popen([EXE, "scan", "--config", path, "--table", table], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    good = [r for r in results if r[2] == 0]
    t.ok(len(good) == 4, "postgresql: four concurrent writers all succeed", [r[1][-300:] for r in results if r[2]])
    ids = {json.loads(r[0])["run_id"] for r in good}
    t.eq(counter(ids), 4, "postgresql: all four runs are in the store")


def main():
    db = os.path.join(work, "credit.db")
    make_db(db)
    conn = "Driver=SQLite3;Database=%s" % db
    native = cfg_file("native", config(conn))
    check_default_store(db, native)
    # Drift needs a history of its own: a fresh database.
    make_db(db)
    check_drift(db, native)
    check_history(native)
    check_customer_and_profiles(db, native)
    check_faults(db, native)
    check_concurrency(native, "sqlite (store in the source file)",
                      lambda ids: sum(count(db, "SELECT COUNT(*) FROM DQ_RUNS WHERE RUN_ID = ?", (i,)) for i in ids))
    check_lock_retry(conn)
    sep = check_unreachable(conn)
    runs_db = os.path.join(work, "runs.db")
    check_concurrency(sep, "sqlite (separate store file)",
                      lambda ids: sum(count(runs_db, "SELECT COUNT(*) FROM DQ_RUNS WHERE RUN_ID = ?", (i,)) for i in ids))
    pg = os.environ.get("CS_PG_ODBC")
    if not pg:
        t.skip("PostgreSQL store", "no PostgreSQL cluster ($CS_PG_ODBC unset)")
        return
    check_postgres(pg)


main()
sys.exit(t.done())
