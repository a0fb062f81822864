#!/usr/bin/env python3
"""Turns meson's testlog.json into the closing line "N passed, N failed".

Every TAP line counts ("ok" passes, "not ok" fails); a test program that
failed without printing a "not ok" line (a crash, a sanitizer report, a
timeout) counts as one failure more.  Exit status: 0 only when nothing failed.
"""
import json
import re
import sys

passed = failed = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        out = t.get("stdout") or ""
        oks = len(re.findall(r"^ok\b", out, re.M))
        noks = len(re.findall(r"^not ok\b", out, re.M))
        passed += oks
        failed += noks
        if t.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") and noks == 0:
            failed += 1
            print(f"FAILED without a TAP failure line: {t.get('name')} ({t.get('result')})")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
