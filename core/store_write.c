/*
** store_write.c -- writing runs, suggestions and profiles.  See store.h.
**
** Array-bound inserts: rows are staged column by column (struct pbatch)
** and executed in chunks of up to CHUNK_ROWS parameter sets with
** SQL_ATTR_PARAMSET_SIZE and column-wise binding, so a run with hundreds
** of findings or metric rows costs a handful of round trips.  Text columns
** are copied per chunk into one buffer of fixed-width slots (the widest
** value of the chunk).  Drivers that cannot execute arrays (found by
** probe_arrays in store.c) get one execute per row, still inside the one
** transaction; SQL_ATTR_PARAMS_PROCESSED_PTR is checked so a driver that
** silently did fewer rows fails the transaction instead of losing rows.
**
** SQLite (its ODBC driver compiles the statement again for every
** parameter set, which was most of a stored customer run's cost) gets one
** multi-row INSERT ... VALUES (...), (...) per chunk instead: one compile
** per chunk, the same rows.
**
** Retry: the whole transaction is repeated (after a rollback and a pause)
** when it failed on a lock conflict; any other failure is reported.
*/
#include "store_impl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

#define CHUNK_ROWS 256
/* Parameters of one SQLite statement: 32766 since SQLite 3.32, 999 before; the lower bound is safe. */
#define SQLITE_MAX_PARAMS 999

/* ---- staged rows ------------------------------------------------------------- */

struct pcol {
    enum st_kind kind;
    long long *i64;
    double *f64;
    const char **s; /* borrowed until the batch is executed */
    SQLLEN *ind;    /* SQL_NULL_DATA marks NULL while staging */
    /* per chunk */
    SQLBIGINT *b_i64;
    SQLDOUBLE *b_f64;
    SQL_TIMESTAMP_STRUCT *b_ts;
    char *b_text;
    size_t width;
};

struct pbatch {
    size_t ncols, nrows;
    struct pcol *cols;
};

static void pb_free(struct pbatch *pb)
{
    for (size_t c = 0; pb->cols != NULL && c < pb->ncols; c++) {
        struct pcol *p = &pb->cols[c];
        free(p->i64);
        free(p->f64);
        free(p->s);
        free(p->ind);
        free(p->b_i64);
        free(p->b_f64);
        free(p->b_ts);
        free(p->b_text);
    }
    free(pb->cols);
    memset(pb, 0, sizeof(*pb));
}

/* kinds[] gives each column's kind; nrows rows, all NULL until set. */
static int pb_init(struct pbatch *pb, const enum st_kind *kinds, size_t ncols, size_t nrows)
{
    size_t n = nrows ? nrows : 1, chunk = n < CHUNK_ROWS ? n : CHUNK_ROWS;
    memset(pb, 0, sizeof(*pb));
    if ((pb->cols = calloc(ncols, sizeof(*pb->cols))) == NULL)
        return CS_ENOMEM;
    pb->ncols = ncols;
    pb->nrows = nrows;
    for (size_t c = 0; c < ncols; c++) {
        struct pcol *p = &pb->cols[c];
        p->kind = kinds[c];
        p->ind = malloc(n * sizeof(*p->ind));
        if (p->ind == NULL)
            return CS_ENOMEM;
        for (size_t r = 0; r < n; r++)
            p->ind[r] = SQL_NULL_DATA;
        if (kinds[c] == ST_I64 && ((p->i64 = calloc(n, sizeof(*p->i64))) == NULL ||
                                   (p->b_i64 = calloc(chunk, sizeof(*p->b_i64))) == NULL))
            return CS_ENOMEM;
        if ((kinds[c] == ST_F64 || kinds[c] == ST_TS) && (p->f64 = calloc(n, sizeof(*p->f64))) == NULL)
            return CS_ENOMEM;
        if (kinds[c] == ST_F64 && (p->b_f64 = calloc(chunk, sizeof(*p->b_f64))) == NULL)
            return CS_ENOMEM;
        if (kinds[c] == ST_TS && (p->b_ts = calloc(chunk, sizeof(*p->b_ts))) == NULL)
            return CS_ENOMEM;
        if (kinds[c] == ST_TEXT && (p->s = calloc(n, sizeof(*p->s))) == NULL)
            return CS_ENOMEM;
    }
    return 0;
}

