/*
** drift.c -- drift checks on metric history.  See drift.h for the rules
** and docs/store.md for the formulas.
**
** Layout: cs_drift_parse reads the config; cs_drift_judge is the pure
** arithmetic; cs_drift_check walks the run's metrics, builds each metric's
** series from the stored history and turns verdicts into findings.
*/
#include "drift.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "metrics.h"
#include "severity.h"
#include "store.h"

static const char *const DRIFT_KEYS[] = {"max_change", "zscore", "window", "min_runs", "min_delta", "metrics", NULL};

static const struct {
    const char *name;
    unsigned bit;
    int ratio, relative, sampled; /* sampled: a mean or median, with a sampling error */
    const char *label;            /* for messages */
} METRICS[] = {
    {"row_count", CS_DRIFT_ROW_COUNT, 0, 1, 0, "row count"},
    {"null_ratio", CS_DRIFT_NULL_RATIO, 1, 1, 0, "share of missing values"},
    {"negative_ratio", CS_DRIFT_NEGATIVE_RATIO, 1, 1, 0, "share of negative values"},
    {"duplicate_ratio", CS_DRIFT_DUPLICATE_RATIO, 1, 1, 0, "share of duplicate values"},
    {"mean", CS_DRIFT_MEAN, 0, 0, 1, "mean"},
    {"sd", CS_DRIFT_SD, 0, 1, 0, "standard deviation"},
    {"min", CS_DRIFT_MIN, 0, 0, 0, "minimum"},
    {"max", CS_DRIFT_MAX, 0, 0, 0, "maximum"},
    {"median", CS_DRIFT_MEDIAN, 0, 0, 1, "median"},
};
#define NMETRICS (sizeof(METRICS) / sizeof(METRICS[0]))

/* ---- config -------------------------------------------------------------------- */

static void defaults(struct cs_driftconf *dc)
{
    memset(dc, 0, sizeof(*dc));
    dc->enabled = 1;
    dc->max_change = CS_DRIFT_DEFAULT_MAX_CHANGE;
    dc->zscore = CS_DRIFT_DEFAULT_ZSCORE;
    dc->min_delta = CS_DRIFT_DEFAULT_MIN_DELTA;
    dc->window = CS_DRIFT_DEFAULT_WINDOW;
    dc->min_runs = CS_DRIFT_DEFAULT_MIN_RUNS;
}

static int unknown_key(json_t *obj, const char *path, struct cs_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        const char *const *k;
        for (k = DRIFT_KEYS; *k != NULL && strcmp(*k, key) != 0; k++)
            ;
        if (*k == NULL)
            return cs_err_set(err, CS_ECONFIG,
                              "%s: unknown key \"%s\" (use max_change, zscore, window, min_runs, min_delta, metrics)",
                              path, key);
    }
    return 0;
}

static int metric_list(json_t *v, const char *path, int table_level, unsigned *out, struct cs_err *err)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return cs_err_set(err, CS_ECONFIG, "%s.metrics: expected a non-empty array of metric names", path);
    json_array_foreach(v, i, e) {
        const char *name = json_string_value(e);
        size_t m;
        for (m = 0; name != NULL && m < NMETRICS && strcmp(METRICS[m].name, name) != 0; m++)
            ;
        if (name == NULL || m == NMETRICS || (!table_level && METRICS[m].bit == CS_DRIFT_ROW_COUNT))
            return cs_err_set(err, CS_ECONFIG,
                              "%s.metrics[%zu]: unknown metric (use %snull_ratio, negative_ratio, duplicate_ratio, "
                              "mean, sd, min, max, median)",
                              path, i, table_level ? "row_count, " : "");
        *out |= METRICS[m].bit;
    }
    return 0;
}

int cs_drift_parse(json_t *v, const char *path, int table_level, struct cs_driftconf *out, struct cs_err *err)
{
    char p[512];
    double window = CS_DRIFT_DEFAULT_WINDOW, min_runs = CS_DRIFT_DEFAULT_MIN_RUNS;
    int rc;
    defaults(out);
    out->set = 1;
    snprintf(p, sizeof(p), "%s.drift", path);
    if (json_is_false(v)) {
        out->enabled = 0;
        return 0;
    }
    if (!json_is_object(v))
        return cs_err_set(err, CS_ECONFIG, "%s: expected false or {\"max_change\": ..., \"zscore\": ..., ...}", p);
    if ((rc = unknown_key(v, p, err)) || (rc = cs_config_get_number(v, "max_change", p, 0, 1e6, &out->max_change, err)) ||
        (rc = cs_config_get_number(v, "zscore", p, 0, 1e6, &out->zscore, err)) ||
        (rc = cs_config_get_number(v, "min_delta", p, 0, 1, &out->min_delta, err)) ||
        (rc = cs_config_get_number(v, "window", p, 2, CS_DRIFT_MAX_WINDOW, &window, err)) ||
        (rc = cs_config_get_number(v, "min_runs", p, 2, CS_DRIFT_MAX_WINDOW, &min_runs, err)))
        return rc;
    out->window = (int)window;
    out->min_runs = (int)min_runs;
    json_t *m = json_object_get(v, "metrics");
    return m != NULL ? metric_list(m, p, table_level, &out->metrics, err) : 0;
}

