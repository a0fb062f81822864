/*
** test_store.c -- the run store and drift, in process (TAP).
**
** Usage: test_store   (fixtures under $CS_TEST_WORK; PostgreSQL parts use
** $CS_PG_ODBC and print "# SKIP" without it)
**
**   - SQL shape per dialect: Snowflake inserts JSON as INSERT ... SELECT
**     PARSE_JSON(?), never VALUES (PARSE_JSON(?)); types; identifier case
**   - drift arithmetic (cs_drift_judge)
**   - on SQLite (through the SQLite ODBC driver) and PostgreSQL:
**     round trip of a run, rewrite without duplicates, array and row-wise
**     inserts across chunk boundaries, a failure injected between inserts
**     leaves nothing and the run can be written again, identifiers of any
**     case, metric history and drift flags, profiles, suggestions, a newer
**     schema refused, an unreachable store reported without its password,
**     findings across runs (every filter, paging, injection attempts as
**     plain values) and pending advice rows
*/
#include <ctype.h>
#include <math.h>
#include <sql.h>
#include <sqlext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dialect.h"
#include "drift.h"
#include "engine.h"
#include "err.h"
#include "metrics.h"
#include "store.h"
#include "tap.h"

static char work[512];
static double clock_s = 1.7e9; /* run start times: one second apart, in order */

/* ---- synthetic runs ---------------------------------------------------------- */

static void add_finding(struct cs_run *run, const char *table, const char *column, const char *check,
                        const char *kind, uint64_t count, const char *msg)
{
    if (run->nfindings == run->cap) {
        run->cap = run->cap ? run->cap * 2 : 8;
        run->findings = realloc(run->findings, run->cap * sizeof(*run->findings));
    }
    struct cs_finding *f = &run->findings[run->nfindings++];
    memset(f, 0, sizeof(*f));
    f->check = strdup(check);
    f->source = strdup("builtin");
    f->table = strdup(table);
    f->column = strdup(column);
    f->kind = strdup(kind);
    f->message = strdup(msg);
    f->count = count;
    f->total = 1000;
    f->severity = CS_SEV_MEDIUM;
    f->sample_keys = json_pack("[i, s]", (int)count, "k\"ey ü");
}

/* A whole-table run of `table` with 1000 rows; column "Amt Credit" has `nulls` missing values. */
static struct cs_run *table_run(const char *table, uint64_t nulls, size_t nfindings)
{
    struct cs_run *run = calloc(1, sizeof(*run));
    static unsigned seq;
    snprintf(run->run_id, sizeof(run->run_id), "00000000-0000-4000-8000-%012u", ++seq + (unsigned)getpid() * 1000u);
    run->scope = CS_SCOPE_TABLE;
    run->table = strdup(table);
    run->started = clock_s;
    run->finished = clock_s + 0.25;
    clock_s += 1;
    run->rows_scanned = 1000;
    run->tables = calloc(1, sizeof(*run->tables));
    run->tables[0].table = strdup(table);
    run->tables[0].rows = 1000;
    run->ntables = 1;
    snprintf(run->config_hash, sizeof(run->config_hash), "0123456789abcdef");
    snprintf(run->source_kind, sizeof(run->source_kind), "odbc");
    for (size_t i = 0; i < nfindings; i++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "finding %zu: it's 'quoted' and ünïcode", i);
        add_finding(run, table, "Amt Credit", "missing", "null", i + 1, msg);
    }
    run->nmetrics = 3;
    run->metrics = calloc(3, sizeof(*run->metrics));
    run->metrics[0] = (struct cs_colmetrics){.column = strdup("*"), .rows = 1000};
    run->metrics[1] = (struct cs_colmetrics){.column = strdup("Amt Credit"), .type = CS_TYPE_DOUBLE, .rows = 1000,
                                             .nulls = nulls, .negatives = 3, .duplicates = 10, .has_counts = 1,
                                             .values = 1000 - nulls, .has_stats = 1, .mean = 5000, .sd = 100,
                                             .min = 1, .max = 9000, .q1 = 4000, .median = 5000, .q3 = 6000};
    run->metrics[2] = (struct cs_colmetrics){.column = strdup("sk_id"), .type = CS_TYPE_INT64, .is_key = 1,
                                             .rows = 1000, .has_counts = 1, .values = 1000, .has_stats = 1,
                                             .mean = 500, .sd = 288, .min = 1, .max = 1000, .q1 = 250,
                                             .median = 500, .q3 = 750};
    return run;
}

/* ---- counting rows through a connection of our own ------------------------------ */

static long count_rows(const char *conn, const char *sql, const char *arg)
{
    SQLHENV env;
    SQLHDBC dbc;
    SQLHSTMT st;
    SQLBIGINT n = -1;
    SQLLEN ind = arg ? SQL_NTS : 0;
    SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env);
    SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
    SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc);
    if (SQL_SUCCEEDED(SQLDriverConnect(dbc, NULL, (SQLCHAR *)conn, SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT))) {
        SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);
        if (arg)
            SQLBindParameter(st, 1, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, strlen(arg), 0, (SQLPOINTER)arg, 0, &ind);
        if (SQL_SUCCEEDED(SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS)) && SQL_SUCCEEDED(SQLFetch(st)))
            SQLGetData(st, 1, SQL_C_SBIGINT, &n, 0, NULL);
        SQLFreeHandle(SQL_HANDLE_STMT, st);
        SQLDisconnect(dbc);
    }
    SQLFreeHandle(SQL_HANDLE_DBC, dbc);
    SQLFreeHandle(SQL_HANDLE_ENV, env);
    return (long)n;
}

