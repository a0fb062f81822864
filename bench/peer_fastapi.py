#!/usr/bin/env python3
"""peer_fastapi.py -- the seed's approach to /process_customer: FastAPI + pandas.

    PEER_CONFIG=deploy-style.json PEER_DB=sample.db python3 -m uvicorn peer_fastapi:app --port N

Per request, as the seed's orchestrator did: read the customer's rows of
every table with a customer_key into DataFrames (one parameterised query
per table), run the checks on them with bench/peer_pandas.py's column
logic (missing and sentinels, negatives, duplicate keys, outliers), and
answer {"customer_id", "anomalies", "suggestions"}.  No LLM and no store:
this peer does strictly less work than `creditsense serve` does per
request, so the comparison flatters it.
"""
import json
import os
import sqlite3
import threading

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

HERE = os.path.dirname(os.path.abspath(__file__))
# peer_pandas.py is a script (it calls main() at the end): take its functions without running it.
_src = open(os.path.join(HERE, "peer_pandas.py")).read().rsplit("\nmain()", 1)[0]
PEER = {}
exec(compile(_src, "peer_pandas.py", "exec"), PEER)  # noqa: S102 - our own file
pd = PEER["pd"]

CFG = json.load(open(os.environ["PEER_CONFIG"]))
DB = os.environ["PEER_DB"]
TABLES = [(name, t) for name, t in CFG["tables"].items() if t.get("customer_key")]
_local = threading.local()
app = FastAPI()


class Customer(BaseModel):
    customer_id: int


def db():
    if not hasattr(_local, "conn"):
        _local.conn = sqlite3.connect("file:%s?mode=ro" % DB, uri=True, check_same_thread=False)
    return _local.conn


def check_table(name, tconf, df):
    pk = tconf.get("primary_key", [])
    pk = [pk] if isinstance(pk, str) else pk
    keys = set(pk) | {tconf.get("customer_key")}
    found = {}
    for col in df.columns:
        PEER["check_column"](df, col, PEER["column_conf"](tconf, col), col in keys, found)
    if pk and df.dropna(subset=pk).duplicated(subset=pk).sum():
        found["duplicate|%s|key" % ",".join(pk)] = int(df.dropna(subset=pk).duplicated(subset=pk).sum())
    return [{"table": name, "check": k.split("|")[0], "column": k.split("|")[1], "kind": k.split("|")[2],
             "count": v, "total": len(df)} for k, v in found.items()]


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/process_customer")
def process_customer(c: Customer):
    anomalies, rows = [], 0
    for name, tconf in TABLES:
        df = pd.read_sql_query('SELECT * FROM "%s" WHERE "%s" = ?' % (name, tconf["customer_key"]), db(),
                               params=(c.customer_id,))
        rows += len(df)
        if len(df):
            anomalies += check_table(name, tconf, df)
    if rows == 0:
        raise HTTPException(status_code=404, detail="customer not found")
    return {"customer_id": c.customer_id, "rows_scanned": rows, "anomalies": anomalies, "suggestions": []}
