/*
** pushdown.c -- the built-in checks compiled into aggregate SQL (pushdown.h).
**
** A run is three rounds of statements against one table:
**   A  one aggregate SELECT (split every PD_MAX_EXPRS expressions): the row
**      count, per column the missing kinds, negatives and their lowest
**      value, and the first-pass outlier statistics (count, min, max, mean
**      and sd or quantiles where the dialect has them), plus, on SQLite, a
**      guard counting values of the wrong storage class (those go to the
**      streaming path, which reads them as "invalid").
**   B  what needs round A's answers: SQLite's centred sum of squares for
**      the sd, MAD's median of |x - median| (percentile_cont / MEDIAN with
**      the median bound), and SQLite's quantiles by ORDER BY ... LIMIT 2
**      OFFSET k with numpy's linear interpolation; then the outlier counts
**      beyond the bounds in one more aggregate.  Duplicate keys are one
**      GROUP BY ... HAVING COUNT(*) > 1 statement.
**   C  up to 10 sample keys per finding (LIMIT 10), only with a primary key.
** Messages and severities are the plugins' own sentences and the host's
** cs_severity_of, so a pushdown finding reads exactly like a streamed one.
*/
#include "pushdown.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../plugins/common.h"
#include "err.h"
#include "log.h"
#include "pushdown_sql.h"
#include "severity.h"

#define PD_MAX_EXPRS 400 /* select-list entries per statement (PostgreSQL allows 1664) */
#define PD_SAMPLES 10
#define MIN_VALUES 30 /* as plugins/outlier.c */
#define MAD_TO_SD 1.4826
#define BLANKS " \t\r\n\f\v"

static const char *const METHOD_NAME[] = {"off", "zscore", "iqr", "mad"};
static const double DEFAULT_THRESHOLD[] = {0, 3.0, 1.5, 3.5};

enum mkind { K_NULL, K_INVALID, K_NAN, K_EMPTY, K_SENTINEL, NKINDS };
static const char *const KIND_NAME[NKINDS] = {"null", "invalid", "nan", "empty", "sentinel"};

int cs_scan_mode_parse(const char *s)
{
    if (strcmp(s, "stream") == 0)
        return CS_SCAN_STREAM;
    if (strcmp(s, "pushdown") == 0)
        return CS_SCAN_PUSHDOWN;
    if (strcmp(s, "auto") == 0)
        return CS_SCAN_AUTO;
    return -1;
}

/* ---- per-run state ------------------------------------------------------- */

struct pd_col {
    long kind[NKINDS]; /* slots, -1 when not asked */
    long neg, neg_min;
    int outlier, method;
    double threshold;
    long n, min, max, mean, sd, q1, med, q3, sum; /* round A slots */
    double v_mean, v_sd, v_q1, v_med, v_q3, v_mad, v_min, v_max;
    uint64_t v_n;
    int judged; /* bounds computed */
    double lower, upper;
    long outside; /* round B slot */
};

struct pd_run {
    const struct cs_pd_table *t;
    enum cs_dialect d;
    struct cs_err *err;
    struct pd_sql *explain; /* non-NULL: record statements, invent answers */
    int loglevel;           /* of "streaming instead" lines: a warning when pushdown was asked for */
    int do_missing, do_negative, do_duplicate, do_outlier;
    struct pd_col *cols;
    uint64_t rows;
};

/* One aggregate round: expressions split into statements, answers by slot. */
struct pd_agg {
    struct pd_sql *st;
    size_t nst;
    size_t nslots;
    size_t *slot_st, *slot_col;
    struct cs_qval *vals;
};

static int pd_oom(struct pd_run *r)
{
    return cs_err_set(r->err, CS_ENOMEM, "out of memory building pushdown SQL");
}

/* Run q (or record it when explaining).  An explained statement "answers" with
 * made-up positive numbers so that every later statement is shown too. */
static int pd_exec(struct pd_run *r, struct pd_sql *q, size_t max_rows, struct cs_qresult *res)
{
    memset(res, 0, sizeof(*res));
    if (q->oom)
        return pd_oom(r);
    if (r->explain != NULL) {
        pd_add(r->explain, q->s);
        pd_add(r->explain, ";\n");
        res->ncols = q->ncols ? q->ncols : 1;
        struct cs_qval *row = res->v = calloc(res->ncols, sizeof(*res->v));
        res->nrows = row != NULL;
        for (size_t c = 0; row != NULL && c < res->ncols; c++)
            row[c].type = CS_TYPE_INT64, row[c].i64 = 100 + (int64_t)c, row[c].f64 = 100.0 + (double)c;
        return row == NULL ? pd_oom(r) : 0;
    }
    int rc = cs_source_query(r->t->src, q->s, q->p, q->np, max_rows, res, r->err);
    if (rc != 0)
        cs_err_prefix(r->err, "table %s (pushdown): ", r->t->schema->table);
    return rc;
}

static void from_clause(struct pd_run *r, struct pd_sql *q)
{
    pd_add(q, " FROM ");
    pd_ident(q, r->d, r->t->schema->table);
}