static void exec_sql(const char *conn, const char *sql)
{
    count_rows(conn, sql, NULL);
}

struct target {
    const char *label;
    const char *conn;
    const char *schema; /* store.schema, NULL for none */
    char q[64];         /* "<schema>." as SQL text for our own counting queries */
};

/* Rows of run_id in each of DQ_RUNS, DQ_ANOMALIES, DQ_METRICS, summed. */
static long run_rows(const struct target *t, const char *run_id)
{
    static const char *const tables[] = {"DQ_RUNS", "DQ_ANOMALIES", "DQ_METRICS"};
    long total = 0;
    for (int i = 0; i < 3; i++) {
        char sql[256];
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s%s WHERE RUN_ID = ?", t->q, tables[i]);
        long n = count_rows(t->conn, sql, run_id);
        if (n < 0)
            return -1;
        total += n;
    }
    return total;
}

/* ---- pure tests -------------------------------------------------------------------- */

static void test_sql_shape(void)
{
    static const char *const cols[] = {"RUN_ID", "MESSAGE", "SAMPLE_KEYS"};
    static const int json[] = {0, 0, 1};
    char *sf = cs_dialect_insert(CS_DIALECT_SNOWFLAKE, "DQ_ANOMALIES", cols, json, 3);
    char *pg = cs_dialect_insert(CS_DIALECT_POSTGRES, "DQ_ANOMALIES", cols, json, 3);
    char *lite = cs_dialect_insert(CS_DIALECT_SQLITE, "DQ_ANOMALIES", cols, json, 3);
    char *sfplain = cs_dialect_insert(CS_DIALECT_SNOWFLAKE, "DQ_RUNS", cols, NULL, 2);
    ok(sf && strcmp(sf, "INSERT INTO DQ_ANOMALIES (RUN_ID, MESSAGE, SAMPLE_KEYS) SELECT ?, ?, PARSE_JSON(?)") == 0,
       "snowflake: JSON goes through INSERT ... SELECT PARSE_JSON(?): %s", sf);
    ok(sf && strstr(sf, "VALUES") == NULL, "snowflake: no PARSE_JSON inside VALUES");
    ok(sfplain && strcmp(sfplain, "INSERT INTO DQ_RUNS (RUN_ID, MESSAGE) VALUES (?, ?)") == 0,
       "snowflake: plain rows use VALUES: %s", sfplain);
    ok(pg && strcmp(pg, "INSERT INTO DQ_ANOMALIES (RUN_ID, MESSAGE, SAMPLE_KEYS) VALUES (?, ?, CAST(? AS JSONB))") == 0,
       "postgresql: JSON cast to JSONB: %s", pg);
    ok(lite && strcmp(lite, "INSERT INTO DQ_ANOMALIES (RUN_ID, MESSAGE, SAMPLE_KEYS) VALUES (?, ?, ?)") == 0,
       "sqlite: JSON as text: %s", lite);
    free(sf);
    free(pg);
    free(lite);
    free(sfplain);

    ok(strcmp(cs_dialect_type(CS_DIALECT_SNOWFLAKE, CS_SQLT_JSON), "VARIANT") == 0, "snowflake JSON is VARIANT");
    ok(strcmp(cs_dialect_type(CS_DIALECT_SNOWFLAKE, CS_SQLT_TIMESTAMP), "TIMESTAMP_NTZ") == 0,
       "snowflake timestamps are TIMESTAMP_NTZ");
    ok(strcmp(cs_dialect_type(CS_DIALECT_POSTGRES, CS_SQLT_JSON), "JSONB") == 0, "postgresql JSON is JSONB");
    ok(strcmp(cs_dialect_type(CS_DIALECT_SQLITE, CS_SQLT_JSON), "TEXT") == 0, "sqlite JSON is TEXT");

    char b[64];
    cs_dialect_ident(CS_DIALECT_SNOWFLAKE, "DQ_STORE", b, sizeof(b));
    ok(strcmp(b, "DQ_STORE") == 0, "snowflake: an upper-case name stays unquoted: %s", b);
    cs_dialect_ident(CS_DIALECT_SNOWFLAKE, "dq_store", b, sizeof(b));
    ok(strcmp(b, "\"dq_store\"") == 0, "snowflake: a lower-case name is quoted: %s", b);
    cs_dialect_ident(CS_DIALECT_POSTGRES, "dq_store", b, sizeof(b));
    ok(strcmp(b, "dq_store") == 0, "postgresql: a lower-case name stays unquoted: %s", b);
    cs_dialect_ident(CS_DIALECT_POSTGRES, "Dq Store\"x", b, sizeof(b));
    ok(strcmp(b, "\"Dq Store\"\"x\"") == 0, "postgresql: mixed case and quotes are quoted: %s", b);

    char ddl[16384];
    struct cs_err err = {0};
    ok(cs_store_ddl(CS_DIALECT_SNOWFLAKE, "Dq", ddl, sizeof(ddl), &err) == 0, "snowflake DDL generated");
    ok(strstr(ddl, "CREATE TABLE IF NOT EXISTS \"Dq\".DQ_ANOMALIES (RUN_ID VARCHAR(36) NOT NULL") != NULL &&
           strstr(ddl, "SAMPLE_KEYS VARIANT") && strstr(ddl, "STARTED_AT TIMESTAMP_NTZ NOT NULL") &&
           strstr(ddl, "CREATE INDEX") == NULL && strstr(ddl, "\"DQ_") == NULL,
       "snowflake DDL: upper-case unquoted tables, VARIANT, TIMESTAMP_NTZ, no indexes");
    ok(cs_store_ddl(CS_DIALECT_POSTGRES, NULL, ddl, sizeof(ddl), &err) == 0 &&
           strstr(ddl, "SAMPLE_KEYS JSONB") && strstr(ddl, "CREATE INDEX IF NOT EXISTS DQ_RUNS_TABLE_IX ON DQ_RUNS"),
       "postgresql DDL: JSONB and indexes");
    ok(cs_store_ddl(CS_DIALECT_SQLITE, "x", ddl, sizeof(ddl), &err) == CS_ECONFIG && strstr(err.msg, "SQLite"),
       "sqlite: a store schema is refused with a reason: %s", err.msg);
}

