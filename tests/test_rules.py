#!/usr/bin/env python3
"""test_rules.py -- the shipped Lua rules and the rules command, end to end.

Usage: test_rules.py BUILD_DIR SOURCE_DIR

Builds tiny SQLite versions of the four Home Credit tables whose rows are
chosen to trigger, or just miss, each shipped rule in rules/, runs
`creditsense scan` and `creditsense customer` with rules_dir pointing at the
repository's rules/, and asserts which rows every rule reports.  Then:
`rules list` and `rules check` (exit 0, and exit 2 with file:line errors for
broken files, unknown columns and tables, customer rules on tables without a
customer_key); the example of lua/README.md copied into a rules directory
with one line changed shows up in a scan; a rule file dropped between two
scans is picked up; rules for other tables add nothing to a table's scan;
and the shipped rules fire on the generated sample data for the example
customers whose defects docs/sample-data.md lists.  Prints TAP.
"""
import json
import os
import re
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import Tap, ensure_odbcinst, run, run_json, workdir, write_json  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
SOURCE = os.path.abspath(sys.argv[2])
EXE = os.path.join(BUILD, "creditsense")
RULES = os.path.join(SOURCE, "rules")
t = Tap()
work = workdir("rules-cli")
ensure_odbcinst(work)

# ---- the fixture ---------------------------------------------------------------
# SAMPLE_APPLICATION: a clean base row, varied one column at a time.
APP_COLS = ["SK_ID_CURR", "NAME_INCOME_TYPE", "DAYS_EMPLOYED", "CODE_GENDER", "AMT_CREDIT", "AMT_ANNUITY",
            "AMT_GOODS_PRICE", "DAYS_BIRTH", "OWN_CAR_AGE", "AMT_INCOME_TOTAL"]
BASE = {"NAME_INCOME_TYPE": "Working", "DAYS_EMPLOYED": -1000, "CODE_GENDER": "F", "AMT_CREDIT": 100000.0,
        "AMT_ANNUITY": 10000.0, "AMT_GOODS_PRICE": 90000.0, "DAYS_BIRTH": -12000, "OWN_CAR_AGE": None,
        "AMT_INCOME_TOTAL": 200000.0}
APP = {
    1: {},                                                       # clean
    2: {"DAYS_EMPLOYED": 365243, "NAME_INCOME_TYPE": "Pensioner"},
    3: {"DAYS_EMPLOYED": 365243},                               # working with the placeholder
    4: {"DAYS_EMPLOYED": 365243, "NAME_INCOME_TYPE": "Unemployed"},
    5: {"CODE_GENDER": "XNA"},
    6: {"CODE_GENDER": "M"},
    7: {"AMT_ANNUITY": 120000.0},                               # annuity above credit
    8: {"AMT_ANNUITY": 100000.0},                               # equal: fine
    9: {"AMT_CREDIT": 200000.0, "AMT_GOODS_PRICE": 100000.0},   # twice the goods price
    10: {"AMT_CREDIT": 150000.0, "AMT_GOODS_PRICE": 100000.0},  # exactly 1.5: fine
    11: {"AMT_GOODS_PRICE": None},
    12: {"DAYS_BIRTH": -6000},                                   # 16.4 years
    13: {"DAYS_BIRTH": -37000},                                  # 101.3 years
    14: {"DAYS_BIRTH": -6575},                                   # 18.0 years: fine
    15: {"OWN_CAR_AGE": 61.0},
    16: {"OWN_CAR_AGE": 60.0},                                   # fine
    17: {"AMT_ANNUITY": None, "AMT_CREDIT": None},
    18: {k: None for k in BASE},                                 # every value NULL
}
EXPECT_APP = {
    "employment_date_placeholder": [2, 3, 4],
    "working_without_employment_date": [3],
    "gender_not_available": [5],
    "annuity_above_credit": [7],
    "credit_far_above_goods_price": [9],
    "applicant_age_implausible": [12, 13],
    "car_age_over_60": [15],
}
BUREAU_COLS = ["SK_ID_BUREAU", "SK_ID_CURR", "AMT_CREDIT_SUM", "AMT_CREDIT_SUM_DEBT", "DAYS_CREDIT_ENDDATE"]
BUREAU = [
    (500, 1, 100000.0, 50000.0, 1000.0),
    (501, 1, 100000.0, 135000.0, 1000.0),    # debt above the credit
    (502, 1, 100000.0, 100000.0, 1000.0),    # equal: fine
    (503, 1, 100000.0, None, None),
    (504, 1, 0.0, 10.0, 1000.0),             # debt on a zero credit
    (505, 1, 100000.0, 0.0, 30990.0),        # 85 years ahead
    (506, 1, 100000.0, 0.0, 14610.0),        # exactly 40 years: fine
    (507, 1, 100000.0, 0.0, -42000.0),
]
EXPECT_BUREAU = {"bureau_debt_above_credit": [501, 504], "bureau_end_date_far_future": [505]}
PREV_PLACEHOLDER_COLS = ["NAME_CONTRACT_TYPE", "NAME_CASH_LOAN_PURPOSE", "NAME_PAYMENT_TYPE", "CODE_REJECT_REASON",
                         "NAME_CLIENT_TYPE", "NAME_GOODS_CATEGORY", "NAME_PORTFOLIO", "NAME_PRODUCT_TYPE",
                         "NAME_SELLER_INDUSTRY", "NAME_YIELD_GROUP"]