static long agg_add(struct pd_agg *a, struct pd_sql *e)
{
    if (a->nst == 0 || a->st[a->nst - 1].ncols == PD_MAX_EXPRS) {
        struct pd_sql *st = realloc(a->st, (a->nst + 1) * sizeof(*st));
        if (st == NULL)
            goto oom;
        a->st = st;
        memset(&a->st[a->nst++], 0, sizeof(*st));
        pd_add(&a->st[a->nst - 1], "SELECT ");
    }
    size_t *ss = realloc(a->slot_st, (a->nslots + 1) * sizeof(size_t));
    if (ss == NULL)
        goto oom;
    a->slot_st = ss;
    size_t *sc = realloc(a->slot_col, (a->nslots + 1) * sizeof(size_t));
    if (sc == NULL)
        goto oom;
    a->slot_col = sc;
    struct pd_sql *q = &a->st[a->nst - 1];
    if (q->ncols > 0)
        pd_add(q, ", ");
    pd_cat(q, e);
    a->slot_st[a->nslots] = a->nst - 1;
    a->slot_col[a->nslots] = q->ncols++;
    pd_free(e);
    return (long)a->nslots++;
oom:
    pd_free(e);
    if (a->nst > 0)
        a->st[a->nst - 1].oom = 1;
    return -1;
}

static int agg_run(struct pd_run *r, struct pd_agg *a)
{
    if (a->nslots == 0)
        return 0;
    if ((a->vals = calloc(a->nslots, sizeof(*a->vals))) == NULL)
        return pd_oom(r);
    for (size_t s = 0; s < a->nst; s++) {
        struct cs_qresult res;
        from_clause(r, &a->st[s]);
        int rc = pd_exec(r, &a->st[s], 1, &res);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i < a->nslots; i++) {
            if (a->slot_st[i] != s || res.nrows == 0 || a->slot_col[i] >= res.ncols)
                continue;
            a->vals[i] = res.v[a->slot_col[i]];
            a->vals[i].text = NULL; /* aggregates are numbers; text stays with res */
        }
        cs_qresult_free(&res);
    }
    return 0;
}

static void agg_free(struct pd_agg *a)
{
    for (size_t i = 0; i < a->nst; i++)
        pd_free(&a->st[i]);
    free(a->st);
    free(a->slot_st);
    free(a->slot_col);
    free(a->vals);
    memset(a, 0, sizeof(*a));
}

static uint64_t agg_u64(const struct pd_agg *a, long slot)
{
    if (slot < 0 || a->vals == NULL || a->vals[slot].type == 0)
        return 0;
    const struct cs_qval *v = &a->vals[slot];
    if (v->type == CS_TYPE_INT64)
        return v->i64 < 0 ? 0 : (uint64_t)v->i64;
    return v->f64 > 0 ? (uint64_t)llround(v->f64) : 0;
}

static double agg_f64(const struct pd_agg *a, long slot)
{
    if (slot < 0 || a->vals == NULL || a->vals[slot].type == 0)
        return NAN;
    return a->vals[slot].f64;
}

/* ---- column predicates ------------------------------------------------------ */

static const struct cs_column_info *col_info(const struct pd_run *r, size_t i)
{
    return &r->t->infos[i];
}

static void w_col(struct pd_run *r, struct pd_sql *q, size_t i)
{
    pd_ident(q, r->d, col_info(r, i)->name);
}

/* x is a finite number (not NULL, not NaN, not +-inf). */
static void w_finite(struct pd_run *r, struct pd_sql *q, size_t i)
{
    if (col_info(r, i)->type == CS_TYPE_INT64) {
        w_col(r, q, i);
        pd_add(q, " IS NOT NULL");
        return;
    }
    pd_add(q, "(");
    w_col(r, q, i);
    pd_addf(q, " > %s AND ", pd_inf(r->d, 1));
    w_col(r, q, i);
    pd_addf(q, " < %s)", pd_inf(r->d, 0));
}

/* x IN (?, ...) over the policy's numeric or text sentinels (the caller checked there are some). */
static void w_sentinels(struct pd_run *r, struct pd_sql *q, size_t i)
{
    const struct cs_column_policy *p = col_info(r, i)->policy;
    w_col(r, q, i);
    pd_add(q, " IN (");
    if (col_info(r, i)->type == CS_TYPE_TEXT)
        for (size_t k = 0; k < p->n_text_sentinels; k++) {
            if (k > 0)
                pd_add(q, ", ");
            pd_param_text(q, p->text_sentinels[k] ? p->text_sentinels[k] : "");
        }
    else
        for (size_t k = 0; k < p->n_sentinels; k++) {
            if (k > 0)
                pd_add(q, ", ");
            pd_param_f64(q, p->sentinels[k]);
        }
    pd_add(q, ")");
}

static int has_sentinels(const struct pd_run *r, size_t i)
{
    const struct cs_column_info *c = col_info(r, i);
    return c->type == CS_TYPE_TEXT ? c->policy->n_text_sentinels > 0 : c->policy->n_sentinels > 0;
}

static void w_blank(struct pd_run *r, struct pd_sql *q, size_t i)
{
    pd_addf(q, "%s(", pd_trim_fn(r->d));
    w_col(r, q, i);
    pd_add(q, ", ");
    pd_param_text(q, BLANKS);
    pd_add(q, ") = ''");
}

/* A usable numeric value: finite and not a sentinel (what stats_add keeps). */
static void w_usable(struct pd_run *r, struct pd_sql *q, size_t i)
{
    pd_add(q, "(");
    w_finite(r, q, i);
    if (has_sentinels(r, i)) {
        pd_add(q, " AND NOT ");
        w_sentinels(r, q, i);
    }
    pd_add(q, ")");
}

/* The value as a double: CAST(x AS DOUBLE PRECISION). */
static void w_dbl(struct pd_run *r, struct pd_sql *q, size_t i)
{
    pd_add(q, "CAST(");
    w_col(r, q, i);
    pd_addf(q, " AS %s)", pd_double_type(r->d));
}