static void pb_i64(struct pbatch *pb, size_t c, size_t r, long long v)
{
    pb->cols[c].i64[r] = v;
    pb->cols[c].ind[r] = 0;
}

static void pb_f64(struct pbatch *pb, size_t c, size_t r, double v, int present)
{
    pb->cols[c].f64[r] = v;
    pb->cols[c].ind[r] = present ? 0 : SQL_NULL_DATA;
}

static void pb_ts(struct pbatch *pb, size_t c, size_t r, double t)
{
    pb_f64(pb, c, r, t, 1);
}

static void pb_text(struct pbatch *pb, size_t c, size_t r, const char *s)
{
    pb->cols[c].s[r] = s;
    pb->cols[c].ind[r] = s ? 0 : SQL_NULL_DATA;
}

/* Copy rows [first, first+n) of a column into its bind buffers. */
static int fill_chunk(struct pcol *p, size_t first, size_t n, SQLLEN *ind)
{
    size_t width = 1;
    if (p->kind == ST_TEXT) {
        for (size_t r = 0; r < n; r++)
            if (p->s[first + r] != NULL && strlen(p->s[first + r]) + 1 > width)
                width = strlen(p->s[first + r]) + 1;
        free(p->b_text);
        if ((p->b_text = calloc(n, width)) == NULL)
            return CS_ENOMEM;
        p->width = width;
    }
    for (size_t r = 0; r < n; r++) {
        size_t i = first + r;
        ind[r] = p->ind[i];
        if (p->ind[i] == SQL_NULL_DATA)
            continue;
        switch (p->kind) {
        case ST_I64: p->b_i64[r] = p->i64[i]; break;
        case ST_F64: p->b_f64[r] = p->f64[i]; break;
        case ST_TS: st_ts_from(p->f64[i], &p->b_ts[r]); break;
        default:
            memcpy(p->b_text + r * width, p->s[i], strlen(p->s[i]) + 1);
            ind[r] = (SQLLEN)strlen(p->s[i]);
        }
    }
    return 0;
}

/* Bind column c for parameter-set row `row` of the chunk (row-wise) or the whole chunk (row = -1). */
/* Bind staged column c (row `row` of the chunk, or the whole array for row < 0) as parameter no. */
static SQLRETURN bind_param(SQLHSTMT h, SQLUSMALLINT no, struct pcol *p, SQLLEN *ind, long row)
{
    size_t r = row < 0 ? 0 : (size_t)row;
    switch (p->kind) {
    case ST_I64:
        return SQLBindParameter(h, no, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0, &p->b_i64[r], 0, &ind[r]);
    case ST_F64:
        return SQLBindParameter(h, no, SQL_PARAM_INPUT, SQL_C_DOUBLE, SQL_DOUBLE, 0, 0, &p->b_f64[r], 0, &ind[r]);
    case ST_TS:
        return SQLBindParameter(h, no, SQL_PARAM_INPUT, SQL_C_TYPE_TIMESTAMP, SQL_TYPE_TIMESTAMP, 23, 3, &p->b_ts[r],
                                sizeof(SQL_TIMESTAMP_STRUCT), &ind[r]);
    default:
        return SQLBindParameter(h, no, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, p->width > 1 ? p->width - 1 : 1, 0,
                                p->b_text + r * p->width, (SQLLEN)p->width, &ind[r]);
    }
}

static SQLRETURN bind_col(SQLHSTMT h, size_t c, struct pcol *p, SQLLEN *ind, long row)
{
    return bind_param(h, (SQLUSMALLINT)(c + 1), p, ind, row);
}

/* "INSERT ... VALUES (t)" made into "INSERT ... VALUES (t), (t), ..." for n rows; NULL when out of memory. */
static char *multi_row_sql(const char *one, size_t n)
{
    const char *values = strstr(one, ") VALUES (");
    if (values == NULL)
        return NULL;
    const char *tuple = values + strlen(") VALUES ");
    size_t head = strlen(one), tlen = strlen(tuple);
    char *sql = malloc(head + (n - 1) * (tlen + 2) + 1);
    if (sql == NULL)
        return NULL;
    memcpy(sql, one, head);
    for (size_t r = 1; r < n; r++) {
        memcpy(sql + head, ", ", 2);
        memcpy(sql + head + 2, tuple, tlen);
        head += tlen + 2;
    }
    sql[head] = '\0';
    return sql;
}