PREV_COLS = ["SK_ID_PREV", "SK_ID_CURR"] + PREV_PLACEHOLDER_COLS
PREV_REAL = ["Cash loans", "Repairs", "Cash through the bank", "HC", "Repeater", "Mobile", "POS", "x-sell",
             "Connectivity", "middle"]


def prev_row(sk, cust, **changes):
    vals = dict(zip(PREV_PLACEHOLDER_COLS, PREV_REAL))
    vals.update(changes)
    return [sk, cust] + [vals[c] for c in PREV_PLACEHOLDER_COLS]


PREV = [
    prev_row(700, 1),
    prev_row(701, 1, NAME_CASH_LOAN_PURPOSE="XAP", CODE_REJECT_REASON="XAP"),
    prev_row(702, 2, NAME_GOODS_CATEGORY="XNA"),
    prev_row(703, 2, **{c: None for c in PREV_PLACEHOLDER_COLS}),
]
INST_COLS = ["INST_ID", "SK_ID_PREV", "SK_ID_CURR", "DAYS_INSTALMENT", "DAYS_ENTRY_PAYMENT", "AMT_INSTALMENT",
             "AMT_PAYMENT"]
INST = [
    (900, 700, 1, -100.0, -105.0, 1000.0, 1000.0),
    (901, 700, 1, -100.0, -90.0, 1000.0, 1000.0),     # 10 days late
    (902, 700, 1, -100.0, -100.0, 1000.0, 1000.0),    # on the day: fine
    (903, 700, 1, -200.0, -170.0, 1000.0, 1000.0),    # 30 days late
    (904, 700, 1, -230.0, None, 1000.0, None),        # unpaid
    (905, 799, 1, -300.0, -300.0, 1000.0, 2000.0),    # twice the amount due, on a credit customer 1 lacks
    (906, 702, 2, -300.0, -300.0, 1000.0, 1500.0),    # exactly 1.5 times: fine
    (907, 702, 2, -300.0, -300.0, 0.0, 100.0),        # nothing due
]
EXPECT_INST = {"installments_paid_late": [901, 903], "installment_paid_far_above_due": [905]}


