#!/usr/bin/env python3
"""test_deploy.py -- the deployment files: Dockerfile, compose, Kubernetes, systemd.

Usage: test_deploy.py BUILD_DIR SOURCE_DIR

No Docker engine or cluster runs here (and building an image needs the base
image from a registry this machine cannot reach), so this tests what can be
tested offline:
  - deploy/gen.py's derived files are current (configs, rules/kustomization.yaml);
  - `kubectl kustomize` renders deploy/k8s/base and both overlays, and every
    object validates against the Kubernetes API schemas offline (npm
    kubernetes-models: types and required fields, plus a strict unknown-field
    pass; tests/deploy/validate.mjs), the compose file against the compose-spec
    schema;
  - the rules ConfigMap holds every rules/*.lua byte for byte and is mounted
    without subPath at the config's rules_dir; probes, ports, security
    context, termination grace versus the drain deadline, HPA, PDB, Services;
    every ${VAR} a rendered config needs is provided;
  - the real daemon (BUILD_DIR/creditsense) started with each rendered config
    on a loopback ephemeral port: the probe paths answer, the rules ConfigMap
    materialised the way the kubelet does it loads, and an edit of it (a new
    ..data swap) reloads the rules without a restart; the EKS config is
    accepted and masks the Snowflake password;
  - the compose data path for real: export.sh and load.sh into a PostgreSQL
    database (when tests/pg.sh started one), then the daemon on it through
    the image's odbcinst.ini answers POST /process_customer;
  - the Dockerfile against lint rules written here (hadolint is not in Debian),
    and its runtime packages against the NEEDED libraries of the built binary
    and plugins;
  - the systemd unit with `systemd-analyze verify` and its hardening settings.
Prints TAP.
"""
import glob
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import Tap, run, workdir, write_json  # noqa: E402

try:
    import yaml
except ImportError:  # python3-yaml: deploy/install-deps.sh --test installs it
    yaml = None

BUILD = os.path.abspath(sys.argv[1])
SRC = os.path.abspath(sys.argv[2])
EXE = os.path.join(BUILD, "creditsense")
DEPLOY = os.path.join(SRC, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
NODE_DIR = os.path.join(SRC, "tests", "deploy")
t = Tap()
work = workdir("deploy")
DAEMONS = []

RULES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(SRC, "rules", "*.lua")))
PRESTOP_MIN_S = 1
ADVISOR_GRACE_S = 5   # core/server.c JOBS_GRACE_S: the wait for the advisor's last calls after the drain


def read(path):
    with open(path) as f:
        return f.read()


def load_json(path):
    with open(path) as f:
        return json.load(f)


# ---- generated files ---------------------------------------------------------------------------------------

rc, out, err = run([sys.executable, os.path.join(DEPLOY, "gen.py"), "--check"])
t.ok(rc == 0, "deploy/gen.py --check: derived configs and rules/kustomization.yaml are current", out + err)

rules_kust = read(os.path.join(SRC, "rules", "kustomization.yaml")) if os.path.exists(
    os.path.join(SRC, "rules", "kustomization.yaml")) else ""
listed = re.findall(r"^  - (\S+\.lua)$", rules_kust, re.M)
t.eq(sorted(listed), RULES, "rules/kustomization.yaml lists every rules/*.lua (%d files)" % len(RULES))

CONTAINER_CFG = load_json(os.path.join(DEPLOY, "container", "creditsense.json"))
TABLES = load_json(os.path.join(DEPLOY, "creditsense.json"))["tables"]
DRAIN_S = CONTAINER_CFG["server"]["drain_timeout_ms"] / 1000.0
LISTEN_PORT = int(CONTAINER_CFG["server"]["listen"].rsplit(":", 1)[1])
t.ok(CONTAINER_CFG["server"]["listen"].startswith("0.0.0.0:"),
     "the image's config listens on every interface inside the container", CONTAINER_CFG["server"])
for rel in ("container/creditsense.json", "k8s/base/creditsense.json", "k8s/overlays/eks/creditsense.json",
            "compose/creditsense-llm.json"):
    cfg = load_json(os.path.join(DEPLOY, rel))
    t.ok(cfg["tables"] == TABLES and cfg["server"]["listen"] == CONTAINER_CFG["server"]["listen"]
         and cfg["server"]["drain_timeout_ms"] == CONTAINER_CFG["server"]["drain_timeout_ms"]
         and cfg["rules_dir"] == CONTAINER_CFG["rules_dir"],
         "deploy/%s: tables of deploy/creditsense.json, same listen, drain and rules_dir" % rel)

# ---- render the overlays ---------------------------------------------------------------------------------

KUBECTL = shutil.which("kubectl")
KUSTOMIZE = shutil.which("kustomize")


def render(target):
    """(objects, error) from `kubectl kustomize` (or a standalone kustomize)."""
    if KUBECTL:
        argv = [KUBECTL, "kustomize", target]
    elif KUSTOMIZE:
        argv = [KUSTOMIZE, "build", target]
    else:
        return None, "neither kubectl nor kustomize is installed (the machine image of this kind ships kubectl)"
    rc, out, err = run(argv, timeout=120)
    if rc != 0:
        return None, err or out
    if yaml is None:
        return None, "python3-yaml is not installed"
    return [d for d in yaml.safe_load_all(out) if d], None


RENDERS = {}
for name, rel in (("base", "base"), ("eks", "overlays/eks"), ("local", "overlays/local")):
    objs, error = render(os.path.join(K8S, rel))
    t.ok(objs is not None, "kustomize renders deploy/k8s/%s (%s)" % (rel, "kubectl kustomize" if KUBECTL else
                                                                      "kustomize build"), error)
    RENDERS[name] = objs or []


def objects(render_name, kind, name=None):
    return [o for o in RENDERS[render_name] if o.get("kind") == kind and
            (name is None or o["metadata"]["name"] == name or o["metadata"]["name"].startswith(name + "-"))]


def one(render_name, kind, name=None):
    found = objects(render_name, kind, name)
    return found[0] if len(found) == 1 else None


# ---- schema validation -----------------------------------------------------------------------------------

