"""taplib.py -- Test Anything Protocol output and helpers for the Python tests.

    t = Tap()
    t.ok(cond, "what is checked")
    t.eq(got, want, "what is compared")     # shows both values on failure
    sys.exit(t.done())                       # prints "1..N"; 1 when anything failed
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, detail=None):
        self.n += 1
        what = " ".join(str(what).split())  # one TAP line, whatever the message holds
        print(("ok" if cond else "not ok") + " %d - %s" % (self.n, what))
        if not cond:
            self.failed += 1
            if detail:
                for line in str(detail).splitlines()[:40]:
                    print("#   " + line)
        sys.stdout.flush()
        return bool(cond)

    def eq(self, got, want, what):
        return self.ok(got == want, what, "got:  %r\nwant: %r" % (got, want))

    def skip(self, what, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, what, why))

    def done(self):
        print("1..%d" % self.n)
        return 1 if self.failed else 0


def workdir(name):
    """A fresh directory under $CS_TEST_WORK (or /tmp) for one test file."""
    base = os.environ.get("CS_TEST_WORK") or tempfile.gettempdir()
    return tempfile.mkdtemp(prefix=name + ".", dir=base)


def run(argv, timeout=300, env=None):
    """Run a command; returns (exit status, stdout, stderr)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


def run_json(argv, **kw):
    """Run a command expected to print JSON; returns (status, parsed or None, stderr)."""
    rc, out, err = run(argv, **kw)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, err + "\n[stdout not JSON] " + out[:500]


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
    return path


def ensure_odbcinst(dirpath):
    """Point unixODBC at our own odbcinst.ini unless the runner already did."""
    if os.environ.get("ODBCSYSINI"):
        return
    d = os.path.join(dirpath, "odbc")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "odbcinst.ini"),
                os.path.join(d, "odbcinst.ini"))
    os.environ["ODBCSYSINI"] = d