def make_db(path):
    if os.path.exists(path):
        os.unlink(path)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE SAMPLE_APPLICATION (SK_ID_CURR INTEGER, NAME_INCOME_TYPE TEXT, DAYS_EMPLOYED INTEGER, "
               "CODE_GENDER TEXT, AMT_CREDIT REAL, AMT_ANNUITY REAL, AMT_GOODS_PRICE REAL, DAYS_BIRTH INTEGER, "
               "OWN_CAR_AGE REAL, AMT_INCOME_TOTAL REAL)")
    for k, changes in APP.items():
        row = dict(BASE)
        row.update(changes)
        db.execute("INSERT INTO SAMPLE_APPLICATION VALUES (?,?,?,?,?,?,?,?,?,?)", [k] + [row[c] for c in APP_COLS[1:]])
    db.execute("CREATE TABLE SAMPLE_BUREAU (SK_ID_BUREAU INTEGER, SK_ID_CURR INTEGER, AMT_CREDIT_SUM REAL, "
               "AMT_CREDIT_SUM_DEBT REAL, DAYS_CREDIT_ENDDATE REAL)")
    db.executemany("INSERT INTO SAMPLE_BUREAU VALUES (?,?,?,?,?)", BUREAU)
    db.execute("CREATE TABLE SAMPLE_PREVIOUS_APP (SK_ID_PREV INTEGER, SK_ID_CURR INTEGER, %s)"
               % ", ".join(c + " TEXT" for c in PREV_PLACEHOLDER_COLS))
    db.executemany("INSERT INTO SAMPLE_PREVIOUS_APP VALUES (%s)" % ",".join("?" * len(PREV_COLS)), PREV)
    db.execute("CREATE TABLE SAMPLE_INSTALLMENTS (INST_ID INTEGER, SK_ID_PREV INTEGER, SK_ID_CURR INTEGER, "
               "DAYS_INSTALMENT REAL, DAYS_ENTRY_PAYMENT REAL, AMT_INSTALMENT REAL, AMT_PAYMENT REAL)")
    db.executemany("INSERT INTO SAMPLE_INSTALLMENTS VALUES (?,?,?,?,?,?,?)", INST)
    db.execute("CREATE TABLE LOANS (SK_ID_CURR INTEGER, AMT_CREDIT REAL, DAYS_EMPLOYED INTEGER)")
    db.executemany("INSERT INTO LOANS VALUES (?,?,?)", [(i, 1000.0 * i, 365243) for i in range(1, 30)])
    db.commit()
    db.close()


def config(db, rules_dir, **extra):
    cfg = {
        "source": {"odbc": "Driver=SQLite3;Database=%s" % db, "batch_rows": 3},
        "rules_dir": rules_dir,
        "tables": {
            "SAMPLE_APPLICATION": {"customer_key": "SK_ID_CURR", "primary_key": "SK_ID_CURR"},
            "SAMPLE_BUREAU": {"customer_key": "SK_ID_CURR", "primary_key": "SK_ID_BUREAU"},
            "SAMPLE_PREVIOUS_APP": {"customer_key": "SK_ID_CURR", "primary_key": "SK_ID_PREV"},
            "SAMPLE_INSTALLMENTS": {"customer_key": "SK_ID_CURR", "primary_key": "INST_ID"},
            "LOANS": {"primary_key": "SK_ID_CURR"},
        },
    }
    cfg.update(extra)
    return cfg


def cfg_file(name, cfg):
    return write_json(os.path.join(work, name + ".json"), cfg)


def lua_findings(report):
    return {f["check"]: f for f in report["findings"] if f["source"] == "lua"}


def scan(cfgpath, table, *more):
    return run_json([EXE, "scan", "--config", cfgpath, "--table", table, "--no-store"] + list(more))


# ---- the shipped rules -------------------------------------------------------------


