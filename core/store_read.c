/*
** store_read.c -- reading the store back: metric history for drift, past
** runs for `creditsense history`, findings across runs for the daemon's
** GET /api/v1/anomalies, cached profiles.  See store.h.
**
** Every value that comes from a user (table name, customer id, limit) is a
** bound parameter; LIMIT is bound where the dialect allows it and written
** as a validated number otherwise (cs_dialect_limit_bindable).
*/
#include "store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "report.h"

#define HISTORY_DEFAULT_LIMIT 20

/* "LIMIT ?" with a bound parameter, or "LIMIT <n>". */
/* LIMIT n, and for a page OFFSET k: bound where the dialect allows it, else as the numbers (never
 * user text).  Takes one parameter slot, two for a page. */
static void limit_clause(enum cs_dialect d, size_t n, int paged, size_t offset, char *buf, size_t size,
                         struct st_param *p, int *np)
{
    if (cs_dialect_limit_bindable(d)) {
        snprintf(buf, size, paged ? "LIMIT ? OFFSET ?" : "LIMIT ?");
        p[(*np)++] = ST_I64P((long long)n);
        if (paged)
            p[(*np)++] = ST_I64P((long long)offset);
    } else if (paged) {
        snprintf(buf, size, "LIMIT %zu OFFSET %zu", n, offset);
    } else {
        snprintf(buf, size, "LIMIT %zu", n);
    }
}

/* ---- metric history ---------------------------------------------------------- */

void cs_metric_history_free(struct cs_metric_history *h)
{
    for (size_t i = 0; i < h->nruns; i++)
        cs_metrics_free(h->runs[i].m, h->runs[i].n);
    free(h->runs);
    for (size_t i = 0; i < h->nflags; i++) {
        free(h->flags[i].column);
        free(h->flags[i].kind);
    }
    free(h->flags);
    memset(h, 0, sizeof(*h));
}

/* The run entry for run_id: the last one (rows arrive grouped by run), or a new one. */
static struct cs_hist_run *hist_run(struct cs_metric_history *h, const char *run_id, double started)
{
    if (h->nruns > 0 && strcmp(h->runs[h->nruns - 1].run_id, run_id) == 0)
        return &h->runs[h->nruns - 1];
    struct cs_hist_run *r = realloc(h->runs, (h->nruns + 1) * sizeof(*r));
    if (r == NULL)
        return NULL;
    h->runs = r;
    r = &h->runs[h->nruns++];
    memset(r, 0, sizeof(*r));
    snprintf(r->run_id, sizeof(r->run_id), "%s", run_id);
    r->started = started;
    return r;
}

static struct cs_colmetrics *hist_add_metric(struct cs_hist_run *r)
{
    struct cs_colmetrics *m = realloc(r->m, (r->n + 1) * sizeof(*m));
    if (m == NULL)
        return NULL;
    r->m = m;
    m = &r->m[r->n++];
    memset(m, 0, sizeof(*m));
    return m;
}

static int type_from_name(const char *s)
{
    if (s == NULL)
        return 0;
    return strcmp(s, "int64") == 0 ? CS_TYPE_INT64 : strcmp(s, "double") == 0 ? CS_TYPE_DOUBLE : CS_TYPE_TEXT;
}

/* Columns 3.. of a metrics row into m. */
static int read_metric(SQLHSTMT h, struct cs_colmetrics *m)
{
    long long v[6];
    int null[6], rc = 0, snull = 0;
    char *type = NULL;
    if ((rc = st_get_text(h, 3, &m->column)) != 0 || (rc = st_get_text(h, 4, &type)) != 0)
        return rc;
    m->type = type_from_name(type);
    free(type);
    for (int i = 0; rc == 0 && i < 6; i++)
        rc = st_get_i64(h, (SQLUSMALLINT)(5 + i), &v[i], &null[i]);
    double *d[] = {&m->mean, &m->sd, &m->min, &m->max, &m->q1, &m->median, &m->q3};
    for (int i = 0; rc == 0 && i < 7; i++)
        rc = st_get_f64(h, (SQLUSMALLINT)(11 + i), d[i], &snull);
    if (m->column == NULL)
        return CS_ESOURCE;
    m->is_key = (int)v[0];
    m->rows = (uint64_t)v[1];
    m->has_counts = !null[2];
    m->nulls = (uint64_t)v[2];
    m->negatives = (uint64_t)v[3];
    m->duplicates = (uint64_t)v[4];
    m->values = (uint64_t)v[5];
    m->has_stats = !snull;
    return rc;
}