/* CASE WHEN usable THEN CAST(x AS double) END: what the outlier statistics aggregate. */
static void w_value(struct pd_run *r, struct pd_sql *q, size_t i)
{
    pd_add(q, "CASE WHEN ");
    w_usable(r, q, i);
    pd_add(q, " THEN ");
    w_dbl(r, q, i);
    pd_add(q, " END");
}

/* Condition of missing kind k in column i; 0 when the kind cannot occur. */
static int w_missing(struct pd_run *r, struct pd_sql *q, size_t i, enum mkind k)
{
    const struct cs_column_info *c = col_info(r, i);
    int text = c->type == CS_TYPE_TEXT, dbl = c->type == CS_TYPE_DOUBLE;
    switch (k) {
    case K_NULL:
        w_col(r, q, i);
        pd_add(q, " IS NULL");
        return 1;
    case K_INVALID:
        if (!dbl)
            return 0; /* SQLite's wrong storage classes go to streaming (the guard) */
        pd_add(q, "(");
        w_col(r, q, i);
        pd_addf(q, " = %s OR ", pd_inf(r->d, 0));
        w_col(r, q, i);
        pd_addf(q, " = %s)", pd_inf(r->d, 1));
        return 1;
    case K_NAN:
        if (!dbl || pd_nan(r->d) == NULL)
            return 0;
        w_col(r, q, i);
        pd_addf(q, " = %s", pd_nan(r->d)); /* NaN = NaN is true in PostgreSQL and Snowflake */
        return 1;
    case K_EMPTY:
        if (!text || !c->policy->empty_is_missing)
            return 0;
        w_blank(r, q, i);
        return 1;
    default:
        if (!has_sentinels(r, i))
            return 0;
        pd_add(q, "(");
        if (text && c->policy->empty_is_missing) {
            pd_add(q, "NOT ");
            w_blank(r, q, i);
            pd_add(q, " AND ");
        } else if (!text) {
            w_finite(r, q, i);
            pd_add(q, " AND ");
        }
        w_sentinels(r, q, i);
        pd_add(q, ")");
        return 1;
    }
}

/* A negative value the negative check counts. */
static void w_negative(struct pd_run *r, struct pd_sql *q, size_t i)
{
    pd_add(q, "(");
    w_usable(r, q, i);
    pd_add(q, " AND ");
    w_col(r, q, i);
    pd_add(q, " < 0)");
}

/* usable AND (x < ? OR x > ?) */
static void w_outside(struct pd_run *r, struct pd_sql *q, size_t i, double lo, double hi)
{
    pd_add(q, "(");
    w_usable(r, q, i);
    pd_add(q, " AND (");
    w_dbl(r, q, i);
    pd_add(q, " < ");
    pd_param_f64(q, lo);
    pd_add(q, " OR ");
    w_dbl(r, q, i);
    pd_add(q, " > ");
    pd_param_f64(q, hi);
    pd_add(q, "))");
}

static long add_count_if(struct pd_run *r, struct pd_agg *a, struct pd_sql *cond)
{
    struct pd_sql e = {0};
    pd_count_if_begin(&e, r->d);
    pd_cat(&e, cond);
    pd_count_if_end(&e, r->d);
    pd_free(cond);
    return agg_add(a, &e);
}

/* ---- findings ----------------------------------------------------------------- */

static int is_key_column(const struct pd_run *r, const char *column)
{
    if (strchr(column, ',') != NULL)
        return 1;
    for (size_t i = 0; i < r->t->schema->ncols; i++)
        if (strcmp(r->t->infos[i].name, column) == 0)
            return r->t->infos[i].is_key;
    return 0;
}

static json_t *qval_json(const struct cs_qval *v)
{
    switch (v->type) {
    case CS_TYPE_INT64: return json_integer(v->i64);
    case CS_TYPE_DOUBLE: return json_real(v->f64);
    case CS_TYPE_TEXT: return json_string(v->text) ? json_string(v->text) : json_string("?");
    default: return json_null();
    }
}

/* SELECT pk FROM T WHERE cond [ORDER BY order] LIMIT 10 into a JSON array of keys (cond consumed). */
static int sample_keys(struct pd_run *r, struct pd_sql *cond, struct pd_sql *order, json_t **out)
{
    struct pd_sql q = {0};
    const struct cs_pd_table *t = r->t;
    int rc = 0;
    *out = json_array();
    if (t->npk > 0 && *out != NULL) {
        pd_add(&q, "SELECT ");
        for (size_t k = 0; k < t->npk; k++) {
            if (k > 0)
                pd_add(&q, ", ");
            w_col(r, &q, t->pk[k]);
        }
        q.ncols = t->npk;
        from_clause(r, &q);
        pd_add(&q, " WHERE ");
        pd_cat(&q, cond);
        if (order != NULL) {
            pd_add(&q, " ORDER BY ");
            pd_cat(&q, order);
        }
        pd_addf(&q, " LIMIT %d", PD_SAMPLES);
        struct cs_qresult res;
        rc = pd_exec(r, &q, PD_SAMPLES, &res);
        for (size_t row = 0; rc == 0 && r->explain == NULL && row < res.nrows; row++) {
            const struct cs_qval *v = &res.v[row * res.ncols];
            json_t *key;
            if (t->npk == 1) {
                key = qval_json(&v[0]);
            } else {
                key = json_array();
                for (size_t k = 0; key != NULL && k < t->npk && k < res.ncols; k++)
                    json_array_append_new(key, qval_json(&v[k]));
            }
            json_array_append_new(*out, key);
        }
        cs_qresult_free(&res);
    }
    pd_free(&q);
    pd_free(cond);
    if (order != NULL)
        pd_free(order);
    if (rc == 0 && *out == NULL)
        rc = pd_oom(r);
    return rc;
}