NODE = shutil.which("node")
have_validator = NODE and os.path.isdir(os.path.join(NODE_DIR, "node_modules", "kubernetes-models"))


def node_validate(mode, data):
    path = write_json(os.path.join(work, "validate-%s-%d.json" % (mode, time.time_ns())), data)
    rc, out, err = run([NODE, os.path.join(NODE_DIR, "validate.mjs"), mode, path], timeout=120)
    results = []
    for line in out.splitlines():
        try:
            results.append(json.loads(line))
        except ValueError:
            pass
    return rc, results, err


for name in ("base", "eks", "local"):
    if not have_validator:
        t.ok(False, "%s: validate against the Kubernetes schemas" % name,
             "node or tests/deploy/node_modules is missing: run deploy/install-deps.sh --test")
        continue
    rc, results, err = node_validate("k8s", RENDERS[name])
    bad = [r for r in results if not r["ok"]]
    t.ok(rc == 0 and len(results) == len(RENDERS[name]) and RENDERS[name] and not bad,
         "%s: all %d rendered objects validate against the Kubernetes API schemas (strict: no unknown fields)"
         % (name, len(RENDERS[name])), json.dumps(bad, indent=1) + err[-1500:])

if have_validator:
    # The validator itself catches what it should: a misspelt field, a wrong type.
    bogus = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
             "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                 "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{
                     "name": "c", "image": "i", "livenesProbe": {},
                     "readinessProbe": {"httpGet": {"pth": "/readyz", "port": 8080}},
                     "ports": [{"containerPort": "8080"}]}]}}}}
    rc, results, err = node_validate("k8s", [bogus])
    errs = " ".join(results[0]["errors"]) if results else err
    t.ok(results and not results[0]["ok"] and "livenesProbe" in errs and '"pth"' in errs and "integer" in errs,
         "the validator refuses unknown fields at any depth and wrong types", errs)

# ---- the Deployment and its neighbours ---------------------------------------------------------------------


def container(dep, name="creditsense"):
    return next((c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == name), None)


def config_of(render_name):
    cm = one(render_name, "ConfigMap", "creditsense-config")
    return json.loads(cm["data"]["creditsense.json"]) if cm else None


def pod_restricted(spec):
    """Problems against the 'restricted' Pod Security Standard (the fields it checks that we set)."""
    problems = []
    psc = spec.get("securityContext", {})
    for c in spec.get("initContainers", []) + spec["containers"]:
        sc = c.get("securityContext", {})
        if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
            problems.append("%s: runAsNonRoot" % c["name"])
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            problems.append("%s: runAsUser 0" % c["name"])
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append("%s: allowPrivilegeEscalation" % c["name"])
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
            problems.append("%s: capabilities" % c["name"])
        if sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append("%s: seccompProfile" % c["name"])
        if sc.get("privileged"):
            problems.append("%s: privileged" % c["name"])
    for v in spec.get("volumes", []):
        if "hostPath" in v:
            problems.append("hostPath volume %s" % v["name"])
    return problems


