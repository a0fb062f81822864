#!/usr/bin/env python3
"""test_server.py -- `creditsense serve` end to end: the real daemon on an ephemeral loopback port.

Usage: test_server.py BUILD_DIR SOURCE_DIR

Against a SQLite fixture (and PostgreSQL when the runner started one,
$CS_PG_ODBC), with the offline advisor and the LLM stand-in
(tests/llm_standin.py), it covers every endpoint of docs/openapi.json (and
checks the server and the document agree both ways) -- the anomaly search
with every filter, paging and injection attempts checked against the stored
runs, metric history, customer rows (103065 of the sample data against
`creditsense customer`, sensitive columns masked), advice pending while the
LLM holds its calls -- every error status
(400, 401, 404, 405, 413, 429, 501, 503), malformed and oversized bodies,
auth on and off, 200 concurrent requests, a rule file changed while serving
(plain and Kubernetes ..data swap), SIGHUP, SIGTERM draining an in-flight
request, and a clean exit: status 0 and no sanitizer report in the log.

Every daemon gets --parent-pid of this process and is killed in a finally:
a crashed test never leaves one behind.  Prints TAP.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import Tap, ensure_odbcinst, workdir, write_json  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
SRC = os.path.abspath(sys.argv[2])
EXE = os.path.join(BUILD, "creditsense")
t = Tap()
work = workdir("server")
ensure_odbcinst(work)
DAEMONS = []
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:")

# ---- fixture: the CLI test's LOANS/PAYMENTS, with known defects ----------------------------------


def loans_rows():
    rows = []
    for i in range(1000, 1200):
        credit = 100000.0 + (i * 137) % 5000
        if i in (1010, 1020):
            credit = -500.0 if i == 1010 else -700.0
        if i == 1050:
            credit = 9000000.0
        annuity = None if i in (1003, 1004, 1005) else 5000.0 + i % 1000
        employed = 365243 if 1100 <= i < 1110 else -(i % 3000 + 1)
        rows.append((i, credit, annuity, -(10000 + i % 5000), employed, "F" if i % 3 else "M"))
    rows.append(rows[1])  # customer 1001 twice: a duplicate key
    return rows


def payments_rows():
    return [(i, 1000.0 + (i * 7 + k) % 50, k) for i in range(1000, 1200) for k in (1, 2)]


def make_sqlite(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE LOANS (SK_ID_CURR INTEGER, AMT_CREDIT REAL, AMT_ANNUITY REAL, DAYS_BIRTH INTEGER, "
               "DAYS_EMPLOYED INTEGER, CODE_GENDER TEXT)")
    db.execute("CREATE TABLE PAYMENTS (SK_ID_CURR INTEGER, AMT_PAYMENT REAL, NUM_INSTALMENT INTEGER)")
    db.executemany("INSERT INTO LOANS VALUES (?,?,?,?,?,?)", loans_rows())
    db.executemany("INSERT INTO PAYMENTS VALUES (?,?,?)", payments_rows())
    db.commit()
    db.close()


PG_LOANS, PG_PAYMENTS, PG_STORE = "SRV_LOANS", "SRV_PAYMENTS", "cs_server_test"


def make_postgres():
    """The fixture under names of its own and the run store in a schema of its own: other tests share the database."""
    def val(v):
        return "NULL" if v is None else ("'%s'" % v if isinstance(v, str) else repr(v))
    stmts = ["DROP TABLE IF EXISTS srv_loans, srv_payments;", "DROP SCHEMA IF EXISTS %s CASCADE;" % PG_STORE,
             "CREATE TABLE srv_loans (sk_id_curr bigint, amt_credit double precision, amt_annuity double precision,"
             " days_birth integer, days_employed integer, code_gender text);",
             "CREATE TABLE srv_payments (sk_id_curr bigint, amt_payment double precision, num_instalment integer);"]
    stmts += ["INSERT INTO srv_loans VALUES (%s);" % ",".join(val(v) for v in r) for r in loans_rows()]
    stmts += ["INSERT INTO srv_payments VALUES (%s);" % ",".join(val(v) for v in r) for r in payments_rows()]
    p = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", os.environ.get("PGDATABASE", "creditsense")],
                       input="\n".join(stmts), capture_output=True, text=True)
    return p.returncode == 0, p.stderr


RULES = os.path.join(work, "rules")
os.makedirs(RULES)
RULE_TEMPLATE = """rule {
  name = "%s",
  description = "credit above a limit",
  table = "%s",
  columns = {"AMT_CREDIT"},
  severity = "medium",
  row = function(r)
    if r.AMT_CREDIT and r.AMT_CREDIT > %d then return "too much credit" end
  end,
}
"""
with open(os.path.join(RULES, "big_credit.lua"), "w") as f:
    f.write(RULE_TEMPLATE % ("big_credit", "LOANS", 5000000))
PG_RULES = os.path.join(work, "pg-rules")
os.makedirs(PG_RULES)
with open(os.path.join(PG_RULES, "big_credit.lua"), "w") as f:
    f.write(RULE_TEMPLATE % ("big_credit", PG_LOANS, 5000000))


def config(conn, native=True, server=None, loans="LOANS", payments="PAYMENTS", **extra):
    cfg = {
        "source": {"odbc": conn, "native_sqlite": native, "batch_rows": 64},
        "rules_dir": RULES,
        "tables": {
            loans: {"customer_key": "SK_ID_CURR", "primary_key": "SK_ID_CURR",
                    "columns": {"DAYS_*": {"allow_negative": True},
                                "DAYS_EMPLOYED": {"allow_negative": True, "sentinels": [365243]}}},
            payments: {"customer_key": "SK_ID_CURR", "columns": {"NUM_INSTALMENT": {"outlier": False}}},
        },
        "server": dict({"listen": "127.0.0.1:8080", "threads": 2}, **(server or {})),
    }
    cfg.update(extra)
    return cfg


# ---- the daemon ----------------------------------------------------------------------------------------

class Daemon:
    def __init__(self, name, cfg, env=None, args=(), expect_start=True):
        self.name = name
        self.cfg_path = write_json(os.path.join(work, name + ".json"), cfg)
        self.log_path = os.path.join(work, name + ".log")
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([EXE, "serve", "--config", self.cfg_path, "--listen", "127.0.0.1:0",
                                      "--parent-pid", str(os.getpid())] + list(args),
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=e)
        DAEMONS.append(self)
        self.port = None
        if expect_start:
            line = self.proc.stdout.readline()
            m = re.search(r"serving on http://127\.0\.0\.1:(\d+)/", line)
            self.port = int(m.group(1)) if m else None

    def req(self, method, path, body=None, headers=None, timeout=60):
        """(status, headers dict lower-case, parsed JSON or text)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
            h = dict(headers or {})
            if data is not None and "Content-Type" not in h:
                h["Content-Type"] = "application/json"
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            try:
                doc = json.loads(raw) if "json" in hdrs.get("content-type", "") else raw.decode("utf-8", "replace")
            except ValueError:
                doc = raw.decode("utf-8", "replace")
            return r.status, hdrs, doc
        finally:
            c.close()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc

    def logtext(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()


def stop_clean(d, what):
    rc = d.stop()
    log = d.logtext()
    bad = SANITIZER.search(log)
    t.ok(rc == 0 and not bad, "%s: exits 0 on SIGTERM, nothing from the sanitizers" % what,
         "exit %s\n%s" % (rc, log[bad.start() - 200:bad.start() + 2000] if bad else log[-1500:]))
    return log


def is_error(doc, code=None):
    return (isinstance(doc, dict) and isinstance(doc.get("error"), dict) and
            isinstance(doc["error"].get("code"), str) and isinstance(doc["error"].get("message"), str) and
            (code is None or doc["error"]["code"] == code))


def expect_error(d, method, path, status, code=None, what=None, **kw):
    st, h, doc = d.req(method, path, **kw)
    t.ok(st == status and is_error(doc, code) and h.get("content-type") == "application/json",
         what or "%s %s -> %d %s" % (method, path, status, code or ""), "%s %r %r" % (st, h.get("content-type"), doc))
    return st, h, doc


def raw_exchange(port, data, read=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                m = re.search(rb"content-length: *(\d+)", head, re.I)
                if m and len(rest) >= int(m.group(1)):
                    break
        return out
    finally:
        s.close()


def wait_for(fn, timeout=10.0, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def find(report, check, column):
    return [f for f in report.get("findings", []) if f["check"] == check and f["column"].upper() == column]


def has_check(report, check):
    return isinstance(report, dict) and any(f["check"] == check for f in report.get("findings", []))


# ---- the main daemon: every endpoint ---------------------------------------------------------------------------

def check_basics(d, label):
    st, h, doc = d.req("GET", "/healthz")
    t.ok(st == 200 and doc == {"status": "ok"}, "%s: GET /healthz" % label, doc)
    t.ok(re.match(r"^[0-9a-f]{8}-[0-9a-f]+$", h.get("x-request-id", "")), "%s: x-request-id is generated" % label, h)
    st, h, doc = d.req("GET", "/healthz", headers={"X-Request-Id": "pipeline-42.a"})
    t.eq(h.get("x-request-id"), "pipeline-42.a", "%s: a sane client X-Request-Id is echoed" % label)
    st, h, doc = d.req("GET", "/healthz", headers={"X-Request-Id": "bad id\" with quotes"})
    t.ok(h.get("x-request-id", "").count("-") == 1 and "quotes" not in h.get("x-request-id", ""),
         "%s: an unsafe X-Request-Id is replaced" % label, h)
    st, h, doc = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(d.req("GET", "/readyz")), 15) or \
        d.req("GET", "/readyz")
    t.ok(st == 200 and doc["ready"] is True and doc["checks"]["database"]["ok"] and doc["checks"]["plugins"]["ok"]
         and doc["checks"]["rules"]["ok"], "%s: GET /readyz is ready" % label, doc)


def check_customers(d, label, stored=True):
    st, h, doc = d.req("POST", "/process_customer", {"customer_id": 1050})
    ok = st == 200 and isinstance(doc, dict)
    t.ok(ok, "%s: POST /process_customer 1050 -> 200" % label, doc)
    if not ok:
        return None
    t.eq(str(doc["customer_id"]), "1050", "%s: the customer id is echoed" % label)
    t.eq(doc["rows_scanned"], 3, "%s: one loan row and two payments" % label)
    o = find(doc, "outlier", "AMT_CREDIT")
    t.ok(o and o[0]["sample_keys"] == [1050], "%s: 9,000,000 is an outlier against the table profile" % label,
         doc["findings"])
    t.ok(has_check(doc, "big_credit"), "%s: the Lua rule ran too" % label, [f["check"] for f in doc["findings"]])
    t.eq(doc["anomalies"], doc["findings"], "%s: the seed's 'anomalies' are the findings" % label)
    t.ok(isinstance(doc["suggestions"], list) and doc["suggestions"] and doc["advisor"]["backend"] == "offline",
         "%s: offline suggestions come with the report" % label, doc.get("advisor"))
    t.eq(doc.get("stored"), stored, "%s: the run is stored" % label)
    first_run = doc["run_id"]
    st, h, doc = d.req("POST", "/process_customer", {"customer_id": "1001"})
    t.ok(st == 200 and find(doc, "duplicate", "SK_ID_CURR"), "%s: a string id works; 1001 is a duplicate key" % label,
         doc)
    st, h, doc = d.req("POST", "/api/v1/customers/1050/runs?advice=false")
    t.ok(st == 200 and doc["suggestions"] == [] and "anomalies" not in doc and doc["run_id"] != first_run,
         "%s: POST /api/v1/customers/{id}/runs (advice=false)" % label, doc)
    latest = doc.get("run_id")
    st, h, doc = d.req("GET", "/api/v1/customers/1050/report")
    t.ok(st == 200 and doc.get("run_id") == latest and find(doc, "outlier", "AMT_CREDIT"),
         "%s: GET /api/v1/customers/{id}/report is the latest run" % label, doc)
    return first_run


def check_history(d, label, run_id, loans="LOANS"):
    st, h, doc = d.req("GET", "/api/v1/runs?limit=2")
    t.ok(st == 200 and len(doc["runs"]) == 2 and doc["limit"] == 2 and "anomalies" not in doc["runs"][0],
         "%s: GET /api/v1/runs?limit=2" % label, doc)
    st, h, doc2 = d.req("GET", "/api/v1/runs?limit=1&offset=1")
    t.ok(st == 200 and doc2["runs"][0]["run_id"] == doc["runs"][1]["run_id"], "%s: offset pages through runs" % label,
         doc2)
    st, h, doc = d.req("GET", "/api/v1/runs?customer=1001")
    t.ok(st == 200 and doc["runs"] and all(str(r.get("customer_id")) == "1001" for r in doc["runs"]),
         "%s: runs filtered by customer" % label, doc)
    expect_error(d, "GET", "/api/v1/runs?limit=0", 400, "bad_request", "%s: limit=0 -> 400" % label)
    expect_error(d, "GET", "/api/v1/runs?limit=abc", 400, "bad_request", "%s: limit=abc -> 400" % label)
    expect_error(d, "GET", "/api/v1/runs?colour=red", 400, "bad_request", "%s: unknown parameter -> 400" % label)
    expect_error(d, "GET", "/api/v1/runs?table=LOANS&customer=1001", 400, "bad_request",
                 "%s: table= with customer= (no run is both) -> 400, not an empty list" % label)
    st, h, doc = d.req("GET", "/api/v1/runs/" + run_id)
    t.ok(st == 200 and doc["run_id"] == run_id and doc["findings"] and doc["suggestions"],
         "%s: GET /api/v1/runs/{run} with its suggestions" % label, doc)
    expect_error(d, "GET", "/api/v1/runs/00000000-0000-4000-8000-000000000000", 404, "not_found",
                 "%s: unknown run -> 404" % label)
    st, h, doc = d.req("GET", "/api/v1/suggestions?run=" + run_id + "&limit=1")
    t.ok(st == 200 and len(doc["suggestions"]) == 1 and doc["total"] >= 1 and doc["run_id"] == run_id,
         "%s: GET /api/v1/suggestions?run=" % label, doc)
    st, h, doc = d.req("GET", "/api/v1/suggestions?customer=1001")
    t.ok(st == 200 and doc["suggestions"], "%s: GET /api/v1/suggestions?customer=" % label, doc)
    expect_error(d, "GET", "/api/v1/suggestions", 400, "bad_request", "%s: suggestions without run or customer" % label)
    expect_error(d, "GET", "/api/v1/customers/99999/report", 404, "not_found",
                 "%s: report of a customer never run -> 404" % label)


def check_scans(d, label, loans="LOANS"):
    st, h, doc = d.req("POST", "/api/v1/scans", {"table": loans})
    ok = st == 202 and doc.get("status") == "queued" and h.get("location") == "/api/v1/scans/" + doc.get("job_id", "")
    t.ok(ok, "%s: POST /api/v1/scans -> 202 with a job id and Location" % label, (st, h, doc))
    if not ok:
        return
    job = doc["job_id"]

    def finished():
        s, _, j = d.req("GET", "/api/v1/scans/" + job)
        return j if s == 200 and j["status"] not in ("queued", "running") else None
    j = wait_for(finished, 60, 0.2)
    t.ok(j and j["status"] == "succeeded" and j["max_severity"] == "high" and j["result"]["rows_scanned"] == 201 and
         j["progress"]["fraction"] == 1.0, "%s: the scan succeeds with progress and a report" % label, j)
    if j and j.get("result"):
        t.ok(find(j["result"], "duplicate", "SK_ID_CURR") and find(j["result"], "negative", "AMT_CREDIT"),
             "%s: the scan's report has the planted defects" % label, j["result"]["findings"])
        t.eq(j["result"].get("stored"), True, "%s: the scan is stored" % label)
    st, h, doc = d.req("GET", "/api/v1/scans")
    t.ok(st == 200 and any(s["job_id"] == job and "result" not in s for s in doc["scans"]),
         "%s: GET /api/v1/scans lists it without the result" % label, doc)
    st, h, doc = d.req("GET", "/api/v1/runs?table=" + loans)
    t.ok(st == 200 and doc["runs"] and doc["runs"][0]["scope"] == "table", "%s: the scan is in the run history" % label,
         doc)
    expect_error(d, "POST", "/api/v1/scans", 404, "not_found", "%s: a table not in the config -> 404" % label,
                 body={"table": "DQ_RUNS"})
    expect_error(d, "POST", "/api/v1/scans", 400, "bad_request", "%s: table of the wrong type -> 400" % label,
                 body={"table": 5})
    expect_error(d, "GET", "/api/v1/scans/no-such-job", 404, "not_found", "%s: unknown job -> 404" % label)


# ---- GET /api/v1/anomalies, /api/v1/metrics, /api/v1/customers/{id}/rows ---------------------------------------

Q = urllib.parse.quote


def stored_findings(d):
    """Every stored finding, from the runs and their reports: the model the anomaly queries are checked against."""
    st, h, doc = d.req("GET", "/api/v1/runs?limit=1000")
    rows = []
    for r in doc.get("runs", []):
        st, h, rep = d.req("GET", "/api/v1/runs/" + r["run_id"])
        for f in rep.get("findings", []):
            rows.append({"run_id": r["run_id"], "started_at": r["started_at"], "scope": r["scope"],
                         "customer_id": r.get("customer_id"), "table": f["table"], "column": f["column"],
                         "check": f["check"], "kind": f["kind"], "severity": f["severity"], "count": f["count"],
                         "total": f["total"]})
    return rows


def key(a):
    return (a["run_id"], a["table"], a["column"], a["check"], a["kind"], a["severity"], a["count"], a["total"])


def walk(d, query, page=7):
    """Every page of /api/v1/anomalies?query: (rows, pages, ok) where ok says next_offset chained correctly."""
    rows, offset, pages, ok = [], 0, 0, True
    while offset is not None and pages < 200:
        st, h, doc = d.req("GET", "/api/v1/anomalies?%slimit=%d&offset=%d" % (query + "&" if query else "", page,
                                                                              offset))
        if st != 200:
            return rows, pages, False
        got = doc["anomalies"]
        ok = ok and doc["offset"] == offset and doc["limit"] == page and len(got) <= page and \
            (doc["next_offset"] is None or (doc["next_offset"] == offset + len(got) and len(got) == page))
        rows += got
        pages += 1
        offset = doc["next_offset"]
    return rows, pages, ok


SEVERITIES = ["info", "low", "medium", "high", "critical"]


def check_anomalies(d, label, loans="LOANS"):
    model = stored_findings(d)
    t.ok(len(model) >= 10 and {m["scope"] for m in model} == {"table", "customer"},
         "%s: anomalies: runs of both scopes are stored (%d findings)" % (label, len(model)))
    rows, pages, ok = walk(d, "")
    t.ok(ok and sorted(map(key, rows)) == sorted(map(key, model)),
         "%s: anomalies: paging (7 a page) walks every stored finding exactly once (%d rows, %d pages)" %
         (label, len(rows), pages), (len(rows), len(model)))
    ids = [(a["run_id"], a["anomaly"]) for a in rows]
    order = [(a["started_at"], a["run_id"], -a["anomaly"]) for a in rows]
    t.ok(len(set(ids)) == len(ids) and order == sorted(order, reverse=True),
         "%s: anomalies: newest run first, then run id, then the finding's position" % label)
    a0 = rows[0] if rows else {}
    t.ok(set(a0) >= {"run_id", "started_at", "scope", "customer_id", "check", "kind", "table", "column", "count",
                     "total", "ratio", "severity", "message", "sample_keys"} and isinstance(a0["sample_keys"], list),
         "%s: anomalies: each has the documented fields" % label, a0)
    t.ok(all((a["customer_id"] is None) == (a["scope"] == "table") for a in rows) and
         all(a["ratio"] == (a["count"] / a["total"] if a["total"] else 0) for a in rows),
         "%s: anomalies: customer_id null for table runs; ratio = count / total" % label)
    runs = sorted({(m["started_at"], m["run_id"]) for m in model}, reverse=True)
    cust = [m for m in model if m["scope"] == "customer"][0]
    mid = runs[len(runs) // 2][0]
    filters = [
        ("table", loans.lower(), lambda m: m["table"].upper() == loans.upper()),
        ("column", "amt_credit", lambda m: m["column"].upper() == "AMT_CREDIT"),
        ("check", "outlier", lambda m: m["check"] == "outlier"),
        ("severity", "high", lambda m: SEVERITIES.index(m["severity"]) >= 3),
        ("customer", cust["customer_id"], lambda m: m["scope"] == "customer" and m["customer_id"] == cust["customer_id"]),
        ("run", runs[-1][1], lambda m: m["run_id"] == runs[-1][1]),
        ("since", mid, lambda m: m["started_at"] >= mid),
        ("until", mid, lambda m: m["started_at"] < mid),
    ]
    for name, value, pred in filters:
        want = sorted(key(m) for m in model if pred(m))
        got, _, ok = walk(d, "%s=%s" % (name, Q(value, safe="")), 50)
        t.ok(ok and want and sorted(map(key, got)) == want, "%s: anomalies by %s=%s: exactly the %d matching" %
             (label, name, value, len(want)), (len(got), len(want)))
    both = "customer=%s&severity=medium&check=outlier&column=AMT_CREDIT&table=%s&since=%s" % (
        cust["customer_id"], loans, Q("2000-01-01T00:00:00+00:00", safe=""))
    want = sorted(key(m) for m in model if m["scope"] == "customer" and m["customer_id"] == cust["customer_id"] and
                  SEVERITIES.index(m["severity"]) >= 2 and m["check"] == "outlier" and m["column"].upper() == "AMT_CREDIT")
    got, _, ok = walk(d, both, 50)
    t.ok(ok and want and sorted(map(key, got)) == want, "%s: anomalies with filters combined: %d rows" %
         (label, len(want)), (got, want))
    got, _, ok = walk(d, "since=0&until=2100-01-01", 50)
    t.eq(len(got), len(model), "%s: anomalies: unix seconds and a plain date are accepted" % label)
    before = (d.req("GET", "/api/v1/runs?limit=1000")[2]["runs"], len(model))
    for name in ("table", "column", "check", "customer", "run"):
        for evil in ("' OR 1=1 --", '"; DROP TABLE DQ_RUNS; --', "x' UNION SELECT * FROM DQ_RUNS --"):
            st, h, doc = d.req("GET", "/api/v1/anomalies?%s=%s" % (name, Q(evil, safe="")))
            t.ok(st == 200 and doc["anomalies"] == [] and doc["next_offset"] is None,
                 "%s: anomalies: %s=%s is a plain value: no rows" % (label, name, evil), (st, doc))
    after = d.req("GET", "/api/v1/runs?limit=1000")[2]["runs"]
    t.ok(after == before[0] and len(walk(d, "", 100)[0]) == before[1],
         "%s: anomalies: the store's tables are intact after the injection attempts" % label)
    for query, what in [("limit=abc", "limit"), ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=-1", "limit"),
                        ("offset=-1", "offset"), ("offset=x", "offset"), ("severity=bogus", "severity"),
                        ("severity=", "severity"), ("since=yesterday", "since"), ("until=2026-13-01", "until"),
                        ("since=2026-02-30", "since"), ("until=2026-11-25T25:00:00Z", "until"),
                        ("since=2026-11-25T10:00:00%2B25:00", "since"), ("colour=red", "colour"),
                        ("since=2026-02-01&until=2026-01-01", "since"), ("table=" + "x" * 1025, "table")]:
        st, h, doc = expect_error(d, "GET", "/api/v1/anomalies?" + query, 400, "bad_request",
                                  "%s: anomalies?%s -> 400" % (label, query[:40]))
        t.ok(is_error(doc) and what in doc["error"]["message"], "%s: the 400 names %s" % (label, what), doc)


def run_scan(d, table):
    st, h, doc = d.req("POST", "/api/v1/scans", {"table": table})
    job = doc.get("job_id", "")

    def finished():
        s, _, j = d.req("GET", "/api/v1/scans/" + job)
        return j if s == 200 and j["status"] not in ("queued", "running") else None
    return wait_for(finished, 60, 0.2)


def check_metric_history(d, label, loans="LOANS"):
    before = d.req("GET", "/api/v1/metrics?table=" + loans)[2]
    j = run_scan(d, loans)
    t.ok(j and j["status"] == "succeeded", "%s: metrics: a second scan of %s" % (label, loans), j)
    st, h, doc = d.req("GET", "/api/v1/metrics?table=" + loans.lower())
    ok = st == 200 and len(doc["runs"]) == len(before["runs"]) + 1 == 2
    t.ok(ok, "%s: metrics: two scans, two points (oldest first)" % label, (st, doc if st != 200 else doc["runs"]))
    if not ok:
        return
    t.ok(doc["runs"][0]["started_at"] < doc["runs"][1]["started_at"] and [r["rows"] for r in doc["runs"]] ==
         [201, 201] and doc["table"].upper() == loans.upper(), "%s: metrics: runs with their row counts" % label,
         doc["runs"])
    cols = {c.upper(): v for c, v in doc["columns"].items()}
    t.ok(all(len(series) == 2 for c in cols.values() for series in c.values()),
         "%s: metrics: every series is aligned with the runs" % label)
    credit = cols.get("AMT_CREDIT", {})
    t.ok(credit.get("negative_count") == [2, 2] and credit.get("value_count") == [201, 201] and
         credit.get("null_ratio") == [0.0, 0.0] and len(credit.get("median", [])) == 2,
         "%s: metrics: AMT_CREDIT's two planted negatives, in both points" % label, credit)
    t.ok(cols.get("AMT_ANNUITY", {}).get("null_count") == [3, 3] and "mean" not in cols.get("CODE_GENDER", {"mean": 1}),
         "%s: metrics: nulls of AMT_ANNUITY; no statistics for a text column" % label, cols.get("CODE_GENDER"))
    t.ok(isinstance(doc["drift"], list), "%s: metrics: drift flags listed" % label)
    st, h, one = d.req("GET", "/api/v1/metrics?table=%s&column=amt_credit&runs=1" % loans)
    t.ok(st == 200 and len(one["runs"]) == 1 and one["runs"][0] == doc["runs"][1] and
         [c.upper() for c in one["columns"]] == ["AMT_CREDIT"], "%s: metrics: column= and runs= narrow it" % label,
         one)
    expect_error(d, "GET", "/api/v1/metrics", 400, "bad_request", "%s: metrics without table -> 400" % label)
    expect_error(d, "GET", "/api/v1/metrics?table=NO_SUCH", 404, "not_found", "%s: metrics of an unknown table -> 404"
                 % label)
    expect_error(d, "GET", "/api/v1/metrics?table=%s&runs=101" % loans, 400, "bad_request",
                 "%s: metrics runs=101 -> 400" % label)
    expect_error(d, "GET", "/api/v1/metrics?table=%s&x=1" % loans, 400, "bad_request",
                 "%s: metrics with an unknown parameter -> 400" % label)


def check_rows(d, label, loans="LOANS", payments="PAYMENTS"):
    st, h, doc = d.req("GET", "/api/v1/customers/1050/rows")
    tables = {k.upper(): v for k, v in doc.get("tables", {}).items()} if st == 200 else {}
    ok = st == 200 and doc["customer_id"] == 1050 and set(tables) == {loans.upper(), payments.upper()}
    t.ok(ok, "%s: rows of 1050 per table" % label, (st, doc))
    if not ok:
        return
    lt = tables[loans.upper()]
    credit = [c.upper() for c in lt["columns"]].index("AMT_CREDIT")
    t.ok(len(lt["rows"]) == 1 and lt["rows"][0][credit] == 9000000.0 and lt["masked"] == [] and not lt["truncated"]
         and len(tables[payments.upper()]["rows"]) == 2, "%s: rows: the values as stored" % label, tables)
    st, h, doc = d.req("GET", "/api/v1/customers/1001/rows?table=%s&limit=1" % loans.lower())
    t.ok(st == 200 and list(doc["tables"]) == [list(doc["tables"])[0]] and
         list(doc["tables"].values())[0]["truncated"] is True and len(list(doc["tables"].values())[0]["rows"]) == 1,
         "%s: rows: table= and limit= (1001 has two rows: truncated)" % label, doc)
    expect_error(d, "GET", "/api/v1/customers/99999/rows", 404, "not_found", "%s: rows of an unknown customer -> 404"
                 % label)
    expect_error(d, "GET", "/api/v1/customers/abc/rows", 400, "invalid_customer_id",
                 "%s: rows: letters for a numeric key -> 400" % label)
    expect_error(d, "GET", "/api/v1/customers/1%20OR%201=1/rows", 400, "invalid_customer_id",
                 "%s: rows: SQL in the id -> 400" % label)
    expect_error(d, "GET", "/api/v1/customers/1050/rows?table=DQ_RUNS", 404, "not_found",
                 "%s: rows: a table not in the config -> 404" % label)
    expect_error(d, "GET", "/api/v1/customers/1050/rows?limit=0", 400, "bad_request", "%s: rows: limit=0 -> 400" % label)
    expect_error(d, "GET", "/api/v1/customers/1050/rows?lim=1", 400, "bad_request",
                 "%s: rows: unknown parameter -> 400" % label)


def check_sample_rows():
    """Customer 103065 of the sample data: the rows match `creditsense customer`; sensitive columns are masked."""
    db = os.path.join(work, "sample.db")
    p = subprocess.run([EXE, "demo-data", "--out", db, "--customers", "3000", "--seed", "42"], capture_output=True,
                       text=True)
    if not t.ok(p.returncode == 0, "sample: demo data written", p.stderr[-500:]):
        return
    with open(os.path.join(SRC, "deploy", "creditsense.json")) as f:
        cfg = json.load(f)
    cfg["source"]["odbc"] = "Driver=SQLite3;Database=" + db
    cfg["profile"]["cache_dir"] = os.path.join(work, "sample-profiles")
    cfg["rules_dir"] = RULES
    cfg["server"] = {"listen": "127.0.0.1:8080", "threads": 2}
    cfg["tables"]["SAMPLE_APPLICATION"]["columns"].setdefault("OWN_CAR_AGE", {})["sensitive"] = True
    path = write_json(os.path.join(work, "sample.json"), cfg)
    p = subprocess.run([EXE, "customer", "--config", path, "--id", "103065", "--no-store"], capture_output=True,
                       text=True)
    report = json.loads(p.stdout) if p.stdout.startswith("{") else {}
    t.ok(report.get("tables"), "sample: creditsense customer 103065", p.stderr[-500:])
    d = Daemon("sample", cfg)
    try:
        st, h, doc = d.req("GET", "/api/v1/customers/103065/rows?limit=1000")
        counts = {k: len(v["rows"]) for k, v in doc.get("tables", {}).items()} if st == 200 else None
        t.ok(st == 200 and counts == report.get("tables") and not any(v["truncated"] for v in doc["tables"].values()),
             "sample: the rows of 103065 per table are the rows `creditsense customer` read", (counts, report.get("tables")))
        app = doc.get("tables", {}).get("SAMPLE_APPLICATION", {"columns": [], "rows": [[]], "masked": []})
        masked = [app["columns"].index(c) for c in ("OWN_CAR_AGE", "AMT_INCOME_TOTAL") if c in app["columns"]]
        t.ok(sorted(app["masked"]) == ["AMT_INCOME_TOTAL", "OWN_CAR_AGE"] and len(masked) == 2 and
             all(row[i] is None for row in app["rows"] for i in masked) and
             app["rows"][0][app["columns"].index("SK_ID_CURR")] == 103065,
             "sample: sensitive columns are masked (null, listed in masked)", app.get("masked"))
        st, h, doc = d.req("GET", "/api/v1/customers/103065/rows?limit=1")
        t.ok(st == 200 and all(len(v["rows"]) == 1 and v["truncated"] == (report["tables"][k] > 1)
                               for k, v in doc["tables"].items()), "sample: limit=1 truncates the tables with more")
        expect_error(d, "GET", "/api/v1/customers/99999999/rows", 404, "not_found", "sample: unknown customer -> 404")
    finally:
        stop_clean(d, "sample")


def check_pending_advice(conn):
    """While the LLM stand-in holds the calls, the stored run shows its advice pending; afterwards the answers."""
    standin = subprocess.Popen([sys.executable, os.path.join(SRC, "tests", "llm_standin.py"), "--timeout", "120",
                                "--gemini-key", "k-test"], stdout=subprocess.PIPE, text=True)
    d = None
    try:
        url = "http://127.0.0.1:%d" % int(standin.stdout.readline().split()[1])
        urllib.request.urlopen(urllib.request.Request(url + "/_script", data=json.dumps(
            [{"do": "hang", "seconds": 3}] * 8).encode(), method="POST")).read()
        adv = {"backend": "gemini", "base_url": url + "/v1beta", "api_key_env": "CS_TEST_GEMINI_KEY",
               "model": "gemini-2.5-flash", "timeout_ms": 10000, "cache_ttl_s": 0, "max_attempts": 1}
        d = Daemon("pending", config(conn, advisor=adv), env={"CS_TEST_GEMINI_KEY": "k-test"})
        earlier = {r["run_id"] for r in d.req("GET", "/api/v1/runs?customer=1050&limit=1000")[2].get("runs", [])}
        result = {}
        th = threading.Thread(target=lambda: result.setdefault("r", d.req("POST", "/process_customer",
                                                                          {"customer_id": 1050}, timeout=60)))
        th.start()

        def pending_run():
            st, h, doc = d.req("GET", "/api/v1/runs?customer=1050&limit=1")
            new = [r["run_id"] for r in doc.get("runs", []) if r["run_id"] not in earlier] if st == 200 else []
            return new[0] if new else None
        run = wait_for(pending_run, 10, 0.05)
        st, h, doc = d.req("GET", "/api/v1/runs/%s" % run) if run else (0, {}, {})
        statuses = [s["status"] for s in doc.get("suggestions", [])]
        t.ok(run and th.is_alive() and statuses and set(statuses) == {"pending"} and
             all(s["backend"] == "gemini" for s in doc["suggestions"]),
             "pending: while the LLM calls are out, GET /api/v1/runs/{run} shows the advice pending", (run, doc))
        th.join(60)
        r = result.get("r")
        st, h, doc = d.req("GET", "/api/v1/runs/%s" % run) if run else (0, {}, {})
        t.ok(r and r[0] == 200 and r[2]["run_id"] == run and doc.get("suggestions") and
             {s["status"] for s in doc["suggestions"]} == {"ok"} and len(doc["suggestions"]) == len(statuses),
             "pending: then the final advice replaces the pending rows", doc.get("suggestions"))
    finally:
        if d is not None:
            stop_clean(d, "pending")
        standin.kill()
        standin.wait()


def check_meta(d, label):
    st, h, doc = d.req("GET", "/api/v1/rules")
    t.ok(st == 200 and [r["name"] for r in doc["rules"]] == ["big_credit"] and doc["problems"] == [],
         "%s: GET /api/v1/rules" % label, doc)
    t.ok(st == 200 and "sql" in doc["rules"][0] and doc["rules"][0]["sql"] is None,
         "%s: GET /api/v1/rules says a rule has no SQL predicate (sql: null)" % label, doc)
    t.ok(st == 200 and isinstance(doc.get("generation"), int) and
         re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", doc.get("loaded_at") or ""),
         "%s: GET /api/v1/rules says when the rules were loaded (generation, loaded_at)" % label, doc)
    first = doc.get("loaded_at")
    time.sleep(1.1)
    gen = d.req("GET", "/api/v1/rules")[2].get("generation", 0)
    st, h, doc = d.req("POST", "/api/v1/rules/reload")
    t.ok(st == 200 and doc["rules"], "%s: POST /api/v1/rules/reload" % label, doc)
    t.ok(doc.get("generation", 0) > gen and (doc.get("loaded_at") or "") > (first or "~"),
         "%s: a reload moves generation and loaded_at" % label, (gen, first, doc.get("generation"), doc.get("loaded_at")))
    st, h, doc = d.req("GET", "/api/v1/config")
    t.ok(st == 200 and doc["server"]["threads"] == 2 and doc["effective"]["plugins"]["loaded"],
         "%s: GET /api/v1/config shows the effective settings" % label, doc)
    st, h, doc = d.req("GET", "/api/v1/openapi.json")
    with open(os.path.join(SRC, "docs", "openapi.json")) as f:
        t.ok(st == 200 and doc == json.load(f), "%s: /api/v1/openapi.json is docs/openapi.json" % label)
    st, h, text = d.req("GET", "/metrics")
    t.ok(st == 200 and h["content-type"].startswith("text/plain; version=0.0.4"), "%s: GET /metrics" % label, h)
    for needle in ('creditsense_http_requests_total{route="/process_customer",method="POST",status="200"}',
                   'creditsense_http_request_duration_seconds_bucket{route="/healthz",le="0.001"}',
                   'creditsense_runs_total{scope="customer",outcome="ok"}',
                   'creditsense_findings_total{check="outlier",source="builtin",severity=',
                   'creditsense_findings_total{check="big_credit",source="lua"',
                   "creditsense_db_errors_total 0", "creditsense_ready 1", "creditsense_llm_calls_total",
                   'creditsense_queue_depth{pool="worker"}'):
        t.ok(needle in text, "%s: /metrics has %s" % (label, needle.split("{")[0] + ("{..}" if "{" in needle else "")),
             text[:3000] if needle not in text else None)


def check_errors(d, label):
    bad_bodies = [("{", "malformed_json", "malformed JSON"), ('{"customer_id": 1', "malformed_json", "truncated JSON"),
                  ("[1, 2]", "bad_request", "an array body"), ("", "bad_request", "an empty body"),
                  ('"1050"', "malformed_json", "a bare string"),
                  ('{"customer_id": 1, "customer_id": 2}', "malformed_json", "a duplicate key"),
                  ('{"customer_id": true}', "invalid_customer_id", "a boolean id"),
                  ('{"customer_id": 1.5}', "invalid_customer_id", "a fractional id"),
                  ('{"customer_id": null}', "invalid_customer_id", "a null id"),
                  ('{"customer_id": {}}', "invalid_customer_id", "an object id"),
                  ('{"customer_id": "1 OR 1=1"}', "invalid_customer_id", "SQL in the id"),
                  ('{"customer_id": "../etc"}', "invalid_customer_id", "a path in the id"),
                  ('{"customer_id": "%s"}' % ("9" * 65), "invalid_customer_id", "a 65-character id"),
                  ('{"customer_id": "abc"}', "invalid_customer_id", "letters for a numeric key"),
                  ('{"customer_id": 99999999999999999999999}', "malformed_json", "an integer beyond 64 bits"),
                  ('{"customerid": 1050}', "bad_request", "a misspelt key"),
                  ('{"customer_id": 1050, "x": 1}', "bad_request", "an extra key"),
                  (b'{"customer_id": "\xff\xfe"}', "malformed_json", "invalid UTF-8")]
    for body, code, what in bad_bodies:
        expect_error(d, "POST", "/process_customer", 400, code, "%s: %s -> 400 %s" % (label, what, code), body=body)
    expect_error(d, "POST", "/api/v1/customers/1%20OR%201=1/runs", 400, "invalid_customer_id",
                 "%s: a malformed id in the path -> 400" % label)
    expect_error(d, "POST", "/api/v1/customers/1050/runs", 400, "bad_request", "%s: a runs body that is not {}" % label,
                 body='{"x": 1}')
    expect_error(d, "POST", "/process_customer", 404, "not_found", "%s: an unknown customer -> 404" % label,
                 body={"customer_id": 99999})
    expect_error(d, "GET", "/api/v1/nope", 404, "not_found", "%s: an unknown API route -> 404 JSON" % label)
    expect_error(d, "GET", "/nope.html", 404, "not_found", "%s: an unknown file -> 404 JSON" % label)
    expect_error(d, "GET", "/../../etc/passwd", 404, "not_found", "%s: path traversal -> 404" % label)
    expect_error(d, "GET", "/api/v1/%ff%fe", 404, "not_found", "%s: a path that is not UTF-8 -> 404 JSON" % label)
    st, h, doc = expect_error(d, "GET", "/process_customer", 405, "method_not_allowed",
                              "%s: GET /process_customer -> 405" % label)
    t.eq(h.get("allow"), "POST", "%s: 405 says what is allowed" % label)
    st, h, doc = expect_error(d, "DELETE", "/api/v1/scans", 405, "method_not_allowed",
                              "%s: DELETE /api/v1/scans -> 405" % label)
    t.eq(h.get("allow"), "POST, GET", "%s: both methods of /api/v1/scans are allowed" % label)
    big = '{"customer_id": 1050, "pad": "%s"}' % ("x" * 70000)
    expect_error(d, "POST", "/process_customer", 413, "payload_too_large", "%s: a body over max_body_bytes -> 413" %
                 label, body=big)
    out = raw_exchange(d.port, b"POST /process_customer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                       b"Content-Type: application/json\r\n\r\n" + b"".join(b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
                                                                             for _ in range(8)) + b"0\r\n\r\n")
    t.ok(out.startswith(b"HTTP/1.1 413") and b'"payload_too_large"' in out,
         "%s: an oversized chunked body -> 413 JSON" % label, out[:300])
    out = raw_exchange(d.port, b"GARBAGE \x00\x01\x02 HTTP/9.9\r\n\r\n")
    t.ok(out.startswith(b"HTTP/1.1 400") or out == b"", "%s: a garbage request line is refused" % label, out[:200])
    out = raw_exchange(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 1000000 + b"\r\n\r\n")
    t.ok(not out.startswith(b"HTTP/1.1 200"), "%s: a 1 MB header is refused" % label, out[:200])
    raw_exchange(d.port, b"POST /process_customer HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"cust", read=False)
    st, h, doc = d.req("GET", "/healthz")
    t.eq(st, 200, "%s: still serving after garbage, huge headers and a half-sent body" % label)


def check_concurrency(d, label, n=200):
    ids = [1000 + (i * 7) % 200 for i in range(n)]
    results = [None] * n
    barrier = threading.Barrier(n)

    def one(i):
        try:
            barrier.wait(30)
            results[i] = d.req("POST", "/process_customer?advice=false", {"customer_id": ids[i]}, timeout=120)
        except Exception as e:  # noqa: BLE001 - report whatever broke
            results[i] = ("exception", repr(e), None)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.time()
    for th in threads:
        th.start()
    for th in threads:
        th.join(180)
    good = sum(1 for i, r in enumerate(results) if r and r[0] == 200 and str(r[2].get("customer_id")) == str(ids[i]))
    bad = [r for r in results if not (r and r[0] == 200)][:3]
    t.ok(good == n, "%s: %d concurrent POST /process_customer all answered 200 for the right customer (%.1f s)" %
         (label, n, time.time() - t0), "%d good; e.g. %r" % (good, bad))


# ---- other daemons ------------------------------------------------------------------------------------------

def check_auth(conn):
    os.environ["CS_TEST_TOKEN"] = "s3cret-T0ken-xyz"
    d = Daemon("auth", config(conn, server={"token_env": "CS_TEST_TOKEN"}))
    try:
        t.ok(d.port, "auth: the daemon starts with a token from the environment")
        st, h, doc = expect_error(d, "POST", "/process_customer", 401, "unauthorized", "auth: no token -> 401",
                                  body={"customer_id": 1050})
        t.ok(h.get("www-authenticate", "").startswith("Bearer"), "auth: 401 carries WWW-Authenticate", h)
        expect_error(d, "POST", "/process_customer", 401, "unauthorized", "auth: a wrong token -> 401",
                     body={"customer_id": 1050}, headers={"Authorization": "Bearer s3cret-T0ken-xyZ"})
        expect_error(d, "POST", "/api/v1/scans", 401, "unauthorized", "auth: scans need the token",
                     body={"table": "LOANS"}, headers={"Authorization": "Basic czNjcmV0"})
        expect_error(d, "POST", "/api/v1/rules/reload", 401, "unauthorized", "auth: rules reload needs the token")
        expect_error(d, "POST", "/process_customer", 401, "unauthorized", "auth: 401 comes before body checks",
                     body="{")
        st, h, doc = d.req("POST", "/process_customer?advice=false", {"customer_id": 1050},
                           headers={"Authorization": "Bearer s3cret-T0ken-xyz"})
        t.eq(st, 200, "auth: the right token -> 200")
        st, h, doc = d.req("GET", "/api/v1/runs", headers={})
        t.eq(st, 200, "auth: reads need no token")
        st, h, doc = d.req("GET", "/api/v1/config")
        t.ok(st == 200 and "s3cret" not in json.dumps(doc) and doc["server"]["token_env"] == "CS_TEST_TOKEN",
             "auth: the config view names the variable, never the token", doc.get("server"))
        st, h, text = d.req("GET", "/metrics")
        t.ok("creditsense_auth_failures_total 5" in text, "auth: refusals are counted", text[-600:])
    finally:
        log = stop_clean(d, "auth")
    t.ok("s3cret-T0ken-xyz" not in log, "auth: the token never reaches the log")
    token_file = os.path.join(work, "token.txt")
    with open(token_file, "w") as f:
        f.write("file-token-123\n")
    d = Daemon("authfile", config(conn, server={"token_file": token_file}))
    try:
        st, h, doc = d.req("POST", "/process_customer?advice=false", {"customer_id": 1050},
                           headers={"Authorization": "Bearer file-token-123"})
        t.eq(st, 200, "auth: a token from token_file (trailing newline trimmed)")
        with open(token_file, "w") as f:
            f.write("rotated-token\n")
        d.proc.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: d.req("POST", "/process_customer?advice=false", {"customer_id": 1050},
                                    headers={"Authorization": "Bearer rotated-token"})[0] == 200, 10)
        t.ok(ok, "auth: SIGHUP picks up a rotated token")
        expect_error(d, "POST", "/process_customer", 401, "unauthorized", "auth: the old token is refused after SIGHUP",
                     body={"customer_id": 1050}, headers={"Authorization": "Bearer file-token-123"})
    finally:
        stop_clean(d, "auth file")
    d = Daemon("authbad", config(conn, server={"token_env": "CS_TEST_UNSET_TOKEN"}), expect_start=False)
    rc = d.proc.wait(30)
    err = d.logtext()
    t.ok(rc == 2 and "CS_TEST_UNSET_TOKEN" in err, "auth: an unset token variable stops the start (exit 2)", err[-500:])


def check_rate_limit(conn):
    d = Daemon("rate", config(conn, server={"rate_limit": {"requests_per_s": 0.5, "burst": 3}}))
    try:
        codes = [d.req("GET", "/api/v1/scans")[0] for _ in range(3)]
        st, h, doc = d.req("GET", "/api/v1/config")
        t.ok(codes == [200, 200, 200] and st == 429 and is_error(doc, "rate_limited") and int(h["retry-after"]) >= 1,
             "rate: the 4th request in a burst of 3 -> 429 with Retry-After", (codes, st, h, doc))
        st, h, doc = d.req("GET", "/healthz")
        t.eq(st, 200, "rate: probes are not limited")
        st, h, text = d.req("GET", "/metrics")
        t.ok("creditsense_rate_limited_total 1" in text, "rate: refusals are counted")
    finally:
        stop_clean(d, "rate")


def check_not_ready():
    d = Daemon("notready", config("Driver=SQLite3;Database=" + os.path.join(work, "missing", "nothing.db")))
    try:
        t.ok(d.port, "not ready: the daemon starts without its database")
        wait_for(lambda: "nothing.db" in json.dumps(d.req("GET", "/readyz")[2]), 15)
        st, h, doc = d.req("GET", "/readyz")
        t.ok(st == 503 and doc["ready"] is False and doc["checks"]["database"]["ok"] is False and
             "nothing.db" in doc["checks"]["database"].get("error", ""), "not ready: /readyz -> 503 naming the problem",
             doc)
        st, h, doc = d.req("GET", "/healthz")
        t.eq(st, 200, "not ready: /healthz still answers")
        expect_error(d, "POST", "/process_customer", 503, "not_ready", "not ready: a database endpoint -> 503",
                     body={"customer_id": 1050})
        st, h, doc = d.req("GET", "/api/v1/openapi.json")
        t.eq(st, 200, "not ready: endpoints without the database still answer")
    finally:
        stop_clean(d, "not ready")


def check_start_errors(conn):
    d = Daemon("badcfg", {"source": {"odbc": conn}, "tables": {}, "server": {"threds": 2}}, expect_start=False)
    rc = d.proc.wait(30)
    t.ok(rc == 2 and "threads" in d.logtext(), "start: an unknown server key stops the start with a hint",
         d.logtext()[-300:])
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    d = Daemon("busy", config(conn), args=["--listen", "127.0.0.1:%d" % port], expect_start=False)
    rc = d.proc.wait(30)
    blocker.close()
    t.ok(rc == 2 and "cannot listen" in d.logtext(), "start: a port in use -> exit 2", d.logtext()[-300:])


def check_rules_watch(conn):
    rules = os.path.join(work, "k8s-rules")
    os.makedirs(os.path.join(rules, "..2024_01"))
    with open(os.path.join(rules, "..2024_01", "limit.lua"), "w") as f:
        f.write(RULE_TEMPLATE % ("limit_v1", "LOANS", 5000000))
    os.symlink("..2024_01", os.path.join(rules, "..data"))
    os.symlink("..data/limit.lua", os.path.join(rules, "limit.lua"))
    d = Daemon("watch", config(conn, rules_dir=rules))

    def names():
        st, h, doc = d.req("GET", "/api/v1/rules")
        return [r["name"] for r in doc.get("rules", [])], doc.get("problems", [])
    try:
        t.eq(names()[0], ["limit_v1"], "watch: the ConfigMap-style directory is loaded")
        # Kubernetes' update: a new timestamped directory, ..data swapped atomically, the old one removed.
        os.makedirs(os.path.join(rules, "..2024_02"))
        with open(os.path.join(rules, "..2024_02", "limit.lua"), "w") as f:
            f.write(RULE_TEMPLATE % ("limit_v2", "LOANS", 5000000))
        os.symlink("..2024_02", os.path.join(rules, "..data_tmp"))
        os.rename(os.path.join(rules, "..data_tmp"), os.path.join(rules, "..data"))
        shutil.rmtree(os.path.join(rules, "..2024_01"))
        t.ok(wait_for(lambda: names()[0] == ["limit_v2"], 10), "watch: a ..data symlink swap is picked up", names())
        log = d.logtext()
        t.ok("rules directory changed" in log, "watch: the reload came from inotify", log[-800:])
        with open(os.path.join(rules, "extra.lua"), "w") as f:
            f.write(RULE_TEMPLATE % ("extra_rule", "LOANS", 100))
        t.ok(wait_for(lambda: sorted(names()[0]) == ["extra_rule", "limit_v2"], 10), "watch: a new file is picked up",
             names())
        with open(os.path.join(rules, "extra.lua"), "w") as f:
            f.write("rule { name = ")
        ok = wait_for(lambda: names()[1], 10)
        n, problems = names()
        t.ok(ok and "extra_rule" in n and any(p["file"] == "extra.lua" and p["stale"] for p in problems),
             "watch: a broken file is reported and its last good version kept", (n, problems))
        st, h, doc = d.req("POST", "/process_customer?advice=false", {"customer_id": 1050})
        t.ok(st == 200 and has_check(doc, "extra_rule") and has_check(doc, "limit_v2"),
             "watch: runs keep working meanwhile, with the last good version", st)
    finally:
        stop_clean(d, "watch")


def check_drain(conn):
    standin = subprocess.Popen([sys.executable, os.path.join(SRC, "tests", "llm_standin.py"), "--timeout", "120",
                                "--gemini-key", "k-test"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(standin.stdout.readline().split()[1])
        url = "http://127.0.0.1:%d" % port
        req = urllib.request.Request(url + "/_script", data=json.dumps([{"do": "hang", "seconds": 2}] * 8).encode(),
                                     method="POST")
        urllib.request.urlopen(req).read()
        adv = {"backend": "gemini", "base_url": url + "/v1beta", "api_key_env": "CS_TEST_GEMINI_KEY",
               "model": "gemini-2.5-flash", "timeout_ms": 8000, "cache_ttl_s": 0, "max_attempts": 1}
        d = Daemon("drain", config(conn, advisor=adv, server={"drain_timeout_ms": 15000}),
                   env={"CS_TEST_GEMINI_KEY": "k-test"})
        check_client_leaves(d, url)
        result = {}

        def slow():
            result["r"] = d.req("POST", "/process_customer", {"customer_id": 1050}, timeout=60)
        th = threading.Thread(target=slow)
        t0 = time.time()
        th.start()
        wait_for(lambda: "POST" in open(d.log_path).read() or
                 json.loads(urllib.request.urlopen(url + "/_log").read()), 10, 0.05)
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        refused = False
        try:
            socket.create_connection(("127.0.0.1", d.port), timeout=2).close()
        except OSError:
            refused = True
        t.ok(refused, "drain: after SIGTERM new connections are refused")
        th.join(60)
        r = result.get("r")
        t.ok(r and r[0] == 200 and r[2]["suggestions"] and r[2]["advisor"]["backend"] == "gemini",
             "drain: the in-flight request (waiting on the LLM) still gets its full answer",
             r if not r else (r[0], r[2].get("advisor") if isinstance(r[2], dict) else r[2]))
        rc = d.proc.wait(30)
        log = d.logtext()
        t.ok(rc == 0 and not SANITIZER.search(log) and time.time() - t0 < 15, "drain: then the daemon exits 0",
             "rc=%s %.1fs %s" % (rc, time.time() - t0, log[-1200:]))
        d.log.close()
    finally:
        standin.kill()
        standin.wait()


def check_client_leaves(d, url):
    """Clients that give up while their job waits on the LLM: the daemon must not write to a freed request."""
    def script(n):
        urllib.request.urlopen(urllib.request.Request(url + "/_script", data=json.dumps(
            [{"do": "hang", "seconds": 1}] * n).encode(), method="POST")).read()
    script(4)
    body = json.dumps({"customer_id": 1003}).encode()
    raw_exchange(d.port, b"POST /process_customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body, read=False)
    curl = shutil.which("curl")
    if curl:
        p = subprocess.run([curl, "-s", "--http2-prior-knowledge", "-m", "0.4", "-o", "/dev/null", "-w", "%{http_code}",
                            "-H", "Content-Type: application/json", "-d", '{"customer_id": 1004}',
                            "http://127.0.0.1:%d/process_customer" % d.port], capture_output=True, text=True)
        t.ok(p.returncode == 28, "leave: an HTTP/2 client gives up (curl timeout)", p.stdout + p.stderr)
        p = subprocess.run([curl, "-s", "--http2-prior-knowledge", "http://127.0.0.1:%d/healthz" % d.port],
                           capture_output=True, text=True)
        t.ok(json.loads(p.stdout or "null") == {"status": "ok"}, "leave: HTTP/2 (h2c) is served", p.stdout)
    else:
        t.skip("leave: HTTP/2 client", "no curl")
        t.skip("leave: HTTP/2", "no curl")
    time.sleep(2.5)  # the abandoned jobs finish and come back to a loop whose requests are gone
    st, h, doc = d.req("GET", "/healthz")
    t.eq(st, 200, "leave: still serving after clients left with their jobs in flight")
    script(8)


def check_parent_watchdog(conn):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    cfg = write_json(os.path.join(work, "orphan.json"), config(conn))
    log = open(os.path.join(work, "orphan.log"), "w")
    # The daemon is our child, so its parent is us: --parent-pid names another process to watch.
    p = subprocess.Popen([EXE, "serve", "--config", cfg, "--listen", "127.0.0.1:0", "--parent-pid", str(parent.pid)],
                         stdout=subprocess.DEVNULL, stderr=log)
    DAEMONS.append(type("D", (), {"proc": p})())
    t.ok(wait_for(lambda: p.poll() is not None, 30), "watchdog: --parent-pid that is not the parent stops at once")
    parent.kill()
    parent.wait()
    # A parent that dies (SIGKILL, no chance to clean up) takes its daemon with it.
    mid = subprocess.Popen([sys.executable, "-c", "import os, subprocess, sys, time\n"
                            "p = subprocess.Popen([sys.argv[1], 'serve', '--config', sys.argv[2], '--listen', "
                            "'127.0.0.1:0', '--parent-pid', str(os.getpid())], stderr=open(sys.argv[3], 'w'))\n"
                            "print(p.pid, flush=True)\ntime.sleep(120)\n", EXE, cfg, os.path.join(work, "orphan2.log")],
                           stdout=subprocess.PIPE, text=True)
    pid = int(mid.stdout.readline())
    time.sleep(1.0)
    mid.kill()
    mid.wait()

    def gone():
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(")")[1].split()[0] == "Z"
        except OSError:
            return True
    t.ok(wait_for(gone, 15), "watchdog: the daemon stops by itself when its parent is killed")
    if not gone():
        os.kill(pid, signal.SIGKILL)
    log.close()


# ---- the document and the server agree --------------------------------------------------------------------

def check_openapi(d):
    with open(os.path.join(SRC, "docs", "openapi.json")) as f:
        spec = json.load(f)
    documented = set()
    for path, ops in spec["paths"].items():
        for method in ops:
            documented.add((method.upper(), path))
            concrete = path.replace("{id}", "1050").replace("{job}", "no-such-job").replace(
                "{run}", "00000000-0000-4000-8000-000000000000")
            body = {"customer_id": 1050} if path == "/process_customer" else \
                {"table": "LOANS"} if path == "/api/v1/scans" and method == "post" else None
            st, h, doc = d.req(method.upper(), concrete, body)
            declared = {int(c) for c in ops[method]["responses"]}
            t.ok(st in declared and not (st in (404, 405) and is_error(doc, "method_not_allowed")) and
                 not (st == 404 and "no API route" in json.dumps(doc)),
                 "openapi: %s %s answers with a documented status (%d)" % (method.upper(), path, st), doc)
    st, h, text = d.req("GET", "/metrics")
    served = set(re.findall(r'route="([^"]+)",method="([A-Z]+)"', text))
    # Every route the server has (from its metrics names) must be documented.
    routes = set(re.findall(r'creditsense_http_request_duration_seconds_count\{route="(/[^"]*)"\}', text))
    t.ok(routes and all(r in spec["paths"] for r in routes), "openapi: every route the server answered is documented",
         routes - set(spec["paths"]))
    for route, method in served:
        if route.startswith("/"):
            t.ok((method, route) in documented or method not in ("GET", "POST"),
                 "openapi: served %s %s is documented" % (method, route))


def main():
    db = os.path.join(work, "fixture.db")
    make_sqlite(db)
    conn = "Driver=SQLite3;Database=%s" % db
    d = Daemon("main", config(conn, server={"max_body_bytes": 65536}))
    try:
        t.ok(d.port, "main: the daemon prints the URL it serves on", d.logtext()[-500:])
        if not d.port:
            return
        check_basics(d, "sqlite")
        run_id = check_customers(d, "sqlite")
        if run_id:
            check_history(d, "sqlite", run_id)
        check_scans(d, "sqlite")
        check_anomalies(d, "sqlite")
        check_metric_history(d, "sqlite")
        check_rows(d, "sqlite")
        check_meta(d, "sqlite")
        check_errors(d, "sqlite")
        check_concurrency(d, "sqlite")
        check_openapi(d)
        st, h, text = d.req("GET", "/metrics")
        t.ok('status="400"' in text and 'status="413"' in text and 'route="unmatched"' in text,
             "main: errors are counted by route and status")
    finally:
        log = stop_clean(d, "main")
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    t.ok(lines and all("ts" in x and "level" in x and "msg" in x for x in lines), "main: every log line is JSON")
    t.ok(any(x.get("component") == "http" and x.get("request_id") and x.get("status") == 200 for x in lines),
         "main: access log lines carry the request id and status")
    check_auth(conn)
    check_rate_limit(conn)
    check_not_ready()
    check_start_errors(conn)
    check_rules_watch(conn)
    check_drain(conn)
    check_pending_advice(conn)
    check_sample_rows()
    check_parent_watchdog(conn)
    pg = os.environ.get("CS_PG_ODBC")
    if not pg:
        t.skip("PostgreSQL", "no PostgreSQL cluster ($CS_PG_ODBC unset)")
        return
    loaded, err = make_postgres()
    if not t.ok(loaded, "postgresql: fixture loaded", err):
        return
    d = Daemon("pg", config(pg, native=False, loans=PG_LOANS, payments=PG_PAYMENTS, rules_dir=PG_RULES,
                            store={"schema": PG_STORE}))
    try:
        check_basics(d, "postgresql")
        run_id = check_customers(d, "postgresql")
        if run_id:
            check_history(d, "postgresql", run_id, PG_LOANS)
        check_scans(d, "postgresql", PG_LOANS)
        check_anomalies(d, "postgresql", PG_LOANS)
        check_metric_history(d, "postgresql", PG_LOANS)
        check_rows(d, "postgresql", PG_LOANS, PG_PAYMENTS)
        expect_error(d, "POST", "/process_customer", 404, "not_found", "postgresql: unknown customer -> 404",
                     body={"customer_id": 99999})
        expect_error(d, "POST", "/process_customer", 400, "invalid_customer_id", "postgresql: letters -> 400",
                     body={"customer_id": "abc"})
        check_concurrency(d, "postgresql", 50)
    finally:
        stop_clean(d, "postgresql")


try:
    main()
finally:
    for dm in DAEMONS:
        if dm.proc.poll() is None:
            dm.proc.kill()
            dm.proc.wait()
sys.exit(t.done())