struct pd_finding {
    const char *check, *column, *kind, *message;
    uint64_t count, total, groups;
    int has_range;
    double threshold, lower, upper;
};

/* Add a finding to the run as host_emit does (engine.c): same fields, same severity path. */
static int emit(struct pd_run *r, const struct pd_finding *in, json_t *keys)
{
    if (r->explain != NULL) { /* SQL text only */
        json_decref(keys);
        return 0;
    }
    struct cs_finding *f = cs_run_add_finding(r->t->run);
    if (f == NULL) {
        json_decref(keys);
        return pd_oom(r);
    }
    f->check = strdup(in->check);
    f->source = strdup("builtin");
    f->table = strdup(r->t->schema->table);
    f->column = strdup(in->column);
    f->kind = strdup(in->kind);
    f->message = strdup(in->message);
    f->sample_keys = keys;
    f->count = in->count;
    f->total = in->total;
    f->groups = in->groups;
    f->threshold = in->threshold;
    f->lower = in->lower;
    f->upper = in->upper;
    f->has_range = in->lower != 0 || in->upper != 0;
    if (!f->check || !f->source || !f->table || !f->column || !f->kind || !f->message || !f->sample_keys)
        return pd_oom(r); /* the run is discarded by the caller */
    struct cs_severity_in s = {.check = f->check, .kind = f->kind, .count = f->count, .total = f->total,
                               .is_key = is_key_column(r, f->column), .customer = 0,
                               .cc = cs_config_column(r->t->tc, f->column)};
    f->severity = cs_severity_of(&s);
    return 0;
}

/* ---- missing and negative (plugins/missing.c, negative.c sentences) -------------- */

static void missing_message(char *buf, size_t size, enum mkind k, const struct cs_column_info *c, uint64_t n,
                            uint64_t total)
{
    const char *col = c->name;
    char pct[16];
    unsigned long long un = n, ut = total;
    plug_fmt_pct(pct, sizeof(pct), n, total);
    switch (k) {
    case K_NULL: snprintf(buf, size, "%s is missing in %llu of %llu rows (%s).", col, un, ut, pct); break;
    case K_INVALID:
        snprintf(buf, size, "%s holds something that is not a valid %s in %llu of %llu rows (%s).", col,
                 c->type == CS_TYPE_INT64 ? "whole number" : c->type == CS_TYPE_DOUBLE ? "number" : "value", un, ut,
                 pct);
        break;
    case K_NAN: snprintf(buf, size, "%s is not a number (NaN) in %llu of %llu rows (%s).", col, un, ut, pct); break;
    case K_EMPTY: snprintf(buf, size, "%s is empty in %llu of %llu rows (%s).", col, un, ut, pct); break;
    default:
        snprintf(buf, size, "%s holds a placeholder meaning \"no value\" in %llu of %llu rows (%s).", col, un, ut,
                 pct);
        break;
    }
}

static int emit_missing(struct pd_run *r, const struct pd_agg *a)
{
    for (size_t i = 0; i < r->t->schema->ncols; i++)
        for (int k = 0; k < NKINDS; k++) {
            uint64_t n = agg_u64(a, r->cols[i].kind[k]);
            if (n == 0)
                continue;
            char msg[512];
            const struct cs_column_info *c = col_info(r, i);
            missing_message(msg, sizeof(msg), (enum mkind)k, c, n, r->rows);
            struct pd_sql cond = {0};
            json_t *keys;
            w_missing(r, &cond, i, (enum mkind)k);
            int rc = sample_keys(r, &cond, NULL, &keys);
            struct pd_finding f = {.check = "missing", .column = c->name, .kind = KIND_NAME[k], .message = msg,
                                   .count = n, .total = r->rows};
            if (rc != 0 || (rc = emit(r, &f, keys)) != 0)
                return rc;
        }
    return 0;
}

static int emit_negative(struct pd_run *r, const struct pd_agg *a)
{
    for (size_t i = 0; i < r->t->schema->ncols; i++) {
        uint64_t n = agg_u64(a, r->cols[i].neg);
        if (n == 0)
            continue;
        const struct cs_column_info *c = col_info(r, i);
        char msg[512], pct[16], low[48];
        plug_fmt_pct(pct, sizeof(pct), n, r->rows);
        plug_fmt_num(low, sizeof(low), agg_f64(a, r->cols[i].neg_min));
        snprintf(msg, sizeof(msg), "%s%s is negative in %llu of %llu rows (%s); the lowest value is %s.",
                 c->is_key ? "Key column " : "", c->name, (unsigned long long)n, (unsigned long long)r->rows, pct, low);
        struct pd_sql cond = {0};
        json_t *keys;
        w_negative(r, &cond, i);
        int rc = sample_keys(r, &cond, NULL, &keys);
        struct pd_finding f = {.check = "negative", .column = c->name, .kind = c->is_key ? "key" : "value",
                               .message = msg, .count = n, .total = r->rows};
        if (rc != 0 || (rc = emit(r, &f, keys)) != 0)
            return rc;
    }
    return 0;
}

/* ---- duplicate (plugins/duplicate.c sentences) ---------------------------------- */

static void w_group_cols(struct pd_run *r, struct pd_sql *q)
{
    const struct cs_pd_table *t = r->t;
    size_t n = t->npk ? t->npk : t->schema->ncols;
    for (size_t k = 0; k < n; k++) {
        if (k > 0)
            pd_add(q, ", ");
        w_col(r, q, t->npk ? t->pk[k] : k);
    }
}

