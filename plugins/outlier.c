/*
** outlier.c -- the "outlier" check: numeric values far from the bulk of
** their column.
**
** Contract: checked columns are numeric, not keys, with a policy whose
** outlier_method is not OFF.  The accepted range [lower, upper] is, with
** threshold t (the policy's, or the method's default when it is <= 0):
**   zscore  mean -/+ t * sd                         (default t = 3)
**   iqr     q1 - t * (q3 - q1),  q3 + t * (q3 - q1)  (default t = 1.5)
**   mad     median -/+ t * 1.4826 * MAD              (default t = 3.5;
**           1.4826 * MAD estimates sd for normal data, so t reads like a
**           z-score that one wild value cannot inflate)
** A value is judged when it is not NULL, not invalid, finite and not one
** of the policy's sentinels; it is an outlier when outside the range.
**
**   - Table runs: the column's usable values go to the host's stats
**     service (8 bytes a value, within the run's scan.memory_mb and then
**     spilled to disk; see docs/checks.md).  At finish the range
**     comes from the exact profile and stats_count_outside counts the
**     outliers and names the most extreme ones.  A column with fewer than
**     MIN_VALUES usable values is not judged (too few to say what is usual).
**   - Customer runs: the range comes from the table profile the host
**     attaches to the column (column_info.profile), computed at init, and
**     the customer's own values are tested as they arrive; sample keys are
**     the first offending rows.  No profile, or a profile of fewer than
**     MIN_VALUES values: the column is skipped with a debug log line.
**   - A range of zero width (sd, IQR or MAD of 0: most values identical) is
**     skipped: every other value would be flagged, which says nothing.
** One finding per offending column, kind = the method's name, with
** threshold, lower and upper set; total = values judged.
*/
#include <stdlib.h>

#include "common.h"

#define MIN_VALUES 30
#define MAD_TO_SD 1.4826

static const char *const METHOD_NAME[] = {"off", "zscore", "iqr", "mad"};
static const double DEFAULT_THRESHOLD[] = {0, 3.0, 1.5, 3.5};

struct col_state {
    int checked; /* numeric, not a key, method on (and, in customer runs, a usable profile) */
    int method;
    double threshold;
    struct cs_stats *stats; /* table runs */
    double lower, upper;    /* customer runs: fixed at init */
    uint64_t judged, count; /* customer runs */
    double farthest;        /* customer runs: the value farthest outside */
    double farthest_dist;
    struct samples samples; /* customer runs */
};

struct outlier {
    const struct cs_host_api *api;
    void *hctx;
    struct plug_table t;
    struct col_state *cols;
};

static void outlier_destroy(void *state);

/* Why a column was left unjudged: worth a debug line, not a finding. */
static void skipped(const struct outlier *o, const char *column, const char *why)
{
    if (o->api->log != NULL)
        o->api->log(o->hctx, CS_LOG_DEBUG, "%s: not judged for outliers%s: %s", column,
                    o->t.mode == CS_MODE_CUSTOMER ? " in this customer run" : "", why);
}

/*
 * The accepted range of a profile under method/threshold.  Returns 0 and
 * sets *why when the profile cannot judge anything.
 */
static int bounds(const struct cs_profile *p, int method, double thr, double *lo, double *hi, const char **why)
{
    double centre, reach;
    if (p->count < MIN_VALUES) {
        *why = "fewer than 30 usable values";
        return 0;
    }
    switch (method) {
    case CS_OUTLIER_ZSCORE: centre = p->mean, reach = thr * p->sd; break;
    case CS_OUTLIER_IQR: centre = 0, reach = thr * (p->q3 - p->q1); break;
    default: centre = p->median, reach = thr * MAD_TO_SD * p->mad; break;
    }
    if (!(reach > 0) || !isfinite(reach)) {
        *why = "values too uniform (zero spread)";
        return 0;
    }
    *lo = method == CS_OUTLIER_IQR ? p->q1 - reach : centre - reach;
    *hi = method == CS_OUTLIER_IQR ? p->q3 + reach : centre + reach;
    return 1;
}

