#!/usr/bin/env python3
"""serve_bench.py -- `creditsense serve` against the seed's FastAPI + pandas approach, side by side.

Usage: serve_bench.py BUILD_DIR   (bench/serve_bench.sh builds a release build and calls this)

On the generated sample data (CUSTOMERS, default 300,000) it measures, with
wrk on this machine (wrk, the daemon and the peer share the cores):
  * POST /process_customer throughput and latency: creditsense with the
    offline advisor, runs stored (the default; the SQLite file is switched to
    WAL mode first) and not stored; the FastAPI
    + pandas peer (bench/peer_fastapi.py, uvicorn, one process);
  * GET /healthz latency alone, and while 200 /process_customer requests
    wait on LLM calls that the stand-in (tests/llm_standin.py) holds open
    for 2 s each;
  * resident memory idle (after warm-up) and peak under load.
Prints a Markdown table and writes the raw figures to BUILD_DIR/serve-bench.json.
  CUSTOMERS=N  DURATION=seconds (per wrk run, default 15)  CONNS=wrk connections (default 32)
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

BUILD = os.path.abspath(sys.argv[1])
EXE = os.path.join(BUILD, "creditsense")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(BUILD, "bench-data")
CUSTOMERS = int(os.environ.get("CUSTOMERS", "300000"))
DURATION = int(os.environ.get("DURATION", "15"))
CONNS = int(os.environ.get("CONNS", "32"))
ID_LO, ID_HI = 100002, 100002 + CUSTOMERS - 1
LUA = os.path.join(ROOT, "bench", "wrk_customer.lua")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def tree_rss_kib(pid):
    """RSS of a process and its children (uvicorn may fork)."""
    total = rss_kib(pid)
    try:
        for child in open("/proc/%d/task/%d/children" % (pid, pid)).read().split():
            total += tree_rss_kib(int(child))
    except OSError:
        pass
    return total


def wrk(url, script=None, conns=CONNS, threads=2, duration=DURATION):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--latency"]
    if script:
        cmd += ["-s", script]
    env = dict(os.environ, CS_ID_LO=str(ID_LO), CS_ID_HI=str(ID_HI))
    out = subprocess.run(cmd + [url], capture_output=True, text=True, env=env).stdout
    def ms(label):
        m = re.search(r"^\s+%s\s+([\d.]+)(us|ms|s)\s*$" % re.escape(label), out, re.M)
        if not m:
            return None
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50_ms": ms("50%"), "p99_ms": ms("99%"),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "raw": out}


def paced_probe(base, rate=200, seconds=5):
    """GET /healthz at a steady rate on one keep-alive connection (a monitor, not a load test): p50/p99 ms."""
    import http.client
    host, port = base[len("http://"):].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    lat, t_next, end = [], time.time(), time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        c.request("GET", "/healthz")
        c.getresponse().read()
        lat.append((time.perf_counter() - t0) * 1000)
        t_next += 1.0 / rate
        time.sleep(max(0.0, t_next - time.time()))
    c.close()
    lat.sort()
    return {"p50_ms": lat[len(lat) // 2], "p99_ms": lat[int(len(lat) * 0.99)], "n": len(lat)}


def wait_http(url, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def post(url, body, timeout=120):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


def config(store, advisor=None):
    with open(os.path.join(ROOT, "deploy", "creditsense.json")) as f:
        cfg = json.load(f)
    cfg["source"]["odbc"] = "Driver=SQLite3;Database=" + os.path.join(DATA, "sample-%d.db" % CUSTOMERS)
    cfg.setdefault("profile", {})["cache_dir"] = os.path.join(DATA, "profiles")
    cfg["store"] = {"enabled": store}
    cfg["server"] = {"listen": "127.0.0.1:0", "threads": 4, "max_queue": 100000}
    cfg["advisor"] = advisor or {"backend": "offline"}
    path = os.path.join(DATA, "serve-%s-%s.json" % ("store" if store else "nostore",
                                                      (advisor or {}).get("backend", "offline")))
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


class Daemon:
    def __init__(self, cfg, env=None):
        self.logf = open(os.path.join(DATA, "serve.log"), "a")
        self.proc = subprocess.Popen([EXE, "serve", "--config", cfg, "--parent-pid", str(os.getpid())],
                                     stdout=subprocess.PIPE, stderr=self.logf, text=True,
                                     env=dict(os.environ, CREDITSENSE_LOG="warning", **(env or {})))
        m = re.search(r"http://([\d.]+:\d+)/", self.proc.stdout.readline())
        self.base = "http://" + m.group(1)
        wait_http(self.base + "/readyz")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.logf.close()


def warm(base, n=40, path="/process_customer"):
    """Profiles are built (or loaded from the cache) by each worker's first customer run."""
    for i in range(n):
        post(base + path, {"customer_id": ID_LO + i * 7}, timeout=600)


