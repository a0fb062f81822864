/*
** negative.c -- the "negative" check: values below zero where the column's
** policy does not allow them.
**
** Contract: every numeric column whose policy has allow_negative == 0 is
** checked, key columns included (a negative id is a broken key, which
** core/severity.c rates critical).  A cell counts when it is a real value
** (not NULL, not invalid, finite: NaN and +-inf are the missing check's
** business) that is not one of the policy's sentinels, and is < 0 (-0.0
** is not negative).  At finish one finding per offending column: kind
** "key" for key columns and "value" otherwise, count = negative cells,
** total = rows seen, up to 10 keys of the first offending rows, and the
** lowest value in the message.  State is O(columns).
*/
#include <stdlib.h>

#include "common.h"

struct col_state {
    int checked;
    uint64_t count;
    double lowest;
    struct samples samples;
};

struct negative {
    const struct cs_host_api *api;
    void *hctx;
    struct plug_table t;
    uint64_t rows;
    struct col_state *cols;
};

static void negative_destroy(void *state);

static int negative_init(const struct cs_host_api *api, void *hctx, const struct cs_table_info *t, void **state,
                         struct cs_err *err)
{
    int rc = plug_check_init(api, t, state, err);
    if (rc != 0)
        return rc;
    struct negative *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return plug_err(err, PLUG_ENOMEM, "out of memory");
    n->api = api;
    n->hctx = hctx;
    if ((rc = plug_table_copy(&n->t, t, err)) == 0 && (n->cols = calloc(t->ncols + 1, sizeof(*n->cols))) == NULL)
        rc = plug_err(err, PLUG_ENOMEM, "out of memory");
    if (rc != 0) {
        negative_destroy(n);
        return rc;
    }
    for (size_t i = 0; i < n->t.ncols; i++)
        n->cols[i].checked = plug_is_numeric(n->t.cols[i].type) && !n->t.cols[i].pol.allow_negative;
    *state = n;
    return 0;
}

static void hit(struct negative *n, struct col_state *cs, double v, const struct cs_batch *b, size_t row)
{
    if (cs->count == 0 || v < cs->lowest)
        cs->lowest = v;
    cs->count++;
    samples_take(&cs->samples, n->api, n->hctx, b, row);
}

/* One loop per type (no per-cell type test): the common cell, present and not negative, costs two
 * predictable branches.  The value is read only when the cell is not NULL or invalid. */
static void scan_column(struct negative *n, const struct cs_batch *b, size_t i)
{
    const struct cs_column *c = &b->cols[i];
    const struct cs_column_policy *p = &n->t.cols[i].pol;
    struct col_state *cs = &n->cols[i];
    if (c->type == CS_TYPE_INT64) {
        for (size_t row = 0; row < b->nrows; row++)
            if (!c->nulls[row] && c->i64[row] < 0 && !plug_is_sentinel(p, (double)c->i64[row]))
                hit(n, cs, (double)c->i64[row], b, row);
        return;
    }
    for (size_t row = 0; row < b->nrows; row++) {
        double v = c->f64[row];
        if (!c->nulls[row] && v < 0 && isfinite(v) && !plug_is_sentinel(p, v))
            hit(n, cs, v, b, row);
    }
}

static int negative_batch(void *state, const struct cs_batch *b, struct cs_err *err)
{
    struct negative *n = state;
    int rc = plug_check_batch(&n->t, b, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < b->ncols; i++)
        if (n->cols[i].checked)
            scan_column(n, b, i);
    n->rows += b->nrows;
    return 0;
}

static int emit_column(struct negative *n, size_t i, struct cs_err *err)
{
    const struct plug_col *col = &n->t.cols[i];
    const struct col_state *cs = &n->cols[i];
    char msg[512], pct[16], low[48];
    plug_fmt_pct(pct, sizeof(pct), cs->count, n->rows);
    plug_fmt_num(low, sizeof(low), cs->lowest);
    snprintf(msg, sizeof(msg), "%s%s is negative in %llu of %llu rows (%s); the lowest value is %s.",
             col->is_key ? "Key column " : "", col->name, (unsigned long long)cs->count, (unsigned long long)n->rows,
             pct, low);
    struct cs_finding_in f = {.column = col->name, .kind = col->is_key ? "key" : "value", .count = cs->count,
                              .total = n->rows, .message = msg, .nsamples = cs->samples.n,
                              .samples = cs->samples.keys};
    return plug_emit(n->api, n->hctx, &f, err);
}

static int negative_finish(void *state, struct cs_err *err)
{
    struct negative *n = state;
    for (size_t i = 0; i < n->t.ncols; i++) {
        if (n->cols[i].count == 0)
            continue;
        int rc = emit_column(n, i, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void negative_destroy(void *state)
{
    struct negative *n = state;
    if (n == NULL)
        return;
    plug_table_free(&n->t);
    free(n->cols);
    free(n);
}

static const struct cs_check_plugin negative_plugin = {
    .abi_version = CS_CHECK_ABI_VERSION,
    .struct_size = sizeof(struct cs_check_plugin),
    .name = "negative",
    .description = "values below zero in numeric columns where the policy does not allow them",
    .init = negative_init,
    .batch = negative_batch,
    .finish = negative_finish,
    .destroy = negative_destroy,
};

CS_CHECK_DECLARE(negative_plugin)