/* The anomaly query per dialect: every filter a '?', never the value's text. */
static void test_anomaly_sql(void)
{
    static const char *const evil = "x' OR 1=1 --";
    struct cs_anomaly_query q = {.table = evil, .column = evil, .check = evil, .min_severity = CS_SEV_HIGH,
                                 .customer = evil, .run_id = evil, .has_since = 1, .since = 1.7e9, .has_until = 1,
                                 .until = 1.8e9, .limit = 10, .offset = 20};
    const enum cs_dialect ds[] = {CS_DIALECT_SQLITE, CS_DIALECT_POSTGRES, CS_DIALECT_SNOWFLAKE};
    for (size_t i = 0; i < 3; i++) {
        char sql[4096];
        size_t np = 0, marks = 0;
        int rc = cs_store_anomalies_sql(ds[i], &q, sql, sizeof(sql), &np);
        for (const char *c = sql; rc == 0 && *c; c++)
            marks += *c == '?';
        int bound = cs_dialect_limit_bindable(ds[i]);
        ok(rc == 0 && strstr(sql, "OR 1=1") == NULL && marks == np && np == (bound ? 11u : 9u) &&
               strstr(sql, bound ? "LIMIT ? OFFSET ?" : "LIMIT 11 OFFSET 20") &&
               strstr(sql, "FROM DQ_RUNS r CROSS JOIN DQ_ANOMALIES a WHERE a.RUN_ID = r.RUN_ID") &&
               strstr(sql, "UPPER(a.TABLE_NAME) = UPPER(?)") && strstr(sql, "a.SEVERITY IN (?, ?)"),
           "%s: the anomaly query binds all %zu values (none in its text): %s", cs_dialect_name(ds[i]), np, sql);
    }
    struct cs_anomaly_query none = {.min_severity = -1};
    char sql[4096];
    size_t np = 0;
    ok(cs_store_anomalies_sql(CS_DIALECT_POSTGRES, &none, sql, sizeof(sql), &np) == 0 && np == 2 &&
           strstr(sql, "LIMIT ? OFFSET ?") && strstr(sql, "SEVERITY IN") == NULL,
       "without filters only the page is bound: %s", sql);
}

static int parse(const char *text, struct cs_config **cfg, struct cs_err *err)
{
    *cfg = NULL;
    memset(err, 0, sizeof(*err));
    return cs_config_parse(text, strlen(text), "/etc/cs/test.json", cfg, err);
}