/*
 * sql = fmt with its %s replaced by the subquery of the table's last max_runs
 * good table runs; p gets the parameters (the table, once for fmt's own "?"
 * and once for the subquery, then the limit).  Returns their number.
 */
static int recent_runs_sql(struct cs_store *st, const char *table, size_t max_runs, const char *fmt, char *sql,
                           struct st_param p[3])
{
    char limit[48], sub[256];
    int np = 2;
    p[0] = ST_TEXTP(table);
    p[1] = ST_TEXTP(table);
    limit_clause(st->dialect, max_runs, 0, 0, limit, sizeof(limit), p, &np);
    snprintf(sub, sizeof(sub),
             "(SELECT RUN_ID FROM {P}DQ_RUNS WHERE SCOPE = 'table' AND TABLE_NAME = ? AND STATUS = 'ok' "
             "ORDER BY STARTED_AT DESC, RUN_ID DESC %s)",
             limit);
    snprintf(sql, ST_SQL_MAX, fmt, sub);
    return np;
}

static int load_metrics(struct cs_store *st, const char *table, size_t max_runs, struct cs_metric_history *out,
                        struct cs_err *err)
{
    char sql[ST_SQL_MAX];
    struct st_param p[3];
    int np = recent_runs_sql(st, table, max_runs,
                             "SELECT m.RUN_ID, r.STARTED_AT, m.COLUMN_NAME, m.COLUMN_TYPE, m.IS_KEY, m.ROW_COUNT, "
                             "m.NULL_COUNT, m.NEGATIVE_COUNT, m.DUPLICATE_COUNT, m.VALUE_COUNT, m.MEAN_VALUE, "
                             "m.SD_VALUE, m.MIN_VALUE, m.MAX_VALUE, m.Q1_VALUE, m.MEDIAN_VALUE, m.Q3_VALUE "
                             "FROM {P}DQ_METRICS m JOIN {P}DQ_RUNS r ON r.RUN_ID = m.RUN_ID "
                             "WHERE m.TABLE_NAME = ? AND m.RUN_ID IN %s ORDER BY r.STARTED_AT, m.RUN_ID, m.COLUMN_NAME",
                             sql, p);
    SQLHSTMT h = NULL;
    int rc = st_exec(st, sql, p, (size_t)np, &h, err);
    SQLRETURN r;
    while (rc == 0 && SQL_SUCCEEDED(r = SQLFetch(h))) {
        char *run_id = NULL;
        double started = 0;
        int null = 0;
        struct cs_hist_run *hr = NULL;
        struct cs_colmetrics *m = NULL;
        if ((rc = st_get_text(h, 1, &run_id)) == 0 && run_id != NULL && (rc = st_get_ts(h, 2, &started, &null)) == 0 &&
            ((hr = hist_run(out, run_id, started)) == NULL || (m = hist_add_metric(hr)) == NULL))
            rc = CS_ENOMEM;
        if (rc == 0 && m != NULL)
            rc = read_metric(h, m);
        free(run_id);
        if (rc != 0)
            rc = st_read_fail(st, h, rc, err, "reading DQ_METRICS");
    }
    st_close(h);
    return rc;
}