for name in ("base", "eks", "local"):
    if not RENDERS[name]:
        continue
    dep = one(name, "Deployment", "creditsense")
    cfg = config_of(name)
    c = container(dep) if dep else None
    if not (dep and cfg and c):
        t.ok(False, "%s: one Deployment creditsense with its config ConfigMap" % name)
        continue
    pod = dep["spec"]["template"]["spec"]
    namespaced = [o for o in RENDERS[name] if o["kind"] != "Namespace"]
    t.ok(all(o["metadata"].get("namespace") == "dq-ai" for o in namespaced) and
         [o["metadata"]["name"] for o in objects(name, "Namespace")] == ["dq-ai"],
         "%s: everything in namespace dq-ai" % name,
         [(o["kind"], o["metadata"].get("namespace")) for o in namespaced if o["metadata"].get("namespace") != "dq-ai"])
    ns = one(name, "Namespace")
    t.eq(ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce"), "restricted",
         "%s: the namespace enforces the restricted Pod Security Standard" % name)
    for kind in ("Deployment", "StatefulSet", "Job"):
        for o in objects(name, kind):
            problems = pod_restricted(o["spec"]["template"]["spec"])
            t.ok(not problems, "%s: %s/%s meets the restricted standard" % (name, kind, o["metadata"]["name"]),
                 problems)

    # Ports: the config's listen port is the containerPort the probes and Services use.
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    cfg_port = int(cfg["server"]["listen"].rsplit(":", 1)[1])
    t.ok(ports.get("http") == cfg_port == LISTEN_PORT and cfg["server"]["listen"].startswith("0.0.0.0:"),
         "%s: containerPort http %s = the config's listen port (%s)" % (name, ports.get("http"), cfg["server"]["listen"]))

    def probe_port(p):
        port = p["httpGet"]["port"]
        return ports.get(port) if isinstance(port, str) else port

    rp, lp = c.get("readinessProbe", {}), c.get("livenessProbe", {})
    t.ok(rp.get("httpGet", {}).get("path") == "/readyz" and probe_port(rp) == cfg_port,
         "%s: readiness probe GET /readyz on the daemon's port" % name, rp)
    t.ok(lp.get("httpGet", {}).get("path") == "/healthz" and probe_port(lp) == cfg_port,
         "%s: liveness probe GET /healthz on the daemon's port" % name, lp)
    sp = c.get("startupProbe")
    t.ok(sp is None or (sp["httpGet"]["path"] == "/healthz" and probe_port(sp) == cfg_port),
         "%s: startup probe, if any, on /healthz" % name, sp)

    # Resources and security context.
    res = c.get("resources", {})
    t.ok(all(k in res.get("requests", {}) for k in ("cpu", "memory")) and "memory" in res.get("limits", {}),
         "%s: resource requests (cpu, memory) and a memory limit" % name, res)
    sc = c.get("securityContext", {})
    t.ok(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False and
         sc.get("capabilities", {}).get("drop") == ["ALL"] and
         (sc.get("runAsNonRoot") or pod.get("securityContext", {}).get("runAsNonRoot")) and
         pod.get("securityContext", {}).get("runAsUser", 0) != 0,
         "%s: non-root, read-only root filesystem, no privilege escalation, all capabilities dropped" % name, sc)
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
    t.ok(tmp and "emptyDir" in vols.get(tmp[0]["name"], {}), "%s: /tmp is an emptyDir" % name)

    # Config and rules mounts.
    cfg_mount = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/etc/creditsense/creditsense.json"]
    t.ok(cfg_mount and vols[cfg_mount[0]["name"]].get("configMap", {}).get("name", "").startswith("creditsense-config")
         and "serve" in c.get("args", []) and "/etc/creditsense/creditsense.json" in c.get("args", []),
         "%s: the config ConfigMap is the file `serve --config` reads" % name, c.get("args"))
    rules_mount = [m for m in c.get("volumeMounts", []) if m["mountPath"] == cfg["rules_dir"]]
    rules_cm = one(name, "ConfigMap", "creditsense-rules")
    t.ok(rules_mount and "subPath" not in rules_mount[0] and
         vols[rules_mount[0]["name"]].get("configMap", {}).get("name") == "creditsense-rules" and rules_cm and
         rules_cm["metadata"]["name"] == "creditsense-rules",
         "%s: the rules ConfigMap is mounted at rules_dir %s without subPath (updates reach the pod)"
         % (name, cfg["rules_dir"]), rules_mount)
    same = rules_cm and sorted(rules_cm.get("data", {})) == RULES and all(
        rules_cm["data"][r] == read(os.path.join(SRC, "rules", r)) for r in RULES)
    t.ok(same, "%s: the rules ConfigMap holds every rules/*.lua, byte for byte (%d)" % (name, len(RULES)),
         sorted(rules_cm.get("data", {})) if rules_cm else None)

    # Shutdown: the grace period covers preStop + drain + the advisor's wait, with a margin.
    grace = pod.get("terminationGracePeriodSeconds", 30)
    pre = c.get("lifecycle", {}).get("preStop", {})
    pre_s = int(pre["exec"]["command"][-1]) if pre.get("exec") else pre.get("sleep", {}).get("seconds", 0)
    drain = cfg["server"]["drain_timeout_ms"] / 1000.0
    need = pre_s + drain + ADVISOR_GRACE_S
    t.ok(pre_s >= PRESTOP_MIN_S and need < grace <= need + 15,
         "%s: terminationGracePeriodSeconds %s covers preStop %ss + drain %ss + %ss, with a margin under 15 s"
         % (name, grace, pre_s, drain, ADVISOR_GRACE_S))

    # Services select the pods and target the named port.
    labels = dep["spec"]["template"]["metadata"]["labels"]
    api, dash = one(name, "Service", "creditsense-api"), one(name, "Service", "creditsense-dashboard")
    for svc, want in ((api, "ClusterIP"), (dash, "LoadBalancer")):
        ok = svc and svc["spec"].get("type") == want and \
            all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()) and \
            all(p["targetPort"] in ("http", cfg_port) for p in svc["spec"]["ports"])
        t.ok(ok, "%s: %s Service %s selects the daemon's pods on its port" %
             (name, want, svc["metadata"]["name"] if svc else "?"), svc and svc["spec"])
    t.ok(api and api["spec"].get("sessionAffinity") == "ClientIP",
         "%s: the API Service keeps a client on one pod (scan jobs are per pod)" % name)

    hpa, pdb = one(name, "HorizontalPodAutoscaler"), one(name, "PodDisruptionBudget")
    if name == "local":
        t.ok(hpa is None and pdb is None and dep["spec"].get("replicas") == 1,
             "local: one replica, no autoscaler, no disruption budget")
    else:
        t.ok(hpa and hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                      "name": "creditsense"}
             and 1 < hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] and "replicas" not in dep["spec"],
             "%s: the HPA scales Deployment creditsense from 2 replicas; the Deployment leaves the count to it" % name)
        t.ok(pdb and all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items())
             and pdb["spec"].get("minAvailable", 0) >= 1,
             "%s: the PodDisruptionBudget keeps a daemon up" % name)

    # Every ${VAR} of the config comes from the pod's environment.
    env_names = {e["name"] for e in c.get("env", [])}
    secret_keys, documented = set(), set()
    for ef in c.get("envFrom", []):
        if "secretRef" in ef:
            sec = one(name, "Secret", ef["secretRef"]["name"])
            if sec:
                secret_keys |= set(sec.get("stringData", {})) | set(sec.get("data", {}))
            else:
                documented.add(ef["secretRef"]["name"])
        if "configMapRef" in ef:
            cm = one(name, "ConfigMap", ef["configMapRef"]["name"])
            env_names |= set(cm.get("data", {})) if cm else set()
    needed = set(re.findall(r"\$\{([A-Z0-9_]+)\}", json.dumps(cfg))) - {"CONFIG_DIR"}
    if cfg["server"].get("token_env"):
        needed.add(cfg["server"]["token_env"])
    if cfg.get("advisor", {}).get("api_key_env") and cfg["advisor"].get("backend") == "gemini":
        needed.add(cfg["advisor"]["api_key_env"])
    if documented:
        # The Secret is made by hand (docs/deploy.md): its keys are those of the documented command.
        doc = read(os.path.join(SRC, "docs", "deploy.md"))
        m = re.search(r"kubectl -n dq-ai create secret generic (\S+)((?:\s*\\\n?\s*--from-literal=[A-Z0-9_]+=\S+)+)",
                      doc)
        if m and m.group(1) in documented:
            secret_keys |= set(re.findall(r"--from-literal=([A-Z0-9_]+)=", m.group(2)))
        t.ok(m and m.group(1) in documented, "%s: docs/deploy.md shows how to create Secret %s" % (name, documented))
    missing = needed - env_names - secret_keys
    t.ok(not missing, "%s: every variable the config expands is in the pod's environment (%s)"
         % (name, ", ".join(sorted(needed))), "missing: %s" % sorted(missing))