void cs_drift_effective(const struct cs_tableconf *tc, const char *column, struct cs_driftconf *out)
{
    const struct cs_colconf *cc = strcmp(column, "*") == 0 ? NULL : cs_config_column(tc, column);
    if (cc != NULL && cc->drift.set)
        *out = cc->drift;
    else if (tc != NULL && tc->drift.set)
        *out = tc->drift;
    else
        defaults(out);
}

/* ---- judging ------------------------------------------------------------------- */

/* max(|a|,|b|)/min(|a|,|b|); infinite across a sign change or from zero. */
static double change_factor(double prev, double value)
{
    double a = fabs(prev), b = fabs(value);
    if (a == 0 && b == 0)
        return 1;
    if (a == 0 || b == 0 || (prev < 0) != (value < 0))
        return INFINITY;
    return a > b ? a / b : b / a;
}

/* Mean and sample sd of the last `window` unflagged points; returns how many were used. */
static size_t baseline(const double *past, const int *flagged, size_t n, int window, double *mean, double *sd)
{
    size_t k = 0;
    double m = 0, m2 = 0;
    for (size_t i = n; i-- > 0 && k < (size_t)window;) {
        if (flagged != NULL && flagged[i])
            continue;
        k++;
        double d = past[i] - m;
        m += d / (double)k;
        m2 += d * (past[i] - m);
    }
    *mean = m;
    *sd = k > 1 ? sqrt(m2 / (double)(k - 1)) : 0;
    return k;
}

static void judge_z(const double *past, const int *flagged, size_t n, double value, const struct cs_drift_metric *m,
                    const struct cs_driftconf *dc, struct cs_drift_verdict *v)
{
    double mean, sd;
    v->nbase = baseline(past, flagged, n, dc->window, &mean, &sd);
    if (dc->zscore <= 0 || v->nbase < (size_t)dc->min_runs)
        return;
    /* A perfectly steady history has sd 0: floors keep a wobble, or the
     * sampling noise of a mean, from becoming a huge z. */
    double floor_sd = m->ratio ? dc->min_delta : CS_DRIFT_SD_FLOOR * fabs(mean);
    if (floor_sd < m->noise)
        floor_sd = m->noise;
    if (sd < floor_sd)
        sd = floor_sd;
    v->z_judged = 1;
    v->base_mean = mean;
    v->base_sd = sd;
    if (m->ratio && fabs(value - mean) < dc->min_delta)
        v->z = 0;
    else if (sd == 0)
        v->z = value == mean ? 0 : (value > mean ? INFINITY : -INFINITY);
    else
        v->z = (value - mean) / sd;
    v->by_z = fabs(v->z) >= dc->zscore;
}

void cs_drift_judge(const double *past, const int *flagged, size_t n, double value, const struct cs_drift_metric *m,
                    const struct cs_driftconf *dc, struct cs_drift_verdict *v)
{
    memset(v, 0, sizeof(*v));
    if (!dc->enabled || n < (size_t)dc->min_runs)
        return;
    v->judged = 1;
    v->prev = past[n - 1];
    v->change = m->relative ? change_factor(v->prev, value) : 0;
    if (m->relative && m->ratio && fabs(value - v->prev) < dc->min_delta)
        v->change = 1; /* too small a move to call, whatever the factor */
    v->by_change = m->relative && dc->max_change > 0 && v->change >= 1 + dc->max_change;
    judge_z(past, flagged, n, value, m, dc, v);
    v->flagged = v->by_change || v->by_z;
}

/* ---- the run ------------------------------------------------------------------- */

/* The value of metric m in a metrics entry; 0 when it has none. */
static int metric_value(const struct cs_colmetrics *c, size_t m, double *out)
{
    double rows = (double)c->rows;
    switch (METRICS[m].bit) {
    case CS_DRIFT_ROW_COUNT: *out = rows; return 1;
    case CS_DRIFT_NULL_RATIO: *out = rows > 0 ? (double)c->nulls / rows : 0; return c->has_counts && rows > 0;
    case CS_DRIFT_NEGATIVE_RATIO: *out = rows > 0 ? (double)c->negatives / rows : 0; return c->has_counts && rows > 0;
    case CS_DRIFT_DUPLICATE_RATIO: *out = rows > 0 ? (double)c->duplicates / rows : 0; return c->has_counts && rows > 0;
    case CS_DRIFT_MEAN: *out = c->mean; return c->has_stats;
    case CS_DRIFT_SD: *out = c->sd; return c->has_stats;
    case CS_DRIFT_MIN: *out = c->min; return c->has_stats;
    case CS_DRIFT_MAX: *out = c->max; return c->has_stats;
    default: *out = c->median; return c->has_stats;
    }
}