static int load_flags(struct cs_store *st, const char *table, size_t max_runs, struct cs_metric_history *out,
                      struct cs_err *err)
{
    char sql[ST_SQL_MAX];
    struct st_param p[3];
    int np = recent_runs_sql(st, table, max_runs,
                             "SELECT RUN_ID, COLUMN_NAME, KIND FROM {P}DQ_ANOMALIES WHERE TABLE_NAME = ? "
                             "AND CHECK_NAME = 'drift' AND RUN_ID IN %s",
                             sql, p);
    SQLHSTMT h = NULL;
    int rc = st_exec(st, sql, p, (size_t)np, &h, err);
    while (rc == 0 && SQL_SUCCEEDED(SQLFetch(h))) {
        struct cs_hist_flag *f = realloc(out->flags, (out->nflags + 1) * sizeof(*f));
        char *run_id = NULL;
        if (f == NULL) {
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
            break;
        }
        out->flags = f;
        f = &out->flags[out->nflags];
        memset(f, 0, sizeof(*f));
        if ((rc = st_get_text(h, 1, &run_id)) == 0 && (rc = st_get_text(h, 2, &f->column)) == 0)
            rc = st_get_text(h, 3, &f->kind);
        snprintf(f->run_id, sizeof(f->run_id), "%s", run_id ? run_id : "");
        free(run_id);
        out->nflags++;
        if (rc != 0)
            rc = st_read_fail(st, h, rc, err, "reading DQ_ANOMALIES");
    }
    st_close(h);
    return rc;
}

int cs_store_metric_history(struct cs_store *st, const char *table, size_t max_runs, struct cs_metric_history *out,
                            struct cs_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = load_metrics(st, table, max_runs, out, err);
    if (rc == 0)
        rc = load_flags(st, table, max_runs, out, err);
    if (rc != 0)
        cs_metric_history_free(out);
    return rc;
}

/* ---- history of runs ------------------------------------------------------------ */

/* Set key to the text of column col (JSON null for SQL NULL). */
static int set_text(json_t *o, const char *key, SQLHSTMT h, SQLUSMALLINT col)
{
    char *s = NULL;
    int rc = st_get_text(h, col, &s);
    if (rc == 0)
        json_object_set_new(o, key, s ? json_string(s) : json_null());
    free(s);
    return rc;
}

static int set_int(json_t *o, const char *key, SQLHSTMT h, SQLUSMALLINT col)
{
    long long v;
    int null, rc = st_get_i64(h, col, &v, &null);
    if (rc == 0)
        json_object_set_new(o, key, null ? json_null() : json_integer(v));
    return rc;
}

static int set_time(json_t *o, const char *key, SQLHSTMT h, SQLUSMALLINT col)
{
    double t;
    char buf[40];
    int null, rc = st_get_ts(h, col, &t, &null);
    if (rc == 0 && !null)
        cs_report_iso_time(t, buf, sizeof(buf));
    if (rc == 0)
        json_object_set_new(o, key, null ? json_null() : json_string(buf));
    return rc;
}

/* Sample keys come back as JSON text (TEXT, JSONB or VARIANT). */
static int set_json(json_t *o, const char *key, SQLHSTMT h, SQLUSMALLINT col)
{
    char *s = NULL;
    int rc = st_get_text(h, col, &s);
    json_t *v = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    if (rc == 0)
        json_object_set_new(o, key, v ? v : s ? json_string(s) : json_array());
    free(s);
    return rc;
}

static json_t *run_object(SQLHSTMT h, int *rc)
{
    json_t *o = json_object();
    char *scope = NULL;
    if (o == NULL) {
        *rc = CS_ENOMEM;
        return NULL;
    }
    if ((*rc = set_text(o, "run_id", h, 1)) || (*rc = st_get_text(h, 2, &scope)))
        return o;
    json_object_set_new(o, "scope", json_string(scope ? scope : ""));
    if (scope && strcmp(scope, "table") == 0)
        *rc = set_text(o, "table", h, 3);
    else
        *rc = set_text(o, "customer_id", h, 4);
    free(scope);
    if (*rc == 0 && !(*rc = set_time(o, "started_at", h, 5)) && !(*rc = set_time(o, "finished_at", h, 6)) &&
        !(*rc = set_text(o, "status", h, 7)) && !(*rc = set_int(o, "rows_scanned", h, 8)) &&
        !(*rc = set_int(o, "findings", h, 9)) && !(*rc = set_text(o, "max_severity", h, 10)) &&
        !(*rc = set_text(o, "config_hash", h, 11)))
        *rc = set_text(o, "source", h, 12);
    return o;
}