static void w_keys_present(struct pd_run *r, struct pd_sql *q)
{
    for (size_t k = 0; k < r->t->npk; k++) {
        pd_add(q, k > 0 ? " AND " : "");
        w_col(r, q, r->t->pk[k]);
        pd_add(q, " IS NOT NULL");
    }
}

static int run_duplicate(struct pd_run *r)
{
    const struct cs_pd_table *t = r->t;
    struct pd_sql q = {0};
    char column[2048] = "*";
    pd_add(&q, "SELECT COUNT(*), SUM(n) FROM (SELECT COUNT(*) AS n");
    q.ncols = 2;
    from_clause(r, &q);
    if (t->npk > 0) {
        pd_add(&q, " WHERE ");
        w_keys_present(r, &q);
    }
    pd_add(&q, " GROUP BY ");
    w_group_cols(r, &q);
    pd_add(&q, " HAVING COUNT(*) > 1) d");
    struct cs_qresult res;
    int rc = pd_exec(r, &q, 1, &res);
    pd_free(&q);
    if (rc != 0)
        return rc;
    struct pd_agg tmp = {.vals = res.v, .nslots = res.ncols};
    uint64_t groups = res.nrows ? agg_u64(&tmp, 0) : 0, sum = res.nrows ? agg_u64(&tmp, 1) : 0;
    cs_qresult_free(&res);
    uint64_t count = sum > groups ? sum - groups : 0;
    if (count == 0)
        return 0;
    if (t->npk > 0) {
        column[0] = '\0';
        for (size_t k = 0; k < t->npk; k++) {
            if (k > 0)
                strncat(column, ",", sizeof(column) - strlen(column) - 1);
            strncat(column, col_info(r, t->pk[k])->name, sizeof(column) - strlen(column) - 1);
        }
    }
    char msg[768], pct[16];
    unsigned long long n = count, total = r->rows, g = groups;
    plug_fmt_pct(pct, sizeof(pct), count, r->rows);
    if (t->npk == 0)
        snprintf(msg, sizeof(msg),
                 "%llu of %llu rows (%s) are exact copies of an earlier row (%llu distinct rows repeated).", n, total,
                 pct, g);
    else if (t->npk == 1)
        snprintf(msg, sizeof(msg),
                 "%llu values of the key %s appear more than once, so %llu of %llu rows (%s) repeat a key.", g,
                 column, n, total, pct);
    else
        snprintf(msg, sizeof(msg),
                 "%llu combinations of the key columns %s appear more than once, so %llu of %llu rows (%s) repeat a "
                 "key.",
                 g, column, n, total, pct);
    /* Sample keys: one per duplicated group (GROUP BY ... HAVING ... LIMIT 10). */
    json_t *keys = json_array();
    if (t->npk > 0 && keys != NULL) {
        struct pd_sql s = {0};
        pd_add(&s, "SELECT ");
        w_group_cols(r, &s);
        s.ncols = t->npk;
        from_clause(r, &s);
        pd_add(&s, " WHERE ");
        w_keys_present(r, &s);
        pd_add(&s, " GROUP BY ");
        w_group_cols(r, &s);
        pd_addf(&s, " HAVING COUNT(*) > 1 LIMIT %d", PD_SAMPLES);
        rc = pd_exec(r, &s, PD_SAMPLES, &res);
        pd_free(&s);
        for (size_t row = 0; rc == 0 && r->explain == NULL && row < res.nrows; row++) {
            const struct cs_qval *v = &res.v[row * res.ncols];
            json_t *key = t->npk == 1 ? qval_json(&v[0]) : json_array();
            for (size_t k = 0; t->npk > 1 && key != NULL && k < t->npk; k++)
                json_array_append_new(key, qval_json(&v[k]));
            json_array_append_new(keys, key);
        }
        cs_qresult_free(&res);
        if (rc != 0) {
            json_decref(keys);
            return rc;
        }
    }
    struct pd_finding f = {.check = "duplicate", .column = column, .kind = t->npk ? "key" : "row", .message = msg,
                           .count = count, .total = r->rows, .groups = groups};
    return keys == NULL ? pd_oom(r) : emit(r, &f, keys);
}

/* ---- outlier (plugins/outlier.c: bounds, sentences) ------------------------------ */

static double lerp(double a, double b, double t) /* stats.c's, so quantiles agree to the last bit */
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

/* SQLite: quantile p of the sorted values of expr (usable rows of column i), as numpy "linear". */
static int sqlite_quantile(struct pd_run *r, size_t i, double p, int mad, double centre, uint64_t n, double *out)
{
    double pos = (double)(n - 1) * p;
    uint64_t lo = (uint64_t)floor(pos);
    struct pd_sql q = {0};
    pd_add(&q, "SELECT ");
    if (mad) {
        pd_add(&q, "ABS(");
        w_dbl(r, &q, i);
        pd_add(&q, " - ");
        pd_param_f64(&q, centre);
        pd_add(&q, ")");
    } else {
        w_dbl(r, &q, i);
    }
    pd_add(&q, " AS v");
    q.ncols = 1;
    from_clause(r, &q);
    pd_add(&q, " WHERE ");
    w_usable(r, &q, i);
    pd_add(&q, " ORDER BY v LIMIT 2 OFFSET ");
    pd_param_i64(&q, (long long)lo);
    struct cs_qresult res;
    int rc = pd_exec(r, &q, 2, &res);
    pd_free(&q);
    if (rc != 0)
        return rc;
    double a = res.nrows > 0 ? res.v[0].f64 : NAN;
    double b = res.nrows > 1 && lo + 1 < n ? res.v[res.ncols].f64 : a;
    *out = lerp(a, b, pos - (double)lo);
    cs_qresult_free(&res);
    return 0;
}