/* One chunk of n rows as one multi-row INSERT (SQLite: see the top of the file). */
static int exec_multi_row(struct cs_store *st, const char *one_row_sql, struct pbatch *pb, SQLLEN **inds, size_t n,
                          const char *what, struct cs_err *err)
{
    SQLHSTMT h = NULL;
    char *sql = multi_row_sql(one_row_sql, n);
    int rc = sql ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
    if (rc == 0 && !SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, st->dbc, &h)))
        rc = st_fail(st, SQL_HANDLE_DBC, st->dbc, err, what);
    if (rc == 0 && !SQL_SUCCEEDED(SQLPrepare(h, (SQLCHAR *)sql, SQL_NTS)))
        rc = st_fail(st, SQL_HANDLE_STMT, h, err, what);
    for (size_t r = 0; rc == 0 && r < n; r++)
        for (size_t c = 0; rc == 0 && c < pb->ncols; c++)
            if (!SQL_SUCCEEDED(bind_param(h, (SQLUSMALLINT)(r * pb->ncols + c + 1), &pb->cols[c], inds[c], (long)r)))
                rc = st_fail(st, SQL_HANDLE_STMT, h, err, what);
    if (rc == 0 && !SQL_SUCCEEDED(SQLExecute(h)))
        rc = st_fail(st, SQL_HANDLE_STMT, h, err, what);
    st_close(h);
    free(sql);
    return rc;
}

/* Execute one chunk of n parameter sets: as an array, or row by row. */
static int exec_chunk(struct cs_store *st, SQLHSTMT h, struct pbatch *pb, SQLLEN **inds, size_t n,
                      const char *what, struct cs_err *err)
{
    if (!st->no_arrays) {
        SQLULEN done = 0;
        SQLSetStmtAttr(h, SQL_ATTR_PARAMSET_SIZE, (SQLPOINTER)(SQLULEN)n, 0);
        SQLSetStmtAttr(h, SQL_ATTR_PARAMS_PROCESSED_PTR, &done, 0);
        for (size_t c = 0; c < pb->ncols; c++)
            if (!SQL_SUCCEEDED(bind_col(h, c, &pb->cols[c], inds[c], -1)))
                return st_fail(st, SQL_HANDLE_STMT, h, err, what);
        if (!SQL_SUCCEEDED(SQLExecute(h)))
            return st_fail(st, SQL_HANDLE_STMT, h, err, what);
        SQLSetStmtAttr(h, SQL_ATTR_PARAMS_PROCESSED_PTR, NULL, 0);
        if (done != n)
            return cs_err_set(err, CS_ESOURCE, "store: %s: the driver processed %lu of %zu rows", what,
                              (unsigned long)done, n);
        return 0;
    }
    for (size_t r = 0; r < n; r++) {
        for (size_t c = 0; c < pb->ncols; c++)
            if (!SQL_SUCCEEDED(bind_col(h, c, &pb->cols[c], inds[c], (long)r)))
                return st_fail(st, SQL_HANDLE_STMT, h, err, what);
        if (!SQL_SUCCEEDED(SQLExecute(h)))
            return st_fail(st, SQL_HANDLE_STMT, h, err, what);
    }
    return 0;
}