static int setup_column(struct outlier *o, size_t i, struct cs_err *err)
{
    const struct plug_col *c = &o->t.cols[i];
    struct col_state *cs = &o->cols[i];
    int method = c->pol.outlier_method;
    if (!plug_is_numeric(c->type) || c->is_key || method == CS_OUTLIER_OFF)
        return 0;
    if (method < CS_OUTLIER_ZSCORE || method > CS_OUTLIER_MAD)
        return plug_err(err, PLUG_EFAIL, "column %s: unknown outlier method %d", c->name, method);
    cs->method = method;
    cs->threshold = c->pol.outlier_threshold > 0 && isfinite(c->pol.outlier_threshold) ? c->pol.outlier_threshold
                                                                                      : DEFAULT_THRESHOLD[method];
    if (o->t.mode == CS_MODE_TABLE) {
        if ((cs->stats = o->api->stats_new(o->hctx)) == NULL)
            return plug_err(err, PLUG_ENOMEM, "out of memory");
        cs->checked = 1;
        return 0;
    }
    const char *why = "no table profile was supplied";
    if (c->has_profile && bounds(&c->profile, method, cs->threshold, &cs->lower, &cs->upper, &why))
        cs->checked = 1;
    else
        skipped(o, c->name, why);
    return 0;
}

static int outlier_init(const struct cs_host_api *api, void *hctx, const struct cs_table_info *t, void **state,
                        struct cs_err *err)
{
    int rc = plug_check_init(api, t, state, err);
    if (rc != 0)
        return rc;
    if (t->mode == CS_MODE_TABLE && (!api->stats_new || !api->stats_add || !api->stats_profile ||
                                     !api->stats_count_outside || !api->stats_free))
        return plug_err(err, PLUG_EFAIL, "host lacks the stats services this check needs");
    struct outlier *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return plug_err(err, PLUG_ENOMEM, "out of memory");
    o->api = api;
    o->hctx = hctx;
    if ((rc = plug_table_copy(&o->t, t, err)) == 0 && (o->cols = calloc(t->ncols + 1, sizeof(*o->cols))) == NULL)
        rc = plug_err(err, PLUG_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < o->t.ncols; i++)
        rc = setup_column(o, i, err);
    if (rc != 0) {
        outlier_destroy(o);
        return rc;
    }
    *state = o;
    return 0;
}

/* Customer runs: test each usable value against the table's range. */
static void judge_column(struct outlier *o, const struct cs_batch *b, size_t i)
{
    const struct cs_column *c = &b->cols[i];
    struct col_state *cs = &o->cols[i];
    for (size_t row = 0; row < b->nrows; row++) {
        if (c->nulls[row])
            continue;
        double v = plug_num(c, row);
        if (!isfinite(v) || plug_is_sentinel(&o->t.cols[i].pol, v))
            continue;
        cs->judged++;
        double dist = v < cs->lower ? cs->lower - v : v > cs->upper ? v - cs->upper : 0;
        if (!(dist > 0))
            continue;
        if (cs->count++ == 0 || dist > cs->farthest_dist) {
            cs->farthest = v;
            cs->farthest_dist = dist;
        }
        samples_take(&cs->samples, o->api, o->hctx, b, row);
    }
}

/* The host's reason when it has one (a spill directory that is full or unwritable), else out of memory. */
static int stats_failed(const struct outlier *o, size_t i, const char *doing, struct cs_err *err)
{
    int has = o->api->struct_size >= offsetof(struct cs_host_api, stats_error) + sizeof(void *) &&
              o->api->stats_error != NULL;
    const char *why = has ? o->api->stats_error(o->cols[i].stats) : NULL;
    return plug_err(err, PLUG_ENOMEM, "%s %s: %s", doing, o->t.cols[i].name, why != NULL ? why : "out of memory");
}

static int outlier_batch(void *state, const struct cs_batch *b, struct cs_err *err)
{
    struct outlier *o = state;
    int rc = plug_check_batch(&o->t, b, err);
    for (size_t i = 0; rc == 0 && i < b->ncols; i++) {
        struct col_state *cs = &o->cols[i];
        if (!cs->checked)
            continue;
        if (o->t.mode == CS_MODE_CUSTOMER)
            judge_column(o, b, i);
        else if (o->api->stats_add(cs->stats, b, i, &o->t.cols[i].pol) != 0)
            rc = stats_failed(o, i, "collecting the values of", err);
    }
    return rc;
}

static const char *method_phrase(int method)
{
    switch (method) {
    case CS_OUTLIER_ZSCORE: return "standard deviations from the mean";
    case CS_OUTLIER_IQR: return "interquartile ranges beyond the quartiles";
    default: return "robust standard deviations (from the median absolute deviation) from the median";
    }
}

/* e.g. "AMT_INCOME_TOTAL has 3 of 30000 values (0.01%) outside the usual range 0 to 500000
 * (more than 3 standard deviations from the mean); the most extreme is 117000000." */