def check_table(cfgpath, table, expected, rows):
    rc, rep, err = scan(cfgpath, table)
    if not t.ok(rc == 0 and rep is not None, "scan %s exits 0 with JSON" % table, err):
        return None
    got = lua_findings(rep)
    for name, keys in expected.items():
        f = got.get(name)
        if not t.ok(f is not None, "%s: rule %s reports" % (table, name), sorted(got)):
            continue
        t.eq(sorted(f["sample_keys"]), keys, "%s: %s reports exactly the rows that must trigger it" % (table, name))
        t.ok(f["count"] == len(keys) and f["total"] == rows and f["kind"] == "rule" and f["table"] == table,
             "%s: %s counts %d of %d rows" % (table, name, len(keys), rows), f)
    errors = [f for f in got.values() if f["kind"] == "error"]
    t.eq(errors, [], "%s: no rule failed" % table)
    t.eq(sorted(n for n in got if n not in expected), [], "%s: no other rule reports" % table)
    return rep


def test_shipped(db):
    cfgpath = cfg_file("shipped", config(db, RULES))
    rep = check_table(cfgpath, "SAMPLE_APPLICATION", EXPECT_APP, len(APP))
    if rep:
        f = lua_findings(rep)["annuity_above_credit"]
        t.ok(f["source"] == "lua" and f["severity"] == "high" and f["column"] == "AMT_ANNUITY,AMT_CREDIT" and
             f["message"].startswith("The yearly repayment (annuity) is larger than the whole credit amount: "
                                     "1 of 18 rows") and "annuity 120,000 against a credit of 100,000" in f["message"],
             "a rule finding reads well and carries source, severity and columns", f)
        t.ok("working_without_employment_date" in [x["check"] for x in rep["findings"]] and
             rep["summary"]["high"] >= 3, "rule findings count in the report's summary", rep["summary"])
    check_table(cfgpath, "SAMPLE_BUREAU", EXPECT_BUREAU, len(BUREAU))
    rep = check_table(cfgpath, "SAMPLE_INSTALLMENTS", EXPECT_INST, len(INST))
    if rep:
        f = lua_findings(rep)["installments_paid_late"]
        t.eq(f["message"], "2 of 8 installments (25.0%) were paid after their due date, 20 days late on average "
                           "and 30 days at worst.", "the aggregate rule's message")
    rep = check_table(cfgpath, "SAMPLE_PREVIOUS_APP", {"previous_application_placeholders": [701, 702]}, len(PREV))
    if rep:
        msg = lua_findings(rep)["previous_application_placeholders"]["message"]
        t.ok("2 of 4 previous applications (50.0%)" in msg and "NAME_CASH_LOAN_PURPOSE 25.0%" in msg and
             "NAME_GOODS_CATEGORY 25.0%" in msg and "NAME_PORTFOLIO" not in msg,
             "the placeholder rule names the columns and their shares", msg)
    rc, rep, err = run_json([EXE, "customer", "--config", cfgpath, "--id", "1", "--no-store"])
    if t.ok(rc == 0 and rep is not None, "customer 1 exits 0", err):
        f = lua_findings(rep).get("installments_without_previous_application")
        t.ok(f is not None and f["sample_keys"] == [905] and f["count"] == 1 and f["total"] == 8 and
             f["table"] == "SAMPLE_INSTALLMENTS" and f["severity"] == "medium" and
             "previous credit 799" in f["message"] and "2 previous applications" in f["message"],
             "the cross-table customer rule reports the installment of a credit the customer lacks", f)
        t.ok("working_without_employment_date" not in lua_findings(rep) and
             sorted(lua_findings(rep)) == ["bureau_debt_above_credit", "bureau_end_date_far_future",
                                           "installment_paid_far_above_due", "installments_paid_late",
                                           "installments_without_previous_application",
                                           "previous_application_placeholders"],
             "row and aggregate rules run over the customer's rows too", sorted(lua_findings(rep)))
    rc, rep, err = run_json([EXE, "customer", "--config", cfgpath, "--id", "2", "--no-store"])
    t.ok(rc == 0 and rep is not None and "installments_without_previous_application" not in lua_findings(rep),
         "customer 2 has no orphan installments", err)
    rc, rep, err = scan(cfgpath, "SAMPLE_APPLICATION", "--fail-on", "high")
    t.eq(rc, 1, "--fail-on high is met by a high rule finding")