/* INSERT every staged row of pb into table (columns cols, json marks JSON columns). */
static int pb_insert(struct cs_store *st, struct pbatch *pb, const char *table, const char *const *cols,
                     const int *json, struct cs_err *err)
{
    char qualified[400], what[480];
    if (pb->nrows == 0)
        return 0;
    snprintf(qualified, sizeof(qualified), "%s%s", st->prefix, table);
    snprintf(what, sizeof(what), "inserting into %s", table);
    char *sql = cs_dialect_insert(st->dialect, qualified, cols, json, pb->ncols);
    SQLLEN **inds = calloc(pb->ncols, sizeof(*inds));
    SQLHSTMT h = NULL;
    int multi = st->dialect == CS_DIALECT_SQLITE && pb->ncols <= SQLITE_MAX_PARAMS;
    size_t chunk = multi && SQLITE_MAX_PARAMS / pb->ncols < CHUNK_ROWS ? SQLITE_MAX_PARAMS / pb->ncols : CHUNK_ROWS;
    int rc = (sql && inds) ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
    for (size_t c = 0; rc == 0 && c < pb->ncols; c++)
        if ((inds[c] = calloc(CHUNK_ROWS, sizeof(SQLLEN))) == NULL)
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    if (rc == 0 && !multi && !SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, st->dbc, &h)))
        rc = st_fail(st, SQL_HANDLE_DBC, st->dbc, err, what);
    if (rc == 0 && !multi &&
        !SQL_SUCCEEDED(SQLSetStmtAttr(h, SQL_ATTR_PARAM_BIND_TYPE, (SQLPOINTER)SQL_PARAM_BIND_BY_COLUMN, 0)))
        rc = st_fail(st, SQL_HANDLE_STMT, h, err, what);
    if (rc == 0 && !multi && !SQL_SUCCEEDED(SQLPrepare(h, (SQLCHAR *)sql, SQL_NTS)))
        rc = st_fail(st, SQL_HANDLE_STMT, h, err, what);
    for (size_t first = 0; rc == 0 && first < pb->nrows; first += chunk) {
        size_t n = pb->nrows - first < chunk ? pb->nrows - first : chunk;
        for (size_t c = 0; rc == 0 && c < pb->ncols; c++)
            if (fill_chunk(&pb->cols[c], first, n, inds[c]) != 0)
                rc = cs_err_set(err, CS_ENOMEM, "out of memory");
        if (rc == 0)
            rc = multi ? exec_multi_row(st, sql, pb, inds, n, what, err) : exec_chunk(st, h, pb, inds, n, what, err);
    }
    st_close(h);
    for (size_t c = 0; inds != NULL && c < pb->ncols; c++)
        free(inds[c]);
    free(inds);
    free(sql);
    return rc;
}

/* ---- faults (test hook) -------------------------------------------------------- */

static int fault(struct cs_store *st, const char *point, struct cs_err *err)
{
    if (st->fault[0] == '\0')
        return 0;
    if (strncmp(st->fault, "kill_", 5) == 0 && strcmp(st->fault + 5, point) == 0) {
        fflush(NULL);
        raise(SIGKILL); /* a crash mid-transaction, as the test wants */
    }
    if (strcmp(st->fault, point) == 0)
        return cs_err_set(err, CS_ESOURCE, "store: fault injected %s (CS_STORE_FAULT)", point);
    return 0;
}

/* ---- runs ------------------------------------------------------------------------ */

/* Text kept alive while a run is written: JSON of sample keys, numbers as text. */
struct run_text {
    char **samples;
    size_t n;
    char customer[32];
};

static void run_text_free(struct run_text *t)
{
    for (size_t i = 0; t->samples != NULL && i < t->n; i++)
        free(t->samples[i]);
    free(t->samples);
}

