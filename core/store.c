/*
** store.c -- connecting to the store, creating and migrating its schema,
** and the statement helpers shared by store_write.c and store_read.c.
** See store.h for the contract and docs/store.md for the schema.
**
** Schema: the tables are described once, as data (table_defs), and the
** CREATE statements are generated per dialect from it (column types from
** cs_dialect_type).  DQ_SCHEMA holds one row per applied version; a
** migration runs in a transaction and is retried when another process is
** migrating at the same moment (then the version read afterwards says
** whether there is anything left to do).
*/
#include "store_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "source_impl.h" /* connection-string helpers: cs_conn_get, cs_conn_scrub */

#define LOGIN_TIMEOUT_S 30

/* ---- the schema, as data --------------------------------------------------- */

struct coldef {
    const char *name;
    enum cs_sqltype type;
    int not_null;
};

struct tabledef {
    const char *name;
    const struct coldef *cols;
    const char *pk;
};

static const struct coldef SCHEMA_COLS[] = {
    {"VERSION", CS_SQLT_INT, 1}, {"APPLIED_AT", CS_SQLT_TIMESTAMP, 1}, {"PROGRAM", CS_SQLT_SHORT, 0}, {NULL, 0, 0}};

static const struct coldef RUNS_COLS[] = {
    {"RUN_ID", CS_SQLT_ID, 1},         {"SCOPE", CS_SQLT_SHORT, 1},         {"TABLE_NAME", CS_SQLT_NAME, 0},
    {"CUSTOMER_ID", CS_SQLT_NAME, 0},  {"STARTED_AT", CS_SQLT_TIMESTAMP, 1}, {"FINISHED_AT", CS_SQLT_TIMESTAMP, 1},
    {"STATUS", CS_SQLT_SHORT, 1},      {"ROWS_SCANNED", CS_SQLT_BIGINT, 1},  {"FINDINGS", CS_SQLT_BIGINT, 1},
    {"MAX_SEVERITY", CS_SQLT_SHORT, 0}, {"CONFIG_HASH", CS_SQLT_SHORT, 1},   {"SOURCE_KIND", CS_SQLT_SHORT, 0},
    {"PROGRAM", CS_SQLT_SHORT, 0},     {NULL, 0, 0}};

static const struct coldef ANOMALY_COLS[] = {
    {"RUN_ID", CS_SQLT_ID, 1},          {"ANOMALY_SEQ", CS_SQLT_INT, 1},    {"CUSTOMER_ID", CS_SQLT_NAME, 0},
    {"TABLE_NAME", CS_SQLT_NAME, 1},    {"COLUMN_NAME", CS_SQLT_NAME, 1},   {"CHECK_NAME", CS_SQLT_NAME, 1},
    {"FINDING_SOURCE", CS_SQLT_SHORT, 0}, {"KIND", CS_SQLT_SHORT, 0},       {"SEVERITY", CS_SQLT_SHORT, 1},
    {"HIT_COUNT", CS_SQLT_BIGINT, 1},   {"TOTAL_COUNT", CS_SQLT_BIGINT, 1}, {"GROUP_COUNT", CS_SQLT_BIGINT, 0},
    {"THRESHOLD", CS_SQLT_DOUBLE, 0},   {"LOWER_BOUND", CS_SQLT_DOUBLE, 0}, {"UPPER_BOUND", CS_SQLT_DOUBLE, 0},
    {"MESSAGE", CS_SQLT_TEXT, 0},       {"SAMPLE_KEYS", CS_SQLT_JSON, 0},   {NULL, 0, 0}};

static const struct coldef SUGGESTION_COLS[] = {
    {"RUN_ID", CS_SQLT_ID, 1},          {"SUGGESTION_SEQ", CS_SQLT_INT, 1},     {"ANOMALY_SEQ", CS_SQLT_INT, 0},
    {"SIGNATURE", CS_SQLT_NAME, 0},     {"BACKEND", CS_SQLT_SHORT, 0},          {"MODEL", CS_SQLT_NAME, 0},
    {"STATUS", CS_SQLT_SHORT, 1},       {"SUGGESTION", CS_SQLT_JSON, 0},        {"PROMPT_TOKENS", CS_SQLT_BIGINT, 0},
    {"COMPLETION_TOKENS", CS_SQLT_BIGINT, 0}, {"LATENCY_MS", CS_SQLT_BIGINT, 0}, {"CREATED_AT", CS_SQLT_TIMESTAMP, 1},
    {NULL, 0, 0}};

