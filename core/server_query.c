/*
** server_query.c -- the daemon's read-only queries over the run store and
** the source, for the dashboard and pipelines:
**
**   GET /api/v1/anomalies                 stored findings across runs, filtered and paged
**   GET /api/v1/metrics?table=T           a table's stored per-column metric history (trends)
**   GET /api/v1/customers/{id}/rows       a customer's raw rows per table, sensitive columns masked
**
** Each request is checked on the loop (unknown or malformed parameters,
** unknown tables: 400/404 before any work is queued), then read on a
** worker thread with the worker's own connections (cs_srv_worker_engine):
** the loop never waits on a database.  Every filter value and the customer
** id reach the database as bound parameters (store_read.c, source.h).
** docs/server.md and docs/openapi.json describe the answers.
*/
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "err.h"
#include "http.h"
#include "report.h"
#include "server_impl.h"
#include "source.h"
#include "store.h"

#define MAX_TEXT 1024            /* a filter value: the store's name columns are VARCHAR(1024) */
#define ANOMALY_LIMIT 50
#define ANOMALY_MAX_LIMIT 1000
#define MAX_OFFSET 1000000000L
#define METRIC_RUNS 20
#define METRIC_MAX_RUNS 100
#define ROWS_LIMIT 100
#define ROWS_MAX_LIMIT 1000

enum query_kind { Q_ANOMALIES, Q_METRICS, Q_ROWS };

struct query_job {
    struct cs_srv_job super;
    enum query_kind kind;
    struct cs_anomaly_query aq; /* Q_ANOMALIES: its strings point at the copies below */
    char *table, *column, *check, *customer, *run;
    size_t limit, runs;
};

static void query_destroy(struct cs_srv_job *job)
{
    struct query_job *qj = (void *)job;
    free(qj->table);
    free(qj->column);
    free(qj->check);
    free(qj->customer);
    free(qj->run);
    free(job->body);
    free(qj);
}

/* ---- parameters (loop thread; each answers 400 itself and returns -1) ------------------------ */

int cs_srv_param_known(struct cs_srv_req *r, const char *const *allowed)
{
    const char *bad;
    if (!cs_http_query_unknown(r->req, allowed, &bad))
        return 0;
    cs_http_send_error(r->req, 400, "bad_request", "unknown query parameter \"%.64s\"", bad ? bad : "");
    return -1;
}

/* A text filter: absent or empty means no filter; *out is a malloc'd copy. */
static int text_param(struct cs_srv_req *r, const char *name, char **out)
{
    const char *v = cs_http_query(r->req, name);
    *out = NULL;
    if (v == NULL || v[0] == '\0')
        return 0;
    if (strlen(v) > MAX_TEXT) {
        cs_http_send_error(r->req, 400, "bad_request", "%s: at most %d characters", name, MAX_TEXT);
        return -1;
    }
    if ((*out = strdup(v)) == NULL) {
        cs_http_send_error(r->req, 500, "internal", "out of memory");
        return -1;
    }
    return 0;
}

int cs_srv_param_number(struct cs_srv_req *r, const char *name, long lo, long hi, long def, long *out)
{
    const char *v = cs_http_query(r->req, name);
    size_t n = v ? strlen(v) : 0;
    *out = def;
    if (v == NULL)
        return 0;
    int ok = n > 0 && n <= 10 && strspn(v, "0123456789") == n;
    long x = ok ? strtol(v, NULL, 10) : 0;
    if (ok && x >= lo && x <= hi) {
        *out = x;
        return 0;
    }
    cs_http_send_error(r->req, 400, "bad_request", "%s: expected a whole number from %ld to %ld", name, lo, hi);
    return -1;
}

