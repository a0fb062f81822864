#!/usr/bin/env python3
"""test_dashboard.py -- the web dashboard in a real headless Chromium.

Usage: test_dashboard.py BUILD_DIR SOURCE_DIR

Builds a SQLite fixture with `creditsense demo-data --customers 2000`,
plants markup (<img onerror>, <script>) in a text value that a shipped rule
quotes in its finding (and that the customer's raw rows show), marks
WEEKDAY_APPR_PROCESS_START sensitive (masked in the raw rows), scans the application table
twice with the CLI (the run and metric history), then changes a column so the
next scan (started from the page) finds drift.  Starts,
on loopback ephemeral ports, three daemons serving web/: one with the
offline advisor, one whose advisor is the OpenAI stand-in
(tests/llm_standin.py, which plants markup in the LLM's answers), and one
with a bearer token.  Then runs tests/browser/dashboard.test.js (node +
playwright-core driving Debian's /usr/bin/chromium; `npm ci --prefix
tests/browser` first when its node_modules is missing) and numbers its
results as TAP.  Screenshots go to tests/artifacts/dashboard/.

Missing node, npm or chromium is a failure, not a skip: CI has them
(deploy/install-deps.sh --test).  Every daemon gets --parent-pid and is
stopped with SIGTERM (exit 0, no sanitizer report) or killed in a finally.
"""
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import Tap, ensure_odbcinst, run, workdir, write_json  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
SRC = os.path.abspath(sys.argv[2])
EXE = os.path.join(BUILD, "creditsense")
BROWSER_DIR = os.path.join(SRC, "tests", "browser")
ARTIFACTS = os.path.join(SRC, "tests", "artifacts", "dashboard")
CHROMIUM = os.environ.get("CS_CHROMIUM", "/usr/bin/chromium")
TOKEN = "dash-" + secrets.token_hex(12)
# Quoted by rules/working_without_employment_date.lua ("income type <value> but no employment date").
PLANT = '<img src=x onerror="window.__xss=1">Working<script>window.__xss=2</script>'
LLM_PLANT = '<script>window.__xss=3</script><img src=x onerror="window.__xss=4">'
SENSITIVE = "WEEKDAY_APPR_PROCESS_START"  # no rule or setting reads it: marking it changes no finding
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:")

t = Tap()
work = workdir("dashboard")
ensure_odbcinst(work)
PROCS = []


# ---- prerequisites ----------------------------------------------------------------------------------

def prerequisites():
    node = shutil.which("node")
    ok = t.ok(node, "node is installed (deploy/install-deps.sh --test installs it)")
    ok = t.ok(os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK),
              "chromium is installed at %s (Debian package chromium)" % CHROMIUM) and ok
    pw = os.path.join(BROWSER_DIR, "node_modules", "playwright-core", "package.json")
    if not os.path.exists(pw):
        npm = shutil.which("npm")
        if not t.ok(npm, "npm is installed (to install playwright-core)"):
            return False
        rc, out, err = run([npm, "ci", "--prefix", BROWSER_DIR, "--no-audit", "--no-fund"], timeout=600,
                           env={"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"})
        ok = t.ok(rc == 0 and os.path.exists(pw), "npm ci --prefix tests/browser installs the pinned playwright-core",
                  (out + err)[-2000:]) and ok
    else:
        with open(pw) as f:
            version = json.load(f).get("version")
        with open(os.path.join(BROWSER_DIR, "package.json")) as f:
            want = json.load(f)["dependencies"]["playwright-core"]
        ok = t.eq(version, want, "tests/browser/node_modules has the pinned playwright-core") and ok
    return ok


# ---- fixture ----------------------------------------------------------------------------------------

def config(db, name, server=None, advisor=None):
    with open(os.path.join(SRC, "deploy", "creditsense.json")) as f:
        cfg = json.load(f)
    cfg["source"]["odbc"] = "Driver=SQLite3;Database=%s" % db
    cfg["profile"]["cache_dir"] = os.path.join(work, "profiles-" + name)
    cfg["rules_dir"] = os.path.join(SRC, "rules")
    cfg["tables"]["SAMPLE_APPLICATION"]["drift"] = {"min_runs": 2}
    # a sensitive column: GET /api/v1/customers/{id}/rows masks it, the raw rows say "masked"
    cfg["tables"]["SAMPLE_APPLICATION"]["columns"][SENSITIVE] = {"sensitive": True}
    cfg["server"] = dict({"listen": "127.0.0.1:8080", "threads": 2, "web_dir": os.path.join(SRC, "web")}, **(server or {}))
    if advisor:
        cfg["advisor"] = advisor
    return write_json(os.path.join(work, name + ".json"), cfg)