/* Which metrics a column is judged on. */
static unsigned wanted(const struct cs_colmetrics *c, const struct cs_driftconf *dc)
{
    int table = strcmp(c->column, "*") == 0;
    if (!dc->enabled)
        return 0;
    if (table)
        return (dc->metrics == 0 || (dc->metrics & CS_DRIFT_ROW_COUNT)) ? CS_DRIFT_ROW_COUNT : 0;
    if (dc->metrics != 0)
        return dc->metrics & ~(unsigned)CS_DRIFT_ROW_COUNT;
    unsigned m = CS_DRIFT_NULL_RATIO;
    if (c->type == CS_TYPE_INT64 || c->type == CS_TYPE_DOUBLE)
        m |= CS_DRIFT_NEGATIVE_RATIO | CS_DRIFT_MEAN;
    if (c->is_key)
        m |= CS_DRIFT_DUPLICATE_RATIO;
    return m;
}

static const struct cs_colmetrics *find_metrics(const struct cs_hist_run *r, const char *column)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->m[i].column, column) == 0)
            return &r->m[i];
    return NULL;
}

static int was_flagged(const struct cs_metric_history *h, const char *run_id, const char *column, const char *kind)
{
    for (size_t i = 0; i < h->nflags; i++)
        if (strcmp(h->flags[i].run_id, run_id) == 0 && h->flags[i].column && h->flags[i].kind &&
            strcmp(h->flags[i].column, column) == 0 && strcmp(h->flags[i].kind, kind) == 0)
            return 1;
    return 0;
}

/* The metric's past values (oldest first) with their earlier flags. */
static size_t series(const struct cs_metric_history *h, const char *column, size_t m, double *past, int *flagged)
{
    size_t n = 0;
    for (size_t r = 0; r < h->nruns; r++) {
        const struct cs_colmetrics *c = find_metrics(&h->runs[r], column);
        if (c == NULL || !metric_value(c, m, &past[n]))
            continue;
        flagged[n++] = was_flagged(h, h->runs[r].run_id, column, METRICS[m].name);
    }
    return n;
}

static void fmt_value(char *buf, size_t size, size_t m, double v)
{
    if (METRICS[m].ratio)
        snprintf(buf, size, "%.2f%%", v * 100);
    else if (METRICS[m].bit == CS_DRIFT_ROW_COUNT)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.6g", v);
}

static void message(char *buf, size_t size, const char *table, const char *column, size_t m, double value,
                    const struct cs_drift_verdict *v)
{
    char oldv[48], newv[48], mean[48], factor[48] = "", zpart[160] = "";
    fmt_value(oldv, sizeof(oldv), m, v->prev);
    fmt_value(newv, sizeof(newv), m, value);
    if (v->by_change)
        snprintf(factor, sizeof(factor), isinf(v->change) ? "; it was zero or changed sign" : "; %.1fx the previous value",
                 v->change);
    if (v->by_z) {
        fmt_value(mean, sizeof(mean), m, v->base_mean);
        snprintf(zpart, sizeof(zpart), "; z-score %.1f against the last %zu steady runs (mean %s)", v->z, v->nbase,
                 mean);
    }
    const char *dir = value > v->prev ? "rose" : value < v->prev ? "fell" : "moved";
    if (strcmp(column, "*") == 0)
        snprintf(buf, size, "The %s of %s %s from %s in the previous run to %s%s%s.", METRICS[m].label, table, dir,
                 oldv, newv, factor, zpart);
    else
        snprintf(buf, size, "The %s in %s %s from %s in the previous run to %s%s%s.", METRICS[m].label, column, dir,
                 oldv, newv, factor, zpart);
}

/* count/total in the report's sense: the new numerator over rows, or new rows over previous rows. */
static void counts(const struct cs_colmetrics *c, size_t m, double prev, uint64_t *count, uint64_t *total)
{
    *total = c->rows;
    switch (METRICS[m].bit) {
    case CS_DRIFT_ROW_COUNT: *count = c->rows; *total = (uint64_t)prev; break;
    case CS_DRIFT_NULL_RATIO: *count = c->nulls; break;
    case CS_DRIFT_NEGATIVE_RATIO: *count = c->negatives; break;
    case CS_DRIFT_DUPLICATE_RATIO: *count = c->duplicates; break;
    default: *count = c->values;
    }
}