/* n digits at *p into *v. */
static int digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* "[T]HH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM]" after a date: the seconds of the day and the zone offset. */
static int parse_clock(const char *p, double *secs, long *offset)
{
    int h, mi, s = 0, oh, om;
    double frac = 0, scale = 0.1;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || h > 23 || mi > 59)
        return -1;
    if (*p == ':') {
        p++;
        if (digits(&p, 2, &s) || s > 60) /* 60: a leap second */
            return -1;
        if (*p == '.') {
            if (!isdigit((unsigned char)*++p))
                return -1;
            for (; isdigit((unsigned char)*p); p++, scale /= 10)
                frac += (*p - '0') * scale;
        }
    }
    *offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh) != 0)
            return -1;
        if (*p == ':')
            p++;
        if (digits(&p, 2, &om) != 0 || oh > 23 || om > 59)
            return -1;
        *offset = sign * (oh * 3600L + om * 60L);
    }
    *secs = h * 3600.0 + mi * 60.0 + s + frac;
    return *p == '\0' ? 0 : -1;
}

/* RFC 3339 / ISO 8601 ("2026-11-25", "2026-11-25T14:00:00Z", "...+02:00"; no zone = UTC) or unix seconds. */
static int parse_time(const char *v, double *out)
{
    const char *p = v;
    int y, mo, d;
    double secs = 0;
    long offset = 0;
    size_t digs = strspn(v, "0123456789");
    const char *rest = v + digs;
    if (digs > 0 && digs <= 12 &&
        (*rest == '\0' || (*rest == '.' && rest[1] != '\0' && strspn(rest + 1, "0123456789") == strlen(rest + 1)))) {
        *out = strtod(v, NULL);
        return 0;
    }
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d) || mo < 1 ||
        mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (parse_clock(p + 1, &secs, &offset) != 0)
            return -1;
    } else if (*p != '\0') {
        return -1;
    }
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    *out = (double)timegm(&tm) + secs - (double)offset;
    return 0;
}

static int time_param(struct cs_srv_req *r, const char *name, int *has, double *out)
{
    const char *v = cs_http_query(r->req, name);
    *has = v != NULL;
    if (v == NULL || parse_time(v, out) == 0)
        return 0;
    cs_http_send_error(r->req, 400, "bad_request", "%s: expected an RFC 3339 time such as 2026-11-25T14:00:00Z "
                       "(UTC unless it has an offset; write '+' as %%2B), a date, or unix seconds", name);
    return -1;
}

/* ---- GET /api/v1/anomalies ------------------------------------------------------------------- */

static int anomalies_work(struct query_job *qj, struct cs_srv_worker *w, json_t **out, struct cs_err *err)
{
    json_t *list = NULL;
    int more = 0;
    int rc = cs_store_anomalies(w->store, &qj->aq, &list, &more, err);
    if (rc != 0)
        return rc;
    size_t next = qj->aq.offset + json_array_size(list);
    *out = json_pack("{s:o, s:I, s:I, s:o}", "anomalies", list, "limit", (json_int_t)qj->aq.limit, "offset",
                     (json_int_t)qj->aq.offset, "next_offset", more ? json_integer((json_int_t)next) : json_null());
    return *out ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
}

/* Parse the severity filter ("this severity or worse"); -1 after answering 400. */
static int severity_param(struct cs_srv_req *r, int *out)
{
    const char *v = cs_http_query(r->req, "severity");
    *out = -1;
    if (v == NULL)
        return 0;
    if ((*out = cs_severity_parse(v)) >= 0)
        return 0;
    cs_http_send_error(r->req, 400, "bad_request", "severity: expected info, low, medium, high or critical "
                       "(the findings of that severity or worse)");
    return -1;
}

/* ---- GET /api/v1/metrics ---------------------------------------------------------------------- */

/* The value array of metric `name` of column c in cols, made (nruns nulls) on first use. */
static json_t *series(json_t *cols, const char *column, const char *name, size_t nruns)
{
    json_t *c = json_object_get(cols, column), *a;
    if (c == NULL && json_object_set_new(cols, column, c = json_object()) != 0)
        return NULL;
    if ((a = json_object_get(c, name)) != NULL)
        return a;
    a = json_array();
    for (size_t i = 0; a != NULL && i < nruns; i++)
        json_array_append_new(a, json_null());
    return json_object_set_new(c, name, a) == 0 ? a : NULL;
}