# Overlay specifics.
if RENDERS["eks"]:
    dep = one("eks", "Deployment", "creditsense")
    img = container(dep)["image"]
    t.ok(re.match(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/creditsense:[\w.-]+$", img) and "latest" not in img,
         "eks: the image comes from ECR with a fixed tag", img)
    ann = one("eks", "Service", "creditsense-dashboard")["metadata"].get("annotations", {})
    t.ok(ann.get("service.beta.kubernetes.io/aws-load-balancer-type") == "external" and
         ann.get("service.beta.kubernetes.io/aws-load-balancer-nlb-target-type") == "ip" and
         ann.get("service.beta.kubernetes.io/aws-load-balancer-healthcheck-path") == "/readyz",
         "eks: the dashboard's Service carries the AWS Load Balancer Controller's annotations", ann)
    t.ok(not objects("eks", "Secret"), "eks: no Secret is applied (the real one is created by hand and never overwritten)")
    cfg = config_of("eks")
    t.ok("Pwd=${SNOWFLAKE_PASSWORD}" in cfg["source"]["odbc"] and "{SnowflakeDSIIDriver}" in cfg["source"]["odbc"],
         "eks: Snowflake source with the password from ${SNOWFLAKE_PASSWORD}", cfg["source"])
if RENDERS["local"]:
    t.ok(one("local", "StatefulSet", "postgres") and one("local", "Service", "postgres") and
         one("local", "Job", "creditsense-sample"), "local: PostgreSQL and the sample-data Job")
    sec = one("local", "Secret", "creditsense-secrets")
    t.ok(sec and "Server=postgres;" in sec["stringData"]["CREDITSENSE_SOURCE_ODBC"],
         "local: the source is the in-cluster PostgreSQL")
    job = one("local", "Job", "creditsense-sample")
    init = job["spec"]["template"]["spec"]["initContainers"][0]
    load = job["spec"]["template"]["spec"]["containers"][0]
    t.ok(init["command"] == ["/usr/share/creditsense/sample/export.sh"] and
         load["command"] == ["sh", init["args"][0].rstrip("/") + "/load.sh"],
         "local: the Job exports in the CreditSense image and loads with psql from the same volume")

# ---- the real daemon on the rendered configs --------------------------------------------------------------


def materialise_configmap(cm, path, stamp):
    """Lay a ConfigMap out as the kubelet does: ..<stamp>/ files, ..data symlink, per-key symlinks."""
    os.makedirs(path, exist_ok=True)
    ts = os.path.join(path, "..%s" % stamp)
    os.makedirs(ts)
    for k, v in cm["data"].items():
        with open(os.path.join(ts, k), "w") as f:
            f.write(v)
    tmp_link = os.path.join(path, "..data_tmp")
    os.symlink("..%s" % stamp, tmp_link)
    old = os.path.realpath(os.path.join(path, "..data")) if os.path.islink(os.path.join(path, "..data")) else None
    os.rename(tmp_link, os.path.join(path, "..data"))   # the atomic swap
    for k in cm["data"]:
        link = os.path.join(path, k)
        if not os.path.lexists(link):
            os.symlink(os.path.join("..data", k), link)
    for name in os.listdir(path):   # keys gone from the ConfigMap
        if not name.startswith("..") and name not in cm["data"]:
            os.unlink(os.path.join(path, name))
    if old and os.path.isdir(old):
        shutil.rmtree(old)


class Daemon:
    def __init__(self, name, cfg, env):
        self.cfg_path = write_json(os.path.join(work, name + ".json"), cfg)
        self.log_path = os.path.join(work, name + ".log")
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.update(env)
        self.proc = subprocess.Popen([EXE, "serve", "--config", self.cfg_path, "--listen", "127.0.0.1:0",
                                      "--parent-pid", str(os.getpid())],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=e)
        DAEMONS.append(self)
        line = self.proc.stdout.readline()
        m = re.search(r"serving on http://127\.0\.0\.1:(\d+)/", line)
        self.port = int(m.group(1)) if m else None

    def req(self, method, path, body=None, timeout=60):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=None if body is None else json.dumps(body),
                      headers={"Content-Type": "application/json"} if body is not None else {})
            r = c.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw)
            except ValueError:
                return r.status, raw.decode("utf-8", "replace")
        except OSError as e:
            return None, str(e)
        finally:
            c.close()

    def stop(self, timeout=DRAIN_S + 15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
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
        return read(self.log_path)


def wait_for(fn, timeout=15.0, step=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def rule_names(d):
    st, doc = d.req("GET", "/api/v1/rules")
    if st != 200 or not isinstance(doc, dict):
        return set()
    return {r.get("name") for r in doc.get("rules", []) if isinstance(r, dict)}


sample_db = os.path.join(work, "sample.db")
rc, out, err = run([EXE, "demo-data", "--out", sample_db, "--customers", "2000"], timeout=300)
t.ok(rc == 0, "sample data for the daemon runs (2000 customers)", err[-800:])
SQLITE_ODBC = "Driver=SQLite3;Database=%s" % sample_db

try:
    # The base config exactly as rendered, with the rules ConfigMap laid out like the kubelet does.
    if RENDERS["base"] and config_of("base"):
        cfg = config_of("base")
        rules_cm = one("base", "ConfigMap", "creditsense-rules")
        rules_dir = os.path.join(work, "etc-creditsense-rules")
        materialise_configmap(rules_cm, rules_dir, "2026_01_01_00_00_00.000000001")
        cfg["rules_dir"] = rules_dir
        d = Daemon("base", cfg, {"CREDITSENSE_SOURCE_ODBC": SQLITE_ODBC, "GEMINI_API_KEY": ""})
        t.ok(d.port, "base config: the daemon starts (on a loopback ephemeral port)", d.logtext()[-1500:])
        if d.port:
            st, doc = d.req("GET", "/healthz")
            t.ok(st == 200, "base config: GET /healthz (the liveness probe) -> 200", doc)
            st, doc = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(d.req("GET", "/readyz")), 30) or \
                d.req("GET", "/readyz")
            t.ok(st == 200, "base config: GET /readyz (the readiness probe) -> 200 on the sample data", doc)
            loaded = doc.get("checks", {}).get("rules", {}).get("loaded") if isinstance(doc, dict) else None
            t.eq(loaded, len(RULES), "base config: every rule of the mounted ConfigMap is loaded")
            st, doc = d.req("GET", "/metrics")
            t.ok(st == 200 and "creditsense_" in str(doc), "base config: GET /metrics (the pods' scrape annotation)")
            st, doc = d.req("POST", "/process_customer", {"customer_id": 103065}, timeout=120)
            t.ok(st == 200 and isinstance(doc, dict) and doc.get("anomalies"),
                 "base config: POST /process_customer 103065 finds anomalies", str(doc)[:800])
            # A ConfigMap edit: the kubelet writes a new ..<timestamp> directory and swaps ..data.
            before = rule_names(d)
            edited = dict(rules_cm, data=dict(rules_cm["data"]))
            edited["data"]["deploy_test_rule.lua"] = (
                'rule {\n  name = "deploy_test_rule",\n  description = "added by editing the ConfigMap",\n'
                '  table = "SAMPLE_APPLICATION",\n  columns = {"AMT_CREDIT"},\n  severity = "low",\n'
                '  row = function(r) return r.AMT_CREDIT and r.AMT_CREDIT < 0 end,\n}\n')
            materialise_configmap(edited, rules_dir, "2026_01_01_00_01_00.000000002")
            after = wait_for(lambda: (lambda s: s if "deploy_test_rule" in s else None)(rule_names(d)), 15)
            t.ok(after and "deploy_test_rule" in after and before <= after,
                 "base config: editing the rules ConfigMap (a ..data swap) reloads the rules without a restart",
                 "before %s\nafter %s" % (sorted(before), sorted(rule_names(d))))
            start = time.time()
            rc = d.stop()
            t.ok(rc == 0 and time.time() - start < DRAIN_S + ADVISOR_GRACE_S,
                 "base config: SIGTERM -> exit 0 within the drain deadline", d.logtext()[-1000:])

    # The EKS config: accepted, not ready without Snowflake's driver here, the password never shown.
    if RENDERS["eks"] and config_of("eks"):
        cfg = config_of("eks")
        cfg["rules_dir"] = os.path.join(SRC, "rules")
        secret = "Sn0wfl4ke-example-pw"
        env = {k: "example" for k in ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_DATABASE", "SNOWFLAKE_SCHEMA",
                                      "SNOWFLAKE_WAREHOUSE", "SNOWFLAKE_ROLE")}
        env.update({"SNOWFLAKE_PASSWORD": secret, "GEMINI_API_KEY": "example-key", "CREDITSENSE_API_TOKEN": "tok-123"})
        d = Daemon("eks", cfg, env)
        t.ok(d.port, "eks config: the daemon accepts it and starts", d.logtext()[-1500:])
        if d.port:
            st, doc = d.req("GET", "/healthz")
            t.ok(st == 200, "eks config: GET /healthz -> 200 without a database")
            st, doc = wait_for(lambda: (lambda r: r if r[0] == 503 and "database" in json.dumps(r[1]) else None)(
                d.req("GET", "/readyz")), 20) or d.req("GET", "/readyz")
            t.ok(st == 503, "eks config: GET /readyz -> 503 while Snowflake cannot be reached (no driver here)", doc)
            st, cfgdoc = d.req("GET", "/api/v1/config")
            rc = d.stop()
            shown = json.dumps(doc) + json.dumps(cfgdoc) + d.logtext()
            t.ok(rc == 0 and secret not in shown and "tok-123" not in shown,
                 "eks config: the Snowflake password and the API token appear in no response or log line")

    # The compose "llm" profile's config: accepted (OpenAI-compatible backend).
    cfg = load_json(os.path.join(DEPLOY, "compose", "creditsense-llm.json"))
    cfg["rules_dir"] = os.path.join(SRC, "rules")
    d = Daemon("compose-llm", cfg, {"CREDITSENSE_SOURCE_ODBC": SQLITE_ODBC})
    st, doc = d.req("GET", "/healthz") if d.port else (None, None)
    rc = d.stop()
    t.ok(d.port and st == 200 and rc == 0, "compose llm config: the daemon accepts it, answers and stops cleanly",
         d.logtext()[-1000:])