def llm_in_flight(base):
    m = re.search(r"^creditsense_llm_in_flight (\S+)", urllib.request.urlopen(base + "/metrics").read().decode(), re.M)
    return float(m.group(1)) if m else 0.0


def bench_creditsense(store):
    d = Daemon(config(store))
    try:
        warm(d.base)
        idle = rss_kib(d.proc.pid)
        r = wrk(d.base + "/process_customer", LUA)
        r["peak_rss_kib"] = rss_kib(d.proc.pid, "VmHWM")
        r["idle_rss_kib"] = idle
        h = wrk(d.base + "/healthz", conns=16, threads=1, duration=max(5, DURATION // 2))
        h4 = wrk(d.base + "/healthz", conns=4, threads=1, duration=5)
        h["p99_ms_c4"], h["p50_ms_c4"] = h4["p99_ms"], h4["p50_ms"]
        h["paced"] = paced_probe(d.base)
        return r, h
    finally:
        d.stop()


def bench_peer():
    port = 18000 + os.getpid() % 1000
    env = dict(os.environ, PEER_CONFIG=config(False), PEER_DB=os.path.join(DATA, "sample-%d.db" % CUSTOMERS),
               PYTHONPATH=os.path.join(ROOT, "bench"))
    p = subprocess.Popen(["/usr/bin/python3", "-m", "uvicorn", "peer_fastapi:app", "--port", str(port),
                          "--log-level", "warning", "--no-access-log"], env=env, stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d" % port
    try:
        wait_http(base + "/healthz")
        warm(base, 10)
        idle = tree_rss_kib(p.pid)
        r = wrk(base + "/process_customer", LUA)
        r["peak_rss_kib"] = rss_kib(p.pid, "VmHWM")
        r["idle_rss_kib"] = idle
        return r
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)


def bench_llm_pending():
    """/healthz while 200 customer requests wait on LLM calls the stand-in holds for 2 s."""
    s = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests", "llm_standin.py"), "--timeout", "300",
                          "--gemini-key", "bench-key"], stdout=subprocess.PIPE, text=True)
    url = "http://127.0.0.1:%s" % s.stdout.readline().split()[1]
    post(url + "/_script", [{"do": "hang", "seconds": 2}] * 5000)
    adv = {"backend": "gemini", "base_url": url + "/v1beta", "api_key_env": "CS_BENCH_KEY", "model": "gemini-2.5-flash",
           "timeout_ms": 20000, "cache_ttl_s": 0, "max_in_flight": 64, "max_attempts": 1, "batch_size": 1}
    d = Daemon(config(False, adv), env={"CS_BENCH_KEY": "bench-key"})
    done = []
    try:
        warm(d.base, 8, "/process_customer?advice=false")  # profiles first: this config has its own hash
        def one(i):
            try:
                done.append(post(d.base + "/process_customer", {"customer_id": ID_LO + 1000 + i * 13}, 300)[0])
            except OSError as e:
                done.append(repr(e))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
        for th in threads:
            th.start()
        peak = [0.0]
        sampling = [True]

        def sample():  # the most LLM calls in flight while /healthz is measured
            while sampling[0] and not os.environ.get("NOSAMPLE"):
                peak[0] = max(peak[0], llm_in_flight(d.base))
                time.sleep(0.25)
        end = time.time() + 120
        while llm_in_flight(d.base) < 1 and time.time() < end:  # measure once the calls are pending
            time.sleep(0.1)
        sampler = threading.Thread(target=sample)
        sampler.start()
        paced = paced_probe(d.base, seconds=3)  # first, while every call is still pending
        h = wrk(d.base + "/healthz", conns=4, threads=1, duration=5)
        h["paced"] = paced
        sampling[0] = False
        sampler.join()
        for th in threads:
            th.join(600)
        h["llm_in_flight"] = peak[0]
        h["answered_200"] = sum(1 for x in done if x == 200)
        h["llm_calls"] = len(json.loads(urllib.request.urlopen(url + "/_log").read()))
        return h
    finally:
        d.stop()
        s.kill()
        s.wait()


