#!/usr/bin/env python3
"""run.py -- measure CreditSense and its pandas peer side by side; write BENCHMARKS.md.

Usage: run.py BUILD_DIR   (bench/run.sh builds a release build and calls this)

For each data-set size it generates the sample database, then times, best of
REPEAT runs, with peak resident memory from /usr/bin/time:
  * creditsense scan, native SQLite reader
  * creditsense scan through the SQLite ODBC driver
  * the pandas peer (bench/peer_pandas.py) doing the same checks
  * the bare fetch: the same rows read through the same source layer with
    no checks (build/bench-fetch), natively and through the SQLite ODBC driver
and checks that CreditSense and pandas found the same defects.
"""
import json
import os
import platform
import shutil
import subprocess
import sys
import time

BUILD = os.path.abspath(sys.argv[1])
EXE = os.path.join(BUILD, "creditsense")
FETCH = os.path.join(BUILD, "bench-fetch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(BUILD, "bench-data")
SIZES = [int(s) for s in os.environ.get("SIZES", "30000 300000").split()]
REPEAT = int(os.environ.get("REPEAT", "3"))
TABLES = ["SAMPLE_APPLICATION", "SAMPLE_INSTALLMENTS"]
ROOMY_MB = 1024  # a scan budget nothing here spills beyond


def timed(argv, env=None):
    """(seconds, peak RSS in MiB, stdout) of one run; raises on failure."""
    e = dict(os.environ, **(env or {}))
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, capture_output=True, text=True, env=e)
    dt = time.monotonic() - t0
    if p.returncode not in (0, 1):
        raise RuntimeError("%s failed (%d): %s" % (argv[0], p.returncode, p.stderr[-2000:]))
    rss_kib = int(p.stderr.strip().splitlines()[-1])
    return dt, rss_kib / 1024.0, p.stdout


def best(argv, env=None):
    runs = [timed(argv, env) for _ in range(REPEAT)]
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[0][2]


def config_for(db, native, rules=False, memory_mb=None):
    """The shipped config on this database; without rules (an empty rules_dir) it runs exactly
    the four checks the pandas peer runs.  memory_mb: a scan budget other than the default."""
    cfg = json.load(open(os.path.join(ROOT, "deploy", "creditsense.json")))
    cfg["source"]["odbc"] = "Driver=SQLite3;Database=" + db
    cfg["source"]["native_sqlite"] = native
    cfg.pop("profile", None)
    if not rules:
        os.makedirs(os.path.join(DATA, "no-rules"), exist_ok=True)
        cfg["rules_dir"] = os.path.join(DATA, "no-rules")
    if memory_mb:
        cfg["scan"] = dict(cfg.get("scan", {}), memory_mb=memory_mb)
    path = os.path.join(DATA, "bench-%s%s%s.json" % ("native" if native else "odbc", "-rules" if rules else "",
                                                   "-mb%d" % memory_mb if memory_mb else ""))
    json.dump(cfg, open(path, "w"))
    return path


def odbc_env():
    d = os.path.join(DATA, "odbc")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "tests", "odbcinst.ini"), os.path.join(d, "odbcinst.ini"))
    return {"ODBCSYSINI": d}


def findings_of(report_json):
    rep = json.loads(report_json)
    return {"%s|%s|%s" % (f["check"], f["column"], f["kind"]): f["count"] for f in rep["findings"]}, rep["rows_scanned"]


def compare(ours, theirs):
    """Keys where the two tools disagree (outlier counts may differ by float rounding at the bounds)."""
    diff = []
    for k in sorted(set(ours) | set(theirs)):
        if ours.get(k) != theirs.get(k):
            diff.append("%s: creditsense %s, pandas %s" % (k, ours.get(k), theirs.get(k)))
    return diff