finally:
    for dd in DAEMONS:
        if dd.proc.poll() is None:
            dd.proc.kill()

# ---- the compose / local-overlay data path into PostgreSQL -------------------------------------------------

PG = os.environ.get("CS_PG_ODBC") and shutil.which("psql")
if not PG:
    t.skip("export.sh + load.sh into PostgreSQL, the daemon on it", "no PostgreSQL (tests/run.sh starts one)")
else:
    db = "cs_deploy_%d" % os.getpid()
    psql_env = {"PGDATABASE": "postgres"}
    rc, out, err = run(["psql", "-X", "-q", "-c", "DROP DATABASE IF EXISTS %s" % db, "-c", "CREATE DATABASE %s" % db],
                       env=psql_env)
    t.ok(rc == 0, "a fresh PostgreSQL database for the sample data", err)
    sample = os.path.join(work, "sample")
    env = {"PATH": BUILD + os.pathsep + os.environ.get("PATH", ""), "CUSTOMERS": "2000", "PGDATABASE": db}
    rc, out, err = run(["sh", os.path.join(DEPLOY, "sample", "export.sh"), sample], env=env, timeout=600)
    t.ok(rc == 0 and os.path.exists(os.path.join(sample, "load.sh")) and
         sorted(read(os.path.join(sample, "tables.txt")).split()) ==
         ["SAMPLE_APPLICATION", "SAMPLE_BUREAU", "SAMPLE_INSTALLMENTS", "SAMPLE_PREVIOUS_APP"],
         "export.sh: demo data exported as schema.sql + one CSV per table", out + err)
    t.ok("non-numeric values in numeric columns written as NULL" in err,
         "export.sh: the sample's text-in-a-numeric-column defect is reported, not loaded into a typed column", err)
    rc, out, err = run(["sh", os.path.join(sample, "load.sh")], env=env, timeout=600)
    t.ok(rc == 0 and "sample_application: 2006 rows" in out, "load.sh: the sample tables loaded into PostgreSQL",
         out + err)
    rc2, out2, err2 = run(["sh", os.path.join(sample, "load.sh")], env=env, timeout=120)
    t.ok(rc2 == 0 and "already loaded" in out2, "load.sh: a second run leaves the loaded tables alone", out2 + err2)
    # The daemon on it, through psqlODBC registered by the image's odbcinst.ini (relative driver names).
    odbc = os.path.join(work, "image-odbc")
    os.makedirs(odbc)
    shutil.copy(os.path.join(DEPLOY, "container", "odbcinst.ini"), os.path.join(odbc, "odbcinst.ini"))
    port = re.search(r"Port=(\d+)", os.environ["CS_PG_ODBC"]).group(1)
    conn = "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=%s;Database=%s;Uid=%s;" % (
        port, db, os.environ.get("PGUSER", "postgres"))
    cfg = dict(CONTAINER_CFG, rules_dir=os.path.join(SRC, "rules"))
    d = Daemon("compose-pg", cfg, {"CREDITSENSE_SOURCE_ODBC": conn, "ODBCSYSINI": odbc, "GEMINI_API_KEY": ""})
    try:
        st, doc = (wait_for(lambda: (lambda r: r if r[0] == 200 else None)(d.req("GET", "/readyz")), 30)
                   or d.req("GET", "/readyz")) if d.port else (None, d.logtext()[-1500:])
        t.ok(st == 200, "the image's config + odbcinst.ini on the loaded PostgreSQL: /readyz -> 200", doc)
        st, doc = d.req("POST", "/process_customer", {"customer_id": 103065}, timeout=120)
        t.ok(st == 200 and isinstance(doc, dict) and doc.get("anomalies"),
             "the daemon on the loaded PostgreSQL: POST /process_customer 103065 finds anomalies", str(doc)[:800])
        st, runs = d.req("GET", "/api/v1/runs?customer=103065")
        t.ok(st == 200 and "103065" in json.dumps(runs), "the run is stored in PostgreSQL (GET /api/v1/runs)",
             str(runs)[:500])
        t.ok(not glob.glob("/tmp/psqlodbc_creditsense*%d.log" % d.proc.pid),
             "the image's odbcinst.ini keeps psqlODBC from writing log files into /tmp")
    finally:
        rc = d.stop()
        run(["psql", "-X", "-q", "-c", "DROP DATABASE IF EXISTS %s" % db], env=psql_env)
    t.ok(rc == 0, "the daemon on PostgreSQL stops cleanly", d.logtext()[-800:])