static const struct coldef METRIC_COLS[] = {
    {"RUN_ID", CS_SQLT_ID, 1},          {"TABLE_NAME", CS_SQLT_NAME, 1},     {"COLUMN_NAME", CS_SQLT_NAME, 1},
    {"COLUMN_TYPE", CS_SQLT_SHORT, 0},  {"IS_KEY", CS_SQLT_INT, 0},          {"ROW_COUNT", CS_SQLT_BIGINT, 1},
    {"NULL_COUNT", CS_SQLT_BIGINT, 0},  {"NEGATIVE_COUNT", CS_SQLT_BIGINT, 0}, {"DUPLICATE_COUNT", CS_SQLT_BIGINT, 0},
    {"VALUE_COUNT", CS_SQLT_BIGINT, 0}, {"MEAN_VALUE", CS_SQLT_DOUBLE, 0},   {"SD_VALUE", CS_SQLT_DOUBLE, 0},
    {"MIN_VALUE", CS_SQLT_DOUBLE, 0},   {"MAX_VALUE", CS_SQLT_DOUBLE, 0},    {"Q1_VALUE", CS_SQLT_DOUBLE, 0},
    {"MEDIAN_VALUE", CS_SQLT_DOUBLE, 0}, {"Q3_VALUE", CS_SQLT_DOUBLE, 0},    {NULL, 0, 0}};

static const struct coldef PROFILE_COLS[] = {
    {"TABLE_NAME", CS_SQLT_NAME, 1},    {"CONFIG_HASH", CS_SQLT_SHORT, 1},   {"COLUMN_NAME", CS_SQLT_NAME, 1},
    {"BUILT_AT", CS_SQLT_TIMESTAMP, 1}, {"VALUE_COUNT", CS_SQLT_BIGINT, 1},  {"MEAN_VALUE", CS_SQLT_DOUBLE, 0},
    {"SD_VALUE", CS_SQLT_DOUBLE, 0},    {"MIN_VALUE", CS_SQLT_DOUBLE, 0},    {"MAX_VALUE", CS_SQLT_DOUBLE, 0},
    {"Q1_VALUE", CS_SQLT_DOUBLE, 0},    {"MEDIAN_VALUE", CS_SQLT_DOUBLE, 0}, {"Q3_VALUE", CS_SQLT_DOUBLE, 0},
    {"MAD_VALUE", CS_SQLT_DOUBLE, 0},   {NULL, 0, 0}};

/* Version 1: every table.  A later version appends its own list of statements. */
static const struct tabledef TABLES_V1[] = {
    {"DQ_SCHEMA", SCHEMA_COLS, NULL},
    {"DQ_RUNS", RUNS_COLS, "RUN_ID"},
    {"DQ_ANOMALIES", ANOMALY_COLS, "RUN_ID, ANOMALY_SEQ"},
    {"DQ_AI_SUGGESTIONS", SUGGESTION_COLS, "RUN_ID, SUGGESTION_SEQ"},
    {"DQ_METRICS", METRIC_COLS, "RUN_ID, TABLE_NAME, COLUMN_NAME"},
    {"DQ_PROFILES", PROFILE_COLS, "TABLE_NAME, CONFIG_HASH, COLUMN_NAME"},
    {NULL, NULL, NULL}};

