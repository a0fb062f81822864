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
**      GROUP BY ... HAVING COUNT(*) > 1 statement whose window totals come
**      with the sample keys.  On a native SQLite connection the outlier
**      statistics are all cs_stats aggregates in round A, and the counts
**      come with their sample keys from cs_outliers (sqlite_funcs.h).
**   C  up to 10 sample keys per finding, only with a primary key, for all
**      missing, negative and outlier findings at once (keys_round): one
**      aggregate SELECT gathers the keys of findings with few rows (array_agg
**      ... FILTER sliced to 10, ordered by distance for outliers; Snowflake
**      ARRAY_AGG WITHIN GROUP and ARRAY_SLICE; SQLite json_group_array), and
**      one SELECT of LIMIT 10 subqueries, without a FROM of its own, those of
**      findings with many rows, which stop early.  Keys come back as JSON.
** Lua row rules with a SQL predicate add one countif each to round A (after
** a probe that reads no row, so a predicate the database refuses sends only
** its rule back to the rows); their sample rows, read by LIMIT 10, go to the
** rules pass, the rules without a predicate read only their columns, and
** the pass reports every rule (rules_prepare / rules_round_a / rules_finish).
** Table profiles for customer runs (cs_pushdown_profiles) reuse rounds A and
** B: each profiled column appears three times, once per outlier method, so
** outlier_stats computes mean and sd, quartiles, median and MAD.
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
#include "pushdown_rules.h"
#include "pushdown_sql.h"
#include "rules.h"
#include "severity.h"
#include "sqlite_funcs.h"
#include "stats.h"

#define GUARD_PROBE_ROWS 100000 /* rows guard_probe looks at */
#define PD_MAX_EXPRS 400 /* select-list entries per statement (PostgreSQL allows 1664) */
#define PD_SAMPLES 10
#define PD_KEYS_AGG_FEW 100        /* missing/negative keys gathered by an aggregate (more: LIMIT 10 stops early) */
#define PD_KEYS_AGG_MANY 100000    /* outlier keys gathered by an aggregate (more: a top-10 scan of their own) */
#define PD_KEYS_AGG_BUDGET 1000000 /* keys the aggregates of one round C hold in the database at most */
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
    long packed;                                  /* round A slot of cs_stats (native SQLite), else -1 */
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
    struct pd_rules *rules; /* the table's rule predicates (pushdown_rules.h), or NULL */
    long *rule_slot;        /* round A slot of each predicate's count, -1 when the database refused it */
    struct pd_pending *pend; /* findings waiting for their sample keys (round C), in report order */
    size_t npend, pendcap;
};

/* One aggregate round: expressions split into statements, answers by slot. */
struct pd_agg {
    struct pd_sql *st;
    size_t nst;
    size_t nslots;
    size_t *slot_st, *slot_col;
    struct cs_qval *vals;
    int no_from; /* scalar subqueries only: the statements read no table themselves */
};

static int pd_oom(struct pd_run *r)
{
    return cs_err_set(r->err, CS_ENOMEM, "out of memory building pushdown SQL");
}

/* Run q (or record it when explaining).  An explained statement "answers" with
 * made-up positive numbers so that every later statement is shown too (and keys_plan
 * gives the findings alternately few and many rows, so both forms of round C show). */
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
        if (!a->no_from)
            from_clause(r, &a->st[s]);
        int rc = pd_exec(r, &a->st[s], 1, &res);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i < a->nslots; i++) {
            if (a->slot_st[i] != s || res.nrows == 0 || a->slot_col[i] >= res.ncols)
                continue;
            a->vals[i] = res.v[a->slot_col[i]];
            res.v[a->slot_col[i]].text = NULL; /* text answers (cs_stats, cs_outliers) now belong to a */
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
    for (size_t i = 0; a->vals != NULL && i < a->nslots; i++)
        free(a->vals[i].text);
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
    pd_addf(q, " AS %s)", cs_dialect_type(r->d, CS_SQLT_DOUBLE));
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
    case CS_TYPE_TEXT: {
        json_t *j = json_string(v->text);
        return j ? j : json_string("?"); /* not UTF-8 */
    }
    default: return json_null();
    }
}

/* A result row's primary key as the streaming path reports it: the value, or an array for composite keys. */
static json_t *row_key_json(const struct cs_qval *v, size_t npk)
{
    if (npk == 1)
        return qval_json(&v[0]);
    json_t *key = json_array();
    for (size_t k = 0; key != NULL && k < npk; k++)
        json_array_append_new(key, qval_json(&v[k]));
    return key;
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
            json_array_append_new(*out, row_key_json(&res.v[row * res.ncols], t->npk));
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
    double threshold, lower, upper;
};