def test_other_tables(db):
    """Rules for other tables add nothing (test_cli's fixture relies on it)."""
    cfgpath = cfg_file("loans", config(db, RULES))
    rc, rep, err = scan(cfgpath, "LOANS")
    t.ok(rc == 0 and rep is not None and lua_findings(rep) == {},
         "a table no rule declares gets no rule findings, even with a DAYS_EMPLOYED column", err)


# ---- the rules command ---------------------------------------------------------------


def test_list_and_check(db):
    cfgpath = cfg_file("shipped", config(db, RULES))
    rc, out, err = run([EXE, "rules", "list", "--config", cfgpath])
    names = sorted(os.path.splitext(n)[0] for n in os.listdir(RULES) if n.endswith(".lua"))
    t.ok(rc == 0 and out.startswith("%d rules from %d files in %s" % (len(names), len(names), RULES)) and
         all(n in out for n in names), "rules list shows every shipped rule", out[:300] + err)
    t.ok(len(names) >= 8, "at least eight shipped rules (%d)" % len(names))
    rc, rep, err = run_json([EXE, "rules", "list", "--config", cfgpath, "--format", "json"])
    t.ok(rc == 0 and rep and len(rep["rules"]) == len(names) and rep["ok"] and
         {"name", "description", "kind", "severity", "tables", "file", "line"} <= set(rep["rules"][0]),
         "rules list --format json", err)
    sql = {r["name"]: r.get("sql") for r in rep["rules"]} if rep else {}
    t.ok(sql.get("annuity_above_credit") == "AMT_CREDIT > 0 AND AMT_ANNUITY > AMT_CREDIT" and
         "installments_paid_late" in sql and sql["installments_paid_late"] is None,
         "rules list --format json shows each rule's SQL predicate (null without one)", sql)
    t.ok(rc == 0 and "in the database (--mode pushdown): AMT_CREDIT > 0 AND AMT_ANNUITY > AMT_CREDIT" in out,
         "rules list shows the predicate in text", out[:600])
    kinds = sorted({r["kind"] for r in rep["rules"]}) if rep else []
    t.eq(kinds, ["aggregate", "customer", "row"], "the shipped rules use all three kinds")
    rc, out, err = run([EXE, "rules", "check", "--config", cfgpath])
    t.ok(rc == 0 and "all %d rules are good" % len(names) in out, "rules check passes on the shipped rules",
         out[-300:] + err)

    broken = os.path.join(work, "broken_rules")
    shutil.rmtree(broken, ignore_errors=True)
    shutil.copytree(RULES, broken)
    with open(os.path.join(broken, "zz_syntax.lua"), "w") as f:
        f.write("rule {\n  name = 'zz',\n  description = 'd'\n  table = 'SAMPLE_BUREAU',\n}\n")
    with open(os.path.join(broken, "zz_column.lua"), "w") as f:
        f.write("-- typo\nrule {name = 'zz_column', description = 'd', table = 'SAMPLE_BUREAU',\n"
                "      columns = {'AMT_CREDIT_SUMM'}, row = function(r) return false end}\n")
    with open(os.path.join(broken, "zz_table.lua"), "w") as f:
        f.write("rule {name = 'zz_table', description = 'd', table = 'NO_SUCH_TABLE', columns = {'X'},\n"
                "      row = function(r) return false end}\n")
    with open(os.path.join(broken, "zz_customer.lua"), "w") as f:
        f.write("rule {name = 'zz_customer', description = 'd', tables = {'LOANS'}, columns = {'AMT_CREDIT'},\n"
                "      customer = function(t) end}\n")
    cfg2 = cfg_file("broken", config(db, broken))
    rc, out, err = run([EXE, "rules", "check", "--config", cfg2])
    t.eq(rc, 2, "rules check exits 2 when a file is broken")
    t.ok("%s/zz_syntax.lua:4: '}' expected (to close '{' at line 1) near 'table'" % broken in err,
         "a syntax error is printed as path:line: message", err)
    t.ok("%s/zz_column.lua:2: rule 'zz_column': table SAMPLE_BUREAU has no column AMT_CREDIT_SUMM "
         "(did you mean AMT_CREDIT_SUM?)" % broken in err, "an unknown column is named with a suggestion", err)
    t.ok("zz_table.lua:1: rule 'zz_table': table NO_SUCH_TABLE does not exist" in err, "an unknown table is named",
         err)
    t.ok("zz_customer.lua:1: rule 'zz_customer': table LOANS has no customer_key" in err,
         "a customer rule on a table without customer_key is refused", err)
    t.ok("BROKEN  zz_column.lua" in out and "ok      annuity_above_credit.lua" in out,
         "rules check lists each file as ok or BROKEN", out)
    rc, rep, err = run_json([EXE, "rules", "check", "--config", cfg2, "--format", "json"])
    t.ok(rc == 2 and rep is not None and not rep["ok"] and len(rep["problems"]) == 4,
         "rules check --format json lists the problems", rep and rep["problems"])
    rc, out, err = run([EXE, "rules", "list", "--config", cfg2])
    t.ok(rc == 0 and "annuity_above_credit" in out and "zz_column" in out and "zz_syntax.lua:4" in err,
         "rules list shows the good rules and names the broken files", err)
    rc, rep, err = scan(cfg2, "SAMPLE_BUREAU")
    f = lua_findings(rep or {"findings": []})
    t.ok(rc == 0 and f.get("bureau_debt_above_credit") and f.get("zz_column", {}).get("kind") == "error" and
         "no column AMT_CREDIT_SUMM" in f["zz_column"]["message"],
         "a scan runs the good rules and reports the one with a missing column as an error", err)
    t.ok("zz_syntax.lua:4" in err, "the scan logs the broken file", err)

    missing = cfg_file("missing_dir", config(db, os.path.join(work, "no_such_dir")))
    rc, out, err = run([EXE, "rules", "check", "--config", missing])
    t.ok(rc == 2 and "no_such_dir" in err, "a configured rules_dir that does not exist fails the check", err)
    rc, out, err = run([EXE, "rules", "--config", cfgpath])
    t.ok(rc == 2 and "list or check" in err, "rules without a subcommand is a usage error", err)
    rc, out, err = run([EXE, "rules", "check"])
    t.ok(rc == 2 and "--config" in err, "rules check without --config is a usage error", err)
    rc, out, err = run([EXE, "help"])
    t.ok(rc == 0 and "rules list" in out and "rules check" in out, "help mentions the rules command")