def measure(n, env):
    db = os.path.join(DATA, "sample-%d.db" % n)
    if not os.path.exists(db):
        subprocess.run([EXE, "demo-data", "--out", db, "--customers", str(n)], check=True)
    native, odbc, withrules = config_for(db, True), config_for(db, False), config_for(db, True, rules=True)
    roomy = config_for(db, True, memory_mb=ROOMY_MB)
    rows = []
    for table in TABLES:
        conn = "Driver=SQLite3;Database=" + db
        cs = best([EXE, "scan", "--no-store", "--config", native, "--table", table])
        co = best([EXE, "scan", "--no-store", "--config", odbc, "--table", table], env)
        pd_ = best(["/usr/bin/python3", os.path.join(ROOT, "bench", "peer_pandas.py"), native, db, table])
        fn = best([FETCH, conn, table, "1"])
        fo = best([FETCH, conn, table, "0"], env)
        cr = best([EXE, "scan", "--no-store", "--config", withrules, "--table", table])
        cm = best([EXE, "scan", "--no-store", "--config", roomy, "--table", table])
        ours, nrows = findings_of(cs[2])
        diff = compare(ours, json.loads(pd_[2]))
        if findings_of(cm[2])[0] != ours:
            diff.append("the scan with memory_mb %d found otherwise than with the default" % ROOMY_MB)
        rows.append((n, table, nrows, cs, co, pd_, fn, fo, cr, cm, diff))
        print("%d %s: creditsense %.2fs %.0fMiB (fetch %.2fs), odbc %.2fs %.0fMiB (fetch %.2fs), pandas %.2fs %.0fMiB;"
              " %d differences" % (n, table, cs[0], cs[1], fn[0], co[0], co[1], fo[0], pd_[0], pd_[1], len(diff)),
              file=sys.stderr)
    return rows


def shared_core_probe(results):
    """(seconds alone, seconds beside a busy loop) of the largest bare native fetch."""
    n, table = max(results, key=lambda r: r[2])[:2]
    argv = [FETCH, "Driver=SQLite3;Database=" + os.path.join(DATA, "sample-%d.db" % n), table, "1"]
    alone = best(argv)[0]
    spin = subprocess.Popen(["/usr/bin/python3", "-c", "while True: pass"])
    try:
        beside = best(argv)[0]
    finally:
        spin.kill()
        spin.wait()
    return alone, beside