def main():
    os.makedirs(DATA, exist_ok=True)
    if os.environ.get("ONLY") == "llm":  # just the /healthz-while-LLM-calls-pend measurement
        print(json.dumps({k: v for k, v in bench_llm_pending().items() if k != "raw"}))
        return
    db = os.path.join(DATA, "sample-%d.db" % CUSTOMERS)
    if not os.path.exists(db):
        subprocess.run([EXE, "demo-data", "--out", db, "--customers", str(CUSTOMERS)], check=True)
    # The run store writes into the same SQLite file the workers read.  In SQLite's default
    # rollback-journal mode every reader blocks the writers (they starve in the busy handler,
    # requests time out); in WAL mode readers and the writer do not block each other.
    subprocess.run(["sqlite3", db, "PRAGMA journal_mode=WAL;"], check=True, capture_output=True)
    log("creditsense, runs stored ...")
    cs_store, cs_health = bench_creditsense(True)
    log("creditsense, not stored ...")
    cs_nostore, _ = bench_creditsense(False)
    log("FastAPI + pandas peer ...")
    peer = bench_peer()
    log("healthz while LLM calls are pending ...")
    llm = bench_llm_pending()
    res = {"customers": CUSTOMERS, "duration_s": DURATION, "conns": CONNS, "cores": os.cpu_count(),
           "creditsense_store": cs_store, "creditsense_nostore": cs_nostore, "healthz": cs_health,
           "healthz_llm_pending": llm, "peer": peer}
    with open(os.path.join(BUILD, "serve-bench.json"), "w") as f:
        json.dump(res, f, indent=1)

    def row(name, r):
        return "| %s | %.0f | %.1f | %.1f | %d | %.1f | %.1f |" % (
            name, r["rps"], r["p50_ms"] or 0, r["p99_ms"] or 0, r["non2xx"], r.get("idle_rss_kib", 0) / 1024,
            r.get("peak_rss_kib", 0) / 1024)
    print("POST /process_customer, %s customers, wrk -t2 -c%d -d%ds, %d cores shared by wrk and the server\n" %
          (f"{CUSTOMERS:,}", CONNS, DURATION, os.cpu_count()))
    print("| server | req/s | p50 ms | p99 ms | non-2xx | idle RSS MiB | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(row("creditsense serve (offline advisor, runs stored, SQLite WAL)", cs_store))
    print(row("creditsense serve (offline advisor, not stored)", cs_nostore))
    print(row("FastAPI + pandas peer (uvicorn, 1 process)", peer))
    print("\nThroughput vs the peer: %.0fx stored, %.0fx not stored.\n" % (cs_store["rps"] / max(peer["rps"], 0.01),
                                                                          cs_nostore["rps"] / max(peer["rps"], 0.01)))
    print("GET /healthz: %.0f req/s with 16 connections (p99 %.2f ms); with 4 connections p99 %.2f ms alone and "
          "%.2f ms while 200 customer requests wait on LLM calls held 2 s each by the stand-in (up to %.0f calls in "
          "flight, %d stand-in calls in all, %d/200 requests answered 200)."
          % (cs_health["rps"], cs_health["p99_ms"] or 0, cs_health["p99_ms_c4"] or 0, llm["p99_ms"] or 0,
             llm["llm_in_flight"], llm["llm_calls"], llm["answered_200"]))
    pl = llm.get("paced") or {}
    print("GET /healthz paced at 200/s on one connection: p50 %.2f ms, p99 %.2f ms alone; p50 %.2f ms, p99 %.2f ms "
          "while the LLM calls are pending." % (cs_health["paced"]["p50_ms"], cs_health["paced"]["p99_ms"],
                                                pl.get("p50_ms", 0), pl.get("p99_ms", 0)))


main()