static void test_config(void)
{
    struct cs_config *cfg;
    struct cs_err err;
    setenv("CS_T_STORE_PW", "Sw0rdfish-s3cret", 1);
    int rc = parse("{\"source\": {\"odbc\": \"x\"}, \"store\": {\"odbc\": \"Driver=P;Pwd=${CS_T_STORE_PW};Database=${CONFIG_DIR}/r.db\","
                   " \"schema\": \"Dq\", \"enabled\": false}, \"tables\": {\"T\": {\"drift\": {\"max_change\": 0.5,"
                   " \"window\": 20, \"metrics\": [\"row_count\", \"null_ratio\"]}, \"columns\": {\"A_*\": {\"drift\": false},"
                   " \"B\": {\"drift\": {\"zscore\": 4}}}}}}",
                   &cfg, &err);
    ok(rc == 0, "store and drift keys parse: %s", err.msg);
    if (rc == 0) {
        char red[256];
        cs_config_redact(cfg->store_odbc, red, sizeof(red));
        ok(strcmp(cfg->store_odbc, "Driver=P;Pwd=Sw0rdfish-s3cret;Database=/etc/cs/r.db") == 0,
           "store.odbc expands ${VAR} and ${CONFIG_DIR}: %s", red);
        ok(strstr(red, "s3cret") == NULL, "store.odbc redacts like source.odbc: %s", red);
        ok(!cfg->store_enabled && strcmp(cfg->store_schema, "Dq") == 0, "store.enabled and store.schema");
        const struct cs_tableconf *tc = cs_config_table(cfg, "T");
        struct cs_driftconf a, b, c, t;
        cs_drift_effective(tc, "A_X", &a);
        cs_drift_effective(tc, "B", &b);
        cs_drift_effective(tc, "C", &c);
        cs_drift_effective(tc, "*", &t);
        ok(!a.enabled, "a column's drift: false turns it off");
        ok(b.enabled && b.zscore == 4 && b.max_change == CS_DRIFT_DEFAULT_MAX_CHANGE && b.window == 10,
           "a column's own drift object replaces the table's (defaults for the rest)");
        ok(c.enabled && c.max_change == 0.5 && c.window == 20 && c.metrics == (CS_DRIFT_ROW_COUNT | CS_DRIFT_NULL_RATIO),
           "other columns inherit the table's drift object");
        ok(t.max_change == 0.5 && t.window == 20, "the row count follows the table's drift object");
    }
    cs_config_free(cfg);
    cfg = NULL;
    ok(parse("{\"source\": {\"odbc\": \"x\"}, \"tables\": {}}", &cfg, &err) == 0 && cfg->store_enabled &&
           cfg->store_odbc == NULL,
       "without a store key: enabled, into the source database");
    cs_config_free(cfg);
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"source\": {\"odbc\": \"x\"}, \"store\": {\"odbc\": \"x\", \"enable\": true}}", "did you mean \"enabled\""},
        {"{\"source\": {\"odbc\": \"x\"}, \"store\": {\"odbc\": 3}}", "store.odbc"},
        {"{\"source\": {\"odbc\": \"x\"}, \"tables\": {\"T\": {\"drift\": {\"zscor\": 3}}}}", "tables.T.drift: unknown key \"zscor\""},
        {"{\"source\": {\"odbc\": \"x\"}, \"tables\": {\"T\": {\"drift\": {\"window\": 1}}}}", "tables.T.drift.window"},
        {"{\"source\": {\"odbc\": \"x\"}, \"tables\": {\"T\": {\"drift\": true}}}", "expected false or"},
        {"{\"source\": {\"odbc\": \"x\"}, \"tables\": {\"T\": {\"columns\": {\"C\": {\"drift\": {\"metrics\": [\"row_count\"]}}}}}}",
         "tables.T.columns.C.drift.metrics[0]"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = parse(bad[i].json, &cfg, &err);
        ok(rc == CS_ECONFIG && strstr(err.msg, bad[i].needle) != NULL, "config error names the key: %s", err.msg);
        cs_config_free(cfg);
    }
}

static void test_judge(void)
{
    struct cs_driftconf dc = {.enabled = 1, .max_change = 1, .zscore = 3, .min_delta = 0.01, .window = 10,
                              .min_runs = 5};
    double steady[] = {0.015, 0.015, 0.015, 0.015, 0.015};
    const struct cs_drift_metric ratio_m = {.ratio = 1, .relative = 1}, count_m = {.relative = 1};
    const struct cs_drift_metric *ratio = &ratio_m, *count = &count_m;
    struct cs_drift_verdict v;
    cs_drift_judge(steady, NULL, 4, 0.3, ratio, &dc, &v);
    ok(!v.judged && !v.flagged, "four past runs are not enough to judge");
    cs_drift_judge(steady, NULL, 5, 0.015, ratio, &dc, &v);
    ok(v.judged && !v.flagged, "a steady null ratio is quiet");
    cs_drift_judge(steady, NULL, 5, 0.02, ratio, &dc, &v);
    ok(!v.flagged, "a move below min_delta is quiet (z %.2f, change %.2f)", v.z, v.change);
    cs_drift_judge(steady, NULL, 5, 0.3, ratio, &dc, &v);
    ok(v.flagged && v.by_change && v.by_z && fabs(v.change - 20) < 1e-9, "a jump to 30%% is flagged (20x, z %.1f)",
       v.z);
    double rows[] = {1000, 1010, 990, 1005, 1000, 995};
    cs_drift_judge(rows, NULL, 6, 480, count, &dc, &v);
    ok(v.flagged && v.by_change && v.change > 2, "row count falling by half is flagged (%.2fx)", v.change);
    cs_drift_judge(rows, NULL, 6, 1003, count, &dc, &v);
    ok(!v.flagged, "ordinary wobble of the row count is quiet (z %.2f)", v.z);
    /* Earlier flagged points stay out of the baseline, so bad data stays flagged. */
    double after[] = {0.015, 0.015, 0.015, 0.015, 0.015, 0.3};
    int flagged[] = {0, 0, 0, 0, 0, 1};
    cs_drift_judge(after, flagged, 6, 0.3, ratio, &dc, &v);
    ok(v.flagged && !v.by_change && v.by_z && v.nbase == 5, "still bad: z-score flags it against the clean baseline");
    cs_drift_judge(after, NULL, 6, 0.3, ratio, &dc, &v);
    ok(!v.by_change, "unchanged from the previous run: the change rule is quiet");
    /* A rare flag's mean: sampling noise, not drift; a real shift still is. */
    double flag_mean[] = {0.0008, 0.0008, 0.0008, 0.0008, 0.0008};
    struct cs_drift_metric mean_m = {.noise = sqrt(0.0008 * 0.9992) / sqrt(2500.0)};
    cs_drift_judge(flag_mean, NULL, 5, 0.0, &mean_m, &dc, &v);
    ok(v.judged && !v.flagged && v.change == 0, "a rare flag's mean dropping to 0 is within sampling noise (z %.2f)",
       v.z);
    double income[] = {187000, 187000, 187000, 187000, 187000};
    mean_m.noise = 100000 / sqrt(2500.0);
    cs_drift_judge(income, NULL, 5, 150000, &mean_m, &dc, &v);
    ok(v.flagged && v.by_z && !v.by_change, "a 20%% shift of a mean is drift by z-score only (z %.2f)", v.z);
    dc.enabled = 0;
    cs_drift_judge(steady, NULL, 5, 0.9, ratio, &dc, &v);
    ok(!v.flagged, "drift off: never flagged");
}