static int run_text_make(const struct cs_run *run, struct run_text *t)
{
    memset(t, 0, sizeof(*t));
    if (run->customer_id != NULL && run->customer_is_int) /* "007" and "7" are the same customer */
        snprintf(t->customer, sizeof(t->customer), "%lld", strtoll(run->customer_id, NULL, 10));
    if ((t->samples = calloc(run->nfindings + 1, sizeof(char *))) == NULL)
        return CS_ENOMEM;
    t->n = run->nfindings;
    for (size_t i = 0; i < run->nfindings; i++) {
        json_t *k = run->findings[i].sample_keys;
        if ((t->samples[i] = k ? json_dumps(k, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("[]")) == NULL)
            return CS_ENOMEM;
    }
    return 0;
}

static const char *run_customer(const struct cs_run *run, const struct run_text *t)
{
    if (run->customer_id == NULL)
        return NULL;
    return t->customer[0] ? t->customer : run->customer_id;
}

/* The table's name as the database spells it (the engine records it per pass). */
static const char *run_table(const struct cs_run *run)
{
    if (run->scope != CS_SCOPE_TABLE)
        return NULL;
    return run->ntables > 0 ? run->tables[0].table : run->table;
}

static int insert_run_row(struct cs_store *st, const struct cs_run *run, const struct run_text *t, struct cs_err *err)
{
    static const char *const cols[] = {"RUN_ID", "SCOPE", "TABLE_NAME", "CUSTOMER_ID", "STARTED_AT", "FINISHED_AT",
                                       "STATUS", "ROWS_SCANNED", "FINDINGS", "MAX_SEVERITY", "CONFIG_HASH",
                                       "SOURCE_KIND", "PROGRAM"};
    static const enum st_kind kinds[] = {ST_TEXT, ST_TEXT, ST_TEXT, ST_TEXT, ST_TS,   ST_TS,  ST_TEXT,
                                         ST_I64,  ST_I64,  ST_TEXT, ST_TEXT, ST_TEXT, ST_TEXT};
    struct pbatch pb;
    int max = cs_run_max_severity(run);
    int rc = pb_init(&pb, kinds, 13, 1);
    if (rc == 0) {
        pb_text(&pb, 0, 0, run->run_id);
        pb_text(&pb, 1, 0, run->scope == CS_SCOPE_TABLE ? "table" : "customer");
        pb_text(&pb, 2, 0, run_table(run));
        pb_text(&pb, 3, 0, run_customer(run, t));
        pb_ts(&pb, 4, 0, run->started);
        pb_ts(&pb, 5, 0, run->finished);
        pb_text(&pb, 6, 0, "ok");
        pb_i64(&pb, 7, 0, (long long)run->rows_scanned);
        pb_i64(&pb, 8, 0, (long long)run->nfindings);
        pb_text(&pb, 9, 0, max >= 0 ? cs_severity_name(max) : NULL);
        pb_text(&pb, 10, 0, run->config_hash);
        pb_text(&pb, 11, 0, run->source_kind);
        pb_text(&pb, 12, 0, "creditsense " CS_VERSION);
        rc = pb_insert(st, &pb, "DQ_RUNS", cols, NULL, err);
    } else {
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    pb_free(&pb);
    return rc;
}

static void stage_finding(struct pbatch *pb, size_t r, const struct cs_run *run, const struct run_text *t)
{
    const struct cs_finding *f = &run->findings[r];
    pb_text(pb, 0, r, run->run_id);
    pb_i64(pb, 1, r, (long long)r);
    pb_text(pb, 2, r, run_customer(run, t));
    pb_text(pb, 3, r, f->table);
    pb_text(pb, 4, r, f->column);
    pb_text(pb, 5, r, f->check);
    pb_text(pb, 6, r, f->source);
    pb_text(pb, 7, r, f->kind);
    pb_text(pb, 8, r, cs_severity_name(f->severity));
    pb_i64(pb, 9, r, (long long)f->count);
    pb_i64(pb, 10, r, (long long)f->total);
    pb_i64(pb, 11, r, (long long)f->groups);
    pb_f64(pb, 12, r, f->threshold, f->has_range);
    pb_f64(pb, 13, r, f->lower, f->has_range);
    pb_f64(pb, 14, r, f->upper, f->has_range);
    pb_text(pb, 15, r, f->message);
    pb_text(pb, 16, r, t->samples[r]);
}

static int insert_anomalies(struct cs_store *st, const struct cs_run *run, const struct run_text *t,
                            struct cs_err *err)
{
    static const char *const cols[] = {"RUN_ID",     "ANOMALY_SEQ", "CUSTOMER_ID", "TABLE_NAME",  "COLUMN_NAME",
                                       "CHECK_NAME", "FINDING_SOURCE", "KIND",     "SEVERITY",    "HIT_COUNT",
                                       "TOTAL_COUNT", "GROUP_COUNT", "THRESHOLD",  "LOWER_BOUND", "UPPER_BOUND",
                                       "MESSAGE",    "SAMPLE_KEYS"};
    static const enum st_kind kinds[] = {ST_TEXT, ST_I64, ST_TEXT, ST_TEXT, ST_TEXT, ST_TEXT, ST_TEXT, ST_TEXT, ST_TEXT,
                                         ST_I64,  ST_I64, ST_I64,  ST_F64,  ST_F64,  ST_F64,  ST_TEXT, ST_TEXT};
    static const int json[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    struct pbatch pb;
    int rc = pb_init(&pb, kinds, 17, run->nfindings);
    for (size_t r = 0; rc == 0 && r < run->nfindings; r++)
        stage_finding(&pb, r, run, t);
    rc = rc ? cs_err_set(err, CS_ENOMEM, "out of memory") : pb_insert(st, &pb, "DQ_ANOMALIES", cols, json, err);
    pb_free(&pb);
    return rc;
}

static const char *type_name(int type)
{
    switch (type) {
    case CS_TYPE_INT64: return "int64";
    case CS_TYPE_DOUBLE: return "double";
    case CS_TYPE_TEXT: return "text";
    default: return NULL;
    }
}

static void stage_metric(struct pbatch *pb, size_t r, const struct cs_run *run, const struct cs_colmetrics *m)
{
    pb_text(pb, 0, r, run->run_id);
    pb_text(pb, 1, r, run_table(run));
    pb_text(pb, 2, r, m->column);
    pb_text(pb, 3, r, type_name(m->type));
    pb_i64(pb, 4, r, m->is_key);
    pb_i64(pb, 5, r, (long long)m->rows);
    if (m->has_counts) {
        pb_i64(pb, 6, r, (long long)m->nulls);
        pb_i64(pb, 7, r, (long long)m->negatives);
        pb_i64(pb, 8, r, (long long)m->duplicates);
        pb_i64(pb, 9, r, (long long)m->values);
    }
    const double v[] = {m->mean, m->sd, m->min, m->max, m->q1, m->median, m->q3};
    for (size_t i = 0; i < 7; i++)
        pb_f64(pb, 10 + i, r, v[i], m->has_stats);
}

static int insert_metrics(struct cs_store *st, const struct cs_run *run, struct cs_err *err)
{
    static const char *const cols[] = {"RUN_ID",      "TABLE_NAME",   "COLUMN_NAME", "COLUMN_TYPE", "IS_KEY",
                                       "ROW_COUNT",   "NULL_COUNT",   "NEGATIVE_COUNT", "DUPLICATE_COUNT",
                                       "VALUE_COUNT", "MEAN_VALUE",   "SD_VALUE",    "MIN_VALUE",   "MAX_VALUE",
                                       "Q1_VALUE",    "MEDIAN_VALUE", "Q3_VALUE"};
    static const enum st_kind kinds[] = {ST_TEXT, ST_TEXT, ST_TEXT, ST_TEXT, ST_I64, ST_I64, ST_I64, ST_I64, ST_I64,
                                         ST_I64,  ST_F64,  ST_F64,  ST_F64,  ST_F64, ST_F64, ST_F64, ST_F64};
    if (run->nmetrics == 0 || run_table(run) == NULL)
        return 0;
    struct pbatch pb;
    int rc = pb_init(&pb, kinds, 17, run->nmetrics);
    for (size_t r = 0; rc == 0 && r < run->nmetrics; r++)
        stage_metric(&pb, r, run, &run->metrics[r]);
    rc = rc ? cs_err_set(err, CS_ENOMEM, "out of memory") : pb_insert(st, &pb, "DQ_METRICS", cols, NULL, err);
    pb_free(&pb);
    return rc;
}

/* Delete whatever an earlier attempt at this run left: rewriting a run replaces it. */
static int delete_run(struct cs_store *st, const char *run_id, struct cs_err *err)
{
    static const char *const sql[] = {"DELETE FROM {P}DQ_METRICS WHERE RUN_ID = ?",
                                      "DELETE FROM {P}DQ_ANOMALIES WHERE RUN_ID = ?",
                                      "DELETE FROM {P}DQ_RUNS WHERE RUN_ID = ?", NULL};
    int rc = 0;
    for (const char *const *s = sql; rc == 0 && *s != NULL; s++) {
        struct st_param p = ST_TEXTP(run_id);
        rc = st_exec(st, *s, &p, 1, NULL, err);
    }
    return rc;
}

static int write_once(struct cs_store *st, const struct cs_run *run, const struct run_text *t, struct cs_err *err)
{
    int rc = st_begin(st, err);
    if (rc == 0)
        rc = delete_run(st, run->run_id, err);
    if (rc == 0)
        rc = insert_run_row(st, run, t, err);
    if (rc == 0)
        rc = fault(st, "after_runs", err);
    if (rc == 0)
        rc = insert_anomalies(st, run, t, err);
    if (rc == 0)
        rc = fault(st, "after_anomalies", err);
    if (rc == 0)
        rc = insert_metrics(st, run, err);
    if (rc == 0)
        rc = fault(st, "after_metrics", err);
    if (rc == 0)
        return st_commit(st, err);
    st_rollback(st);
    return rc;
}

/* Run fn in a transaction until it succeeds, fails for good, or lock conflicts persist. */
static int with_retry(struct cs_store *st, int (*fn)(struct cs_store *, const void *, struct cs_err *),
                      const void *arg, const char *what, struct cs_err *err)
{
    int rc = 0;
    for (int attempt = 0; attempt < ST_ATTEMPTS; attempt++) {
        st->transient = 0;
        if ((rc = fn(st, arg, err)) == 0 || !st->transient)
            break;
        cs_log(CS_LOG_DEBUG, "store", "%s: lock conflict, retrying (%d)", what, attempt + 1);
        st_backoff(attempt);
    }
    if (rc != 0)
        cs_err_prefix(err, "%s: ", what);
    return rc;
}

struct run_args {
    const struct cs_run *run;
    const struct run_text *t;
};

static int write_run_fn(struct cs_store *st, const void *arg, struct cs_err *err)
{
    const struct run_args *a = arg;
    return write_once(st, a->run, a->t, err);
}

int cs_store_write_run(struct cs_store *st, const struct cs_run *run, struct cs_err *err)
{
    struct run_text t;
    char what[80];
    if (run_text_make(run, &t) != 0) {
        run_text_free(&t);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    struct run_args a = {run, &t};
    snprintf(what, sizeof(what), "writing run %s", run->run_id);
    int rc = with_retry(st, write_run_fn, &a, what, err);
    run_text_free(&t);
    return rc;
}

/* One transaction: delete the rows a key selects, insert the staged ones. */
static int tx_replace(struct cs_store *st, const char *delete_sql, struct st_param *key, size_t nkey,
                      struct pbatch *pb, const char *table, const char *const *cols, const int *json,
                      struct cs_err *err)
{
    int rc = st_begin(st, err);
    if (rc != 0)
        return rc;
    if ((rc = st_exec(st, delete_sql, key, nkey, NULL, err)) == 0 && (rc = pb_insert(st, pb, table, cols, json, err)) == 0)
        return st_commit(st, err);
    st_rollback(st);
    return rc;
}

/* ---- AI suggestions -------------------------------------------------------------- */

struct sugg_args {
    const char *run_id;
    const struct cs_suggestion *s;
    size_t n;
};

static void stage_suggestion(struct pbatch *pb, size_t r, const char *run_id, const struct cs_suggestion *s, double now)
{
    pb_text(pb, 0, r, run_id);
    pb_i64(pb, 1, r, (long long)r);
    if (s->anomaly_seq >= 0)
        pb_i64(pb, 2, r, s->anomaly_seq);
    pb_text(pb, 3, r, s->signature);
    pb_text(pb, 4, r, s->backend);
    pb_text(pb, 5, r, s->model);
    pb_text(pb, 6, r, s->status ? s->status : "pending");
    pb_text(pb, 7, r, s->json);
    const long long v[] = {s->prompt_tokens, s->completion_tokens, s->latency_ms};
    for (size_t i = 0; i < 3; i++)
        if (v[i] >= 0)
            pb_i64(pb, 8 + i, r, v[i]);
    pb_ts(pb, 11, r, now);
}

static int suggestions_fn(struct cs_store *st, const void *arg, struct cs_err *err)
{
    static const char *const cols[] = {"RUN_ID", "SUGGESTION_SEQ", "ANOMALY_SEQ", "SIGNATURE", "BACKEND", "MODEL",
                                       "STATUS", "SUGGESTION", "PROMPT_TOKENS", "COMPLETION_TOKENS", "LATENCY_MS",
                                       "CREATED_AT"};
    static const enum st_kind kinds[] = {ST_TEXT, ST_I64, ST_I64, ST_TEXT, ST_TEXT, ST_TEXT,
                                         ST_TEXT, ST_TEXT, ST_I64, ST_I64,  ST_I64,  ST_TS};
    static const int json[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    const struct sugg_args *a = arg;
    struct st_param p = ST_TEXTP(a->run_id);
    struct pbatch pb;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int rc = pb_init(&pb, kinds, 12, a->n) ? cs_err_set(err, CS_ENOMEM, "out of memory") : 0;
    for (size_t r = 0; rc == 0 && r < a->n; r++)
        stage_suggestion(&pb, r, a->run_id, &a->s[r], (double)now.tv_sec + now.tv_nsec / 1e9);
    if (rc == 0)
        rc = tx_replace(st, "DELETE FROM {P}DQ_AI_SUGGESTIONS WHERE RUN_ID = ?", &p, 1, &pb, "DQ_AI_SUGGESTIONS", cols,
                        json, err);
    pb_free(&pb);
    return rc;
}

int cs_store_write_suggestions(struct cs_store *st, const char *run_id, const struct cs_suggestion *s, size_t n,
                               struct cs_err *err)
{
    struct sugg_args a = {run_id, s, n};
    return with_retry(st, suggestions_fn, &a, "writing AI suggestions", err);
}

/* ---- profiles ---------------------------------------------------------------------- */

struct prof_args {
    const char *table, *hash;
    double built_at;
    const char *const *columns;
    const struct cs_profile *p;
    size_t n;
};

static int profiles_fn(struct cs_store *st, const void *arg, struct cs_err *err)
{
    static const char *const cols[] = {"TABLE_NAME", "CONFIG_HASH", "COLUMN_NAME", "BUILT_AT",  "VALUE_COUNT",
                                       "MEAN_VALUE", "SD_VALUE",    "MIN_VALUE",   "MAX_VALUE", "Q1_VALUE",
                                       "MEDIAN_VALUE", "Q3_VALUE",  "MAD_VALUE"};
    static const enum st_kind kinds[] = {ST_TEXT, ST_TEXT, ST_TEXT, ST_TS,  ST_I64, ST_F64, ST_F64,
                                         ST_F64,  ST_F64,  ST_F64,  ST_F64, ST_F64, ST_F64};
    const struct prof_args *a = arg;
    struct st_param key[] = {ST_TEXTP(a->table), ST_TEXTP(a->hash)};
    struct pbatch pb;
    int rc = pb_init(&pb, kinds, 13, a->n) ? cs_err_set(err, CS_ENOMEM, "out of memory") : 0;
    for (size_t r = 0; rc == 0 && r < a->n; r++) {
        const struct cs_profile *p = &a->p[r];
        const double v[] = {p->mean, p->sd, p->min, p->max, p->q1, p->median, p->q3, p->mad};
        pb_text(&pb, 0, r, a->table);
        pb_text(&pb, 1, r, a->hash);
        pb_text(&pb, 2, r, a->columns[r]);
        pb_ts(&pb, 3, r, a->built_at);
        pb_i64(&pb, 4, r, (long long)p->count);
        for (size_t i = 0; i < 8; i++)
            pb_f64(&pb, 5 + i, r, v[i], p->count > 0);
    }
    if (rc == 0)
        rc = tx_replace(st, "DELETE FROM {P}DQ_PROFILES WHERE TABLE_NAME = ? AND CONFIG_HASH = ?", key, 2, &pb,
                        "DQ_PROFILES", cols, NULL, err);
    pb_free(&pb);
    return rc;
}

int cs_store_profiles_save(struct cs_store *st, const char *table, const char *config_hash, double built_at,
                           const char *const *columns, const struct cs_profile *p, size_t n, struct cs_err *err)
{
    struct prof_args a = {table, config_hash, built_at, columns, p, n};
    return with_retry(st, profiles_fn, &a, "saving profiles", err);
}
