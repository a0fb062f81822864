/*
** metrics.c -- per-column metrics of a whole-table scan.  See metrics.h.
**
** Each column keeps streaming counters (rows, missing, negatives; Welford
** mean and M2; min, max) and one growable array of its non-missing cells:
** doubles for DOUBLE columns (usable values only), int64 for INT64 columns
** (exact, so keys beyond 2^53 are not confused), 64-bit FNV-1a hashes for
** text.  finish sorts each array once and reads the duplicate count (equal
** neighbours) and the quantiles off it.
*/
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "stats.h"

struct colacc {
    const struct cs_column_info *info;
    uint64_t nulls, negatives;
    double mean, m2, min, max;
    uint64_t nusable;   /* numeric values in mean/m2 */
    void *vals;         /* double / int64_t / uint64_t by type */
    size_t n, cap;
};

struct cs_metrics_acc {
    size_t ncols;
    uint64_t rows;
    struct colacc *cols;
};

struct cs_metrics_acc *cs_metrics_acc_new(size_t ncols, const struct cs_column_info *infos)
{
    struct cs_metrics_acc *a = calloc(1, sizeof(*a));
    if (a == NULL || (a->cols = calloc(ncols + 1, sizeof(*a->cols))) == NULL) {
        free(a);
        return NULL;
    }
    a->ncols = ncols;
    for (size_t i = 0; i < ncols; i++)
        a->cols[i].info = &infos[i];
    return a;
}

void cs_metrics_acc_free(struct cs_metrics_acc *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->ncols; i++)
        free(a->cols[i].vals);
    free(a->cols);
    free(a);
}

void cs_metrics_free(struct cs_colmetrics *m, size_t n)
{
    for (size_t i = 0; m != NULL && i < n; i++)
        free(m[i].column);
    free(m);
}

/* All three value kinds are 8 bytes wide, so one growth routine serves. */
static int push8(struct colacc *c, const void *v)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        void *nv = realloc(c->vals, cap * 8);
        if (nv == NULL)
            return CS_ENOMEM;
        c->vals = nv;
        c->cap = cap;
    }
    memcpy((char *)c->vals + c->n * 8, v, 8);
    c->n++;
    return 0;
}

static int is_text_sentinel(const struct cs_column_policy *p, const char *s, size_t len)
{
    for (size_t i = 0; p != NULL && i < p->n_text_sentinels; i++)
        if (strlen(p->text_sentinels[i]) == len && memcmp(p->text_sentinels[i], s, len) == 0)
            return 1;
    return 0;
}

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' && s[i] != '\f' && s[i] != '\v')
            return 0;
    return 1;
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

/* A usable number: Welford update, extremes, sign. */
static void add_number(struct colacc *c, double v)
{
    c->nusable++;
    double d = v - c->mean;
    c->mean += d / (double)c->nusable;
    c->m2 += d * (v - c->mean);
    if (c->nusable == 1 || v < c->min)
        c->min = v;
    if (c->nusable == 1 || v > c->max)
        c->max = v;
    if (v < 0)
        c->negatives++;
}

/* One non-NULL cell: returns 1 when it counts as missing, <0 on ENOMEM. */
static int add_cell(struct colacc *c, const struct cs_column *col, size_t row)
{
    const struct cs_column_policy *p = c->info->policy;
    switch (col->type) {
    case CS_TYPE_DOUBLE: {
        double v = col->f64[row];
        if (!cs_stats_usable(v, p))
            return 1;
        add_number(c, v);
        return push8(c, &v);
    }
    case CS_TYPE_INT64: {
        int64_t v = col->i64[row];
        if (!cs_stats_usable((double)v, p))
            return 1;
        add_number(c, (double)v);
        return push8(c, &v);
    }
    default: {
        const char *s = col->text[row];
        size_t len = col->text_len[row];
        if ((p != NULL && p->empty_is_missing && is_blank(s, len)) || is_text_sentinel(p, s, len))
            return 1;
        uint64_t h = fnv1a(s, len);
        return push8(c, &h);
    }
    }
}

int cs_metrics_acc_add(struct cs_metrics_acc *a, const struct cs_batch *b)
{
    size_t ncols = b->ncols < a->ncols ? b->ncols : a->ncols;
    for (size_t i = 0; i < ncols; i++) {
        struct colacc *c = &a->cols[i];
        const struct cs_column *col = &b->cols[i];
        for (size_t row = 0; row < b->nrows; row++) {
            int r = col->nulls[row] != 0 ? 1 : add_cell(c, col, row);
            if (r < 0)
                return r;
            c->nulls += (uint64_t)r;
        }
    }
    a->rows += b->nrows;
    return 0;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

double cs_metrics_quantile(const double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double pos = (double)(n - 1) * p;
    size_t lo = (size_t)floor(pos);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double t = pos - (double)lo;
    return v[lo] + (v[hi] - v[lo]) * t;
}

/* Sort the column's cells; count equal neighbours; fill quantiles. */
static int finish_column(struct colacc *c, struct cs_colmetrics *m)
{
    int type = c->info->type;
    int (*cmp)(const void *, const void *) = type == CS_TYPE_DOUBLE ? cmp_double : type == CS_TYPE_INT64 ? cmp_i64
                                                                                                         : cmp_u64;
    if (c->n > 1)
        qsort(c->vals, c->n, 8, cmp);
    for (size_t i = 1; i < c->n; i++)
        if (cmp((char *)c->vals + (i - 1) * 8, (char *)c->vals + i * 8) == 0)
            m->duplicates++;
    if (type == CS_TYPE_TEXT || c->nusable == 0)
        return 0;
    double *d = c->vals;
    if (type == CS_TYPE_INT64) { /* in place: an int64 and a double have the same size */
        const int64_t *iv = c->vals;
        for (size_t i = 0; i < c->n; i++) {
            double x = (double)iv[i];
            memcpy(&d[i], &x, sizeof(x));
        }
    }
    m->has_stats = 1;
    m->values = c->nusable;
    m->mean = c->mean;
    m->sd = sqrt(c->m2 / (double)c->nusable);
    m->min = c->min;
    m->max = c->max;
    m->q1 = cs_metrics_quantile(d, c->n, 0.25);
    m->median = cs_metrics_quantile(d, c->n, 0.5);
    m->q3 = cs_metrics_quantile(d, c->n, 0.75);
    return 0;
}

int cs_metrics_acc_finish(struct cs_metrics_acc *a, struct cs_colmetrics **out, size_t *n)
{
    struct cs_colmetrics *m = calloc(a->ncols + 1, sizeof(*m));
    *out = NULL;
    *n = 0;
    if (m == NULL || (m[0].column = strdup("*")) == NULL) {
        free(m);
        return CS_ENOMEM;
    }
    m[0].rows = a->rows;
    for (size_t i = 0; i < a->ncols; i++) {
        struct colacc *c = &a->cols[i];
        struct cs_colmetrics *cm = &m[i + 1];
        if ((cm->column = strdup(c->info->name)) == NULL) {
            cs_metrics_free(m, i + 1);
            return CS_ENOMEM;
        }
        cm->type = c->info->type;
        cm->is_key = c->info->is_key;
        cm->rows = a->rows;
        cm->nulls = c->nulls;
        cm->negatives = c->negatives;
        cm->has_counts = 1;
        finish_column(c, cm);
        free(c->vals); /* sorted and summarised: the memory can go now */
        c->vals = NULL;
        c->n = c->cap = 0;
    }
    *out = m;
    *n = a->ncols + 1;
    return 0;
}