# ---- the documented example -------------------------------------------------------------


def readme_example():
    text = open(os.path.join(SOURCE, "lua", "README.md")).read()
    m = re.search(r"```lua\n(.*?)```", text, re.S)
    return m.group(1) if m else ""


def test_example(db):
    ex = readme_example()
    t.ok("rule {" in ex and "SAMPLE_APPLICATION" in ex, "lua/README.md has a copyable example")
    d = os.path.join(work, "example_rules")
    os.makedirs(d, exist_ok=True)
    cfgpath = cfg_file("example", config(db, d))
    path = os.path.join(d, "my_rule.lua")
    with open(path, "w") as f:
        f.write(ex)
    rc, rep, err = scan(cfgpath, "SAMPLE_APPLICATION")
    t.ok(rc == 0 and rep is not None and len(lua_findings(rep)) == 1 and
         list(lua_findings(rep).values())[0]["kind"] == "rule",
         "the README example, copied as is, runs and reports", err + json.dumps(rep and lua_findings(rep))[:400])
    # change one line: the threshold (the base rows' annuity is 5% of the income)
    changed = re.sub(r"(local LIMIT = )[\d.]+", r"\g<1>0.04", ex)
    t.ok(changed != ex, "the example has a one-line threshold to change")
    with open(path, "w") as f:
        f.write(changed)
    rc, rep2, err = scan(cfgpath, "SAMPLE_APPLICATION")
    f1 = list(lua_findings(rep).values())[0] if rep and lua_findings(rep) else {}
    f2 = list(lua_findings(rep2).values())[0] if rep2 and lua_findings(rep2) else {}
    t.ok(rc == 0 and f2.get("count", 0) > f1.get("count", 0),
         "after changing one line the next scan shows the new finding (%s -> %s rows)"
         % (f1.get("count"), f2.get("count")), err)
    with open(os.path.join(d, "dropped.lua"), "w") as f:
        f.write("rule {name = 'dropped', description = 'Customer 1', table = 'SAMPLE_APPLICATION',\n"
                "      columns = {'SK_ID_CURR'}, severity = 'critical', row = function(r) return r.SK_ID_CURR == 1 end}\n")
    rc, rep3, err = scan(cfgpath, "SAMPLE_APPLICATION", "--fail-on", "critical")
    t.ok(rc == 1 and rep3 and "dropped" in lua_findings(rep3) and lua_findings(rep3)["dropped"]["sample_keys"] == [1],
         "a rule file dropped in before the next scan runs, and its critical finding meets --fail-on", err)
    rc, out, err = run([EXE, "scan", "--config", cfgpath, "--table", "SAMPLE_APPLICATION", "--no-store", "--format",
                        "text"])
    t.ok(rc == 0 and "dropped" in out, "rule findings appear in the text report", out[:500])