def write_report(results):
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    pdv = subprocess.run(["/usr/bin/python3", "-c", "import pandas; print(pandas.__version__)"],
                         capture_output=True, text=True).stdout.strip()
    out = ["# Benchmarks", "",
           "Reproduce with `bash bench/run.sh` (release build; `SIZES` and `REPEAT` select the data-set",
           "sizes and the runs per measurement). Both tools run in the same invocation, on the same",
           "generated SQLite database, doing the same checks under the same policies",
           "(`deploy/creditsense.json`): missing values and sentinels, negatives, duplicate keys or rows,",
           "and outliers. Times are the best of %d runs (wall clock), memory the peak resident set" % REPEAT,
           "(`/usr/bin/time -f %M`). The bare fetch reads the same rows through the same source layer and",
           "runs no checks (`build-bench/bench-fetch`); runs are not stored (`--no-store`).", "",
           "Machine: %s, %d cores, %s; pandas %s." % (cpu or platform.processor(), os.cpu_count(),
                                                      platform.platform(), pdv), "",
           "| customers | table | rows | creditsense native | bare fetch native | checks add | "
           "creditsense SQLite ODBC | bare fetch ODBC | checks add | pandas peer | speed-up vs pandas | findings agree |"
           " with the shipped Lua rules | native, nothing spilled (memory_mb %d) | checks add |" % ROOMY_MB,
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for n, table, nrows, cs, co, pd_, fn, fo, cr, cm, diff in results:
        agree = "yes" if not diff else "%d differ" % len(diff)
        out.append("| %s | %s | %s | %.2f s, %.0f MiB | %.2f s | %+.0f%% | %.2f s, %.0f MiB | %.2f s | %+.0f%% | "
                   "%.2f s, %.0f MiB | %.1fx | %s | %.2f s, %.0f MiB | %.2f s, %.0f MiB | %+.0f%% |"
                   % (f"{n:,}", table, f"{nrows:,}", cs[0], cs[1], fn[0], 100 * (cs[0] / fn[0] - 1), co[0], co[1],
                      fo[0], 100 * (co[0] / fo[0] - 1), pd_[0], pd_[1], pd_[0] / cs[0], agree, cr[0], cr[1],
                      cm[0], cm[1], 100 * (cm[0] / fn[0] - 1)))
    diffs = [(r[0], r[1], d) for r in results for d in r[-1]]
    if diffs:
        out += ["", "Differences between the two tools' findings:", ""]
        out += ["- %d customers, %s: %s" % d for d in diffs]
    over = ["%s %s (%s, %+.0f%%)" % (f"{r[0]:,}", r[1], kind, 100 * (t[0] / f[0] - 1))
            for r in results for kind, t, f in (("native", r[3], r[6]), ("ODBC", r[4], r[7])) if t[0] > 1.25 * f[0]]
    slow = [r for r in results if r[5][0] < 5 * r[3][0]]
    out += ["", "Targets: at least 5x pandas on the embedded default (%s); the checks add at most 25%% to the"
            % ("met in every row" if not slow else "not met in %d rows" % len(slow)),
            "bare fetch (%s)." % ("met in every row" if not over else "not met: " + "; ".join(over))]
    alone, beside = shared_core_probe(results)
    out += ["", "Notes:", "",
            "- Memory of a CreditSense table scan: batches, plus the exact statistics of outlier-checked",
            "  columns held within `scan.memory_mb` (default 64 MiB) and spilled to an unlinked temp file",
            "  beyond it, plus the duplicate check's row fingerprints of a table without a key within a",
            "  budget of the same size (sorted runs spilled beyond it); the same answers either way. So",
            "  peak memory stops growing once a table passes the budgets (the larger sizes above). A",
            "  table with a primary key keeps its distinct keys (19-39 bytes each); see docs/checks.md.",
            "  pandas holds the whole table as Python objects.",
            "- Spilling costs time: the 'nothing spilled' column is the same scan with `memory_mb` %d." % ROOMY_MB,
            "- The ODBC columns show the cost of Debian's SQLite ODBC driver, which is why the native",
            "  reader is the default for SQLite files; every other database is read through ODBC.",
            "- Table scans read up to 8 batches ahead on a thread of their own (core/prefetch.c) and split",
            "  the checks over two threads (core/engine.c, docs/checks.md), so a scan uses both vCPUs",
            "  where the bare fetch uses one, and work on the second vCPU slows the fetch itself on this",
            "  shared VM (the largest bare fetch of this run: %.2f s alone, %.2f s beside a busy loop)."
            % (alone, beside),
            "  Timings here vary by tens of percent from run to run: compare rows of one run.",
            "- The pandas peer applies the same documented rules (sentinels left out of statistics, a",
            "  zero IQR judged as no spread), so the findings can be compared one by one.",
            "- 'with the shipped Lua rules' is the native scan again with rules/ loaded (13 rules).", ""]
    # This section is the file's first; the sections after it come from the other benchmarks.
    path = os.path.join(ROOT, "BENCHMARKS.md")
    rest = ""
    if os.path.exists(path):
        old = open(path).read()
        cut = old.find("\n## ")
        rest = old[cut:] if cut >= 0 else ""
    with open(path, "w") as f:
        f.write("\n".join(out) + rest)


def main():
    os.makedirs(DATA, exist_ok=True)
    env = odbc_env()
    results = []
    for n in SIZES:
        results += measure(n, env)
    write_report(results)
    print("wrote BENCHMARKS.md", file=sys.stderr)


main()