/* ---- against a database --------------------------------------------------------------- */

static struct cs_store *open_store(const struct target *t)
{
    struct cs_store *st = NULL;
    struct cs_err err = {0};
    if (cs_store_open(&st, t->conn, t->schema, &err) != 0)
        ok(0, "%s: store opens: %s", t->label, err.msg);
    return st;
}

static void test_round_trip(const struct target *t, struct cs_store *st)
{
    struct cs_err err = {0};
    struct cs_run *run = table_run("MixedCase_Loans", 10, 300); /* 300 findings: more than one array chunk */
    ok(cs_store_write_run(st, run, &err) == 0, "%s: a run with 300 findings is written: %s", t->label, err.msg);
    ok(run_rows(t, run->run_id) == 1 + 300 + 3, "%s: 1 run, 300 anomalies and 3 metric rows", t->label);
    ok(cs_store_write_run(st, run, &err) == 0 && run_rows(t, run->run_id) == 304,
       "%s: writing the same run again does not duplicate it", t->label);

    struct cs_history_query q = {.table = "mixedcase_loans", .limit = 5};
    json_t *runs = NULL;
    ok(cs_store_history(st, &q, &runs, &err) == 0, "%s: history reads: %s", t->label, err.msg);
    json_t *r0 = json_array_get(runs, 0), *a = json_object_get(r0, "anomalies");
    ok(json_array_size(runs) == 1 && strcmp(json_string_value(json_object_get(r0, "run_id")), run->run_id) == 0,
       "%s: the table name matches in any case", t->label);
    ok(strcmp(json_string_value(json_object_get(r0, "table")), "MixedCase_Loans") == 0,
       "%s: the table name keeps its case", t->label);
    ok(json_array_size(a) == 300, "%s: all anomalies come back", t->label);
    json_t *f1 = json_array_get(a, 1);
    ok(f1 && strcmp(json_string_value(json_object_get(f1, "message")), "finding 1: it's 'quoted' and ünïcode") == 0 &&
           strcmp(json_string_value(json_object_get(f1, "column")), "Amt Credit") == 0,
       "%s: text with quotes, spaces and UTF-8 survives", t->label);
    json_t *keys = json_object_get(f1, "sample_keys");
    ok(json_is_array(keys) && json_integer_value(json_array_get(keys, 0)) == 2 &&
           strcmp(json_string_value(json_array_get(keys, 1)), "k\"ey ü") == 0,
       "%s: sample keys come back as JSON", t->label);
    ok(strcmp(json_string_value(json_object_get(r0, "started_at")) + 19, ".000Z") == 0 &&
           json_integer_value(json_object_get(r0, "rows_scanned")) == 1000,
       "%s: times and counts round-trip (%s)", t->label, json_string_value(json_object_get(r0, "started_at")));
    json_decref(runs);

    struct cs_metric_history h;
    ok(cs_store_metric_history(st, "MixedCase_Loans", 10, &h, &err) == 0 && h.nruns >= 1, "%s: metric history reads",
       t->label);
    const struct cs_hist_run *last = h.nruns ? &h.runs[h.nruns - 1] : NULL;
    int found = 0;
    for (size_t i = 0; last && i < last->n; i++)
        if (strcmp(last->m[i].column, "Amt Credit") == 0)
            found = last->m[i].nulls == 10 && last->m[i].has_stats && last->m[i].q3 == 6000 && last->m[i].values == 990;
    ok(last && strcmp(last->run_id, run->run_id) == 0 && last->n == 3 && found,
       "%s: metrics round-trip with their column names", t->label);
    cs_metric_history_free(&h);
    cs_run_free(run);
}

/* A failure between inserts leaves nothing of the run; the run can be written afterwards. */
static void test_fault(const struct target *t)
{
    static const char *const points[] = {"after_runs", "after_anomalies", "after_metrics"};
    struct cs_err err = {0};
    struct cs_run *run = table_run("FAULTY", 5, 40);
    for (int i = 0; i < 3; i++) {
        setenv("CS_STORE_FAULT", points[i], 1);
        struct cs_store *st = open_store(t);
        unsetenv("CS_STORE_FAULT");
        if (st == NULL)
            return;
        int rc = cs_store_write_run(st, run, &err);
        ok(rc != 0 && strstr(err.msg, points[i]) != NULL, "%s: a fault %s fails the write: %s", t->label, points[i],
           err.msg);
        ok(run_rows(t, run->run_id) == 0, "%s: nothing of the run is visible after a fault %s", t->label, points[i]);
        cs_store_close(st);
    }
    struct cs_store *st = open_store(t);
    ok(st && cs_store_write_run(st, run, &err) == 0 && run_rows(t, run->run_id) == 1 + 40 + 3,
       "%s: the same run is written afterwards: %s", t->label, err.msg);
    cs_store_close(st);
    cs_run_free(run);
}

/* One execute per row (drivers without parameter arrays) writes the same rows. */
static void test_row_wise(const struct target *t)
{
    struct cs_err err = {0};
    setenv("CS_STORE_FAULT", "no_arrays", 1);
    struct cs_store *st = open_store(t);
    unsetenv("CS_STORE_FAULT");
    struct cs_run *run = table_run("ROWWISE", 5, 260);
    ok(st && cs_store_write_run(st, run, &err) == 0 && run_rows(t, run->run_id) == 1 + 260 + 3,
       "%s: row-wise inserts write every row: %s", t->label, err.msg);
    cs_store_close(st);
    cs_run_free(run);
}

