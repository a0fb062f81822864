/*
** metrics.c -- per-column metrics of a whole-table scan.  See metrics.h.
**
** Each column keeps its missing count and one stats.h accumulator of its
** non-missing cells: doubles for DOUBLE columns (usable values only), exact
** int64 for INT64 columns (so keys beyond 2^53 are not confused), 64-bit
** FNV-1a hashes for text.  The accumulator brings the Welford moments,
** min and max, the count of negatives, the quantiles (selected, not
** sorted) and the distinct count behind "duplicates"; its values live in
** the run's budget and spill with everything else.
*/
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/common.h"
#include "err.h"
#include "stats.h"

struct colacc {
    const struct cs_column_info *info;
    uint64_t nulls;
    struct cs_stats *vals;
};

struct cs_metrics_acc {
    size_t ncols;
    uint64_t rows;
    struct colacc *cols;
};

static int kind_of(int type)
{
    return type == CS_TYPE_DOUBLE ? CS_STATS_F64 : type == CS_TYPE_INT64 ? CS_STATS_I64 : CS_STATS_WORD;
}

struct cs_metrics_acc *cs_metrics_acc_new(size_t ncols, const struct cs_column_info *infos,
                                          struct cs_stats_budget *budget)
{
    struct cs_metrics_acc *a = calloc(1, sizeof(*a));
    if (a == NULL || (a->cols = calloc(ncols + 1, sizeof(*a->cols))) == NULL) {
        free(a);
        return NULL;
    }
    a->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        struct cs_stats_opts o = {.kind = kind_of(infos[i].type), .budget = budget};
        a->cols[i].info = &infos[i];
        if ((a->cols[i].vals = cs_stats_open(&o)) == NULL) {
            cs_metrics_acc_free(a);
            return NULL;
        }
    }
    return a;
}

void cs_metrics_acc_free(struct cs_metrics_acc *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->ncols; i++)
        cs_stats_free(a->cols[i].vals);
    free(a->cols);
    free(a);
}

void cs_metrics_free(struct cs_colmetrics *m, size_t n)
{
    for (size_t i = 0; m != NULL && i < n; i++)
        free(m[i].column);
    free(m);
}

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* One non-NULL cell: returns 1 when it counts as missing, 0 when stored, <0 when it could not be stored. */
static int add_cell(struct colacc *c, const struct cs_column *col, size_t row)
{
    const struct cs_column_policy *p = c->info->policy;
    switch (col->type) {
    case CS_TYPE_DOUBLE: {
        double v = col->f64[row];
        return !cs_stats_usable(v, p) ? 1 : cs_stats_push(c->vals, v, CS_KEYREF_NONE);
    }
    case CS_TYPE_INT64: {
        int64_t v = col->i64[row];
        return !cs_stats_usable((double)v, p) ? 1 : cs_stats_push_i64(c->vals, v);
    }
    default: {
        const char *s = col->text[row];
        size_t len = col->text_len[row];
        if (p != NULL && ((p->empty_is_missing && plug_is_blank(s, len)) || plug_is_text_sentinel(p, s, len)))
            return 1;
        return cs_stats_push_word(c->vals, fnv1a(s, len));
    }
    }
}

static int failed(const struct colacc *c, const char *doing, int rc, struct cs_err *err)
{
    const char *why = cs_stats_error(c->vals);
    return cs_err_set(err, rc, "%s the metrics of %s: %s", doing, c->info->name, why != NULL ? why : "out of memory");
}

int cs_metrics_acc_add(struct cs_metrics_acc *a, const struct cs_batch *b, struct cs_err *err)
{
    size_t ncols = b->ncols < a->ncols ? b->ncols : a->ncols;
    for (size_t i = 0; i < ncols; i++) {
        struct colacc *c = &a->cols[i];
        const struct cs_column *col = &b->cols[i];
        for (size_t row = 0; row < b->nrows; row++) {
            int r = col->nulls[row] != 0 ? 1 : add_cell(c, col, row);
            if (r < 0)
                return failed(c, "collecting", r, err);
            c->nulls += (uint64_t)r;
        }
    }
    a->rows += b->nrows;
    return 0;
}

/* Distinct cells give the duplicates; the profile gives the rest. */
static int finish_column(struct colacc *c, struct cs_colmetrics *m)
{
    uint64_t distinct;
    struct cs_profile p;
    int rc = cs_stats_distinct(c->vals, &distinct);
    if (rc != 0)
        return rc;
    m->duplicates = cs_stats_count(c->vals) - distinct;
    m->negatives = c->info->type == CS_TYPE_TEXT ? 0 : cs_stats_negatives(c->vals);
    if (c->info->type == CS_TYPE_TEXT || cs_stats_count(c->vals) == 0)
        return 0;
    if ((rc = cs_stats_profile(c->vals, &p)) != 0)
        return rc;
    m->has_stats = 1;
    m->values = p.count;
    m->mean = p.mean;
    m->sd = p.sd;
    m->min = p.min;
    m->max = p.max;
    m->q1 = p.q1;
    m->median = p.median;
    m->q3 = p.q3;
    return 0;
}

int cs_metrics_acc_finish(struct cs_metrics_acc *a, struct cs_colmetrics **out, size_t *n, struct cs_err *err)
{
    struct cs_colmetrics *m = calloc(a->ncols + 1, sizeof(*m));
    *out = NULL;
    *n = 0;
    if (m == NULL || (m[0].column = strdup("*")) == NULL) {
        free(m);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    m[0].rows = a->rows;
    for (size_t i = 0; i < a->ncols; i++) {
        struct colacc *c = &a->cols[i];
        struct cs_colmetrics *cm = &m[i + 1];
        int rc = (cm->column = strdup(c->info->name)) == NULL ? CS_ENOMEM : finish_column(c, cm);
        if (rc != 0) {
            cs_metrics_free(m, i + 1);
            return failed(c, "computing", rc, err);
        }
        cm->type = c->info->type;
        cm->is_key = c->info->is_key;
        cm->rows = a->rows;
        cm->nulls = c->nulls;
        cm->has_counts = 1;
        cs_stats_free(c->vals); /* summarised: its memory (and spill file) can go now */
        c->vals = NULL;
    }
    *out = m;
    *n = a->ncols + 1;
    return 0;
}