/* A customer id as the store keeps it: integer ids normalised (007 is 7), others as given. */
static const char *stored_customer_id(const char *id, char *buf, size_t size)
{
    char *end;
    errno = 0;
    long long v = strtoll(id, &end, 10);
    if (*id == '\0' || *end != '\0' || errno != 0)
        return id;
    snprintf(buf, size, "%lld", v);
    return buf;
}

/* The runs the query selects, newest first, without their anomalies. */
static int query_runs(struct cs_store *st, const struct cs_history_query *q, json_t *runs, struct cs_err *err)
{
    char sql[ST_SQL_MAX], limit[64], custbuf[32];
    struct st_param p[3];
    int np = 0;
    const char *where = "";
    if (q->table != NULL) {
        where = "WHERE SCOPE = 'table' AND UPPER(TABLE_NAME) = UPPER(?) ";
        p[np++] = ST_TEXTP(q->table);
    } else if (q->customer != NULL) {
        where = "WHERE SCOPE = 'customer' AND CUSTOMER_ID = ? ";
        p[np++] = ST_TEXTP(stored_customer_id(q->customer, custbuf, sizeof(custbuf)));
    }
    limit_clause(st->dialect, q->limit ? q->limit : HISTORY_DEFAULT_LIMIT, 1, q->offset, limit, sizeof(limit), p, &np);
    snprintf(sql, sizeof(sql),
             "SELECT RUN_ID, SCOPE, TABLE_NAME, CUSTOMER_ID, STARTED_AT, FINISHED_AT, STATUS, ROWS_SCANNED, "
             "FINDINGS, MAX_SEVERITY, CONFIG_HASH, SOURCE_KIND FROM {P}DQ_RUNS %sORDER BY STARTED_AT DESC, RUN_ID DESC %s",
             where, limit);
    SQLHSTMT h = NULL;
    int rc = st_exec(st, sql, p, (size_t)np, &h, err);
    while (rc == 0 && SQL_SUCCEEDED(SQLFetch(h))) {
        json_t *o = run_object(h, &rc);
        if (o == NULL || json_array_append_new(runs, o) != 0)
            rc = CS_ENOMEM;
        if (rc != 0)
            rc = st_read_fail(st, h, rc, err, "reading DQ_RUNS");
    }
    st_close(h);
    return rc;
}

static json_t *anomaly_object(SQLHSTMT h, int *rc)
{
    json_t *o = json_object();
    if (o == NULL) {
        *rc = CS_ENOMEM;
        return NULL;
    }
    if (!(*rc = set_text(o, "table", h, 1)) && !(*rc = set_text(o, "column", h, 2)) &&
        !(*rc = set_text(o, "check", h, 3)) && !(*rc = set_text(o, "kind", h, 4)) &&
        !(*rc = set_text(o, "severity", h, 5)) && !(*rc = set_int(o, "count", h, 6)) &&
        !(*rc = set_int(o, "total", h, 7)) && !(*rc = set_text(o, "message", h, 8)))
        *rc = set_json(o, "sample_keys", h, 9);
    return o;
}