def make_fixture():
    db = os.path.join(work, "main.db")
    rc, out, err = run([EXE, "demo-data", "--out", db, "--customers", "2000"])
    if not t.ok(rc == 0, "demo-data writes 2000 customers", err[-1000:]):
        return None
    con = sqlite3.connect(db)
    n = con.execute("UPDATE SAMPLE_APPLICATION SET DAYS_EMPLOYED = 365243, NAME_INCOME_TYPE = ? WHERE SK_ID_CURR = 108032",
                    (PLANT,)).rowcount
    con.commit()
    con.close()
    t.eq(n, 1, "markup planted in NAME_INCOME_TYPE of customer 108032")
    copies = {}
    for name in ("llm", "auth"):
        copies[name] = os.path.join(work, name + ".db")
        shutil.copyfile(db, copies[name])
    cfg = config(db, "main")
    for i in range(2):
        rc, out, err = run([EXE, "scan", "--config", cfg, "--table", "SAMPLE_APPLICATION"], timeout=300)
        t.ok(rc == 0, "baseline scan %d of SAMPLE_APPLICATION is stored" % (i + 1), err[-1000:])
    # a quarter of EXT_SOURCE_2 goes missing: the next scan (from the dashboard) reports drift
    con = sqlite3.connect(db)
    con.execute("UPDATE SAMPLE_APPLICATION SET EXT_SOURCE_2 = NULL WHERE SK_ID_CURR % 4 = 0")
    con.commit()
    con.close()
    return db, copies


# ---- processes ----------------------------------------------------------------------------------------

class Daemon:
    def __init__(self, name, cfg, env=None):
        self.name = name
        self.log_path = os.path.join(work, name + ".log")
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([EXE, "serve", "--config", cfg, "--listen", "127.0.0.1:0",
                                      "--parent-pid", str(os.getpid())],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=e)
        PROCS.append(self.proc)
        line = self.proc.stdout.readline()
        m = re.search(r"serving on http://(127\.0\.0\.1:\d+)/", line)
        self.url = "http://" + m.group(1) if m else None
        t.ok(self.url, "%s daemon serves on a loopback port" % name, self.logtext()[-1500:])

    def logtext(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        log = self.logtext()
        bad = SANITIZER.search(log)
        t.ok(rc == 0 and not bad, "%s daemon exits 0 on SIGTERM, nothing from the sanitizers" % self.name,
             "exit %s\n%s" % (rc, log[bad.start() - 200:bad.start() + 2000] if bad else log[-1500:]))


def start_standin():
    p = subprocess.Popen([sys.executable, os.path.join(SRC, "tests", "llm_standin.py"), "--timeout", "900",
                          "--openai-key", "sk-dashboard-test"], stdout=subprocess.PIPE, text=True)
    PROCS.append(p)
    m = re.match(r"PORT (\d+)", p.stdout.readline())
    t.ok(m, "the LLM stand-in starts on loopback")
    return p, ("http://127.0.0.1:%s" % m.group(1) if m else None)


def run_browser(env):
    """Runs the node test; its ok / not ok lines become TAP lines of this test."""
    e = dict(os.environ, **env)
    p = subprocess.Popen(["node", os.path.join(BROWSER_DIR, "dashboard.test.js")], cwd=BROWSER_DIR,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=e)
    PROCS.append(p)
    timer = threading.Timer(570, p.kill)
    timer.start()
    done = False
    try:
        for line in p.stdout:
            line = line.rstrip("\n")
            m = re.match(r"^(not ok|ok) - (.*)$", line)
            if m:
                t.ok(m.group(1) == "ok", "browser: " + m.group(2))
            elif line.startswith("# done"):
                done = True
                print(line)
            elif line.startswith("#"):
                print(line)
            elif line.strip():
                print("# " + line)
            sys.stdout.flush()
        rc = p.wait()
    finally:
        timer.cancel()
    t.ok(done and rc in (0, 1), "the browser tests ran to the end (node exit %s)" % rc)


def main():
    if not prerequisites():
        return
    if not t.ok(os.path.isfile(os.path.join(SRC, "web", "index.html")), "web/index.html exists"):
        return
    fx = make_fixture()
    if fx is None:
        return
    db, copies = fx
    standin, standin_url = start_standin()
    daemons = []
    try:
        daemons.append(Daemon("main", config(db, "main")))
        daemons.append(Daemon("llm", config(copies["llm"], "llm", advisor={
            "backend": "openai", "model": "gpt-4o-mini", "base_url": (standin_url or "http://127.0.0.1:9") + "/v1",
            "api_key_env": "CS_DASH_OPENAI_KEY", "max_attempts": 1, "timeout_ms": 20000}),
            env={"CS_DASH_OPENAI_KEY": "sk-dashboard-test"}))
        daemons.append(Daemon("auth", config(copies["auth"], "auth", server={"token_env": "CS_DASH_TOKEN"}),
                              env={"CS_DASH_TOKEN": TOKEN}))
        if all(d.url for d in daemons) and standin_url:
            run_browser({"CS_URL": daemons[0].url, "CS_URL_LLM": daemons[1].url, "CS_URL_AUTH": daemons[2].url,
                         "CS_STANDIN": standin_url, "CS_TOKEN": TOKEN, "CS_PLANT": PLANT, "CS_LLM_PLANT": LLM_PLANT,
                         "CS_SENSITIVE": SENSITIVE,
                         "CS_ARTIFACTS": ARTIFACTS, "CS_CHROMIUM": CHROMIUM})
    finally:
        for d in daemons:
            d.stop()
        standin.kill()
        standin.wait()


try:
    main()
finally:
    for proc in PROCS:
        if proc.poll() is None:
            proc.kill()
sys.exit(t.done())