# ---- compose ------------------------------------------------------------------------------------------------

compose = yaml.safe_load(read(os.path.join(DEPLOY, "docker-compose.yml"))) if yaml else None
if have_validator and compose:
    rc, results, err = node_validate("compose", compose)
    t.ok(rc == 0 and results and results[0]["ok"], "docker-compose.yml validates against the compose-spec schema",
         json.dumps(results) + err[-800:])
if compose:
    svc = compose["services"]
    cs = svc["creditsense"]
    t.ok("127.0.0.1:${CREDITSENSE_PORT:-8080}:%d" % LISTEN_PORT in cs["ports"],
         "compose: the daemon's port %d published on the host's loopback" % LISTEN_PORT, cs["ports"])
    t.ok(cs["build"]["dockerfile"] == "deploy/Dockerfile" and cs["build"]["context"] == "..",
         "compose: builds deploy/Dockerfile from the repository root")
    vols = {v.split(":")[1]: v.split(":")[0] for v in cs["volumes"]}
    t.ok(vols.get(CONTAINER_CFG["rules_dir"]) == "../rules", "compose: the repository's rules/ is the rules directory")
    llm_cfg = load_json(os.path.join(DEPLOY, "compose", "creditsense-llm.json"))
    t.ok(vols.get("/etc/creditsense/creditsense-llm.json") == "./compose/creditsense-llm.json" and
         llm_cfg["advisor"]["base_url"].startswith("http://llm:11434/") and
         llm_cfg["advisor"]["model"] in " ".join(svc["llm-pull"]["entrypoint"]),
         "compose: the llm profile's config points at the llm service and the model llm-pull fetches")
    t.ok("CREDITSENSE_SOURCE_ODBC" in cs["environment"] and "Server=postgres;" in cs["environment"][
        "CREDITSENSE_SOURCE_ODBC"], "compose: the daemon reads the compose PostgreSQL")
    exp, load = svc["sample-export"], svc["sample-load"]
    exp_vol = exp["volumes"][0].split(":")
    load_vol = load["volumes"][0].split(":")
    out_dir = exp["command"][0]
    in_load = load_vol[1] + out_dir[len(exp_vol[1]):] + "/load.sh"
    t.ok(exp_vol[0] == load_vol[0] and out_dir.startswith(exp_vol[1] + "/") and load["command"] == ["sh", in_load],
         "compose: sample-load runs the load.sh sample-export wrote, from the shared volume", (out_dir, load["command"]))
    t.ok(cs["depends_on"]["sample-load"]["condition"] == "service_completed_successfully" and
         load["depends_on"]["sample-export"]["condition"] == "service_completed_successfully" and
         load["depends_on"]["postgres"]["condition"] == "service_healthy",
         "compose: postgres healthy -> export -> load -> daemon")
    grace = re.match(r"(\d+)s$", cs.get("stop_grace_period", "10s"))
    t.ok(grace and int(grace.group(1)) > DRAIN_S + ADVISOR_GRACE_S and cs.get("read_only") is True and
         cs.get("cap_drop") == ["ALL"], "compose: read-only, no capabilities, stop grace above the drain deadline")
    images = [s["image"] for s in svc.values() if "image" in s]
    t.ok(all(":" in i.split("/")[-1] and not i.endswith(":latest") for i in images),
         "compose: every image has a tag, none is latest", images)

# ---- the Dockerfile -----------------------------------------------------------------------------------------