/* Attach each run's anomalies (one query per run). */
static int attach_anomalies(struct cs_store *st, json_t *runs, struct cs_err *err)
{
    size_t i;
    json_t *run;
    int rc = 0;
    json_array_foreach(runs, i, run) {
        struct st_param p = ST_TEXTP(json_string_value(json_object_get(run, "run_id")));
        json_t *list = json_array();
        SQLHSTMT h = NULL;
        json_object_set_new(run, "anomalies", list);
        if (list == NULL)
            return cs_err_set(err, CS_ENOMEM, "out of memory");
        rc = st_exec(st,
                     "SELECT TABLE_NAME, COLUMN_NAME, CHECK_NAME, KIND, SEVERITY, HIT_COUNT, TOTAL_COUNT, MESSAGE, "
                     "SAMPLE_KEYS FROM {P}DQ_ANOMALIES WHERE RUN_ID = ? ORDER BY ANOMALY_SEQ",
                     &p, 1, &h, err);
        while (rc == 0 && SQL_SUCCEEDED(SQLFetch(h))) {
            json_t *a = anomaly_object(h, &rc);
            if (a == NULL || json_array_append_new(list, a) != 0)
                rc = CS_ENOMEM;
            if (rc != 0)
                rc = st_read_fail(st, h, rc, err, "reading DQ_ANOMALIES");
        }
        st_close(h);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int cs_store_history(struct cs_store *st, const struct cs_history_query *q, json_t **out, struct cs_err *err)
{
    json_t *runs = json_array();
    *out = NULL;
    if (runs == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    int rc = query_runs(st, q, runs, err);
    if (rc == 0 && !q->runs_only)
        rc = attach_anomalies(st, runs, err);
    if (rc != 0) {
        json_decref(runs);
        return rc;
    }
    *out = runs;
    return 0;
}

/* ---- anomalies across runs ----------------------------------------------------------- */

#define ANOMALY_DEFAULT_LIMIT 50
#define ANOMALY_MAX_PARAMS 16

/* The SELECT of cs_store_anomalies ("{P}" not expanded yet) with its bound parameters. */
struct anomaly_sql {
    char sql[ST_SQL_MAX];
    struct st_param p[ANOMALY_MAX_PARAMS];
    int np;
    int overflow;
    char customer[32]; /* the normalised customer id p points at */
};

/* Append " AND cond" (the SELECT has its WHERE already: the join). */
static void where(struct anomaly_sql *a, const char *cond)
{
    size_t o = strlen(a->sql);
    int n = snprintf(a->sql + o, sizeof(a->sql) - o, " AND %s", cond);
    if (n < 0 || (size_t)n >= sizeof(a->sql) - o)
        a->overflow = 1;
}

/* "a.SEVERITY IN (?, ...)" with the names of min_severity and every worse one. */
static void severity_filter(struct anomaly_sql *a, int min_severity)
{
    char cond[96] = "a.SEVERITY IN (";
    for (int s = min_severity; s <= CS_SEV_CRITICAL; s++) {
        strcat(cond, s == min_severity ? "?" : ", ?");
        a->p[a->np++] = ST_TEXTP(cs_severity_name(s));
    }
    strcat(cond, ")");
    where(a, cond);
}

/*
 * Runs drive the query, newest first through DQ_RUNS_STARTED_IX, each
 * joined to its findings by DQ_ANOMALIES' primary key, so a page is read
 * without sorting every finding of the store.  CROSS JOIN is how SQLite is
 * told that order (its planner, without statistics, would scan every
 * finding and sort: seconds on a million); for PostgreSQL and Snowflake it
 * is the inner join it reads as, their planners choose freely.
 */
static void anomalies_sql(enum cs_dialect d, const struct cs_anomaly_query *q, struct anomaly_sql *a)
{
    size_t limit = q->limit ? q->limit : ANOMALY_DEFAULT_LIMIT, o;
    memset(a, 0, sizeof(*a));
    snprintf(a->sql, sizeof(a->sql),
             "SELECT a.RUN_ID, r.STARTED_AT, r.SCOPE, r.CUSTOMER_ID, a.ANOMALY_SEQ, a.CHECK_NAME, a.KIND, "
             "a.TABLE_NAME, a.COLUMN_NAME, a.HIT_COUNT, a.TOTAL_COUNT, a.SEVERITY, a.MESSAGE, a.SAMPLE_KEYS "
             "FROM {P}DQ_RUNS r CROSS JOIN {P}DQ_ANOMALIES a WHERE a.RUN_ID = r.RUN_ID");
    if (q->table != NULL) {
        where(a, "UPPER(a.TABLE_NAME) = UPPER(?)");
        a->p[a->np++] = ST_TEXTP(q->table);
    }
    if (q->column != NULL) {
        where(a, "UPPER(a.COLUMN_NAME) = UPPER(?)");
        a->p[a->np++] = ST_TEXTP(q->column);
    }
    if (q->check != NULL) {
        where(a, "a.CHECK_NAME = ?");
        a->p[a->np++] = ST_TEXTP(q->check);
    }
    if (q->min_severity > CS_SEV_INFO) /* info or worse is every finding */
        severity_filter(a, q->min_severity > CS_SEV_CRITICAL ? CS_SEV_CRITICAL : q->min_severity);
    if (q->customer != NULL) {
        where(a, "r.SCOPE = 'customer' AND r.CUSTOMER_ID = ?");
        a->p[a->np++] = ST_TEXTP(stored_customer_id(q->customer, a->customer, sizeof(a->customer)));
    }
    if (q->run_id != NULL) {
        where(a, "a.RUN_ID = ?");
        a->p[a->np++] = ST_TEXTP(q->run_id);
    }
    if (q->has_since) {
        where(a, "r.STARTED_AT >= ?");
        a->p[a->np++] = (struct st_param){.kind = ST_TS, .ts = q->since};
    }
    if (q->has_until) {
        where(a, "r.STARTED_AT < ?");
        a->p[a->np++] = (struct st_param){.kind = ST_TS, .ts = q->until};
    }
    /* One row past the page tells whether there is a next one. */
    char page[64];
    int np = (int)a->np;
    limit_clause(d, limit + 1, 1, q->offset, page, sizeof(page), a->p, &np);
    a->np = (size_t)np;
    o = strlen(a->sql);
    snprintf(a->sql + o, sizeof(a->sql) - o, " ORDER BY r.STARTED_AT DESC, r.RUN_ID DESC, a.ANOMALY_SEQ %s", page);
    if (strlen(a->sql) + 1 >= sizeof(a->sql))
        a->overflow = 1;
}

int cs_store_anomalies_sql(enum cs_dialect d, const struct cs_anomaly_query *q, char *buf, size_t size,
                           size_t *nparams)
{
    struct cs_store st = {.dialect = d};
    struct anomaly_sql *a = malloc(sizeof(*a));
    int rc = a == NULL ? -1 : 0;
    if (rc == 0) {
        anomalies_sql(d, q, a);
        rc = a->overflow || st_sql(&st, a->sql, buf, size) != 0 ? -1 : 0;
        *nparams = (size_t)a->np;
    }
    free(a);
    return rc;
}

/* count / total as the reports give it: 0 for an empty total, null when a count is missing. */
static int set_ratio(json_t *o, SQLHSTMT h, SQLUSMALLINT count_col, SQLUSMALLINT total_col)
{
    long long c, t;
    int cnull, tnull, rc = st_get_i64(h, count_col, &c, &cnull);
    if (rc == 0)
        rc = st_get_i64(h, total_col, &t, &tnull);
    if (rc == 0)
        json_object_set_new(o, "ratio", cnull || tnull ? json_null() : json_real(t > 0 ? (double)c / (double)t : 0.0));
    return rc;
}

/* One row of the anomalies SELECT (columns as in anomalies_sql). */
static json_t *found_anomaly(SQLHSTMT h, int *rc)
{
    json_t *o = json_object();
    if (o == NULL) {
        *rc = CS_ENOMEM;
        return NULL;
    }
    if (!(*rc = set_text(o, "run_id", h, 1)) && !(*rc = set_time(o, "started_at", h, 2)) &&
        !(*rc = set_text(o, "scope", h, 3)) && !(*rc = set_text(o, "customer_id", h, 4)) &&
        !(*rc = set_int(o, "anomaly", h, 5)) && !(*rc = set_text(o, "check", h, 6)) &&
        !(*rc = set_text(o, "kind", h, 7)) && !(*rc = set_text(o, "table", h, 8)) &&
        !(*rc = set_text(o, "column", h, 9)) && !(*rc = set_int(o, "count", h, 10)) &&
        !(*rc = set_int(o, "total", h, 11)) && !(*rc = set_ratio(o, h, 10, 11)) &&
        !(*rc = set_text(o, "severity", h, 12)) && !(*rc = set_text(o, "message", h, 13)))
        *rc = set_json(o, "sample_keys", h, 14);
    return o;
}

int cs_store_anomalies(struct cs_store *st, const struct cs_anomaly_query *q, json_t **out, int *more,
                       struct cs_err *err)
{
    size_t limit = q->limit ? q->limit : ANOMALY_DEFAULT_LIMIT;
    struct anomaly_sql *a = malloc(sizeof(*a));
    json_t *list = json_array();
    SQLHSTMT h = NULL;
    int rc = a && list ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
    *out = NULL;
    if (rc == 0) {
        anomalies_sql(st->dialect, q, a);
        if (a->overflow)
            rc = cs_err_set(err, CS_EINTERNAL, "store: the anomaly query does not fit");
    }
    if (rc == 0)
        rc = st_exec(st, a->sql, a->p, (size_t)a->np, &h, err);
    while (rc == 0 && SQL_SUCCEEDED(SQLFetch(h))) {
        json_t *o = found_anomaly(h, &rc);
        if (o == NULL || json_array_append_new(list, o) != 0)
            rc = CS_ENOMEM;
        if (rc != 0)
            rc = st_read_fail(st, h, rc, err, "reading DQ_ANOMALIES");
    }
    st_close(h);
    free(a);
    if (rc != 0) {
        json_decref(list);
        return rc;
    }
    if (more != NULL)
        *more = json_array_size(list) > limit;
    if (json_array_size(list) > limit)
        json_array_remove(list, limit);
    *out = list;
    return 0;
}

/* ---- profiles ------------------------------------------------------------------------ */

void cs_store_profiles_free(struct cs_store_profile *p, size_t n)
{
    for (size_t i = 0; p != NULL && i < n; i++)
        free(p[i].column);
    free(p);
}

static int read_profile(SQLHSTMT h, struct cs_store_profile *sp, double *built)
{
    long long count;
    int null, rc = st_get_text(h, 1, &sp->column);
    double *d[] = {&sp->p.mean, &sp->p.sd, &sp->p.min, &sp->p.max, &sp->p.q1, &sp->p.median, &sp->p.q3, &sp->p.mad};
    if (rc == 0)
        rc = st_get_ts(h, 2, built, &null);
    if (rc == 0)
        rc = st_get_i64(h, 3, &count, &null);
    for (int i = 0; rc == 0 && i < 8; i++)
        rc = st_get_f64(h, (SQLUSMALLINT)(4 + i), d[i], &null);
    sp->p.struct_size = sizeof(sp->p);
    sp->p.count = count > 0 ? (uint64_t)count : 0;
    return rc == 0 && sp->column == NULL ? CS_ESOURCE : rc;
}

int cs_store_profiles_load(struct cs_store *st, const char *table, const char *config_hash, double min_built_at,
                           struct cs_store_profile **out, size_t *n, double *built_at, struct cs_err *err)
{
    struct st_param p[] = {ST_TEXTP(table), ST_TEXTP(config_hash)};
    SQLHSTMT h = NULL;
    size_t cap = 0;
    double oldest = 0;
    *out = NULL;
    *n = 0;
    int rc = st_exec(st,
                     "SELECT COLUMN_NAME, BUILT_AT, VALUE_COUNT, MEAN_VALUE, SD_VALUE, MIN_VALUE, MAX_VALUE, Q1_VALUE, "
                     "MEDIAN_VALUE, Q3_VALUE, MAD_VALUE FROM {P}DQ_PROFILES WHERE TABLE_NAME = ? AND CONFIG_HASH = ?",
                     p, 2, &h, err);
    while (rc == 0 && SQL_SUCCEEDED(SQLFetch(h))) {
        double built = 0;
        if (*n == cap) {
            struct cs_store_profile *np = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(*np));
            if (np == NULL) {
                rc = cs_err_set(err, CS_ENOMEM, "out of memory");
                break;
            }
            *out = np;
        }
        memset(&(*out)[*n], 0, sizeof(**out));
        rc = read_profile(h, &(*out)[(*n)++], &built);
        if (rc != 0)
            rc = st_read_fail(st, h, rc, err, "reading DQ_PROFILES");
        if (*n == 1 || built < oldest)
            oldest = built;
    }
    st_close(h);
    if (rc == 0 && *n > 0 && oldest < min_built_at) { /* stale: the caller rebuilds */
        cs_store_profiles_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    if (rc != 0) {
        cs_store_profiles_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    *built_at = oldest;
    return rc;
}
