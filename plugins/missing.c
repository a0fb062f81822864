/*
** missing.c -- the "missing" check: values that are absent or stand in
** for absence.
**
** Contract: for every column, each cell falls in at most one kind:
**   null      SQL NULL (nulls[i] == 1)
**   invalid   a value not of the column's type (nulls[i] == 2: text in a
**             numeric column, a fraction in an integer column), or +-inf
**             in a double column (no real amount or day count is infinite)
**   nan       NaN in a double column
**   empty     '' or whitespace only in a text column, when the column's
**             policy says empty_is_missing
**   sentinel  one of the policy's placeholders (365243, "XNA"): reported
**             apart so severity can treat placeholders more gently
** At finish it emits one finding per column and kind with a non-zero count,
** total = rows seen, and up to 10 keys of the first offending rows.  State
** is five counters and ten keys per column, whatever the table size.
*/
#include <float.h>
#include <stdlib.h>

#include "common.h"

enum kind { K_NULL, K_INVALID, K_NAN, K_EMPTY, K_SENTINEL, K_NONE, NKINDS = K_NONE };

static const char *const KIND_NAME[NKINDS] = {"null", "invalid", "nan", "empty", "sentinel"};

struct col_state {
    uint64_t count[NKINDS];
    struct samples samples[NKINDS];
};

struct missing {
    const struct cs_host_api *api;
    void *hctx;
    struct plug_table t;
    uint64_t rows;
    struct col_state *cols;
};

static void missing_destroy(void *state);

static int missing_init(const struct cs_host_api *api, void *hctx, const struct cs_table_info *t, void **state,
                        struct cs_err *err)
{
    int rc = plug_check_init(api, t, state, err);
    if (rc != 0)
        return rc;
    struct missing *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return plug_err(err, PLUG_ENOMEM, "out of memory");
    m->api = api;
    m->hctx = hctx;
    if ((rc = plug_table_copy(&m->t, t, err)) == 0 && (m->cols = calloc(t->ncols + 1, sizeof(*m->cols))) == NULL)
        rc = plug_err(err, PLUG_ENOMEM, "out of memory");
    if (rc != 0) {
        missing_destroy(m); /* *state stays NULL: nothing for the host to destroy */
        return rc;
    }
    *state = m;
    return 0;
}

static void hit(struct missing *m, struct col_state *cs, enum kind k, const struct cs_batch *b, size_t row)
{
    cs->count[k]++;
    samples_take(&cs->samples[k], m->api, m->hctx, b, row);
}

/*
 * One loop per column type, so the per-cell work is a test of the null
 * mark and, where the policy asks for it, of the value: the common cell
 * (present, no sentinels configured) costs one predictable branch.
 */
static void scan_int(struct missing *m, struct col_state *cs, const struct cs_column *c,
                     const struct cs_column_policy *p, const struct cs_batch *b)
{
    for (size_t row = 0; row < b->nrows; row++) {
        if (c->nulls[row])
            hit(m, cs, c->nulls[row] == 1 ? K_NULL : K_INVALID, b, row);
        else if (p->n_sentinels && plug_is_sentinel(p, (double)c->i64[row]))
            hit(m, cs, K_SENTINEL, b, row);
    }
}

static void scan_double(struct missing *m, struct col_state *cs, const struct cs_column *c,
                        const struct cs_column_policy *p, const struct cs_batch *b)
{
    for (size_t row = 0; row < b->nrows; row++) {
        if (c->nulls[row]) {
            hit(m, cs, c->nulls[row] == 1 ? K_NULL : K_INVALID, b, row);
            continue;
        }
        double v = c->f64[row];
        if (!(fabs(v) <= DBL_MAX)) /* NaN or +-inf in one test */
            hit(m, cs, isnan(v) ? K_NAN : K_INVALID, b, row);
        else if (p->n_sentinels && plug_is_sentinel(p, v))
            hit(m, cs, K_SENTINEL, b, row);
    }
}