static void put(json_t *cols, const struct cs_colmetrics *m, const char *name, size_t run, size_t nruns, json_t *v)
{
    json_t *a = v != NULL ? series(cols, m->column, name, nruns) : NULL;
    if (a != NULL)
        json_array_set_new(a, run, v);
    else
        json_decref(v);
}

static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* One column's metrics of run number `run` into cols: counts, ratios (of the rows read) and statistics. */
static void column_point(json_t *cols, const struct cs_colmetrics *m, size_t run, size_t nruns)
{
    if (m->has_counts) {
        double rows = (double)m->rows;
        put(cols, m, "null_count", run, nruns, json_integer((json_int_t)m->nulls));
        put(cols, m, "negative_count", run, nruns, json_integer((json_int_t)m->negatives));
        put(cols, m, "duplicate_count", run, nruns, json_integer((json_int_t)m->duplicates));
        put(cols, m, "null_ratio", run, nruns, m->rows ? json_real((double)m->nulls / rows) : json_null());
        put(cols, m, "negative_ratio", run, nruns, m->rows ? json_real((double)m->negatives / rows) : json_null());
        put(cols, m, "duplicate_ratio", run, nruns, m->rows ? json_real((double)m->duplicates / rows) : json_null());
    }
    if (m->has_stats) {
        const char *names[] = {"mean", "sd", "min", "max", "q1", "median", "q3"};
        const double v[] = {m->mean, m->sd, m->min, m->max, m->q1, m->median, m->q3};
        put(cols, m, "value_count", run, nruns, json_integer((json_int_t)m->values));
        for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
            put(cols, m, names[k], run, nruns, real_or_null(v[k]));
    }
}

static json_t *history_json(const char *table, const struct cs_metric_history *h, const char *column)
{
    json_t *runs = json_array(), *cols = json_object(), *drift = json_array();
    for (size_t i = 0; i < h->nruns; i++) {
        const struct cs_hist_run *hr = &h->runs[i];
        char when[40];
        json_t *rows = json_null();
        cs_report_iso_time(hr->started, when, sizeof(when));
        for (size_t j = 0; j < hr->n; j++) {
            const struct cs_colmetrics *m = &hr->m[j];
            if (strcmp(m->column, "*") == 0) {
                json_decref(rows);
                rows = json_integer((json_int_t)m->rows);
            } else if (column == NULL || strcasecmp(column, m->column) == 0) {
                column_point(cols, m, i, h->nruns);
            }
        }
        json_array_append_new(runs, json_pack("{s:s, s:s, s:o}", "run_id", hr->run_id, "started_at", when, "rows",
                                              rows));
    }
    for (size_t i = 0; i < h->nflags; i++)
        if (column == NULL || strcasecmp(column, h->flags[i].column) == 0)
            json_array_append_new(drift, json_pack("{s:s, s:s?, s:s?}", "run_id", h->flags[i].run_id, "column",
                                                   h->flags[i].column, "metric", h->flags[i].kind));
    return json_pack("{s:s, s:o, s:o, s:o}", "table", table, "runs", runs, "columns", cols, "drift", drift);
}

/* The table as the database spells it (what the store keeps): the config's name when it is not there. */
static int db_table_name(struct cs_srv_worker *w, const char *name, char **out, struct cs_err *err)
{
    struct cs_schema s;
    int rc = cs_source_describe(cs_engine_source(w->eng), name, &s, err);
    if (rc == CS_ENOTFOUND) {
        *out = strdup(name);
        rc = 0;
    } else if (rc == 0) {
        *out = strdup(s.table);
        cs_schema_free(&s);
    }
    return rc == 0 && *out == NULL ? cs_err_set(err, CS_ENOMEM, "out of memory") : rc;
}