static void message(char *buf, size_t size, const struct outlier *o, size_t i, uint64_t count, uint64_t total,
                    double farthest)
{
    const struct col_state *cs = &o->cols[i];
    char pct[16], lo[48], hi[48], far[48], thr[48];
    plug_fmt_pct(pct, sizeof(pct), count, total);
    plug_fmt_num(lo, sizeof(lo), cs->lower);
    plug_fmt_num(hi, sizeof(hi), cs->upper);
    plug_fmt_num(far, sizeof(far), farthest);
    plug_fmt_num(thr, sizeof(thr), cs->threshold);
    snprintf(buf, size, "%s%s has %llu of %llu values (%s) outside the %s range %s to %s (more than %s %s); "
             "the most extreme is %s.",
             o->t.mode == CS_MODE_CUSTOMER ? "This customer's " : "", o->t.cols[i].name, (unsigned long long)count,
             (unsigned long long)total, pct, o->t.mode == CS_MODE_CUSTOMER ? "table's usual" : "usual", lo, hi, thr,
             method_phrase(cs->method), far);
}

static int emit(struct outlier *o, size_t i, uint64_t count, uint64_t total, double farthest, const cs_keyref *keys,
                size_t nkeys, struct cs_err *err)
{
    const struct col_state *cs = &o->cols[i];
    char msg[768];
    message(msg, sizeof(msg), o, i, count, total, farthest);
    struct cs_finding_in f = {.column = o->t.cols[i].name, .kind = METHOD_NAME[cs->method], .count = count,
                              .total = total, .message = msg, .nsamples = nkeys, .samples = keys,
                              .threshold = cs->threshold, .lower = cs->lower, .upper = cs->upper};
    return plug_emit(o->api, o->hctx, &f, err);
}

/* Table runs: profile, range, exact count and the most extreme keys. */
static int finish_table_column(struct outlier *o, size_t i, struct cs_err *err)
{
    struct col_state *cs = &o->cols[i];
    struct cs_profile p;
    const char *why;
    /* A z-score needs no quantiles: skip their passes when the host offers moments alone. */
    int moments = cs->method == CS_OUTLIER_ZSCORE &&
                  o->api->struct_size >= offsetof(struct cs_host_api, stats_moments) + sizeof(void *) &&
                  o->api->stats_moments != NULL;
    if ((moments ? o->api->stats_moments(cs->stats, &p) : o->api->stats_profile(cs->stats, &p)) != 0)
        return stats_failed(o, i, "profiling", err);
    if (!bounds(&p, cs->method, cs->threshold, &cs->lower, &cs->upper, &why)) {
        skipped(o, o->t.cols[i].name, why);
        return 0;
    }
    cs_keyref keys[PLUG_SAMPLES];
    size_t nkeys = 0;
    uint64_t n = o->api->stats_count_outside(cs->stats, cs->lower, cs->upper, keys, PLUG_SAMPLES, &nkeys);
    if (n == 0 && o->api->struct_size >= offsetof(struct cs_host_api, stats_error) + sizeof(void *) &&
        o->api->stats_error != NULL && o->api->stats_error(cs->stats) != NULL)
        return stats_failed(o, i, "counting the outliers of", err);
    if (n == 0)
        return 0;
    double far = cs->lower - p.min >= p.max - cs->upper ? p.min : p.max; /* ties: low first, as the keys */
    return emit(o, i, n, p.count, far, keys, nkeys, err);
}

static int outlier_finish(void *state, struct cs_err *err)
{
    struct outlier *o = state;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < o->t.ncols; i++) {
        struct col_state *cs = &o->cols[i];
        if (!cs->checked)
            continue;
        if (o->t.mode == CS_MODE_TABLE)
            rc = finish_table_column(o, i, err);
        else if (cs->count > 0)
            rc = emit(o, i, cs->count, cs->judged, cs->farthest, cs->samples.keys, cs->samples.n, err);
    }
    return rc;
}

static void outlier_destroy(void *state)
{
    struct outlier *o = state;
    if (o == NULL)
        return;
    for (size_t i = 0; o->cols != NULL && i < o->t.ncols; i++)
        if (o->cols[i].stats != NULL)
            o->api->stats_free(o->cols[i].stats);
    plug_table_free(&o->t);
    free(o->cols);
    free(o);
}

static const struct cs_check_plugin outlier_plugin = {
    .abi_version = CS_CHECK_ABI_VERSION,
    .struct_size = sizeof(struct cs_check_plugin),
    .name = "outlier",
    .description = "numeric values far outside their column's usual range (z-score, IQR or MAD)",
    .init = outlier_init,
    .batch = outlier_batch,
    .finish = outlier_finish,
    .destroy = outlier_destroy,
};

CS_CHECK_DECLARE(outlier_plugin)