static void scan_text(struct missing *m, struct col_state *cs, const struct cs_column *c,
                      const struct cs_column_policy *p, const struct cs_batch *b)
{
    int values = p->empty_is_missing || p->n_text_sentinels > 0;
    for (size_t row = 0; row < b->nrows; row++) {
        if (c->nulls[row]) {
            hit(m, cs, c->nulls[row] == 1 ? K_NULL : K_INVALID, b, row);
            continue;
        }
        if (!values)
            continue;
        const char *s = c->text[row];
        size_t len = c->text_len[row];
        if (p->empty_is_missing && plug_is_blank(s, len))
            hit(m, cs, K_EMPTY, b, row);
        else if (plug_is_text_sentinel(p, s, len))
            hit(m, cs, K_SENTINEL, b, row);
    }
}

static int missing_batch(void *state, const struct cs_batch *b, struct cs_err *err)
{
    struct missing *m = state;
    int rc = plug_check_batch(&m->t, b, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < b->ncols; i++) {
        const struct cs_column *c = &b->cols[i];
        const struct cs_column_policy *p = &m->t.cols[i].pol;
        if (c->type == CS_TYPE_INT64)
            scan_int(m, &m->cols[i], c, p, b);
        else if (c->type == CS_TYPE_DOUBLE)
            scan_double(m, &m->cols[i], c, p, b);
        else
            scan_text(m, &m->cols[i], c, p, b);
    }
    m->rows += b->nrows;
    return 0;
}

/* One plain sentence per kind, e.g. "AMT_ANNUITY is missing in 12 of 30000 rows (0.04%)." */
static void message(char *buf, size_t size, enum kind k, const struct plug_col *c, uint64_t n, uint64_t total)
{
    const char *col = c->name;
    char pct[16];
    plug_fmt_pct(pct, sizeof(pct), n, total);
    switch (k) {
    case K_NULL:
        snprintf(buf, size, "%s is missing in %llu of %llu rows (%s).", col, (unsigned long long)n,
                 (unsigned long long)total, pct);
        break;
    case K_INVALID:
        snprintf(buf, size, "%s holds something that is not a valid %s in %llu of %llu rows (%s).", col,
                 c->type == CS_TYPE_INT64 ? "whole number" : c->type == CS_TYPE_DOUBLE ? "number" : "value",
                 (unsigned long long)n, (unsigned long long)total, pct);
        break;
    case K_NAN:
        snprintf(buf, size, "%s is not a number (NaN) in %llu of %llu rows (%s).", col, (unsigned long long)n,
                 (unsigned long long)total, pct);
        break;
    case K_EMPTY:
        snprintf(buf, size, "%s is empty in %llu of %llu rows (%s).", col, (unsigned long long)n,
                 (unsigned long long)total, pct);
        break;
    default:
        snprintf(buf, size, "%s holds a placeholder meaning \"no value\" in %llu of %llu rows (%s).", col,
                 (unsigned long long)n, (unsigned long long)total, pct);
        break;
    }
}

static int missing_finish(void *state, struct cs_err *err)
{
    struct missing *m = state;
    for (size_t i = 0; i < m->t.ncols; i++) {
        const struct col_state *cs = &m->cols[i];
        for (int k = 0; k < NKINDS; k++) {
            if (cs->count[k] == 0)
                continue;
            char msg[512];
            message(msg, sizeof(msg), (enum kind)k, &m->t.cols[i], cs->count[k], m->rows);
            struct cs_finding_in f = {.column = m->t.cols[i].name, .kind = KIND_NAME[k], .count = cs->count[k],
                                      .total = m->rows, .message = msg, .nsamples = cs->samples[k].n,
                                      .samples = cs->samples[k].keys};
            int rc = plug_emit(m->api, m->hctx, &f, err);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static void missing_destroy(void *state)
{
    struct missing *m = state;
    if (m == NULL)
        return;
    plug_table_free(&m->t);
    free(m->cols);
    free(m);
}

static const struct cs_check_plugin missing_plugin = {
    .abi_version = CS_CHECK_ABI_VERSION,
    .struct_size = sizeof(struct cs_check_plugin),
    .name = "missing",
    .description = "NULL, NaN, invalid, empty and placeholder values per column",
    .init = missing_init,
    .batch = missing_batch,
    .finish = missing_finish,
    .destroy = missing_destroy,
};

CS_CHECK_DECLARE(missing_plugin)