static int has_drift(const struct cs_run *run, const char *kind, int *severity)
{
    for (size_t i = 0; i < run->nfindings; i++)
        if (strcmp(run->findings[i].check, "drift") == 0 && strcmp(run->findings[i].kind, kind) == 0) {
            *severity = run->findings[i].severity;
            return 1;
        }
    return 0;
}

static int drift_count(const struct cs_run *run)
{
    int n = 0;
    for (size_t i = 0; i < run->nfindings; i++)
        n += strcmp(run->findings[i].check, "drift") == 0;
    return n;
}

static void test_drift(const struct target *t, struct cs_store *st, struct cs_config *cfg)
{
    struct cs_err err = {0};
    int sev = -1, rc = 0;
    char table[32];
    snprintf(table, sizeof(table), "Drift_%d", (int)getpid());
    for (int i = 0; i < 5; i++) { /* five steady runs */
        struct cs_run *run = table_run(table, 15, 0);
        rc |= cs_drift_check(st, cfg, run, &err);
        rc |= drift_count(run) != 0;
        rc |= cs_store_write_run(st, run, &err);
        cs_run_free(run);
    }
    ok(rc == 0, "%s: five steady runs are stored without drift findings %s", t->label, err.msg);
    struct cs_run *run = table_run(table, 15, 0);
    ok(cs_drift_check(st, cfg, run, &err) == 0 && drift_count(run) == 0, "%s: a sixth steady run is quiet", t->label);
    cs_run_free(run);
    run = table_run(table, 300, 0); /* 1.5% -> 30% missing */
    ok(cs_drift_check(st, cfg, run, &err) == 0 && has_drift(run, "null_ratio", &sev) && sev == CS_SEV_HIGH,
       "%s: a planted null-ratio jump is drift, severity high", t->label);
    const struct cs_finding *f = run->nfindings ? &run->findings[0] : NULL;
    ok(f && strstr(f->message, "1.50%") && strstr(f->message, "30.00%") && strcmp(f->column, "Amt Credit") == 0 &&
           f->count == 300 && f->total == 1000,
       "%s: the finding names the old and new values: %s", t->label, f ? f->message : "");
    ok(cs_store_write_run(st, run, &err) == 0, "%s: the drifted run is stored", t->label);
    cs_run_free(run);
    run = table_run(table, 300, 0); /* still bad: unchanged from the previous run */
    ok(cs_drift_check(st, cfg, run, &err) == 0 && has_drift(run, "null_ratio", &sev),
       "%s: still bad next run: flagged against the clean baseline", t->label);
    cs_run_free(run);
}

static void test_profiles(const struct target *t, struct cs_store *st)
{
    struct cs_err err = {0};
    const char *cols[] = {"AMT_CREDIT", "Days Birth"};
    struct cs_profile p[2] = {{.count = 10, .mean = 1.5, .sd = 0.5, .min = 1, .max = 2, .q1 = 1.2, .median = 1.5,
                               .q3 = 1.8, .mad = 0.3},
                              {.count = 0}};
    double now = (double)time(NULL);
    ok(cs_store_profiles_save(st, "Loans", "feedbeef", now, cols, p, 2, &err) == 0, "%s: profiles saved: %s",
       t->label, err.msg);
    ok(cs_store_profiles_save(st, "Loans", "feedbeef", now, cols, p, 2, &err) == 0, "%s: and saved again (replaced)",
       t->label);
    struct cs_store_profile *sp = NULL;
    size_t n = 0;
    double built = 0;
    ok(cs_store_profiles_load(st, "Loans", "feedbeef", now - 60, &sp, &n, &built, &err) == 0 && n == 2,
       "%s: profiles load", t->label);
    int good = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(sp[i].column, "AMT_CREDIT") == 0)
            good = sp[i].p.count == 10 && sp[i].p.mad == 0.3 && sp[i].p.q3 == 1.8;
    ok(good && fabs(built - now) < 1.5, "%s: profile values and build time round-trip", t->label);
    cs_store_profiles_free(sp, n);
    ok(cs_store_profiles_load(st, "Loans", "feedbeef", now + 60, &sp, &n, &built, &err) == 0 && n == 0,
       "%s: profiles older than the limit are not returned", t->label);
    ok(cs_store_profiles_load(st, "Loans", "otherhash", 0, &sp, &n, &built, &err) == 0 && n == 0,
       "%s: profiles of another config are not returned", t->label);
}

static void test_suggestions(const struct target *t, struct cs_store *st)
{
    struct cs_err err = {0};
    struct cs_suggestion s[2] = {
        {.anomaly_seq = 0, .backend = "offline", .model = "rules-1", .status = "ok",
         .json = "{\"fix\": \"COALESCE(x, 0)\", \"why\": \"ünïcode\"}", .prompt_tokens = 120, .completion_tokens = 40,
         .latency_ms = 900},
        {.anomaly_seq = -1, .signature = "missing:AMT", .status = "pending", .prompt_tokens = -1,
         .completion_tokens = -1, .latency_ms = -1}};
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %sDQ_AI_SUGGESTIONS WHERE RUN_ID = ?", t->q);
    ok(cs_store_write_suggestions(st, "sugg-run", s, 2, &err) == 0 &&
           cs_store_write_suggestions(st, "sugg-run", s, 2, &err) == 0 && count_rows(t->conn, sql, "sugg-run") == 2,
       "%s: suggestions are written (JSON included) and rewritten without duplicates: %s", t->label, err.msg);
}