/* Indexes for the queries the program itself makes (history, drift). */
static const char *const INDEXES_V1[] = {
    "CREATE INDEX IF NOT EXISTS DQ_RUNS_TABLE_IX ON {P}DQ_RUNS (TABLE_NAME, STARTED_AT)",
    "CREATE INDEX IF NOT EXISTS DQ_RUNS_CUSTOMER_IX ON {P}DQ_RUNS (CUSTOMER_ID, STARTED_AT)",
    "CREATE INDEX IF NOT EXISTS DQ_METRICS_TABLE_IX ON {P}DQ_METRICS (TABLE_NAME, COLUMN_NAME)",
    "CREATE INDEX IF NOT EXISTS DQ_ANOMALIES_TABLE_IX ON {P}DQ_ANOMALIES (TABLE_NAME, CHECK_NAME)",
    NULL};

/*
 * Indexes added after version 1 shipped: created at every open when missing
 * (IF NOT EXISTS), so a store made by an earlier build gets them without a
 * new schema version, which would lock that build out of the store.  Best
 * effort: a store user who may not create indexes still reads and writes.
 */
static const char *const INDEXES_ADDED[] = {
    /* GET /api/v1/anomalies: runs newest first, each joined to its findings by primary key */
    "CREATE INDEX IF NOT EXISTS DQ_RUNS_STARTED_IX ON {P}DQ_RUNS (STARTED_AT, RUN_ID)",
    NULL};

/* ---- diagnostics ------------------------------------------------------------ */

/* Lock conflicts and serialization failures: the same transaction may succeed a moment later. */
static int is_transient(const char *state, const char *msg)
{
    return strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "HYT00") == 0 ||
           strcasestr(msg, "database is locked") != NULL || strcasestr(msg, "database table is locked") != NULL ||
           strcasestr(msg, "busy") != NULL || strcasestr(msg, "could not serialize") != NULL ||
           strcasestr(msg, "deadlock") != NULL;
}

/* Up to three diagnostic records, "[STATE] message; ...", scrubbed of secrets. */
static void diag(const struct cs_store *st, SQLSMALLINT htype, SQLHANDLE h, char *buf, size_t size, char state[6])
{
    size_t o = 0;
    buf[0] = state[0] = '\0';
    for (SQLSMALLINT rec = 1; h != NULL && rec <= 3 && o + 1 < size; rec++) {
        SQLCHAR s[6] = {0}, msg[1024];
        SQLINTEGER native = 0;
        SQLSMALLINT len = 0;
        if (!SQL_SUCCEEDED(SQLGetDiagRec(htype, h, rec, s, &native, msg, sizeof(msg), &len)))
            break;
        if (rec == 1)
            memcpy(state, s, 6);
        int n = snprintf(buf + o, size - o, "%s[%s] %s", o ? "; " : "", (char *)s, (char *)msg);
        if (n < 0)
            break;
        o += (size_t)n < size - o ? (size_t)n : size - o - 1;
    }
    if (o == 0)
        snprintf(buf, size, "no diagnostic from the driver");
    cs_conn_scrub(st->conn, buf, size);
}

int st_fail(struct cs_store *st, SQLSMALLINT htype, SQLHANDLE h, struct cs_err *err, const char *what)
{
    char d[CS_ERR_MSG], state[6];
    diag(st, htype, h, d, sizeof(d), state);
    st->transient = is_transient(state, d);
    return cs_err_set(err, CS_ESOURCE, "store: %s: %s", what, d);
}

/* ---- statements --------------------------------------------------------------- */

int st_sql(const struct cs_store *st, const char *tmpl, char *buf, size_t size)
{
    size_t o = 0, plen = strlen(st->prefix);
    for (const char *p = tmpl; *p; p++) {
        if (strncmp(p, "{P}", 3) == 0) {
            if (o + plen >= size)
                return -1;
            memcpy(buf + o, st->prefix, plen);
            o += plen;
            p += 2;
            continue;
        }
        if (o + 1 >= size)
            return -1;
        buf[o++] = *p;
    }
    buf[o] = '\0';
    return 0;
}

int st_read_fail(struct cs_store *st, SQLHSTMT h, int rc, struct cs_err *err, const char *what)
{
    if (rc == CS_ENOMEM)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    return st_fail(st, SQL_HANDLE_STMT, h, err, what);
}