static int metrics_work(struct query_job *qj, struct cs_srv_worker *w, json_t **out, struct cs_err *err)
{
    const struct cs_tableconf *tc = cs_config_table(w->gen->cfg, qj->table);
    struct cs_metric_history h;
    char *table = NULL;
    if (tc == NULL)
        return cs_err_set(err, CS_ENOTFOUND, "table %s is not in the config", qj->table);
    int rc = db_table_name(w, tc->name, &table, err);
    if (rc == 0 && (rc = cs_store_metric_history(w->store, table, qj->runs, &h, err)) == 0) {
        *out = history_json(table, &h, qj->column);
        cs_metric_history_free(&h);
        if (*out == NULL)
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    free(table);
    return rc;
}

/* ---- GET /api/v1/customers/{id}/rows ----------------------------------------------------------------- */

static json_t *cell_json(const struct cs_column *c, size_t row)
{
    if (c->nulls[row] != CS_CELL_VALUE)
        return json_null();
    switch (c->type) {
    case CS_TYPE_INT64: return json_integer((json_int_t)c->i64[row]);
    case CS_TYPE_DOUBLE: return real_or_null(c->f64[row]);
    default: {
        json_t *s = json_stringn(c->text[row], c->text_len[row]);
        return s ? s : json_null(); /* not UTF-8: the dashboard could not show it either */
    }
    }
}

/* Rows of the selected cursor into rows (at most limit; *truncated when there were more). */
static int read_rows(struct cs_cursor *cur, const unsigned char *masked, size_t limit, json_t *rows, int *truncated,
                     struct cs_err *err)
{
    const struct cs_batch *b;
    int rc;
    *truncated = 0;
    while ((rc = cs_cursor_next(cur, &b, err)) == 1) {
        for (size_t i = 0; i < b->nrows; i++) {
            if (json_array_size(rows) == limit) {
                *truncated = 1;
                return 0;
            }
            json_t *row = json_array();
            for (size_t c = 0; row != NULL && c < b->ncols; c++)
                json_array_append_new(row, masked[c] ? json_null() : cell_json(&b->cols[c], i));
            if (row == NULL || json_array_append_new(rows, row) != 0)
                return cs_err_set(err, CS_ENOMEM, "out of memory");
        }
    }
    return rc < 0 ? rc : 0;
}

/* One configured table's rows of the customer: {"columns", "rows", "truncated", "masked"} into tables. */
static int table_rows(struct cs_srv_worker *w, const struct cs_tableconf *tc, const char *id, size_t limit,
                      json_t *tables, size_t *found, int *id_is_int, struct cs_err *err)
{
    struct cs_source *src = cs_engine_source(w->eng);
    struct cs_schema s;
    struct cs_cursor *cur = NULL;
    int rc = cs_source_describe(src, tc->name, &s, err), truncated = 0;
    if (rc != 0)
        return rc;
    ssize_t kc = cs_schema_find(&s, tc->customer_key);
    unsigned char *masked = calloc(s.ncols + 1, 1);
    json_t *cols = json_array(), *rows = json_array(), *mcols = json_array();
    struct cs_select sel = {.schema = &s};
    if (masked == NULL || cols == NULL || rows == NULL || mcols == NULL)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    else if (kc < 0)
        rc = cs_err_set(err, CS_ECONFIG, "tables.%s.customer_key: table %s has no column %s", tc->name, s.table,
                        tc->customer_key);
    for (size_t c = 0; rc == 0 && c < s.ncols; c++) {
        const struct cs_colconf *cc = cs_config_column(tc, s.cols[c].name);
        masked[c] = cc != NULL && cc->sensitive;
        json_array_append_new(cols, json_string(s.cols[c].name));
        if (masked[c])
            json_array_append_new(mcols, json_string(s.cols[c].name));
    }
    if (rc == 0) {
        sel.where_col = s.cols[kc].name;
        rc = cs_engine_parse_customer(id, s.cols[kc].type, &sel.where_val, err);
        *id_is_int = sel.where_val.type == CS_TYPE_INT64;
    }
    if (rc == 0 && (rc = cs_source_select(src, &sel, &cur, err)) == 0)
        rc = read_rows(cur, masked, limit, rows, &truncated, err);
    cs_cursor_close(cur);
    if (rc == 0) {
        *found += json_array_size(rows);
        json_object_set_new(tables, s.table, json_pack("{s:O, s:O, s:b, s:O}", "columns", cols, "rows", rows,
                                                       "truncated", truncated, "masked", mcols));
    } else {
        cs_err_prefix(err, "table %s: ", tc->name);
    }
    json_decref(cols);
    json_decref(rows);
    json_decref(mcols);
    free(masked);
    cs_schema_free(&s);
    return rc;
}

static int rows_work(struct query_job *qj, struct cs_srv_worker *w, json_t **out, struct cs_err *err)
{
    const struct cs_config *cfg = w->gen->cfg;
    json_t *tables = json_object();
    size_t found = 0, keyed = 0;
    int id_is_int = 0, rc = tables ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < cfg->ntables; i++) {
        const struct cs_tableconf *tc = &cfg->tables[i];
        if (tc->customer_key == NULL || (qj->table != NULL && cs_config_table(cfg, qj->table) != tc))
            continue;
        keyed++;
        rc = table_rows(w, tc, qj->customer, qj->limit, tables, &found, &id_is_int, err);
    }
    if (rc == 0 && keyed == 0)
        rc = qj->table ? cs_err_set(err, CS_ENOTFOUND, "table %s is not a configured table with a customer_key",
                                    qj->table)
                       : cs_err_set(err, CS_ECONFIG, "no table in the config has a customer_key, so customers "
                                    "cannot be looked up");
    if (rc == 0 && found == 0)
        rc = cs_err_set(err, CS_ENOTFOUND, "customer %.64s was not found in %s", qj->customer,
                        qj->table ? qj->table : "any configured table");
    /* The id as the reports give it: a number when the customer key is numeric. */
    json_t *id = id_is_int ? json_integer((json_int_t)strtoll(qj->customer, NULL, 10)) : json_string(qj->customer);
    if (rc == 0 && (*out = json_pack("{s:o, s:O}", "customer_id", id, "tables", tables)) == NULL)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    else if (rc != 0)
        json_decref(id);
    json_decref(tables);
    return rc;
}

