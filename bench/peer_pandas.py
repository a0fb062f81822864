#!/usr/bin/env python3
"""peer_pandas.py -- the pandas script CreditSense replaces, doing the same checks.

Usage: peer_pandas.py CONFIG.json DB_FILE TABLE

Reads the whole table into a DataFrame (as the seed's Python service and
the usual data-team scripts do), then applies the same column policies as
CreditSense's config (exact name, else the longest glob): missing values
(NULL/NaN, sentinels), negatives, duplicate keys (or whole rows), and
outliers (z-score, IQR or MAD).  Prints {"check|column|kind": count} as
JSON so the benchmark can check that both tools found the same things.
"""
import fnmatch
import json
import sqlite3
import sys

import numpy as np
import pandas as pd


def column_conf(tconf, name):
    cols = tconf.get("columns", {})
    if name in cols:
        return cols[name]
    best = None
    for pat, conf in cols.items():
        if any(c in pat for c in "*?[") and fnmatch.fnmatchcase(name.upper(), pat.upper()):
            if best is None or len(pat) > len(best[0]):
                best = (pat, conf)
    return best[1] if best else {}


def outlier_bounds(x, method, thr):
    if method == "zscore":
        sd = x.std(ddof=0)
        return (x.mean() - thr * sd, x.mean() + thr * sd) if sd > 0 else None
    if method == "iqr":
        q1, q3 = x.quantile(0.25), x.quantile(0.75)  # a zero IQR says nothing: skipped, as CreditSense does
        return (q1 - thr * (q3 - q1), q3 + thr * (q3 - q1)) if q3 > q1 else None
    med = x.median()
    mad = (x - med).abs().median()
    return (med - thr * 1.4826 * mad, med + thr * 1.4826 * mad) if mad > 0 else None


def check_column(df, name, conf, is_key, found):
    s = df[name]
    nulls = int(s.isna().sum())  # before coercion: unreadable text is "invalid", not NULL
    numeric = pd.api.types.is_numeric_dtype(s)
    if not numeric:  # SQLite lets text into numeric columns; coerce like the engine's "invalid"
        coerced = pd.to_numeric(s, errors="coerce")
        if coerced.notna().sum() > 0.5 * s.notna().sum() and s.notna().any():
            invalid = int((coerced.isna() & s.notna()).sum())
            if invalid:
                found["missing|%s|invalid" % name] = invalid
            s, numeric = coerced, True
    if nulls:
        found["missing|%s|null" % name] = nulls
    sentinels = conf.get("sentinels", [])
    if sentinels:
        hit = s.isin(sentinels)
        if hit.sum():
            found["missing|%s|sentinel" % name] = int(hit.sum())
        s = s[~hit]
    if not numeric:
        return
    x = s.dropna()
    x = x[np.isfinite(x)]
    if not conf.get("allow_negative", False) and (x < 0).sum():
        found["negative|%s|%s" % (name, "key" if is_key else "value")] = int((x < 0).sum())
    out = conf.get("outlier", {"method": "zscore", "threshold": 3})
    if is_key or out is False or len(x) < 30:
        return
    method, thr = out.get("method", "zscore"), out.get("threshold", 3)
    b = outlier_bounds(x.astype(float), method, thr)
    if b is not None:
        n = int(((x < b[0]) | (x > b[1])).sum())
        if n:
            found["outlier|%s|%s" % (name, method)] = n


def main():
    cfg = json.load(open(sys.argv[1]))
    table = sys.argv[3]
    tconf = cfg["tables"][table]
    df = pd.read_sql_query('SELECT * FROM "%s"' % table, sqlite3.connect(sys.argv[2]))
    pk = tconf.get("primary_key", [])
    pk = [pk] if isinstance(pk, str) else pk
    keys = set(pk) | {tconf.get("customer_key")}
    found = {}
    for name in df.columns:
        check_column(df, name, column_conf(tconf, name), name in keys, found)
    if pk:
        d = df.dropna(subset=pk).duplicated(subset=pk).sum()
        if d:
            found["duplicate|%s|key" % ",".join(pk)] = int(d)
    else:
        d = df.duplicated().sum()
        if d:
            found["duplicate|*|row"] = int(d)
    print(json.dumps(found, sort_keys=True))


main()