void st_ts_from(double t, SQL_TIMESTAMP_STRUCT *ts)
{
    long long all_ms = llround(t * 1000.0); /* as cs_report_iso_time rounds */
    time_t s = (time_t)(all_ms / 1000);
    long ms = (long)(all_ms % 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    ts->year = (SQLSMALLINT)(tm.tm_year + 1900);
    ts->month = (SQLUSMALLINT)(tm.tm_mon + 1);
    ts->day = (SQLUSMALLINT)tm.tm_mday;
    ts->hour = (SQLUSMALLINT)tm.tm_hour;
    ts->minute = (SQLUSMALLINT)tm.tm_min;
    ts->second = (SQLUSMALLINT)tm.tm_sec;
    ts->fraction = (SQLUINTEGER)(ms * 1000000L); /* billionths: whole milliseconds on every database */
}

double st_ts_to(const SQL_TIMESTAMP_STRUCT *ts)
{
    struct tm tm = {.tm_year = ts->year - 1900, .tm_mon = ts->month - 1, .tm_mday = ts->day,
                    .tm_hour = ts->hour, .tm_min = ts->minute, .tm_sec = ts->second};
    return (double)timegm(&tm) + (double)(ts->fraction / 1000000) / 1000.0;
}

int st_bind(struct cs_store *st, SQLHSTMT h, struct st_param *p, size_t n, struct cs_err *err)
{
    for (size_t i = 0; i < n; i++) {
        struct st_param *q = &p[i];
        SQLRETURN r;
        SQLUSMALLINT no = (SQLUSMALLINT)(i + 1);
        q->ind = q->null ? SQL_NULL_DATA : 0;
        switch (q->kind) {
        case ST_I64:
            q->b_i64 = q->i64;
            r = SQLBindParameter(h, no, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0, &q->b_i64, 0, &q->ind);
            break;
        case ST_F64:
            q->b_f64 = q->f64;
            r = SQLBindParameter(h, no, SQL_PARAM_INPUT, SQL_C_DOUBLE, SQL_DOUBLE, 0, 0, &q->b_f64, 0, &q->ind);
            break;
        case ST_TS:
            st_ts_from(q->ts, &q->b_ts);
            r = SQLBindParameter(h, no, SQL_PARAM_INPUT, SQL_C_TYPE_TIMESTAMP, SQL_TYPE_TIMESTAMP, 23, 3, &q->b_ts,
                                 sizeof(q->b_ts), &q->ind);
            break;
        default: {
            size_t len = q->s ? strlen(q->s) : 0;
            if (!q->null)
                q->ind = (SQLLEN)len;
            r = SQLBindParameter(h, no, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, len ? len : 1, 0,
                                 (SQLPOINTER)(q->s ? q->s : ""), (SQLLEN)len + 1, &q->ind);
        }
        }
        if (!SQL_SUCCEEDED(r))
            return st_fail(st, SQL_HANDLE_STMT, h, err, "binding a parameter");
    }
    return 0;
}

void st_close(SQLHSTMT h)
{
    if (h != NULL)
        SQLFreeHandle(SQL_HANDLE_STMT, h);
}

int st_exec(struct cs_store *st, const char *tmpl, struct st_param *p, size_t n, SQLHSTMT *out, struct cs_err *err)
{
    char sql[ST_SQL_MAX], what[160];
    SQLHSTMT h = NULL;
    if (out != NULL)
        *out = NULL;
    if (st_sql(st, tmpl, sql, sizeof(sql)) != 0)
        return cs_err_set(err, CS_EINTERNAL, "store: SQL text too long");
    snprintf(what, sizeof(what), "%.120s", sql);
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, st->dbc, &h)))
        return st_fail(st, SQL_HANDLE_DBC, st->dbc, err, "allocating a statement");
    int rc = 0;
    if (!SQL_SUCCEEDED(SQLPrepare(h, (SQLCHAR *)sql, SQL_NTS)))
        rc = st_fail(st, SQL_HANDLE_STMT, h, err, what);
    if (rc == 0)
        rc = st_bind(st, h, p, n, err);
    if (rc == 0) {
        SQLRETURN r = SQLExecute(h);
        if (!SQL_SUCCEEDED(r) && r != SQL_NO_DATA) /* NO_DATA: a DELETE or UPDATE that touched nothing */
            rc = st_fail(st, SQL_HANDLE_STMT, h, err, what);
    }
    if (rc != 0 || out == NULL) {
        st_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* ---- column readers -------------------------------------------------------------- */

int st_get_text(SQLHSTMT h, SQLUSMALLINT col, char **out)
{
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    *out = NULL;
    if (buf == NULL)
        return CS_ENOMEM;
    for (;;) {
        SQLLEN ind = 0;
        SQLRETURN r = SQLGetData(h, col, SQL_C_CHAR, buf + len, (SQLLEN)(cap - len), &ind);
        if (r == SQL_NO_DATA)
            break;
        if (!SQL_SUCCEEDED(r)) {
            free(buf);
            return CS_ESOURCE;
        }
        if (ind == SQL_NULL_DATA) {
            free(buf);
            return 0;
        }
        if (r == SQL_SUCCESS) { /* the rest fitted */
            len += ind == SQL_NTS ? strlen(buf + len) : (size_t)ind;
            break;
        }
        /* SQL_SUCCESS_WITH_INFO: truncated; the buffer holds cap-len-1 bytes and a NUL. */
        len = cap - 1;
        char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
            return CS_ENOMEM;
        }
        buf = nb;
        cap *= 2;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

int st_get_i64(SQLHSTMT h, SQLUSMALLINT col, long long *v, int *null)
{
    SQLBIGINT x = 0;
    SQLLEN ind = 0;
    if (!SQL_SUCCEEDED(SQLGetData(h, col, SQL_C_SBIGINT, &x, sizeof(x), &ind)))
        return CS_ESOURCE;
    *null = ind == SQL_NULL_DATA;
    *v = *null ? 0 : (long long)x;
    return 0;
}

int st_get_f64(SQLHSTMT h, SQLUSMALLINT col, double *v, int *null)
{
    SQLDOUBLE x = 0;
    SQLLEN ind = 0;
    if (!SQL_SUCCEEDED(SQLGetData(h, col, SQL_C_DOUBLE, &x, sizeof(x), &ind)))
        return CS_ESOURCE;
    *null = ind == SQL_NULL_DATA;
    *v = *null ? 0 : x;
    return 0;
}

int st_get_ts(SQLHSTMT h, SQLUSMALLINT col, double *v, int *null)
{
    SQL_TIMESTAMP_STRUCT ts;
    SQLLEN ind = 0;
    memset(&ts, 0, sizeof(ts));
    if (!SQL_SUCCEEDED(SQLGetData(h, col, SQL_C_TYPE_TIMESTAMP, &ts, sizeof(ts), &ind)))
        return CS_ESOURCE;
    *null = ind == SQL_NULL_DATA;
    *v = *null ? 0 : st_ts_to(&ts);
    return 0;
}

/* ---- transactions ------------------------------------------------------------------ */

int st_begin(struct cs_store *st, struct cs_err *err)
{
    if (!SQL_SUCCEEDED(SQLSetConnectAttr(st->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_OFF, 0)))
        return st_fail(st, SQL_HANDLE_DBC, st->dbc, err, "starting a transaction");
    return 0;
}

int st_commit(struct cs_store *st, struct cs_err *err)
{
    int rc = 0;
    if (!SQL_SUCCEEDED(SQLEndTran(SQL_HANDLE_DBC, st->dbc, SQL_COMMIT)))
        rc = st_fail(st, SQL_HANDLE_DBC, st->dbc, err, "committing");
    if (rc != 0)
        SQLEndTran(SQL_HANDLE_DBC, st->dbc, SQL_ROLLBACK);
    SQLSetConnectAttr(st->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
    return rc;
}

void st_rollback(struct cs_store *st)
{
    SQLEndTran(SQL_HANDLE_DBC, st->dbc, SQL_ROLLBACK);
    SQLSetConnectAttr(st->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
}

void st_backoff(int attempt)
{
    long ms = 20L << (attempt < 6 ? attempt : 6);
    if (ms > 1000)
        ms = 1000;
    ms += (long)(((unsigned)getpid() * 2654435761u + (unsigned)attempt * 40503u) % 20u); /* de-synchronise */
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- schema ------------------------------------------------------------------------- */

/* CREATE TABLE IF NOT EXISTS for one table, in the store's dialect. */
static int create_sql(const struct cs_store *st, const struct tabledef *t, char *buf, size_t size)
{
    size_t o = (size_t)snprintf(buf, size, "CREATE TABLE IF NOT EXISTS %s%s (", st->prefix, t->name);
    for (const struct coldef *c = t->cols; c->name != NULL && o < size; c++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s %s%s", c == t->cols ? "" : ", ", c->name,
                              cs_dialect_type(st->dialect, c->type), c->not_null ? " NOT NULL" : "");
    if (t->pk != NULL && o < size)
        o += (size_t)snprintf(buf + o, size - o, ", PRIMARY KEY (%s)", t->pk);
    if (o < size)
        o += (size_t)snprintf(buf + o, size - o, ")");
    return o < size ? 0 : -1;
}

/* 0 when there is no DQ_SCHEMA yet; -1 on a failure that is not "no such table". */
static int schema_version(struct cs_store *st, long long *version)
{
    SQLHSTMT h = NULL;
    int null = 1;
    *version = 0;
    if (st_exec(st, "SELECT MAX(VERSION) FROM {P}DQ_SCHEMA", NULL, 0, &h, NULL) != 0)
        return 0; /* most likely the table does not exist: version 0 */
    int rc = SQL_SUCCEEDED(SQLFetch(h)) && st_get_i64(h, 1, version, &null) == 0 ? 0 : -1;
    if (null)
        *version = 0;
    st_close(h);
    return rc;
}

static int migrate_v1(struct cs_store *st, struct cs_err *err)
{
    char sql[ST_SQL_MAX];
    int rc = 0;
    for (const struct tabledef *t = TABLES_V1; rc == 0 && t->name != NULL; t++) {
        if (create_sql(st, t, sql, sizeof(sql)) != 0)
            return cs_err_set(err, CS_EINTERNAL, "store: CREATE TABLE %s too long", t->name);
        rc = st_exec(st, sql, NULL, 0, NULL, err); /* generated text holds no "{P}" */
    }
    for (const char *const *ix = INDEXES_V1; rc == 0 && *ix != NULL && cs_dialect_has_indexes(st->dialect); ix++)
        rc = st_exec(st, *ix, NULL, 0, NULL, err);
    return rc;
}

/* Apply the migrations from `from` up to CS_STORE_SCHEMA_VERSION in one transaction. */
static int migrate_once(struct cs_store *st, long long from, struct cs_err *err)
{
    struct st_param p[] = {{.kind = ST_I64, .i64 = CS_STORE_SCHEMA_VERSION}, {.kind = ST_TS, .ts = (double)time(NULL)},
                           ST_TEXTP("creditsense " CS_VERSION)};
    int rc = st_begin(st, err);
    if (rc == 0 && from < 1)
        rc = migrate_v1(st, err);
    if (rc == 0)
        rc = st_exec(st, "INSERT INTO {P}DQ_SCHEMA (VERSION, APPLIED_AT, PROGRAM) VALUES (?, ?, ?)", p, 3, NULL, err);
    if (rc == 0)
        return st_commit(st, err);
    st_rollback(st);
    return rc;
}

static int migrate(struct cs_store *st, struct cs_err *err)
{
    long long v = 0;
    int rc = 0;
    for (int attempt = 0; attempt < ST_ATTEMPTS; attempt++) {
        if (schema_version(st, &v) != 0)
            return cs_err_set(err, CS_ESOURCE, "store %s: cannot read DQ_SCHEMA", st->redacted);
        if (v > CS_STORE_SCHEMA_VERSION)
            return cs_err_set(err, CS_ESOURCE,
                              "store %s: schema version %lld is newer than this creditsense understands (%d); "
                              "upgrade creditsense",
                              st->redacted, v, CS_STORE_SCHEMA_VERSION);
        if (v == CS_STORE_SCHEMA_VERSION)
            return 0;
        if ((rc = migrate_once(st, v, err)) == 0) {
            cs_log(CS_LOG_INFO, "store", "store schema migrated from version %lld to %d", v, CS_STORE_SCHEMA_VERSION);
            return 0;
        }
        /* Another process may be migrating right now: look again after a pause. */
        st_backoff(attempt);
    }
    return cs_err_prefix(err, "store %s: creating the schema: ", st->redacted);
}

/* CREATE SCHEMA when the user named one (ignored when it exists or we may not create it). */
static void ensure_schema(struct cs_store *st, const char *schema)
{
    char ident[260], sql[300];
    if (cs_dialect_ident(st->dialect, schema, ident, sizeof(ident)) < 0)
        return;
    snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", ident);
    if (st_exec(st, sql, NULL, 0, NULL, NULL) != 0)
        cs_log(CS_LOG_DEBUG, "store", "CREATE SCHEMA %s failed; assuming it exists", ident);
}

/* "<schema>." in the dialect's spelling, or "" without a schema. */
static int make_prefix(struct cs_store *st, const char *schema, struct cs_err *err)
{
    char ident[260];
    st->prefix[0] = '\0';
    if (schema == NULL || schema[0] == '\0')
        return 0;
    if (st->dialect == CS_DIALECT_SQLITE)
        return cs_err_set(err, CS_ECONFIG,
                          "store.schema: SQLite has no schemas; point store.odbc at another database file instead");
    if (cs_dialect_ident(st->dialect, schema, ident, sizeof(ident)) < 0)
        return cs_err_set(err, CS_ECONFIG, "store.schema: name too long");
    snprintf(st->prefix, sizeof(st->prefix), "%s.", ident);
    return 0;
}

static int set_prefix(struct cs_store *st, const char *schema, struct cs_err *err)
{
    int rc = make_prefix(st, schema, err);
    if (rc == 0 && st->prefix[0] != '\0')
        ensure_schema(st, schema);
    return rc;
}

int cs_store_ddl(enum cs_dialect d, const char *schema, char *buf, size_t size, struct cs_err *err)
{
    struct cs_store st = {.dialect = d};
    char sql[ST_SQL_MAX];
    size_t o = 0;
    int rc = make_prefix(&st, schema, err);
    buf[0] = '\0';
    for (const struct tabledef *t = TABLES_V1; rc == 0 && t->name != NULL; t++) {
        if (create_sql(&st, t, sql, sizeof(sql)) != 0 || o + strlen(sql) + 3 > size)
            return cs_err_set(err, CS_EINTERNAL, "DDL does not fit");
        o += (size_t)snprintf(buf + o, size - o, "%s;\n", sql);
    }
    const char *const *lists[] = {INDEXES_V1, INDEXES_ADDED};
    for (size_t l = 0; l < 2; l++)
        for (const char *const *ix = lists[l]; rc == 0 && *ix != NULL && cs_dialect_has_indexes(d); ix++) {
            if (st_sql(&st, *ix, sql, sizeof(sql)) != 0 || o + strlen(sql) + 3 > size)
                return cs_err_set(err, CS_EINTERNAL, "DDL does not fit");
            o += (size_t)snprintf(buf + o, size - o, "%s;\n", sql);
        }
    return rc;
}

static void ensure_indexes(struct cs_store *st)
{
    struct cs_err err = {0};
    for (const char *const *ix = INDEXES_ADDED; *ix != NULL && cs_dialect_has_indexes(st->dialect); ix++)
        if (st_exec(st, *ix, NULL, 0, NULL, &err) != 0)
            cs_log(CS_LOG_WARNING, "store", "%s (queries still work, only slower)", err.msg);
}

/* ---- open and close ------------------------------------------------------------------- */

static int connect_db(struct cs_store *st, struct cs_err *err)
{
    char dbms[128] = "";
    SQLSMALLINT len = 0;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &st->env)) ||
        !SQL_SUCCEEDED(SQLSetEnvAttr(st->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0)) ||
        !SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, st->env, &st->dbc)))
        return cs_err_set(err, CS_ESOURCE, "store %s: cannot set up ODBC (is unixODBC installed?)", st->redacted);
    SQLSetConnectAttr(st->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(SQLULEN)LOGIN_TIMEOUT_S, 0);
    if (!SQL_SUCCEEDED(SQLDriverConnect(st->dbc, NULL, (SQLCHAR *)st->conn, SQL_NTS, NULL, 0, NULL,
                                        SQL_DRIVER_NOPROMPT))) {
        char what[600];
        snprintf(what, sizeof(what), "cannot connect to %s", st->redacted);
        return st_fail(st, SQL_HANDLE_DBC, st->dbc, err, what);
    }
    st->connected = 1;
    SQLGetInfo(st->dbc, SQL_DBMS_NAME, dbms, sizeof(dbms), &len);
    st->dialect = cs_dialect_from_dbms(dbms);
    return 0;
}