/* The run_id and anomaly of each row of a cs_store_anomalies answer, "run:seq,..." (runs by letter). */
static void page_ids(json_t *list, const char *a, const char *b, char *out, size_t size)
{
    size_t i, o = 0;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(list, i, v) {
        const char *id = json_string_value(json_object_get(v, "run_id"));
        o += (size_t)snprintf(out + o, size - o, "%s%s%lld", o ? "," : "", id && strcmp(id, a) == 0 ? "A"
                              : id && strcmp(id, b) == 0 ? "B" : "?",
                              (long long)json_integer_value(json_object_get(v, "anomaly")));
    }
}

/* Query q (limit/offset as given) and describe the answer as page_ids does; "error" when it fails. */
static int ask(struct cs_store *st, struct cs_anomaly_query q, const struct cs_run *a, const struct cs_run *b,
               char *out, size_t size)
{
    json_t *list = NULL;
    struct cs_err err = {0};
    int more = -1;
    if (cs_store_anomalies(st, &q, &list, &more, &err) != 0) {
        snprintf(out, size, "error: %s", err.msg);
        return -1;
    }
    page_ids(list, a->run_id, b->run_id, out, size);
    json_decref(list);
    return more;
}

/* A table run A (3 findings) and a newer customer run B (2): every filter alone, paging, injection. */
static void test_anomalies(const struct target *t, struct cs_store *st)
{
    struct cs_err err = {0};
    char got[512], table[32], sql[200];
    snprintf(table, sizeof(table), "Anom_T%d", (int)getpid());
    double since = clock_s;
    struct cs_run *a = table_run(table, 0, 3), *b = table_run(table, 0, 2);
    free(a->findings[1].check);
    a->findings[1].check = strdup("outlier");
    a->findings[2].severity = CS_SEV_HIGH;
    b->scope = CS_SCOPE_CUSTOMER;
    b->customer_id = strdup("42");
    for (size_t i = 0; i < b->nfindings; i++) {
        b->findings[i].severity = CS_SEV_CRITICAL;
        free(b->findings[i].column);
        b->findings[i].column = strdup("sk_id");
    }
    cs_metrics_free(b->metrics, b->nmetrics);
    b->metrics = NULL;
    b->nmetrics = 0;
    ok(cs_store_write_run(st, a, &err) == 0 && cs_store_write_run(st, b, &err) == 0, "%s: two runs for the anomaly "
       "queries: %s", t->label, err.msg);
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %sDQ_RUNS", t->q);
    long runs_before = count_rows(t->conn, sql, NULL);
    struct cs_anomaly_query base = {.min_severity = -1, .has_since = 1, .since = since};
    struct {
        const char *what;
        struct cs_anomaly_query q;
        const char *want;
    } cases[] = {
        {"newest run first, then the finding order", base, "B0,B1,A0,A1,A2"},
        {"table in another case", {.min_severity = -1, .table = "anom_t", .has_since = 1, .since = since}, ""},
        {"column in any case", {.min_severity = -1, .column = "AMT CREDIT", .has_since = 1, .since = since},
         "A0,A1,A2"},
        {"check", {.min_severity = -1, .check = "outlier", .has_since = 1, .since = since}, "A1"},
        {"severity high or worse", {.min_severity = CS_SEV_HIGH, .has_since = 1, .since = since}, "B0,B1,A2"},
        {"customer, normalised (042 is 42)", {.min_severity = -1, .customer = "042"}, "B0,B1"},
        {"run", {.min_severity = -1, .run_id = a->run_id}, "A0,A1,A2"},
        {"until (exclusive)", {.min_severity = -1, .has_since = 1, .since = since, .has_until = 1, .until = b->started},
         "A0,A1,A2"},
        {"since after both", {.min_severity = -1, .has_since = 1, .since = b->started + 0.5}, ""},
        {"combined", {.min_severity = CS_SEV_MEDIUM, .column = "Amt Credit", .check = "missing", .run_id = a->run_id},
         "A0,A2"},
        {"injection in table", {.min_severity = -1, .table = "' OR 1=1 --"}, ""},
        {"injection in column", {.min_severity = -1, .column = "x' OR '1'='1"}, ""},
        {"injection in check", {.min_severity = -1, .check = "\"; DROP TABLE DQ_RUNS; --"}, ""},
        {"injection in customer", {.min_severity = -1, .customer = "42' OR 1=1 --"}, ""},
        {"injection in run", {.min_severity = -1, .run_id = "' OR ''='"}, ""},
    };
    char mine[40];
    snprintf(mine, sizeof(mine), "%s", table);
    for (char *c = mine; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    cases[1].q.table = mine;
    cases[1].want = "B0,B1,A0,A1,A2";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ask(st, cases[i].q, a, b, got, sizeof(got));
        ok(strcmp(got, cases[i].want) == 0, "%s: anomalies by %s: [%s] (want [%s])", t->label, cases[i].what, got,
           cases[i].want);
    }
    ok(count_rows(t->conn, sql, NULL) == runs_before, "%s: the injection attempts left DQ_RUNS as it was", t->label);
    char all[512] = "";
    int mores[3];
    for (int p = 0; p < 3; p++) {
        struct cs_anomaly_query q = base;
        q.limit = 2;
        q.offset = (size_t)p * 2;
        mores[p] = ask(st, q, a, b, got, sizeof(got));
        snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", p ? "," : "", got);
    }
    ok(strcmp(all, "B0,B1,A0,A1,A2") == 0 && mores[0] == 1 && mores[1] == 1 && mores[2] == 0,
       "%s: pages of 2 walk every finding once, the last says there is no more: [%s] %d %d %d", t->label, all,
       mores[0], mores[1], mores[2]);

    struct cs_stored_suggestion *s = NULL;
    size_t n = 0;
    ok(cs_store_write_pending(st, a, CS_SEV_MEDIUM, "gemini", "m-1", "advice requested", &err) == 0 &&
           cs_store_suggestions_load(st, a->run_id, &s, &n, &err) == 0 && n == 3 && strcmp(s[0].status, "pending") == 0 &&
           s[2].anomaly_seq == 2 && s[0].signature && strstr(s[0].json, "advice requested") &&
           strcmp(s[1].backend, "gemini") == 0,
       "%s: pending rows, one per finding to advise: %zu %s", t->label, n, err.msg);
    cs_store_suggestions_free(s, n);
    ok(cs_store_write_pending(st, a, CS_SEV_CRITICAL, "gemini", NULL, "x", &err) == 0 &&
           cs_store_suggestions_load(st, a->run_id, &s, &n, &err) == 0 && n == 3,
       "%s: no finding severe enough: nothing written (%zu rows stay)", t->label, n);
    cs_store_suggestions_free(s, n);
    cs_run_free(a);
    cs_run_free(b);
}