static int emit(struct cs_run *run, const struct cs_tableconf *tc, const char *table, const struct cs_colmetrics *c,
                size_t m, double value, const struct cs_driftconf *dc, const struct cs_drift_verdict *v)
{
    char msg[512];
    message(msg, sizeof(msg), table, c->column, m, value, v);
    const struct cs_finding_text t = {"drift", "builtin", table, c->column, METRICS[m].name, msg};
    struct cs_finding *f = cs_run_add(run, &t, NULL);
    if (f == NULL)
        return CS_ENOMEM;
    counts(c, m, v->prev, &f->count, &f->total);
    if (v->z_judged) {
        f->has_range = 1;
        f->threshold = dc->zscore;
        f->lower = v->base_mean - dc->zscore * v->base_sd;
        f->upper = v->base_mean + dc->zscore * v->base_sd;
    }
    struct cs_severity_in s = {.check = "drift", .kind = f->kind, .count = f->count, .total = f->total,
                               .is_key = c->is_key, .cc = strcmp(c->column, "*") ? cs_config_column(tc, c->column) : NULL,
                               .change = isinf(v->change) ? 1e9 : v->change}; /* 0 when not judged */
    f->severity = cs_severity_of(&s);
    return 0;
}

/* Standard error of a mean (about that of a median): column sd / sqrt(values),
 * the larger of the newest run's and the previous run's (either may be
 * degenerate, e.g. a rare flag that is all zeros this time). */
static double sampling_noise(const struct cs_metric_history *h, const struct cs_colmetrics *c)
{
    double noise = c->has_stats && c->values > 0 ? c->sd / sqrt((double)c->values) : 0;
    const struct cs_colmetrics *prev = h->nruns ? find_metrics(&h->runs[h->nruns - 1], c->column) : NULL;
    if (prev != NULL && prev->has_stats && prev->values > 0 && prev->sd / sqrt((double)prev->values) > noise)
        noise = prev->sd / sqrt((double)prev->values);
    return noise;
}

static int check_column(struct cs_run *run, const struct cs_tableconf *tc, const char *table,
                        const struct cs_metric_history *h, const struct cs_colmetrics *c, double *past, int *flagged)
{
    struct cs_driftconf dc;
    cs_drift_effective(tc, c->column, &dc);
    unsigned want = wanted(c, &dc);
    for (size_t m = 0; m < NMETRICS; m++) {
        double value;
        struct cs_drift_verdict v;
        if (!(want & METRICS[m].bit) || !metric_value(c, m, &value))
            continue;
        size_t n = series(h, c->column, m, past, flagged);
        struct cs_drift_metric kind = {.ratio = METRICS[m].ratio, .relative = METRICS[m].relative};
        if (METRICS[m].sampled)
            kind.noise = sampling_noise(h, c);
        cs_drift_judge(past, flagged, n, value, &kind, &dc, &v);
        if (v.flagged && emit(run, tc, table, c, m, value, &dc, &v) != 0)
            return CS_ENOMEM;
    }
    return 0;
}

/* Runs to load: enough for every window even when many earlier points were flagged. */
static size_t history_runs(const struct cs_tableconf *tc)
{
    int w = tc != NULL && tc->drift.set ? tc->drift.window : CS_DRIFT_DEFAULT_WINDOW;
    for (size_t i = 0; tc != NULL && i < tc->ncols; i++)
        if (tc->cols[i].drift.set && tc->cols[i].drift.window > w)
            w = tc->cols[i].drift.window;
    return (size_t)w * 4 + 1;
}

int cs_drift_check(struct cs_store *st, const struct cs_config *cfg, struct cs_run *run, struct cs_err *err)
{
    if (run->scope != CS_SCOPE_TABLE || run->nmetrics == 0)
        return 0;
    const char *table = run->ntables > 0 ? run->tables[0].table : run->table;
    const struct cs_tableconf *tc = cs_config_table(cfg, table);
    struct cs_metric_history h;
    size_t max_runs = history_runs(tc);
    int rc = cs_store_metric_history(st, table, max_runs, &h, err);
    if (rc != 0)
        return cs_err_prefix(err, "drift of %s: ", table);
    double *past = calloc(h.nruns + 1, sizeof(double));
    int *flagged = calloc(h.nruns + 1, sizeof(int));
    if (past == NULL || flagged == NULL)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < run->nmetrics; i++)
        if (check_column(run, tc, table, &h, &run->metrics[i], past, flagged) != 0)
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    free(past);
    free(flagged);
    cs_metric_history_free(&h);
    return rc;
}