def dockerfile_instructions(text):
    """[(INSTRUCTION, argument)] with continuation lines joined and comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


DOCKERFILE = read(os.path.join(DEPLOY, "Dockerfile"))
ins = dockerfile_instructions(DOCKERFILE)
args = {}
stages = []   # [{"name", "base", "ins": [...]}]
for i, (word, arg) in enumerate(ins):
    if word == "ARG" and not stages:
        k, _, v = arg.partition("=")
        args[k] = v.strip('"')
    elif word == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", arg, re.I)
        stages.append({"base": m.group(1), "name": m.group(2), "ins": []})
    elif stages:
        stages[-1]["ins"].append((word, arg))
final = stages[-1] if stages else {"ins": [], "name": None, "base": ""}


def resolve(base):
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base)


bases = [resolve(s["base"]) for s in stages]
t.ok(len(stages) >= 2 and final["name"] == "runtime", "Dockerfile: multi-stage, the last stage is runtime",
     [s["name"] for s in stages])
t.ok(all(re.match(r"^debian:12\.\d+-slim(@sha256:[0-9a-f]{64})?$", b) or b in [s["name"] for s in stages]
         for b in bases),
     "Dockerfile: every stage is Debian 12 slim pinned to a point release (not latest, not the floating 12-slim)",
     bases)
t.ok("latest" not in DOCKERFILE.lower().replace("the latest", ""), "Dockerfile: no latest tag anywhere")
users = [a for w, a in final["ins"] if w == "USER"]
t.ok(users and users[-1].split(":")[0] not in ("root", "0") and
     all(w != "RUN" for w, _ in final["ins"][[x for x, _ in final["ins"]].index("USER"):]),
     "Dockerfile: the runtime stage ends as a non-root USER (%s) with no RUN after it" % (users[-1] if users else None))
t.ok(re.search(r"useradd .*--uid %s\b" % re.escape(users[-1].split(":")[0]) if users else "$^", DOCKERFILE) and
     one("base", "Deployment", "creditsense") and str(one("base", "Deployment", "creditsense")["spec"]["template"]
                                                       ["spec"]["securityContext"]["runAsUser"]) ==
     users[-1].split(":")[0], "Dockerfile: the image's user is the uid the Deployment runs as")
hc = [a for w, a in final["ins"] if w == "HEALTHCHECK"]
t.ok(len(hc) == 1 and "/healthz" in hc[0] and ":%d/" % LISTEN_PORT in hc[0] and "curl" in hc[0] and "-f" in hc[0],
     "Dockerfile: one HEALTHCHECK, GET /healthz on the daemon's port, failing on HTTP errors", hc)
exposed = [a for w, a in final["ins"] if w == "EXPOSE"]
t.eq(exposed, [str(LISTEN_PORT)], "Dockerfile: EXPOSE the config's listen port")
runs_all = [(s["name"], a) for s in stages for w, a in s["ins"] if w == "RUN"]
bad_install = [a for _, a in runs_all for m in re.finditer(r"apt-get install([^&;|]*)", a)
               if "--no-install-recommends" not in m.group(1) or " -y" not in m.group(1)]
t.ok(not bad_install, "Dockerfile: apt-get install always with -y --no-install-recommends (DL3014, DL3015)",
     bad_install)
bad_lists = [a for _, a in runs_all if "apt-get update" in a and "rm -rf /var/lib/apt/lists/*" not in a]
t.ok(not bad_lists, "Dockerfile: apt lists removed in the RUN that fetched them (DL3009)", bad_lists)
t.ok(not re.search(r"apt-get (dist-)?upgrade|\bsudo\b|^\s*ADD\s|^\s*MAINTAINER", DOCKERFILE, re.M | re.I),
     "Dockerfile: no apt-get upgrade, sudo, ADD or MAINTAINER (DL3005, DL3004, DL3020, DL4000)")
t.ok(all(any(w == "SHELL" and "pipefail" in a for w, a in s["ins"]) for s in stages if
         any(w == "RUN" and "|" in a for w, a in s["ins"])),
     "Dockerfile: stages whose RUN pipes set SHELL with pipefail (DL4006)")
workdirs = [a for s in stages for w, a in s["ins"] if w == "WORKDIR"]
t.ok(all(a.startswith("/") for a in workdirs), "Dockerfile: WORKDIR absolute (DL3000)", workdirs)
t.ok(not [a for _, a in runs_all if re.search(r"(^|&&|;)\s*cd\s", a)], "Dockerfile: no cd in RUN, WORKDIR instead (DL3003)")
for word in ("CMD", "ENTRYPOINT"):
    vals = [a for w, a in final["ins"] if w == word]
    t.ok(len(vals) == 1 and vals[0].startswith("["), "Dockerfile: one %s, exec (JSON) form (DL3025, DL4003/4)" % word,
         vals)
entry = json.loads([a for w, a in final["ins"] if w == "ENTRYPOINT"][0] or "[]")
cmd = json.loads([a for w, a in final["ins"] if w == "CMD"][0] or "[]")
t.ok(entry[-1] == "/usr/bin/creditsense" and cmd == ["serve", "--config", "/etc/creditsense/creditsense.json"] and
     "COPY deploy/container/creditsense.json /etc/creditsense/creditsense.json" in DOCKERFILE,
     "Dockerfile: runs `creditsense serve --config /etc/creditsense/creditsense.json`, that file is the image's config",
     (entry, cmd))
stage_names = {s["name"] for s in stages}
copies = [a for s in stages for w, a in s["ins"] if w == "COPY"]
t.ok(all(re.match(r"--from=(\S+)", c).group(1) in stage_names for c in copies if c.startswith("--from=")),
     "Dockerfile: COPY --from names a stage of this file (DL3022)")
ignore = [l.strip() for l in read(os.path.join(DEPLOY, "Dockerfile.dockerignore")).splitlines()
          if l.strip() and not l.startswith("#")]
srcs = [p for c in copies if not c.startswith("--from=") for p in shlex.split(c)[:-1]]
t.ok(srcs and all(os.path.exists(os.path.join(SRC, p)) for p in srcs if p != "."),
     "Dockerfile: every COPY source exists in the build context (the repository root)", srcs)
t.ok(not any(p.split("/")[0] + "/" in ignore or p in ignore for p in srcs),
     "Dockerfile: no COPY source is excluded by deploy/Dockerfile.dockerignore")
t.ok(any(w == "RUN" and "meson setup" in a and "--buildtype=release" in a and "--prefix=/usr" in a and
         "--destdir" in a for w, a in stages[0]["ins"]) and "/src/deploy/install-deps.sh" in DOCKERFILE,
     "Dockerfile: the build stage installs deploy/install-deps.sh's packages and builds release into a DESTDIR")

# The runtime packages carry every library the binary and the plugins link.
runtime_pkgs = set()
for _, a in [(s["name"], a) for s in stages if s is final for w, a in s["ins"] if w == "RUN"]:
    for m in re.finditer(r"apt-get install((?:\s+[-\w.+/]+)+)", a):
        runtime_pkgs |= {p for p in m.group(1).split() if not p.startswith("-") and not p.startswith("/")}
t.ok({"libsqliteodbc", "odbc-postgresql", "unixodbc", "tini", "ca-certificates"} <= runtime_pkgs,
     "Dockerfile: the runtime carries unixODBC with the SQLite and PostgreSQL drivers, tini and CA certificates",
     sorted(runtime_pkgs))
binaries = [EXE] + sorted(glob.glob(os.path.join(BUILD, "plugins", "*.so")))
needed = set()
for b in binaries:
    rc, out, err = run(["readelf", "-d", b])
    needed |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
needed -= {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "ld-linux-x86-64.so.2"}
needed = {n for n in needed if not n.startswith(("libasan", "libubsan", "liblsan"))}   # a sanitizer build
ldcache = run(["ldconfig", "-p"])[1]
pkg_of, unresolved = {}, []
for so in sorted(needed):
    m = re.search(r"^\s*%s \([^)]*x86-64[^)]*\) => (\S+)" % re.escape(so), ldcache, re.M) or \
        re.search(r"^\s*%s .* => (\S+)" % re.escape(so), ldcache, re.M)
    pkg = None
    if m:
        for cand in (m.group(1), os.path.realpath(m.group(1)),
                     re.sub(r"^/usr/lib/", "/lib/", os.path.realpath(m.group(1)))):
            rc, out, err = run(["dpkg", "-S", cand])
            if rc == 0:
                pkg = out.split(":")[0]
                break
    pkg_of[so] = pkg
    if pkg is None or pkg not in runtime_pkgs:
        unresolved.append((so, pkg))
t.ok(needed and not unresolved,
     "Dockerfile: the runtime installs the package of every library the binary and plugins need (%s)"
     % ", ".join(sorted(set(p for p in pkg_of.values() if p))), unresolved)
t.ok("SnowflakeDSIIDriver" in DOCKERFILE and "sha256sum -c" in DOCKERFILE and
     re.search(r"ARG SNOWFLAKE_ODBC_VERSION=\"\"", DOCKERFILE),
     "Dockerfile: Snowflake's driver is an opt-in build argument, checked by SHA-256, registered as SnowflakeDSIIDriver")

# ---- systemd --------------------------------------------------------------------------------------------------

unit = read(os.path.join(DEPLOY, "systemd", "creditsense.service"))


def directive(name):
    return re.findall(r"^%s=(.*)$" % name, unit, re.M)


want = {"User": "creditsense", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes"}
t.ok(all(directive(k) == [v] for k, v in want.items()) and directive("Type")[0] in ("simple", "exec", "notify"),
     "systemd: Type simple/exec, User=creditsense, hardening (ProtectSystem=strict, NoNewPrivileges, ...)",
     {k: directive(k) for k in want})
stop = directive("TimeoutStopSec")
t.ok(stop and DRAIN_S + ADVISOR_GRACE_S < int(stop[0]) <= DRAIN_S + ADVISOR_GRACE_S + 15 and
     directive("KillSignal") == ["SIGTERM"],
     "systemd: SIGTERM and TimeoutStopSec %s above drain %ss + %ss" % (stop, DRAIN_S, ADVISOR_GRACE_S))
t.ok(directive("EnvironmentFile") and directive("ExecStart")[0].split()[1:] ==
     ["serve", "--config", "/etc/creditsense/creditsense.json"] and directive("ExecReload"),
     "systemd: secrets from an EnvironmentFile, serve --config /etc/creditsense/creditsense.json, reload by SIGHUP")
if shutil.which("systemd-analyze"):
    path = os.path.join(work, "creditsense.service")
    with open(path, "w") as f:
        f.write(re.sub(r"^ExecStart=\S+", "ExecStart=" + EXE, unit, flags=re.M))
    rc, out, err = run(["systemd-analyze", "verify", path], timeout=60)
    t.ok(rc == 0 and "creditsense.service" not in err, "systemd: `systemd-analyze verify` accepts the unit", out + err)
else:
    t.skip("systemd: systemd-analyze verify", "systemd-analyze is not installed")

# ---- docs --------------------------------------------------------------------------------------------------

doc = read(os.path.join(SRC, "docs", "deploy.md"))
paths = set(re.findall(r"\b((?:deploy|rules|docs|tests)/[\w./-]*\w)", doc))
t.ok(paths and all(os.path.exists(os.path.join(SRC, p)) for p in paths),
     "docs/deploy.md: every repository path it names exists", sorted(p for p in paths
                                                                    if not os.path.exists(os.path.join(SRC, p))))
for what, pattern in (("build the image", r"docker build .*-f deploy/Dockerfile"),
                      ("push to ECR", r"REPO=\S+\.dkr\.ecr\.[\s\S]*docker push \$REPO:"),
                      ("create the Secret", r"kubectl -n dq-ai create secret generic creditsense-secrets"),
                      ("apply the overlay", r"kubectl apply -k deploy/k8s/overlays/eks"),
                      ("edit the rules ConfigMap", r"kubectl -n dq-ai edit configmap creditsense-rules"),
                      ("scale", r"minReplicas"),
                      ("compose", r"docker compose -f deploy/docker-compose.yml up"),
                      ("kind", r"kind load docker-image")):
    t.ok(re.search(pattern, doc), "docs/deploy.md: %s" % what)

sys.exit(t.done())