/* Bounds as plugins/outlier.c's bounds(); 0 when the column is not judged. */
static int bounds(struct pd_col *c)
{
    double centre, reach;
    if (c->v_n < MIN_VALUES)
        return 0;
    switch (c->method) {
    case CS_OUTLIER_ZSCORE: centre = c->v_mean, reach = c->threshold * c->v_sd; break;
    case CS_OUTLIER_IQR: centre = 0, reach = c->threshold * (c->v_q3 - c->v_q1); break;
    default: centre = c->v_med, reach = c->threshold * MAD_TO_SD * c->v_mad; break;
    }
    if (!(reach > 0) || !isfinite(reach))
        return 0;
    c->lower = c->method == CS_OUTLIER_IQR ? c->v_q1 - reach : centre - reach;
    c->upper = c->method == CS_OUTLIER_IQR ? c->v_q3 + reach : centre + reach;
    return 1;
}

static const char *method_phrase(int method)
{
    switch (method) {
    case CS_OUTLIER_ZSCORE: return "standard deviations from the mean";
    case CS_OUTLIER_IQR: return "interquartile ranges beyond the quartiles";
    default: return "robust standard deviations (from the median absolute deviation) from the median";
    }
}

/* Round A expressions for column i's outlier statistics. */
static void outlier_round_a(struct pd_run *r, struct pd_agg *a, size_t i)
{
    struct pd_col *c = &r->cols[i];
    struct pd_sql e = {0};
    w_usable(r, &e, i);
    c->n = add_count_if(r, a, &e);
    const char *fn[2] = {"MIN(", "MAX("};
    for (int k = 0; k < 2; k++) {
        struct pd_sql m = {0};
        pd_add(&m, fn[k]);
        w_value(r, &m, i);
        pd_add(&m, ")");
        long s = agg_add(a, &m);
        if (k == 0)
            c->min = s;
        else
            c->max = s;
    }
    int sqlite = r->d == CS_DIALECT_SQLITE;
    if (c->method == CS_OUTLIER_ZSCORE) {
        struct pd_sql m = {0};
        pd_add(&m, sqlite ? "SUM(" : "AVG(");
        w_value(r, &m, i);
        pd_add(&m, ")");
        if (sqlite) {
            c->sum = agg_add(a, &m);
        } else {
            c->mean = agg_add(a, &m);
            struct pd_sql s = {0};
            pd_add(&s, "STDDEV_POP(");
            w_value(r, &s, i);
            pd_add(&s, ")");
            c->sd = agg_add(a, &s);
        }
    } else if (!sqlite) {
        double ps[3] = {0.25, 0.5, 0.75};
        long *slots[3] = {&c->q1, &c->med, &c->q3};
        for (int k = 0; k < 3; k++) {
            if (c->method == CS_OUTLIER_MAD && k != 1)
                continue;
            if (c->method == CS_OUTLIER_IQR && k == 1)
                continue;
            struct pd_sql m = {0};
            pd_percentile_begin(&m, r->d, ps[k]);
            w_value(r, &m, i);
            pd_percentile_end(&m, r->d);
            *slots[k] = agg_add(a, &m);
        }
    }
}

/* After round A: read the statistics, and ask round B what is still missing. */
static int outlier_stats(struct pd_run *r, const struct pd_agg *a)
{
    struct pd_agg b = {0};
    int rc = 0;
    size_t n = r->t->schema->ncols;
    long *sq = calloc(n + 1, sizeof(long)), *mad = calloc(n + 1, sizeof(long));
    if (sq == NULL || mad == NULL) {
        free(sq);
        free(mad);
        return pd_oom(r);
    }
    for (size_t i = 0; i < n; i++) {
        struct pd_col *c = &r->cols[i];
        sq[i] = mad[i] = -1;
        if (!c->outlier)
            continue;
        c->v_n = agg_u64(a, c->n);
        c->v_min = agg_f64(a, c->min);
        c->v_max = agg_f64(a, c->max);
        if (c->v_n < MIN_VALUES)
            continue;
        if (c->method == CS_OUTLIER_ZSCORE) {
            if (r->d == CS_DIALECT_SQLITE) {
                c->v_mean = agg_f64(a, c->sum) / (double)c->v_n;
                struct pd_sql e = {0};
                pd_add(&e, "SUM((");
                w_value(r, &e, i);
                pd_add(&e, " - ");
                pd_param_f64(&e, c->v_mean);
                pd_add(&e, ") * (");
                w_value(r, &e, i);
                pd_add(&e, " - ");
                pd_param_f64(&e, c->v_mean);
                pd_add(&e, "))");
                sq[i] = agg_add(&b, &e);
            } else {
                c->v_mean = agg_f64(a, c->mean);
                c->v_sd = agg_f64(a, c->sd);
            }
        } else if (r->d == CS_DIALECT_SQLITE) {
            if (c->method == CS_OUTLIER_IQR) {
                if ((rc = sqlite_quantile(r, i, 0.25, 0, 0, c->v_n, &c->v_q1)) != 0 ||
                    (rc = sqlite_quantile(r, i, 0.75, 0, 0, c->v_n, &c->v_q3)) != 0)
                    break;
            } else if ((rc = sqlite_quantile(r, i, 0.5, 0, 0, c->v_n, &c->v_med)) != 0 ||
                       (rc = sqlite_quantile(r, i, 0.5, 1, c->v_med, c->v_n, &c->v_mad)) != 0) {
                break;
            }
        } else {
            c->v_q1 = agg_f64(a, c->q1);
            c->v_q3 = agg_f64(a, c->q3);
            c->v_med = agg_f64(a, c->med);
            if (c->method == CS_OUTLIER_MAD) {
                struct pd_sql e = {0};
                pd_percentile_begin(&e, r->d, 0.5);
                pd_add(&e, "ABS(");
                w_value(r, &e, i);
                pd_add(&e, " - ");
                pd_param_f64(&e, c->v_med);
                pd_add(&e, ")");
                pd_percentile_end(&e, r->d);
                mad[i] = agg_add(&b, &e);
            }
        }
    }
    if (rc == 0)
        rc = agg_run(r, &b);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct pd_col *c = &r->cols[i];
        if (sq[i] >= 0)
            c->v_sd = sqrt(agg_f64(&b, sq[i]) / (double)c->v_n);
        if (mad[i] >= 0)
            c->v_mad = agg_f64(&b, mad[i]);
    }
    agg_free(&b);
    free(sq);
    free(mad);
    return rc;
}

