#!/usr/bin/env python3
"""serve_bench.py -- `creditsense serve` against the seed's FastAPI + pandas approach, side by side.

Usage: serve_bench.py BUILD_DIR   (bench/serve_bench.sh builds a release build and calls this)

On the generated sample data (CUSTOMERS, default 300,000) it measures, with
wrk on this machine (wrk, the daemon and the peer share the cores):
  * POST /process_customer throughput and latency: creditsense with the
    offline advisor, runs stored (the default; the SQLite file is switched to
    WAL mode first) and not stored; the FastAPI
    + pandas peer (bench/peer_fastapi.py, uvicorn, one process);
  * GET /healthz latency alone, and while 200 LLM calls are held open for
    2 s each by the stand-in (tests/llm_standin.py): the daemon may run 200
    calls at once (advisor.max_in_flight 200, one anomaly per call, no
    cache, every severity advised), 600 customer requests are sent (more
    than 200 distinct calls), the calls in flight are sampled while
    /healthz is probed at 200/s, and the probes made while 200 were
    pending are the figure (on a machine too busy to produce 200 distinct
    anomalies within 2 s, those made at the peak, which is printed);
  * resident memory idle (after warm-up) and the most seen under load
    (VmRSS sampled during the wrk run, so a profile built at warm-up does
    not count).
Prints Markdown tables ready for BENCHMARKS.md and writes the raw figures to
BUILD_DIR/serve-bench.json.
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
HELD_CALLS = 200  # LLM calls held open at once for the /healthz measurement


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


class RssSampler:
    """The most VmRSS of a process tree seen while a measurement runs (every 0.2 s)."""

    def __init__(self, pid):
        self.pid, self.peak, self.running = pid, 0, True
        self.th = threading.Thread(target=self.run)
        self.th.start()

    def run(self):
        while self.running:
            try:
                self.peak = max(self.peak, tree_rss_kib(self.pid))
            except OSError:
                pass
            time.sleep(0.2)

    def stop(self):
        self.running = False
        self.th.join()
        return self.peak


def wrk(url, script=None, conns=CONNS, threads=2, duration=DURATION):
    # --timeout: wrk's default of 2 s would drop the peer's slower answers (about 3 s at 32 connections) and
    # reconnect, leaving it to finish work nobody reads: it would be measured doing less than it does.
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--latency", "--timeout", "60s"]
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
        t0, w0 = time.perf_counter(), time.time()
        c.request("GET", "/healthz")
        c.getresponse().read()
        lat.append((w0, (time.perf_counter() - t0) * 1000))
        t_next += 1.0 / rate
        time.sleep(max(0.0, t_next - time.time()))
    c.close()
    return dict(percentiles([ms for _, ms in lat]), samples=lat)


def percentiles(lat):
    lat = sorted(lat)
    if not lat:
        return {"p50_ms": None, "p99_ms": None, "n": 0}
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
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            log("the daemon did not stop within 60 s of SIGTERM; killed")
            self.proc.kill()
            self.proc.wait()
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
        time.sleep(1)
        idle = rss_kib(d.proc.pid)
        sampler = RssSampler(d.proc.pid)
        r = wrk(d.base + "/process_customer", LUA)
        r["peak_rss_kib"] = sampler.stop()
        r["idle_rss_kib"] = idle
        h = wrk(d.base + "/healthz", conns=16, threads=1, duration=max(5, DURATION // 2))
        h4 = wrk(d.base + "/healthz", conns=4, threads=1, duration=5)
        h["p99_ms_c4"], h["p50_ms_c4"] = h4["p99_ms"], h4["p50_ms"]
        h["paced"] = {k: v for k, v in paced_probe(d.base).items() if k != "samples"}
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
        time.sleep(1)
        idle = tree_rss_kib(p.pid)
        sampler = RssSampler(p.pid)
        r = wrk(base + "/process_customer", LUA)
        r["peak_rss_kib"] = sampler.stop()
        r["idle_rss_kib"] = idle
        return r
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)


def standin():
    """The LLM stand-in, with a listen backlog for HELD_CALLS connections arriving at once (its
    ThreadingHTTPServer's default backlog of 5 would make most of them wait for a SYN retry)."""
    code = ("import http.server, runpy, sys; http.server.ThreadingHTTPServer.request_queue_size = 1024; "
            "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
    s = subprocess.Popen(["/usr/bin/python3", "-c", code, os.path.join(ROOT, "tests", "llm_standin.py"),
                          "--timeout", "300", "--gemini-key", "bench-key"], stdout=subprocess.PIPE, text=True)
    return s, "http://127.0.0.1:%s" % s.stdout.readline().split()[1]


def bench_llm_pending():
    """/healthz while HELD_CALLS LLM calls are held open for 2 s each by the stand-in."""
    s, url = standin()
    post(url + "/_script", [{"do": "hang", "seconds": 2}] * 20000)
    # One anomaly per call, no cache, every severity advised: each distinct anomaly signature is a call of
    # its own, and HELD_CALLS of them may be in flight at once.
    adv = {"backend": "gemini", "base_url": url + "/v1beta", "api_key_env": "CS_BENCH_KEY", "model": "gemini-2.5-flash",
           "timeout_ms": 20000, "cache_ttl_s": 0, "max_in_flight": HELD_CALLS, "max_attempts": 1, "batch_size": 1,
           "min_severity": "info", "max_queue": 100000}
    d = Daemon(config(False, adv), env={"CS_BENCH_KEY": "bench-key"})
    done = []
    try:
        warm(d.base, 8, "/process_customer?advice=false")  # profiles first: this config has its own hash
        def one(i):
            try:
                done.append(post(d.base + "/process_customer", {"customer_id": ID_LO + 1000 + i * 13}, 300)[0])
            except OSError as e:
                done.append(repr(e))
        nreq = 600  # customer requests: more distinct anomalies than HELD_CALLS
        threads = [threading.Thread(target=one, args=(i,)) for i in range(nreq)]
        for th in threads:
            th.start()
        # In-flight calls, sampled every 0.25 s while /healthz is probed at a steady rate; the probes are
        # then judged by how many calls were pending when they were made.
        end = time.time() + 120
        while llm_in_flight(d.base) < 1 and time.time() < end:
            time.sleep(0.05)
        seen, sampling = [], [True]

        def sample():
            while sampling[0]:
                seen.append((time.time(), llm_in_flight(d.base)))
                time.sleep(0.25)  # /metrics is rendered on the event loop: sampled sparingly
        sampler = threading.Thread(target=sample)
        sampler.start()
        probe = paced_probe(d.base, seconds=6)
        sampling[0] = False
        sampler.join()
        peak = max((n for _, n in seen), default=0.0)

        def pending_at(t):
            return min(seen, key=lambda x: abs(x[0] - t))[1] if seen else 0.0
        held = HELD_CALLS if peak >= HELD_CALLS else peak
        if peak < HELD_CALLS:
            log("only %.0f LLM calls were in flight at once (wanted %d): the checks did not produce distinct "
                "anomalies fast enough on this machine; /healthz is judged at the peak" % (peak, HELD_CALLS))
        paced = percentiles([ms for t, ms in probe["samples"] if pending_at(t) >= held * 0.95])
        paced["all"] = {k: v for k, v in probe.items() if k != "samples"}
        after = seen[-1][1] if seen else 0.0
        h = wrk(d.base + "/healthz", conns=4, threads=1, duration=5)  # saturating, while calls keep coming
        h["paced"] = paced
        for th in threads:
            th.join(600)
        h["llm_in_flight"] = peak
        h["llm_in_flight_after_probe"] = after
        h["requests"] = nreq
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

    def ms(v):
        return "%.1f" % v if v is not None else "-"

    def mib(kib):
        return "%.0f" % (kib / 1024)

    pl = llm.get("paced") or {}
    print("`bash bench/serve_bench.sh`: %s customers, wrk -t2 -c%d -d%ds, %d cores shared by wrk, the server and "
          "the peer; offline advisor.\n" % (f"{CUSTOMERS:,}", CONNS, DURATION, os.cpu_count()))
    print("| measurement | CreditSense | FastAPI + pandas peer |")
    print("|---|---:|---:|")
    print("| `/process_customer` throughput, runs not stored | %.0f req/s (%.0fx the peer) | %.1f req/s |" %
          (cs_nostore["rps"], cs_nostore["rps"] / max(peer["rps"], 0.01), peer["rps"]))
    print("| `/process_customer` p50 / p99, runs not stored | %s / %s ms | %s / %s ms |" %
          (ms(cs_nostore["p50_ms"]), ms(cs_nostore["p99_ms"]), ms(peer["p50_ms"]), ms(peer["p99_ms"])))
    print("| `/process_customer` throughput, runs stored (SQLite in WAL mode) | %.0f req/s (%.0fx the peer) | - |" %
          (cs_store["rps"], cs_store["rps"] / max(peer["rps"], 0.01)))
    print("| `/process_customer` p50 / p99, runs stored | %s / %s ms | - |" %
          (ms(cs_store["p50_ms"]), ms(cs_store["p99_ms"])))
    print("| non-2xx answers (not stored / stored / peer) | %d / %d | %d |" %
          (cs_nostore["non2xx"], cs_store["non2xx"], peer["non2xx"]))
    print("| RSS idle / loaded, runs not stored | %s / %s MiB | %s / %s MiB |" %
          (mib(cs_nostore["idle_rss_kib"]), mib(cs_nostore["peak_rss_kib"]), mib(peer["idle_rss_kib"]),
           mib(peer["peak_rss_kib"])))
    print("| RSS idle / loaded, runs stored | %s / %s MiB | - |" %
          (mib(cs_store["idle_rss_kib"]), mib(cs_store["peak_rss_kib"])))
    print("| `/healthz` throughput (16 connections) | %.0f req/s, p99 %s ms | - |" %
          (cs_health["rps"], ms(cs_health["p99_ms"])))
    print("| `/healthz` p50 / p99 at 200 probes/s, alone | %.2f / %.2f ms | - |" %
          (cs_health["paced"]["p50_ms"], cs_health["paced"]["p99_ms"]))
    print("| `/healthz` p50 / p99 at 200 probes/s, %.0f LLM calls held open 2 s each | %.2f / %.2f ms | - |" %
          (llm["llm_in_flight"], pl.get("p50_ms") or 0, pl.get("p99_ms") or 0))
    print("| `/healthz` p99 under saturating load (4 connections), alone / LLM calls pending | %s / %s ms | - |" %
          (ms(cs_health["p99_ms_c4"]), ms(llm["p99_ms"])))
    print("\nLLM phase: at most %.0f calls in flight at once; %d probes made while at least 95%% of that many were "
          "pending (over the whole probe: p99 %s ms); %d stand-in calls in all; %d/%d customer requests answered 200."
          % (llm["llm_in_flight"], pl.get("n", 0), ms(pl.get("all", {}).get("p99_ms")), llm["llm_calls"],
             llm["answered_200"], llm["requests"]))
    print("Targets: 50x the peer's throughput; `/healthz` p99 under 5 ms while LLM calls are pending; idle RSS "
          "under 64 MB.")


main()