/* ---- the job ------------------------------------------------------------------------------------------ */

static int query_work(struct cs_srv_job *job, struct cs_srv_worker *w)
{
    struct query_job *qj = (void *)job;
    struct cs_err err = {0};
    json_t *out = NULL;
    int rc = cs_srv_worker_engine(w, &err);
    if (rc != 0) {
        job->db_error = 1;
        cs_srv_job_fail(job, 503, "database_unavailable", "cannot reach the database: %s", err.msg);
        return 0;
    }
    if (qj->kind != Q_ROWS && w->store == NULL) {
        cs_srv_job_fail(job, 501, "not_implemented", "the run store is off in this config (store.enabled is false)");
        return 0;
    }
    switch (qj->kind) {
    case Q_ANOMALIES: rc = anomalies_work(qj, w, &out, &err); break;
    case Q_METRICS: rc = metrics_work(qj, w, &out, &err); break;
    case Q_ROWS: rc = rows_work(qj, w, &out, &err); break;
    }
    if (rc == 0)
        cs_srv_job_answer(job, 200, out);
    else
        cs_srv_fail_run(job, w, rc, &err);
    json_decref(out);
    return 0;
}

static const struct cs_srv_job_ops query_ops = {"query", query_work, NULL, query_destroy};

/* A job for a request, or NULL after answering 500. */
static struct query_job *query_job_new(struct cs_srv_req *r, enum query_kind kind)
{
    struct query_job *qj = calloc(1, sizeof(*qj));
    if (qj == NULL) {
        cs_http_send_error(r->req, 500, "internal", "out of memory");
        return NULL;
    }
    qj->super.ops = &query_ops;
    qj->kind = kind;
    return qj;
}

/* ---- handlers (loop thread) ---------------------------------------------------------------------------- */