static int run_outliers(struct pd_run *r, const struct pd_agg *a)
{
    int rc = outlier_stats(r, a);
    struct pd_agg b = {0};
    size_t n = r->t->schema->ncols;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct pd_col *c = &r->cols[i];
        c->outside = -1;
        if (!c->outlier)
            continue;
        if (!(c->judged = bounds(c))) {
            cs_log(CS_LOG_DEBUG, "check:outlier", "%s: not judged for outliers (pushdown): too few values or no spread",
                   col_info(r, i)->name);
            continue;
        }
        struct pd_sql e = {0};
        w_outside(r, &e, i, c->lower, c->upper);
        c->outside = add_count_if(r, &b, &e);
    }
    if (rc == 0)
        rc = agg_run(r, &b);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct pd_col *c = &r->cols[i];
        uint64_t cnt = c->outside >= 0 ? agg_u64(&b, c->outside) : 0;
        if (cnt == 0)
            continue;
        double far = c->lower - c->v_min >= c->v_max - c->upper ? c->v_min : c->v_max;
        char msg[768], pct[16], lo[48], hi[48], fs[48], thr[48];
        plug_fmt_pct(pct, sizeof(pct), cnt, c->v_n);
        plug_fmt_num(lo, sizeof(lo), c->lower);
        plug_fmt_num(hi, sizeof(hi), c->upper);
        plug_fmt_num(fs, sizeof(fs), far);
        plug_fmt_num(thr, sizeof(thr), c->threshold);
        snprintf(msg, sizeof(msg),
                 "%s has %llu of %llu values (%s) outside the usual range %s to %s (more than %s %s); "
                 "the most extreme is %s.",
                 col_info(r, i)->name, (unsigned long long)cnt, (unsigned long long)c->v_n, pct, lo, hi, thr,
                 method_phrase(c->method), fs);
        /* Sample keys: the most extreme values first. */
        struct pd_sql cond = {0}, order = {0};
        w_outside(r, &cond, i, c->lower, c->upper);
        pd_add(&order, "CASE WHEN ");
        w_dbl(r, &order, i);
        pd_add(&order, " < ");
        pd_param_f64(&order, c->lower);
        pd_add(&order, " THEN ");
        pd_param_f64(&order, c->lower);
        pd_add(&order, " - ");
        w_dbl(r, &order, i);
        pd_add(&order, " ELSE ");
        w_dbl(r, &order, i);
        pd_add(&order, " - ");
        pd_param_f64(&order, c->upper);
        pd_add(&order, " END DESC");
        json_t *keys;
        if ((rc = sample_keys(r, &cond, &order, &keys)) != 0)
            break;
        struct pd_finding f = {.check = "outlier", .column = col_info(r, i)->name, .kind = METHOD_NAME[c->method],
                               .message = msg, .count = cnt, .total = c->v_n, .threshold = c->threshold,
                               .lower = c->lower, .upper = c->upper};
        rc = emit(r, &f, keys);
    }
    agg_free(&b);
    return rc;
}

/* ---- the run ------------------------------------------------------------------ */

/* Round A: everything one pass over the table can count.  *guard: SQLite values of the wrong storage class. */
static int round_a(struct pd_run *r, struct pd_agg *a, long *rows_slot, long *guard_slot)
{
    size_t n = r->t->schema->ncols;
    struct pd_sql e = {0};
    pd_add(&e, "COUNT(*)");
    *rows_slot = agg_add(a, &e);
    *guard_slot = -1;
    if (r->d == CS_DIALECT_SQLITE) {
        struct pd_sql g = {0};
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            int type = col_info(r, i)->type;
            if (type == CS_TYPE_TEXT)
                continue;
            pd_add(&g, any++ ? " OR " : "");
            pd_add(&g, "typeof(");
            w_col(r, &g, i);
            pd_add(&g, type == CS_TYPE_INT64 ? ") NOT IN ('integer', 'null')" : ") NOT IN ('integer', 'real', 'null')");
        }
        if (any)
            *guard_slot = add_count_if(r, a, &g);
        else
            pd_free(&g);
    }
    for (size_t i = 0; i < n; i++) {
        const struct cs_column_info *c = col_info(r, i);
        struct pd_col *pc = &r->cols[i];
        for (int k = 0; k < NKINDS; k++) {
            struct pd_sql cond = {0};
            pc->kind[k] = -1;
            if (r->do_missing && w_missing(r, &cond, i, (enum mkind)k))
                pc->kind[k] = add_count_if(r, a, &cond);
            else
                pd_free(&cond);
        }
        pc->neg = pc->neg_min = -1;
        int numeric = c->type == CS_TYPE_INT64 || c->type == CS_TYPE_DOUBLE;
        if (r->do_negative && numeric && !c->policy->allow_negative) {
            struct pd_sql cond = {0}, m = {0};
            w_negative(r, &cond, i);
            pd_add(&m, "MIN(CASE WHEN ");
            pd_cat(&m, &cond);
            pd_add(&m, " THEN ");
            w_dbl(r, &m, i);
            pd_add(&m, " END)");
            pc->neg = add_count_if(r, a, &cond);
            pc->neg_min = agg_add(a, &m);
        }
        int method = c->policy->outlier_method;
        if (r->do_outlier && numeric && !c->is_key && method >= CS_OUTLIER_ZSCORE && method <= CS_OUTLIER_MAD) {
            pc->outlier = 1;
            pc->method = method;
            double thr = c->policy->outlier_threshold;
            pc->threshold = thr > 0 && isfinite(thr) ? thr : DEFAULT_THRESHOLD[method];
            pc->n = pc->min = pc->max = pc->mean = pc->sd = pc->q1 = pc->med = pc->q3 = pc->sum = -1;
            outlier_round_a(r, a, i);
        }
    }
    return agg_run(r, a);
}