static void test_versions(const struct target *t)
{
    char sql[200];
    struct cs_err err = {0};
    struct cs_store *st = NULL;
    snprintf(sql, sizeof(sql), "INSERT INTO %sDQ_SCHEMA (VERSION, APPLIED_AT, PROGRAM) VALUES (99, '2030-01-01 00:00:00', 'future')",
             t->q);
    exec_sql(t->conn, sql);
    ok(cs_store_open(&st, t->conn, t->schema, &err) == CS_ESOURCE && strstr(err.msg, "99") &&
           strstr(err.msg, "newer"),
       "%s: a newer schema is refused: %s", t->label, err.msg);
    cs_store_close(st);
    snprintf(sql, sizeof(sql), "DELETE FROM %sDQ_SCHEMA WHERE VERSION = 99", t->q);
    exec_sql(t->conn, sql);
    st = open_store(t);
    ok(st != NULL, "%s: opens again once the future version is gone", t->label);
    cs_store_close(st);
}

static void run_target(const struct target *t, struct cs_config *cfg)
{
    struct cs_store *st = open_store(t);
    if (st == NULL)
        return;
    ok(1, "%s: store opened (dialect %s)", t->label, cs_dialect_name(cs_store_dialect(st)));
    struct cs_store *again = open_store(t);
    ok(again != NULL, "%s: a second open finds the schema in place", t->label);
    cs_store_close(again);
    test_round_trip(t, st);
    test_drift(t, st, cfg);
    test_profiles(t, st);
    test_suggestions(t, st);
    test_anomalies(t, st);
    cs_store_close(st);
    test_fault(t);
    test_row_wise(t);
    test_versions(t);
}

static void test_unreachable(void)
{
    struct cs_store *st = NULL;
    struct cs_err err = {0};
    int rc = cs_store_open(&st, "Driver={No Such Driver};Server=x;Uid=u;PWD=Hunter2-s3cret", NULL, &err);
    ok(rc == CS_ESOURCE && strstr(err.msg, "Hunter2") == NULL && strstr(err.msg, "No Such Driver") != NULL,
       "an unreachable store fails with the password masked: %s", err.msg);
}

int main(void)
{
    const char *base = getenv("CS_TEST_WORK");
    snprintf(work, sizeof(work), "%s/store.%d", base && *base ? base : "/tmp", (int)getpid());
    mkdir(work, 0755);
    struct cs_config *cfg = NULL;
    struct cs_err err = {0};
    const char *text = "{\"source\": {\"odbc\": \"x\"}, \"tables\": {}}";
    if (cs_config_parse(text, strlen(text), NULL, &cfg, &err) != 0)
        return printf("Bail out! config: %s\n", err.msg), 1;

    test_sql_shape();
    test_anomaly_sql();
    test_config();
    test_judge();
    test_unreachable();

    char conn[700];
    snprintf(conn, sizeof(conn), "Driver=SQLite3;Database=%s/store.db", work);
    struct target lite = {.label = "sqlite", .conn = conn};
    run_target(&lite, cfg);

    const char *pg = getenv("CS_PG_ODBC");
    if (pg == NULL || *pg == '\0') {
        printf("ok %d - postgresql # SKIP no PostgreSQL cluster ($CS_PG_ODBC unset)\n", ++tap_n);
    } else {
        char schema[64];
        snprintf(schema, sizeof(schema), "Store_Test_%d", (int)getpid()); /* mixed case: must be quoted */
        struct target t = {.label = "postgresql", .conn = pg, .schema = schema};
        snprintf(t.q, sizeof(t.q), "\"%s\".", schema);
        run_target(&t, cfg);
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP SCHEMA \"%s\" CASCADE", schema);
        exec_sql(pg, sql);
    }
    cs_config_free(cfg);
    return tap_done();
}