void cs_srv_anomalies_list(struct cs_srv_req *r)
{
    static const char *const allowed[] = {"table", "column", "check", "severity", "customer", "run", "since",
                                          "until", "limit", "offset", NULL};
    struct query_job *qj;
    struct cs_anomaly_query *q;
    long limit, offset;
    if (cs_srv_param_known(r, allowed) != 0 || (qj = query_job_new(r, Q_ANOMALIES)) == NULL)
        return;
    q = &qj->aq;
    if (text_param(r, "table", &qj->table) || text_param(r, "column", &qj->column) ||
        text_param(r, "check", &qj->check) || text_param(r, "customer", &qj->customer) ||
        text_param(r, "run", &qj->run) || severity_param(r, &q->min_severity) ||
        time_param(r, "since", &q->has_since, &q->since) || time_param(r, "until", &q->has_until, &q->until) ||
        cs_srv_param_number(r, "limit", 1, ANOMALY_MAX_LIMIT, ANOMALY_LIMIT, &limit) ||
        cs_srv_param_number(r, "offset", 0, MAX_OFFSET, 0, &offset)) {
        query_destroy(&qj->super);
        return;
    }
    if (q->has_since && q->has_until && q->since >= q->until) {
        cs_http_send_error(r->req, 400, "bad_request", "since: must be before until");
        query_destroy(&qj->super);
        return;
    }
    q->table = qj->table;
    q->column = qj->column;
    q->check = qj->check;
    q->customer = qj->customer;
    q->run_id = qj->run;
    q->limit = (size_t)limit;
    q->offset = (size_t)offset;
    cs_srv_submit(r, &r->srv->workers, &qj->super);
}

void cs_srv_metrics_history(struct cs_srv_req *r)
{
    static const char *const allowed[] = {"table", "column", "runs", NULL};
    struct query_job *qj;
    long runs;
    if (cs_srv_param_known(r, allowed) != 0 || (qj = query_job_new(r, Q_METRICS)) == NULL)
        return;
    if (text_param(r, "table", &qj->table) || text_param(r, "column", &qj->column) ||
        cs_srv_param_number(r, "runs", 1, METRIC_MAX_RUNS, METRIC_RUNS, &runs)) {
        query_destroy(&qj->super);
        return;
    }
    if (qj->table == NULL || cs_config_table(r->srv->gen->cfg, qj->table) == NULL) {
        if (qj->table == NULL)
            cs_http_send_error(r->req, 400, "bad_request", "table: required (a table of the config)");
        else
            cs_http_send_error(r->req, 404, "not_found", "table %.128s is not in the config", qj->table);
        query_destroy(&qj->super);
        return;
    }
    qj->runs = (size_t)runs;
    cs_srv_submit(r, &r->srv->workers, &qj->super);
}

void cs_srv_customer_rows(struct cs_srv_req *r, const char *customer_id)
{
    static const char *const allowed[] = {"table", "limit", NULL};
    struct query_job *qj;
    long limit;
    if (cs_srv_param_known(r, allowed) != 0 || (qj = query_job_new(r, Q_ROWS)) == NULL)
        return;
    if (text_param(r, "table", &qj->table) || cs_srv_param_number(r, "limit", 1, ROWS_MAX_LIMIT, ROWS_LIMIT, &limit)) {
        query_destroy(&qj->super);
        return;
    }
    const struct cs_tableconf *tc = qj->table ? cs_config_table(r->srv->gen->cfg, qj->table) : NULL;
    if (qj->table != NULL && (tc == NULL || tc->customer_key == NULL)) {
        cs_http_send_error(r->req, 404, "not_found", "table %.128s is not a configured table with a customer_key",
                           qj->table);
        query_destroy(&qj->super);
        return;
    }
    if ((qj->customer = strdup(customer_id)) == NULL) {
        cs_http_send_error(r->req, 500, "internal", "out of memory");
        query_destroy(&qj->super);
        return;
    }
    qj->limit = (size_t)limit;
    cs_srv_submit(r, &r->srv->workers, &qj->super);
}