static int pd_run_all(struct pd_run *r, int *handled)
{
    struct pd_agg a = {0};
    long rows_slot, guard_slot;
    *handled = 0;
    if ((r->cols = calloc(r->t->schema->ncols + 1, sizeof(*r->cols))) == NULL)
        return pd_oom(r);
    int rc = round_a(r, &a, &rows_slot, &guard_slot);
    if (rc == 0 && r->explain == NULL && agg_u64(&a, guard_slot) > 0) {
        cs_log(r->loglevel, "pushdown",
               "table %s: %" PRIu64 " rows hold text or fractions in numeric columns (SQLite storage classes); "
               "only streaming reports those exactly, so this table is streamed",
               r->t->schema->table, agg_u64(&a, guard_slot));
        agg_free(&a);
        return 0;
    }
    r->rows = agg_u64(&a, rows_slot);
    if (rc == 0 && r->do_duplicate)
        rc = run_duplicate(r);
    if (rc == 0 && r->do_missing)
        rc = emit_missing(r, &a);
    if (rc == 0 && r->do_negative)
        rc = emit_negative(r, &a);
    if (rc == 0 && r->do_outlier)
        rc = run_outliers(r, &a);
    agg_free(&a);
    if (rc == 0)
        *handled = 1;
    return rc;
}

/* Which built-in checks are loaded; 0 when some loaded check has no SQL form. */
static int pick_checks(struct pd_run *r, const char **unknown)
{
    const struct cs_registry *reg = r->t->reg;
    if (reg == NULL) {
        r->do_missing = r->do_negative = r->do_duplicate = r->do_outlier = 1;
        return 1;
    }
    for (size_t i = 0; i < reg->nchecks; i++) {
        const char *name = reg->checks[i].plugin->name;
        if (strcmp(name, "missing") == 0)
            r->do_missing = 1;
        else if (strcmp(name, "negative") == 0)
            r->do_negative = 1;
        else if (strcmp(name, "duplicate") == 0)
            r->do_duplicate = 1;
        else if (strcmp(name, "outlier") == 0)
            r->do_outlier = 1;
        else {
            *unknown = name;
            return 0;
        }
    }
    return 1;
}

static void pd_run_free(struct pd_run *r)
{
    free(r->cols);
}

int cs_pushdown_table(const struct cs_pd_table *t, int mode, uint64_t *rows, int *handled, struct cs_err *err)
{
    struct pd_run r = {.t = t, .d = t->dialect, .err = err};
    const char *unknown = NULL;
    const char *table = t->schema->table;
    *handled = 0;
    *rows = 0;
    if (mode == CS_SCAN_STREAM)
        return 0;
    int lvl = mode == CS_SCAN_PUSHDOWN ? CS_LOG_WARNING : CS_LOG_INFO;
    r.loglevel = lvl;
    if (t->dialect == CS_DIALECT_GENERIC) {
        cs_log(lvl, "pushdown", "table %s: the database's SQL dialect is unknown; streaming", table);
        return 0;
    }
    if (!pick_checks(&r, &unknown)) {
        cs_log(lvl, "pushdown", "table %s: check %s has no SQL form; streaming the table", table, unknown);
        return 0;
    }
    if (mode == CS_SCAN_AUTO && t->dialect == CS_DIALECT_SQLITE) {
        /* Streaming a local file is 3-5 times faster than SQLite's aggregate queries
         * (BENCHMARKS.md), so only a configured row count sends SQLite tables down. */
        uint64_t limit = t->cfg ? t->cfg->pushdown_rows : 0, n = 0;
        if (limit == 0 || cs_source_count(t->src, t->schema, &n, NULL) != 0 || n <= limit)
            return 0;
    }
    int rc = pd_run_all(&r, handled);
    if (rc == 0 && *handled)
        *rows = r.rows;
    pd_run_free(&r);
    return rc;
}

int cs_pushdown_explain(const struct cs_pd_table *t, char **out, struct cs_err *err)
{
    struct pd_sql text = {0};
    struct pd_run r = {.t = t, .d = t->dialect, .err = err, .explain = &text};
    const char *unknown = NULL;
    int handled;
    *out = NULL;
    pick_checks(&r, &unknown);
    int rc = pd_run_all(&r, &handled);
    pd_run_free(&r);
    if (rc == 0 && (text.oom || text.s == NULL))
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    if (rc == 0)
        *out = text.s;
    else
        free(text.s);
    free(text.p);
    return rc;
}