# ---- the generated sample data -------------------------------------------------------------

# The example customers of docs/sample-data.md and the rules their defects must trigger.
EXAMPLES = {
    "103065": ["working_without_employment_date", "installments_paid_late"],
    "108032": ["bureau_debt_above_credit"],
    "111950": ["annuity_above_credit", "car_age_over_60"],
    "112961": ["gender_not_available"],
    "121072": ["bureau_end_date_far_future", "installment_paid_far_above_due"],
    "103788": ["installments_without_previous_application"],
}


def test_sample_data():
    db = os.path.join(work, "sample.db")
    rc, out, err = run([EXE, "demo-data", "--out", db, "--customers", "500"])
    if not t.ok(rc == 0, "demo-data writes the sample database", err):
        return
    cfg = json.load(open(os.path.join(SOURCE, "deploy", "creditsense.json")))
    cfg["source"]["odbc"] = "Driver=SQLite3;Database=%s" % db
    cfg["rules_dir"] = RULES
    cfg.pop("profile", None)
    cfgpath = cfg_file("sample", cfg)
    rc, out, err = run([EXE, "rules", "check", "--config", cfgpath])
    t.ok(rc == 0, "every table and column the shipped rules use exists in the sample data", out[-400:] + err)
    for cust, rules in EXAMPLES.items():
        rc, rep, err = run_json([EXE, "customer", "--config", cfgpath, "--id", cust, "--no-store"])
        got = lua_findings(rep) if rep else {}
        t.ok(rc == 0 and all(r in got and got[r]["kind"] == "rule" for r in rules) and
             not [f for f in got.values() if f["kind"] == "error"],
             "customer %s: the rules for its planted defects fire (%s)" % (cust, ", ".join(rules)),
             err[-300:] + str(sorted(got)))
    rc, rep, err = scan(cfgpath, "SAMPLE_APPLICATION")
    got = lua_findings(rep) if rep else {}
    t.ok(rc == 0 and "111950" in json.dumps(got.get("annuity_above_credit", {}).get("sample_keys")) and
         "applicant_age_implausible" not in got,
         "a whole-table scan of the sample data finds the planted annuity and no impossible ages", sorted(got))


def main():
    db = os.path.join(work, "rules.db")
    make_db(db)
    test_shipped(db)
    test_other_tables(db)
    test_list_and_check(db)
    test_example(db)
    test_sample_data()


main()
sys.exit(t.done())
