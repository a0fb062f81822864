#!/usr/bin/env python3
"""pushdown_pandas_pg.py -- bench/peer_pandas.py reading its table from PostgreSQL.

Usage: pushdown_pandas_pg.py CONFIG.json TABLE

There is no PostgreSQL driver for Python on the benchmark machine, so the
table comes over the wire as `psql -c "\\copy (SELECT ...) TO STDOUT CSV"`
(the PG* environment variables name the server) into pandas.read_csv; the
checks are peer_pandas.py's own, unchanged (its read_sql_query is swapped
for this reader).
"""
import io
import os
import runpy
import subprocess
import sys

import pandas as pd


def read_pg(sql, _conn):
    out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "\\copy (%s) TO STDOUT WITH (FORMAT csv, HEADER)" % sql],
                         check=True, capture_output=True).stdout
    return pd.read_csv(io.BytesIO(out))


if len(sys.argv) != 3:
    sys.exit(__doc__)
pd.read_sql_query = read_pg
sys.argv = [sys.argv[0], sys.argv[1], ":memory:", sys.argv[2]]
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_pandas.py"), run_name="__main__")