/* Add a finding to the run as host_emit does (engine.c): same fields, same severity path. */
static int emit(struct pd_run *r, const struct pd_finding *in, json_t *keys)
{
    if (r->explain != NULL) { /* SQL text only */
        json_decref(keys);
        return 0;
    }
    const struct cs_finding_text t = {in->check, "builtin", r->t->schema->table, in->column, in->kind, in->message};
    struct cs_finding *f = cs_run_add(r->t->run, &t, keys);
    if (f == NULL)
        return pd_oom(r);
    f->count = in->count;
    f->total = in->total;
    f->groups = in->groups;
    f->threshold = in->threshold;
    f->lower = in->lower;
    f->upper = in->upper;
    f->has_range = in->lower != 0 || in->upper != 0;
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

/* A finding of missing, negative or outlier, held until round C has fetched its sample keys. */
enum pd_what { W_MISSING, W_NEGATIVE, W_OUTLIER };

struct pd_pending {
    struct pd_finding f; /* f.message is set to msg when emitted (the array moves while it grows) */
    char msg[768];
    enum pd_what what;
    enum mkind mk; /* W_MISSING: which kind */
    size_t col;
    json_t *keys; /* NULL until known (cs_outliers gives them with the count) */
    long slot;    /* round C slot */
};

static struct pd_pending *pend_new(struct pd_run *r, enum pd_what what, size_t col)
{
    if (r->npend == r->pendcap) {
        size_t cap = r->pendcap ? 2 * r->pendcap : 32;
        struct pd_pending *p = realloc(r->pend, cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        r->pend = p;
        r->pendcap = cap;
    }
    struct pd_pending *p = &r->pend[r->npend++];
    memset(p, 0, sizeof(*p));
    p->what = what;
    p->col = col;
    p->slot = -1;
    return p;
}

static void pend_free(struct pd_run *r)
{
    for (size_t k = 0; k < r->npend; k++)
        json_decref(r->pend[k].keys);
    free(r->pend);
    r->pend = NULL;
    r->npend = r->pendcap = 0;
}

static int collect_missing(struct pd_run *r, const struct pd_agg *a)
{
    for (size_t i = 0; i < r->t->schema->ncols; i++)
        for (int k = 0; k < NKINDS; k++) {
            uint64_t n = agg_u64(a, r->cols[i].kind[k]);
            if (n == 0)
                continue;
            const struct cs_column_info *c = col_info(r, i);
            struct pd_pending *p = pend_new(r, W_MISSING, i);
            if (p == NULL)
                return pd_oom(r);
            p->mk = (enum mkind)k;
            missing_message(p->msg, sizeof(p->msg), (enum mkind)k, c, n, r->rows);
            p->f.check = "missing", p->f.column = c->name, p->f.kind = KIND_NAME[k];
            p->f.count = n, p->f.total = r->rows;
        }
    return 0;
}

static int collect_negative(struct pd_run *r, const struct pd_agg *a)
{
    for (size_t i = 0; i < r->t->schema->ncols; i++) {
        uint64_t n = agg_u64(a, r->cols[i].neg);
        if (n == 0)
            continue;
        const struct cs_column_info *c = col_info(r, i);
        struct pd_pending *p = pend_new(r, W_NEGATIVE, i);
        if (p == NULL)
            return pd_oom(r);
        char pct[16], low[48];
        plug_fmt_pct(pct, sizeof(pct), n, r->rows);
        plug_fmt_num(low, sizeof(low), agg_f64(a, r->cols[i].neg_min));
        snprintf(p->msg, sizeof(p->msg), "%s%s is negative in %llu of %llu rows (%s); the lowest value is %s.",
                 c->is_key ? "Key column " : "", c->name, (unsigned long long)n, (unsigned long long)r->rows, pct, low);
        p->f.check = "negative", p->f.column = c->name, p->f.kind = c->is_key ? "key" : "value";
        p->f.count = n, p->f.total = r->rows;
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

/* One GROUP BY pass for counts and samples: the repeated keys, each row carrying (window aggregates
 * over the grouped result) the number of repeated keys and their rows in total.  Without a key,
 * whole rows are grouped and there are no sample keys. */
static void w_duplicate_sql(struct pd_run *r, struct pd_sql *q)
{
    const struct cs_pd_table *t = r->t;
    if (t->npk > 0) {
        pd_add(q, "SELECT d.*, COUNT(*) OVER (), SUM(d.cs_dup_n) OVER () FROM (SELECT ");
        w_group_cols(r, q);
        pd_add(q, ", COUNT(*) AS cs_dup_n");
        q->ncols = t->npk + 3;
    } else {
        pd_add(q, "SELECT COUNT(*), SUM(d.cs_dup_n) FROM (SELECT COUNT(*) AS cs_dup_n");
        q->ncols = 2;
    }
    from_clause(r, q);
    if (t->npk > 0) {
        pd_add(q, " WHERE ");
        w_keys_present(r, q);
    }
    pd_add(q, " GROUP BY ");
    w_group_cols(r, q);
    pd_add(q, " HAVING COUNT(*) > 1) d");
    if (t->npk > 0)
        pd_addf(q, " LIMIT %d", PD_SAMPLES);
}

/* "SK_ID_PREV,NUM_INSTALMENT_NUMBER" (the finding's column), or "*" for whole rows. */
static void key_column_name(struct pd_run *r, char *column, size_t size)
{
    snprintf(column, size, "*");
    if (r->t->npk > 0)
        column[0] = '\0';
    for (size_t k = 0; k < r->t->npk; k++) {
        if (k > 0)
            strncat(column, ",", size - strlen(column) - 1);
        strncat(column, col_info(r, r->t->pk[k])->name, size - strlen(column) - 1);
    }
}

static int run_duplicate(struct pd_run *r)
{
    const struct cs_pd_table *t = r->t;
    struct pd_sql q = {0};
    struct cs_qresult res;
    char column[2048];
    w_duplicate_sql(r, &q);
    int rc = pd_exec(r, &q, t->npk > 0 ? PD_SAMPLES : 1, &res);
    size_t totals = t->npk > 0 ? t->npk + 1 : 0; /* columns of the two totals */
    pd_free(&q);
    if (rc != 0)
        return rc;
    struct pd_agg tmp = {.vals = res.v, .nslots = res.ncols};
    int any = res.nrows > 0 && res.ncols >= totals + 2;
    uint64_t groups = any ? agg_u64(&tmp, (long)totals) : 0, sum = any ? agg_u64(&tmp, (long)totals + 1) : 0;
    uint64_t count = sum > groups ? sum - groups : 0;
    json_t *keys = json_array();
    for (size_t row = 0; count > 0 && keys != NULL && t->npk > 0 && r->explain == NULL && row < res.nrows; row++) {
        json_array_append_new(keys, row_key_json(&res.v[row * res.ncols], t->npk));
    }
    cs_qresult_free(&res);
    if (count == 0 || keys == NULL) {
        json_decref(keys);
        return keys == NULL && count > 0 ? pd_oom(r) : 0;
    }
    key_column_name(r, column, sizeof(column));
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
    struct pd_finding f = {.check = "duplicate", .column = column, .kind = t->npk ? "key" : "row", .message = msg,
                           .count = count, .total = r->rows, .groups = groups};
    return emit(r, &f, keys);
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

/* Native SQLite: the column, its type and its numeric sentinels as the leading arguments of
 * cs_stats / cs_outliers (sqlite_funcs.h); `middle` goes between the type and the sentinels. */
static void w_func_args(struct pd_run *r, struct pd_sql *q, size_t i, const struct pd_sql *middle)
{
    const struct cs_column_policy *p = col_info(r, i)->policy;
    w_col(r, q, i);
    pd_addf(q, ", %d", col_info(r, i)->type);
    if (middle != NULL)
        pd_cat(q, middle);
    for (size_t k = 0; k < p->n_sentinels; k++) {
        pd_add(q, ", ");
        pd_param_f64(q, p->sentinels[k]);
    }
}

/* Round A expressions for column i's outlier statistics. */
static void outlier_round_a(struct pd_run *r, struct pd_agg *a, size_t i)
{
    struct pd_col *c = &r->cols[i];
    struct pd_sql e = {0};
    c->packed = -1;
    if (pd_sqlite_funcs(r->t->src)) { /* everything in one aggregate: no second pass, no sorted scans */
        struct pd_sql full = {0};
        pd_addf(&full, ", %d", c->method != CS_OUTLIER_ZSCORE);
        pd_add(&e, "cs_stats(");
        w_func_args(r, &e, i, &full);
        pd_add(&e, ")");
        pd_free(&full);
        c->packed = agg_add(a, &e);
        return;
    }
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
        if (c->packed >= 0) {
            struct cs_sqlf_stats st;
            if (cs_sqlf_stats_parse(a->vals ? a->vals[c->packed].text : NULL, &st) != 0) {
                rc = cs_err_set(r->err, CS_ESOURCE, "table %s (pushdown): unreadable cs_stats answer for %s",
                                r->t->schema->table, col_info(r, i)->name);
                break;
            }
            c->v_n = st.n, c->v_min = st.min, c->v_max = st.max, c->v_mean = st.mean, c->v_sd = st.sd;
            c->v_q1 = st.q1, c->v_med = st.median, c->v_q3 = st.q3, c->v_mad = st.mad;
            continue;
        }
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

/* Native SQLite: cs_outliers(x, type, ?lower, ?upper, nsent, sentinels..., pk...), the count and the
 * sample keys of every judged column from one scan instead of one ORDER BY scan per finding.  The
 * FILTER spares the call (and its key arguments) for rows inside the bounds: SQLite orders every
 * text or blob above every number, so the filter passes a superset that the function judges exactly. */
static long add_outliers_func(struct pd_run *r, struct pd_agg *b, size_t i)
{
    const struct pd_col *c = &r->cols[i];
    struct pd_sql e = {0}, middle = {0};
    pd_add(&middle, ", ");
    pd_param_f64(&middle, c->lower);
    pd_add(&middle, ", ");
    pd_param_f64(&middle, c->upper);
    pd_addf(&middle, ", %zu", col_info(r, i)->policy->n_sentinels);
    pd_add(&e, "cs_outliers(");
    w_func_args(r, &e, i, &middle);
    for (size_t k = 0; k < r->t->npk; k++) {
        pd_add(&e, ", ");
        w_col(r, &e, r->t->pk[k]);
    }
    pd_add(&e, ") FILTER (WHERE ");
    w_col(r, &e, i);
    pd_add(&e, " < ");
    pd_param_f64(&e, c->lower);
    pd_add(&e, " OR ");
    w_col(r, &e, i);
    pd_add(&e, " > ");
    pd_param_f64(&e, c->upper);
    pd_add(&e, ")");
    pd_free(&middle);
    return agg_add(b, &e);
}

/* cs_outliers's answer "count<TAB>[keys]": the count, and the keys into *keys. */
static int parse_outliers_func(struct pd_run *r, const struct cs_qval *v, size_t i, uint64_t *count, json_t **keys)
{
    const char *text = v->type == CS_TYPE_TEXT ? v->text : NULL, *tab = text ? strchr(text, '\t') : NULL;
    *count = 0;
    *keys = NULL;
    if (r->explain != NULL) { /* a stand-in answer: show the statement only */
        *count = 1;
        return (*keys = json_array()) == NULL ? pd_oom(r) : 0;
    }
    if (tab == NULL || (*count = strtoull(text, NULL, 10), (*keys = json_loads(tab + 1, 0, NULL)) == NULL) ||
        !json_is_array(*keys)) {
        json_decref(*keys);
        *keys = NULL;
        return cs_err_set(r->err, CS_ESOURCE, "table %s (pushdown): unreadable cs_outliers answer for %s",
                          r->t->schema->table, col_info(r, i)->name);
    }
    return 0;
}

/* How far outside its bounds an outlier of column i lies (the sample keys' order, the farthest first). */
static void w_distance(struct pd_run *r, struct pd_sql *q, size_t i)
{
    const struct pd_col *c = &r->cols[i];
    pd_add(q, "CASE WHEN ");
    w_dbl(r, q, i);
    pd_add(q, " < ");
    pd_param_f64(q, c->lower);
    pd_add(q, " THEN ");
    pd_param_f64(q, c->lower);
    pd_add(q, " - ");
    w_dbl(r, q, i);
    pd_add(q, " ELSE ");
    w_dbl(r, q, i);
    pd_add(q, " - ");
    pd_param_f64(q, c->upper);
    pd_add(q, " END");
}

/* 0 below the lower bound, 1 above: streaming names low offenders first when distances tie. */
static void w_side(struct pd_run *r, struct pd_sql *q, size_t i)
{
    pd_add(q, "CASE WHEN ");
    w_dbl(r, q, i);
    pd_add(q, " < ");
    pd_param_f64(q, r->cols[i].lower);
    pd_add(q, " THEN 0 ELSE 1 END");
}

/* ORDER BY of column i's outliers: the farthest first, low before high, then by key (repeatable ties). */
static void w_extreme_order(struct pd_run *r, struct pd_sql *q, size_t i)
{
    w_distance(r, q, i);
    pd_add(q, " DESC, ");
    w_side(r, q, i);
    for (size_t k = 0; k < r->t->npk; k++) {
        pd_add(q, ", ");
        w_col(r, q, r->t->pk[k]);
    }
}

static int run_outliers(struct pd_run *r, const struct pd_agg *a)
{
    int rc = outlier_stats(r, a);
    struct pd_agg b = {0};
    size_t n = r->t->schema->ncols;
    int funcs = pd_sqlite_funcs(r->t->src);
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
        if (funcs) {
            c->outside = add_outliers_func(r, &b, i);
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
        json_t *keys = NULL;
        uint64_t cnt = 0;
        if (c->outside >= 0 && funcs)
            rc = parse_outliers_func(r, &b.vals[c->outside], i, &cnt, &keys);
        else if (c->outside >= 0)
            cnt = agg_u64(&b, c->outside);
        if (rc != 0 || cnt == 0) {
            json_decref(keys);
            continue;
        }
        double far = c->lower - c->v_min >= c->v_max - c->upper ? c->v_min : c->v_max;
        struct pd_pending *p = pend_new(r, W_OUTLIER, i);
        if (p == NULL) {
            json_decref(keys);
            rc = pd_oom(r);
            break;
        }
        char pct[16], lo[48], hi[48], fs[48], thr[48];
        plug_fmt_pct(pct, sizeof(pct), cnt, c->v_n);
        plug_fmt_num(lo, sizeof(lo), c->lower);
        plug_fmt_num(hi, sizeof(hi), c->upper);
        plug_fmt_num(fs, sizeof(fs), far);
        plug_fmt_num(thr, sizeof(thr), c->threshold);
        snprintf(p->msg, sizeof(p->msg),
                 "%s has %llu of %llu values (%s) outside the usual range %s to %s (more than %s %s); "
                 "the most extreme is %s.",
                 col_info(r, i)->name, (unsigned long long)cnt, (unsigned long long)c->v_n, pct, lo, hi, thr,
                 method_phrase(c->method), fs);
        p->keys = keys;
        p->f.check = "outlier", p->f.column = col_info(r, i)->name, p->f.kind = METHOD_NAME[c->method];
        p->f.count = cnt, p->f.total = c->v_n, p->f.threshold = c->threshold;
        p->f.lower = c->lower, p->f.upper = c->upper;
    }
    agg_free(&b);
    return rc;
}

/* ---- round C: sample keys of all findings in two statements ---------------------------- */

/* The offending rows of a pending finding. */
static void w_pending_cond(struct pd_run *r, struct pd_sql *q, const struct pd_pending *p)
{
    const struct pd_col *c = &r->cols[p->col];
    if (p->what == W_MISSING)
        w_missing(r, q, p->col, p->mk);
    else if (p->what == W_NEGATIVE)
        w_negative(r, q, p->col);
    else
        w_outside(r, q, p->col, c->lower, c->upper);
}

/* A row's key as one value: the column, or a JSON/ARRAY of the columns for composite keys. */
static void w_key(struct pd_run *r, struct pd_sql *q)
{
    const struct cs_pd_table *t = r->t;
    if (t->npk == 1) {
        w_col(r, q, t->pk[0]);
        return;
    }
    pd_add(q, pd_key_array_fn(r->d));
    pd_add(q, "(");
    for (size_t k = 0; k < t->npk; k++) {
        pd_add(q, k > 0 ? ", " : "");
        w_col(r, q, t->pk[k]);
    }
    pd_add(q, ")");
}

/* Aggregate form, evaluated in the round's one scan of the table:
 *   PostgreSQL  array_to_json((array_agg(K [ORDER BY o]) FILTER (WHERE c))[1:10])
 *   Snowflake   TO_JSON(ARRAY_SLICE(ARRAY_AGG(IFF(c, K, NULL)) [WITHIN GROUP (ORDER BY o)], 0, 10))
 *   SQLite      json_group_array(K) FILTER (WHERE c)   (never ordered: no ORDER BY in aggregates before 3.44)
 * The aggregate holds every offending key until the end of the scan, so only findings with a small,
 * known count take this form (keys_plan). */
static void w_keys_agg(struct pd_run *r, struct pd_sql *q, const struct pd_pending *p)
{
    int ordered = p->what == W_OUTLIER;
    switch (r->d) {
    case CS_DIALECT_SNOWFLAKE:
        pd_add(q, "TO_JSON(ARRAY_SLICE(ARRAY_AGG(IFF(");
        w_pending_cond(r, q, p);
        pd_add(q, ", ");
        w_key(r, q);
        pd_add(q, ", NULL))");
        if (ordered) {
            pd_add(q, " WITHIN GROUP (ORDER BY ");
            w_extreme_order(r, q, p->col);
            pd_add(q, ")");
        }
        pd_addf(q, ", 0, %d))", PD_SAMPLES);
        break;
    case CS_DIALECT_SQLITE:
        pd_add(q, "json_group_array(");
        w_key(r, q);
        pd_add(q, ") FILTER (WHERE ");
        w_pending_cond(r, q, p);
        pd_add(q, ")");
        break;
    default:
        pd_add(q, "array_to_json((array_agg(");
        w_key(r, q);
        if (ordered) {
            pd_add(q, " ORDER BY ");
            w_extreme_order(r, q, p->col);
        }
        pd_add(q, ") FILTER (WHERE ");
        w_pending_cond(r, q, p);
        pd_addf(q, "))[1:%d])", PD_SAMPLES);
        break;
    }
}

/* Subquery form, a scan of its own that stops at the 10th key (top-N sort for outliers):
 *   PostgreSQL  array_to_json(ARRAY(SELECT K FROM T WHERE c [ORDER BY o] LIMIT 10))
 *   Snowflake   (SELECT TO_JSON(ARRAY_AGG(cs_k) [WITHIN GROUP (ORDER BY cs_o DESC, cs_s)])
 *                FROM (SELECT K AS cs_k[, distance AS cs_o, side AS cs_s] FROM T WHERE c [ORDER BY o] LIMIT 10))
 *   SQLite      (SELECT json_group_array(cs_k) FROM (SELECT K AS cs_k FROM T WHERE c [ORDER BY o] LIMIT 10)) */
static void w_keys_sub(struct pd_run *r, struct pd_sql *q, const struct pd_pending *p)
{
    int ordered = p->what == W_OUTLIER, sf = r->d == CS_DIALECT_SNOWFLAKE;
    if (r->d == CS_DIALECT_POSTGRES) {
        pd_add(q, "array_to_json(ARRAY(SELECT ");
        w_key(r, q);
    } else {
        /* SQLite: json() keeps a composite key an array after the subquery drops its JSON subtype */
        pd_add(q, sf ? "(SELECT TO_JSON(ARRAY_AGG(cs_k)" : r->t->npk > 1 ? "(SELECT json_group_array(json(cs_k))"
                                                                          : "(SELECT json_group_array(cs_k)");
        if (sf && ordered)
            pd_add(q, " WITHIN GROUP (ORDER BY cs_o DESC, cs_s)");
        pd_add(q, sf ? ") FROM (SELECT " : " FROM (SELECT ");
        w_key(r, q);
        pd_add(q, " AS cs_k");
        if (sf && ordered) {
            pd_add(q, ", ");
            w_distance(r, q, p->col);
            pd_add(q, " AS cs_o, ");
            w_side(r, q, p->col);
            pd_add(q, " AS cs_s");
        }
    }
    from_clause(r, q);
    pd_add(q, " WHERE ");
    w_pending_cond(r, q, p);
    if (ordered) {
        pd_add(q, " ORDER BY ");
        w_extreme_order(r, q, p->col);
    }
    pd_addf(q, " LIMIT %d))", PD_SAMPLES);
}

static int by_count(const void *a, const void *b)
{
    const struct pd_pending *x = *(const struct pd_pending *const *)a, *y = *(const struct pd_pending *const *)b;
    return x->f.count < y->f.count ? -1 : x->f.count > y->f.count;
}

/* Which findings take the aggregate form (1 in agg[k]): missing and negative findings of at most
 * PD_KEYS_AGG_FEW rows (more stop a LIMIT 10 scan early), and outliers of at most PD_KEYS_AGG_MANY
 * (else a top-10 scan each), fewest first, while the round holds at most PD_KEYS_AGG_BUDGET keys. */
static int keys_plan(struct pd_run *r, unsigned char *agg)
{
    struct pd_pending **out = calloc(r->npend + 1, sizeof(*out));
    size_t nout = 0, seen[3] = {0};
    uint64_t held = 0;
    if (out == NULL)
        return pd_oom(r);
    for (size_t k = 0; k < r->npend; k++) {
        struct pd_pending *p = &r->pend[k];
        if (p->keys != NULL)
            continue;
        if (r->explain != NULL) /* invented counts: show both forms, alternately per check */
            p->f.count = seen[p->what]++ % 2 ? PD_KEYS_AGG_BUDGET : 1;
        if (p->what != W_OUTLIER && p->f.count <= PD_KEYS_AGG_FEW && held + p->f.count <= PD_KEYS_AGG_BUDGET)
            agg[k] = 1, held += p->f.count;
        else if (p->what == W_OUTLIER && r->d != CS_DIALECT_SQLITE && p->f.count <= PD_KEYS_AGG_MANY)
            out[nout++] = p;
    }
    qsort(out, nout, sizeof(*out), by_count);
    for (size_t k = 0; k < nout && held + out[k]->f.count <= PD_KEYS_AGG_BUDGET; k++) {
        agg[out[k] - r->pend] = 1;
        held += out[k]->f.count;
    }
    free(out);
    return 0;
}

/* A round C answer: JSON text of an array of keys (NULL: none).  0 when it is unreadable (a driver
 * that cuts long text, say); the caller then asks for the finding's keys alone. */
static int keys_parse(const struct cs_qval *v, json_t **keys)
{
    *keys = v->type == 0 ? json_array() : v->type == CS_TYPE_TEXT ? json_loads(v->text, 0, NULL) : NULL;
    if (*keys != NULL && !json_is_array(*keys)) {
        json_decref(*keys);
        *keys = NULL;
    }
    while (*keys != NULL && json_array_size(*keys) > PD_SAMPLES) /* SQLite's aggregate is not sliced */
        json_array_remove(*keys, json_array_size(*keys) - 1);
    return *keys != NULL;
}

/* Round C: the sample keys of every pending finding, as few statements as the dialect allows: one
 * SELECT (split every PD_MAX_EXPRS expressions) of aggregate forms over one scan and subquery forms
 * that stop early.  Without a primary key there are no sample keys (streaming's are row numbers). */
static int keys_round(struct pd_run *r)
{
    struct pd_agg c[2] = {{0}, {.no_from = 1}}; /* aggregate forms; subquery forms */
    unsigned char *agg = calloc(r->npend + 1, 1);
    int rc = agg == NULL ? pd_oom(r) : r->t->npk == 0 ? 0 : keys_plan(r, agg);
    for (size_t k = 0; rc == 0 && r->t->npk > 0 && k < r->npend; k++) {
        struct pd_pending *p = &r->pend[k];
        struct pd_sql e = {0};
        if (p->keys != NULL)
            continue;
        if (agg[k])
            w_keys_agg(r, &e, p);
        else
            w_keys_sub(r, &e, p);
        p->slot = agg_add(&c[!agg[k]], &e);
    }
    /* Apart: PostgreSQL 15 took 19 s instead of 5 s for the aggregates of SAMPLE_APPLICATION's 102
     * findings with the 59 LIMIT subqueries in the same SELECT, which alone take milliseconds. */
    for (int f = 0; rc == 0 && f < 2; f++)
        rc = agg_run(r, &c[f]);
    for (size_t k = 0; rc == 0 && k < r->npend; k++) {
        struct pd_pending *p = &r->pend[k];
        if (p->keys != NULL)
            continue;
        if (p->slot < 0 || r->explain != NULL) {
            if ((p->keys = json_array()) == NULL)
                rc = pd_oom(r);
            continue;
        }
        if (keys_parse(&c[!agg[k]].vals[p->slot], &p->keys))
            continue;
        cs_log(CS_LOG_DEBUG, "pushdown", "table %s: unreadable sample keys of %s %s; asking for them alone",
               r->t->schema->table, p->f.check, p->f.column);
        struct pd_sql cond = {0}, order = {0};
        w_pending_cond(r, &cond, p);
        if (p->what == W_OUTLIER)
            w_extreme_order(r, &order, p->col);
        rc = sample_keys(r, &cond, p->what == W_OUTLIER ? &order : NULL, &p->keys);
        if (p->what != W_OUTLIER)
            pd_free(&order);
    }
    agg_free(&c[0]);
    agg_free(&c[1]);
    free(agg);
    return rc;
}

/* The pending findings, with their keys, into the run in report order. */
static int emit_pending(struct pd_run *r)
{
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < r->npend; k++) {
        struct pd_pending *p = &r->pend[k];
        json_t *keys = p->keys;
        p->keys = NULL;
        p->f.message = p->msg;
        rc = emit(r, &p->f, keys ? keys : json_array());
    }
    return rc;
}

/* ---- Lua rules with a SQL predicate (pushdown_rules.h) -------------------------------- */

/* A statement that reads no row but makes the database check the predicates (types, functions), so
 * that a predicate it refuses sends its rule back to the rows instead of failing round A. */
static int rules_probe(struct pd_run *r, const size_t *only)
{
    struct pd_sql q = {0};
    struct cs_qresult res;
    pd_add(&q, "SELECT COUNT(*)");
    q.ncols = 1;
    from_clause(r, &q);
    pd_add(&q, " WHERE 1 = 0 AND (");
    for (size_t k = 0; k < pd_rules_count(r->rules); k++) {
        if (only != NULL && k != *only)
            continue;
        pd_add(&q, only == NULL && k > 0 ? " OR " : "");
        pd_rules_cond(r->rules, k, &q);
    }
    pd_add(&q, ")");
    int rc = pd_exec(r, &q, 1, &res);
    pd_free(&q);
    cs_qresult_free(&res);
    return rc;
}

/* Compile the predicates of the table's rules and probe them: all in one statement, one by one when that fails. */
static int rules_prepare(struct pd_run *r)
{
    if (r->t->rules == NULL || r->explain != NULL)
        return 0;
    int rc = pd_rules_new(r->t, &r->rules, r->err);
    size_t n = pd_rules_count(r->rules);
    if (rc != 0 || n == 0)
        return rc;
    if ((r->rule_slot = calloc(n, sizeof(long))) == NULL)
        return pd_oom(r);
    if ((rc = rules_probe(r, NULL)) != CS_ESOURCE)
        return rc;
    for (size_t k = 0; k < n; k++)
        if ((rc = rules_probe(r, &k)) == CS_ESOURCE)
            pd_rules_refused(r->rules, k, r->err->msg);
        else if (rc != 0)
            return rc;
    return 0;
}

/* Round A: one countif per predicate. */
static void rules_round_a(struct pd_run *r, struct pd_agg *a)
{
    for (size_t k = 0; k < pd_rules_count(r->rules); k++) {
        struct pd_sql cond = {0};
        r->rule_slot[k] = -1;
        if (pd_rules_is_refused(r->rules, k))
            continue;
        pd_rules_cond(r->rules, k, &cond);
        r->rule_slot[k] = add_count_if(r, a, &cond);
    }
}

/* After the built-in checks: the predicates' counts and sample rows go to the rules pass, the rules
 * without one read the rows (only their columns), and the pass adds every rule's finding. */
static int rules_finish(struct pd_run *r, const struct pd_agg *a)
{
    const struct cs_pd_table *t = r->t;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < pd_rules_count(r->rules); k++) {
        if (r->rule_slot[k] < 0)
            continue;
        uint64_t n = agg_u64(a, r->rule_slot[k]);
        struct cs_qresult res = {0};
        if (n > 0) {
            struct pd_sql q = {0};
            pd_rules_sample_sql(r->rules, k, &q);
            rc = pd_exec(r, &q, PD_SAMPLES, &res);
            pd_free(&q);
        }
        if (rc == 0)
            rc = pd_rules_deliver(r->rules, k, n, n > 0 ? &res : NULL, r->err);
        cs_qresult_free(&res);
    }
    if (rc == 0 && cs_rules_pass_needs_rows(t->rules)) {
        uint64_t rows = 0;
        cs_log(CS_LOG_INFO, "pushdown", "table %s: Lua rules without a sql predicate read the rows (their columns only)",
               t->schema->table);
        rc = cs_rules_pass_stream(t->rules, t->src, t->pk, t->npk, t->opts, &rows, r->err);
    } else if (rc == 0) {
        cs_rules_pass_set_total(t->rules, r->rows);
    }
    if (rc == 0 && cs_rules_pass_finish(t->rules) != 0)
        rc = pd_oom(r);
    return rc;
}

/* ---- the run ------------------------------------------------------------------ */

/* SQLite: a row holds a value of another storage class in a numeric column (text; a fraction
 * in an integer column).  0 when the table has no numeric column (nothing written). */
static int w_guard(struct pd_run *r, struct pd_sql *g)
{
    int any = 0;
    for (size_t i = 0; i < r->t->schema->ncols; i++) {
        int type = col_info(r, i)->type;
        if (type == CS_TYPE_TEXT)
            continue;
        pd_add(g, any++ ? " OR " : "");
        pd_add(g, "typeof(");
        w_col(r, g, i);
        pd_add(g, type == CS_TYPE_INT64 ? ") NOT IN ('integer', 'null')" : ") NOT IN ('integer', 'real', 'null')");
    }
    return any;
}

/*
 * SQLite: do the table's first GUARD_PROBE_ROWS rows already hold values of the wrong storage
 * class?  Then the table is streamed, and round A's full pass, which also counts them, would be
 * wasted (25 s before streaming 3 s on the sample SAMPLE_APPLICATION, whose first such row is
 * about the 10,000th).  A bounded probe: a table clean at its start still gets round A's exact
 * guard.  Not run when explaining (its made-up answer would send every table to streaming).
 */
static int guard_probe(struct pd_run *r, int *bad)
{
    struct pd_sql g = {0}, q = {0};
    *bad = 0;
    if (r->d != CS_DIALECT_SQLITE || r->explain != NULL || !w_guard(r, &g)) {
        pd_free(&g);
        return 0;
    }
    pd_add(&q, "SELECT EXISTS (SELECT 1 FROM (SELECT *");
    from_clause(r, &q);
    pd_add(&q, " LIMIT ");
    pd_param_i64(&q, GUARD_PROBE_ROWS);
    pd_add(&q, ") WHERE ");
    pd_cat(&q, &g);
    pd_add(&q, ")");
    pd_free(&g);
    struct cs_qresult res;
    int rc = pd_exec(r, &q, 1, &res);
    if (rc == 0 && res.nrows == 1 && res.v[0].type == CS_TYPE_INT64)
        *bad = res.v[0].i64 != 0;
    cs_qresult_free(&res);
    pd_free(&q);
    return rc;
}

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
        if (w_guard(r, &g))
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
    if (r->rules != NULL)
        rules_round_a(r, a);
    return agg_run(r, a);
}

static int pd_run_all(struct pd_run *r, int *handled)
{
    struct pd_agg a = {0};
    long rows_slot = -1, guard_slot = -1;
    *handled = 0;
    if ((r->cols = calloc(r->t->schema->ncols + 1, sizeof(*r->cols))) == NULL)
        return pd_oom(r);
    int rc = rules_prepare(r), bad = 0;
    if (rc == 0 && (rc = guard_probe(r, &bad)) == 0 && bad) {
        cs_log(r->loglevel, "pushdown",
               "table %s: its first rows hold text or fractions in numeric columns (SQLite storage classes); "
               "only streaming reports those exactly, so this table is streamed", r->t->schema->table);
        return 0;
    }
    if (rc == 0)
        rc = round_a(r, &a, &rows_slot, &guard_slot);
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
        rc = collect_missing(r, &a);
    if (rc == 0 && r->do_negative)
        rc = collect_negative(r, &a);
    if (rc == 0 && r->do_outlier)
        rc = run_outliers(r, &a);
    if (rc == 0)
        rc = keys_round(r);
    if (rc == 0)
        rc = emit_pending(r);
    if (rc == 0 && r->t->rules != NULL && r->explain == NULL)
        rc = rules_finish(r, &a);
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
    pend_free(r);
    free(r->cols);
    pd_rules_free(r->rules);
    free(r->rule_slot);
}

/* Does `mode` send t to the database?  auto: any dialect but SQLite, and SQLite tables above
 * source.pushdown_rows.  Logs why not at lvl when the dialect is unknown. */
static int pd_wanted(const struct cs_pd_table *t, int mode, int lvl)
{
    if (mode == CS_SCAN_STREAM)
        return 0;
    if (t->dialect == CS_DIALECT_GENERIC) {
        cs_log(lvl, "pushdown", "table %s: the database's SQL dialect is unknown; streaming", t->schema->table);
        return 0;
    }
    if (mode == CS_SCAN_AUTO && t->dialect == CS_DIALECT_SQLITE) {
        /* Streaming a local file is 3-5 times faster than SQLite's aggregate queries
         * (BENCHMARKS.md), so only a configured row count sends SQLite tables down. */
        uint64_t limit = t->cfg ? t->cfg->pushdown_rows : 0, n = 0;
        if (limit == 0 || cs_source_count(t->src, t->schema, &n, NULL) != 0 || n <= limit)
            return 0;
    }
    return 1;
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
    if (!pick_checks(&r, &unknown)) {
        cs_log(lvl, "pushdown", "table %s: check %s has no SQL form; streaming the table", table, unknown);
        return 0;
    }
    if (!pd_wanted(t, mode, lvl))
        return 0;
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

/* ---- table profiles (profile.h) ---------------------------------------------------- */

/* One pseudo-column per outlier method, so the statistics rounds above compute every statistic of
 * a profile: z-score gives mean and sd, IQR the quartiles, MAD the median and MAD. */
static const int PROFILE_METHODS[] = {CS_OUTLIER_ZSCORE, CS_OUTLIER_IQR, CS_OUTLIER_MAD};
#define NPROFILE_METHODS (sizeof(PROFILE_METHODS) / sizeof(PROFILE_METHODS[0]))

/* Column i (fewer than MIN_VALUES usable values, which the rounds leave unjudged) profiled by stats.c
 * itself from its few values, read in scan order as streaming reads them. */
static int small_profile(struct pd_run *r, size_t i, struct cs_profile *out)
{
    struct pd_sql q = {0};
    struct cs_qresult res;
    const struct cs_column_info *ci = col_info(r, i);
    pd_add(&q, "SELECT ");
    w_col(r, &q, i);
    q.ncols = 1;
    from_clause(r, &q);
    pd_add(&q, " WHERE ");
    w_usable(r, &q, i);
    int rc = pd_exec(r, &q, MIN_VALUES, &res);
    pd_free(&q);
    if (rc != 0)
        return rc;
    uint8_t nulls[MIN_VALUES] = {0};
    int64_t i64[MIN_VALUES] = {0};
    double f64[MIN_VALUES] = {0};
    size_t n = res.nrows < MIN_VALUES ? res.nrows : MIN_VALUES;
    for (size_t k = 0; k < n; k++) {
        const struct cs_qval *v = &res.v[k * res.ncols];
        nulls[k] = v->type == 0 ? CS_CELL_NULL : CS_CELL_VALUE;
        i64[k] = v->type == CS_TYPE_INT64 ? v->i64 : (int64_t)v->f64;
        f64[k] = v->type == CS_TYPE_INT64 ? (double)v->i64 : v->f64;
    }
    struct cs_column col = {.name = ci->name, .type = ci->type, .nulls = nulls, .i64 = i64, .f64 = f64};
    struct cs_batch b = {.nrows = n, .ncols = 1, .cols = &col};
    struct cs_stats *st = cs_stats_new(NULL, NULL, NULL);
    if (st == NULL || cs_stats_add(st, &b, 0, ci->policy) != 0 || cs_stats_profile(st, out) != 0)
        rc = pd_oom(r);
    cs_stats_free(st);
    cs_qresult_free(&res);
    return rc;
}

/* The profile of real column j from its pseudo-columns' statistics. */
static int profile_of(struct pd_run *r, size_t j, struct cs_profile *out)
{
    const struct pd_col *z = &r->cols[j * NPROFILE_METHODS], *q = z + 1, *m = z + 2;
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    out->count = z->v_n;
    if (z->v_n == 0)
        return 0; /* as cs_stats_profile: an empty column profiles as zeros */
    if (z->v_n < MIN_VALUES)
        return small_profile(r, j * NPROFILE_METHODS, out);
    out->mean = z->v_mean, out->sd = z->v_sd, out->min = z->v_min, out->max = z->v_max;
    out->q1 = q->v_q1, out->q3 = q->v_q3, out->median = m->v_med, out->mad = m->v_mad;
    return 0;
}

int cs_pushdown_profiles(const struct cs_pd_table *t, int mode, const size_t *cols, size_t n, struct cs_profile *out,
                         int *handled, struct cs_err *err)
{
    int lvl = mode == CS_SCAN_PUSHDOWN ? CS_LOG_WARNING : CS_LOG_INFO;
    *handled = 0;
    if (n == 0 || !pd_wanted(t, mode, lvl))
        return 0;
    size_t m = n * NPROFILE_METHODS;
    struct cs_colmeta *cm = calloc(m + 1, sizeof(*cm));
    struct cs_column_info *inf = calloc(m + 1, sizeof(*inf));
    struct cs_column_policy *pol = calloc(m + 1, sizeof(*pol));
    struct cs_schema xs = {.table = t->schema->table, .ncols = m, .cols = cm};
    struct cs_pd_table xt = {.src = t->src, .dialect = t->dialect, .cfg = t->cfg, .tc = t->tc, .schema = &xs,
                             .infos = inf};
    struct pd_run r = {.t = &xt, .d = t->dialect, .err = err, .loglevel = lvl, .do_outlier = 1};
    struct pd_agg a = {0};
    long rows_slot = -1, guard_slot = -1;
    int rc = cm && inf && pol && (r.cols = calloc(m + 1, sizeof(*r.cols))) != NULL ? 0 : pd_oom(&r);
    for (size_t x = 0; rc == 0 && x < m; x++) {
        size_t c = cols[x / NPROFILE_METHODS];
        cm[x] = t->schema->cols[c];
        inf[x] = t->infos[c];
        pol[x] = *t->infos[c].policy;
        pol[x].outlier_method = PROFILE_METHODS[x % NPROFILE_METHODS];
        inf[x].policy = &pol[x];
        inf[x].is_key = 0;
    }
    if (rc == 0)
        rc = round_a(&r, &a, &rows_slot, &guard_slot);
    if (rc == 0 && agg_u64(&a, guard_slot) > 0)
        cs_log(lvl, "pushdown", "table %s: numeric columns hold text or fractions (SQLite storage classes); "
               "its profile is built by streaming", t->schema->table);
    else if (rc == 0 && (rc = outlier_stats(&r, &a)) == 0)
        *handled = 1;
    for (size_t j = 0; rc == 0 && *handled && j < n; j++)
        rc = profile_of(&r, j, &out[j]);
    if (rc != 0)
        *handled = 0;
    agg_free(&a);
    free(r.cols);
    free(cm);
    free(inf);
    free(pol);
    return rc;
}