/* Can this driver execute a statement once for an array of parameter sets? */
static void probe_arrays(struct cs_store *st)
{
    SQLHSTMT h = NULL;
    if (strcmp(st->fault, "no_arrays") == 0 || !SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, st->dbc, &h))) {
        st->no_arrays = 1;
        return;
    }
    SQLULEN got = 0;
    SQLRETURN r = SQLSetStmtAttr(h, SQL_ATTR_PARAMSET_SIZE, (SQLPOINTER)(SQLULEN)16, 0);
    /* SQL_SUCCESS_WITH_INFO means "option value changed" (01S02): the driver would do fewer. */
    if (r != SQL_SUCCESS || !SQL_SUCCEEDED(SQLGetStmtAttr(h, SQL_ATTR_PARAMSET_SIZE, &got, 0, NULL)) || got != 16)
        st->no_arrays = 1;
    st_close(h);
    if (st->no_arrays)
        cs_log(CS_LOG_INFO, "store", "the store's driver does not take parameter arrays; writing one row per execute");
}

int cs_store_open(struct cs_store **out, const char *conn, const char *schema, struct cs_err *err)
{
    struct cs_store *st = calloc(1, sizeof(*st));
    *out = NULL;
    if (st == NULL || (st->conn = strdup(conn ? conn : "")) == NULL) {
        free(st);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    cs_config_redact(conn, st->redacted, sizeof(st->redacted));
    const char *fault = getenv("CS_STORE_FAULT");
    snprintf(st->fault, sizeof(st->fault), "%s", fault ? fault : "");
    int rc = connect_db(st, err);
    if (rc == 0)
        rc = set_prefix(st, schema, err);
    if (rc == 0)
        rc = migrate(st, err);
    if (rc != 0) {
        cs_store_close(st);
        return rc;
    }
    ensure_indexes(st);
    probe_arrays(st);
    *out = st;
    return 0;
}

int cs_store_open_config(struct cs_store **out, const struct cs_config *cfg, struct cs_err *err)
{
    const char *conn = cfg->store_odbc != NULL ? cfg->store_odbc : cfg->source_odbc;
    int rc = cs_store_open(out, conn, cfg->store_schema, err);
    if (rc == CS_ESOURCE)
        cs_err_prefix(err, "%s", "cannot use the run store (configure \"store\" in the config, or run with --no-store): ");
    return rc;
}

void cs_store_close(struct cs_store *st)
{
    if (st == NULL)
        return;
    if (st->connected)
        SQLDisconnect(st->dbc);
    if (st->dbc != NULL)
        SQLFreeHandle(SQL_HANDLE_DBC, st->dbc);
    if (st->env != NULL)
        SQLFreeHandle(SQL_HANDLE_ENV, st->env);
    free(st->conn);
    free(st);
}

enum cs_dialect cs_store_dialect(const struct cs_store *st)
{
    return st->dialect;
}
