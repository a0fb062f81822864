/*
** stats.c -- exact column statistics.  See stats.h for the contract.
**
** Layout: every usable value goes into one growable array of doubles
** (8 bytes per value; the array doubles in capacity, so up to 16 bytes per
** value transiently during realloc).  Mean and M2 are updated with Welford's
** recurrence as values arrive, so mean and population sd never depend on
** summation order.  A profile sorts the array in place (the order of values
** means nothing) and reads quantiles off it with numpy's default "linear"
** definition, pos = (n-1)*p.  The MAD needs no second array: on sorted data
** the deviations |x - median| form two increasing runs walking outwards from
** the median, and a merge of the two runs yields their median directly.
**
** Extremes: two sorted arrays of CS_STATS_EXTREMES entries hold the lowest
** and the highest values seen with their keys.  A key is captured through
** keyfn only when its value enters one of the sets, so a table scan captures
** O(EXTREMES * log n) keys on random data rather than one per row.  When an
** entry is pushed out of a set and the other set does not hold the same
** capture, dropfn releases the key.  Keys still in the sets when the
** accumulator is freed are NOT dropped: count_outside hands them out and a
** caller may still be using them; their owner (the host's key store)
** releases them at the end of its pass.  Keys given to cs_stats_push are the
** caller's and are never dropped.
**
** count_outside counts exactly (one scan of the array) but can only name the
** offenders it kept: at most the EXTREMES lowest and EXTREMES highest
** values.  Those are always the farthest outside, so for max <= EXTREMES
** the keys returned are exactly the most extreme offenders.
*/
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define INITIAL_CAP 1024

struct extreme {
    double v;
    cs_keyref key;
    int owned; /* captured through keyfn, so ours to drop */
};

struct cs_stats {
    double *v;
    size_t n, cap;
    int sorted; /* v[] is sorted and nothing was added since */
    double mean, m2;
    /* low: ascending (low[0] is the smallest); high: descending (high[0] is the largest) */
    struct extreme low[CS_STATS_EXTREMES], high[CS_STATS_EXTREMES];
    size_t nlow, nhigh;
    cs_stats_keyfn keyfn;
    cs_stats_dropfn dropfn;
    void *keyctx;
};

struct cs_stats *cs_stats_new(cs_stats_keyfn keyfn, cs_stats_dropfn dropfn, void *keyctx)
{
    struct cs_stats *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->keyfn = keyfn;
    s->dropfn = dropfn;
    s->keyctx = keyctx;
    return s;
}

void cs_stats_free(struct cs_stats *s)
{
    if (s == NULL)
        return;
    free(s->v);
    free(s);
}

int cs_stats_usable(double v, const struct cs_column_policy *pol)
{
    if (!isfinite(v))
        return 0;
    for (size_t i = 0; pol != NULL && i < pol->n_sentinels; i++)
        if (v == pol->sentinels[i])
            return 0;
    return 1;
}

/* ---- extremes ------------------------------------------------------------ */

static int enters_low(const struct cs_stats *s, double v)
{
    return s->nlow < CS_STATS_EXTREMES || v < s->low[s->nlow - 1].v;
}

static int enters_high(const struct cs_stats *s, double v)
{
    return s->nhigh < CS_STATS_EXTREMES || v > s->high[s->nhigh - 1].v;
}

static int set_holds(const struct extreme *set, size_t n, const struct extreme *e)
{
    for (size_t i = 0; i < n; i++)
        if (set[i].owned && set[i].key == e->key)
            return 1;
    return 0;
}

/* An entry left `from`; release its key unless the other set still holds it. */
static void release(struct cs_stats *s, const struct extreme *e, const struct extreme *other, size_t nother)
{
    if (!e->owned || e->key == CS_KEYREF_NONE || s->dropfn == NULL || set_holds(other, nother, e))
        return;
    s->dropfn(s->keyctx, e->key);
}

/*
 * Insert e into a sorted set of at most CS_STATS_EXTREMES entries ordered by
 * `before` (a value goes before another when it is more extreme).  Returns 1
 * and fills *evicted when the set was full and its last entry fell out.
 */
static int set_insert(struct extreme *set, size_t *n, struct extreme e, int ascending, struct extreme *evicted)
{
    int full = *n == CS_STATS_EXTREMES;
    if (full)
        *evicted = set[*n - 1];
    size_t i = full ? *n - 1 : (*n)++;
    /* Strictly more extreme moves ahead; ties keep arrival order. */
    while (i > 0 && (ascending ? e.v < set[i - 1].v : e.v > set[i - 1].v)) {
        set[i] = set[i - 1];
        i--;
    }
    set[i] = e;
    return full;
}

static void extremes_add(struct cs_stats *s, struct extreme e)
{
    struct extreme out = {0}; /* set only when an entry is evicted */
    int low = enters_low(s, e.v), high = enters_high(s, e.v);
    if (low && set_insert(s->low, &s->nlow, e, 1, &out))
        release(s, &out, s->high, s->nhigh);
    if (high && set_insert(s->high, &s->nhigh, e, 0, &out))
        release(s, &out, s->low, s->nlow);
}

/* ---- adding values ------------------------------------------------------- */

static int grow(struct cs_stats *s)
{
    size_t cap = s->cap ? s->cap * 2 : INITIAL_CAP;
    double *v = realloc(s->v, cap * sizeof(*v));
    if (v == NULL)
        return CS_ENOMEM;
    s->v = v;
    s->cap = cap;
    return 0;
}

/* Append v; its extremes entry is made by the caller, who knows how to get a key. */
static int append(struct cs_stats *s, double v)
{
    if (s->n == s->cap && grow(s) != 0)
        return CS_ENOMEM;
    s->v[s->n++] = v;
    s->sorted = 0;
    double d = v - s->mean;
    s->mean += d / (double)s->n;
    s->m2 += d * (v - s->mean);
    return 0;
}

int cs_stats_push(struct cs_stats *s, double v, cs_keyref key)
{
    if (!isfinite(v))
        return 0; /* NaN would break sorting, inf every moment */
    if (append(s, v) != 0)
        return CS_ENOMEM;
    if (enters_low(s, v) || enters_high(s, v))
        extremes_add(s, (struct extreme){.v = v, .key = key, .owned = 0});
    return 0;
}

static double cell_value(const struct cs_column *c, size_t row)
{
    return c->type == CS_TYPE_INT64 ? (double)c->i64[row] : c->f64[row];
}

int cs_stats_add(struct cs_stats *s, const struct cs_batch *b, size_t col, const struct cs_column_policy *pol)
{
    if (b == NULL || col >= b->ncols)
        return CS_EINTERNAL;
    const struct cs_column *c = &b->cols[col];
    if (c->type != CS_TYPE_INT64 && c->type != CS_TYPE_DOUBLE)
        return 0; /* text has no usable numbers */
    for (size_t row = 0; row < b->nrows; row++) {
        if (c->nulls != NULL && c->nulls[row])
            continue; /* NULL (1) or not of the column's type (2) */
        double v = cell_value(c, row);
        if (!cs_stats_usable(v, pol))
            continue;
        if (append(s, v) != 0)
            return CS_ENOMEM;
        if (!enters_low(s, v) && !enters_high(s, v))
            continue;
        struct extreme e = {.v = v, .key = CS_KEYREF_NONE, .owned = 0};
        if (s->keyfn != NULL) {
            e.key = s->keyfn(s->keyctx, b, row);
            e.owned = 1;
        }
        extremes_add(s, e);
    }
    return 0;
}

/* ---- profile ------------------------------------------------------------- */

/*
 * Sorting: an introsort with the comparison inlined, about 3x faster than
 * qsort() with a callback on tens of millions of doubles.  The array holds
 * no NaN (push and add keep finite values only), so < is a total order.
 */
#define SMALL_SORT 16

static void swap_d(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort(double *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double x = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > x; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

static void sift_down(double *a, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && a[child] < a[child + 1])
            child++;
        if (!(a[root] < a[child]))
            return;
        swap_d(&a[root], &a[child]);
    }
}

/* The fallback that bounds the worst case at O(n log n). */
static void heap_sort(double *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n; end-- > 1;) {
        swap_d(&a[0], &a[end]);
        sift_down(a, 0, end);
    }
}

/*
 * Hoare partition around the median of first, middle and last (put in
 * order first, so both scans stop inside the array and both parts are
 * non-empty).  Returns j: a[0..j] <= pivot <= a[j+1..n).
 */
static size_t partition(double *a, size_t n)
{
    size_t mid = n / 2, i = 0, j = n - 1;
    if (a[mid] < a[0])
        swap_d(&a[mid], &a[0]);
    if (a[n - 1] < a[mid]) {
        swap_d(&a[n - 1], &a[mid]);
        if (a[mid] < a[0])
            swap_d(&a[mid], &a[0]);
    }
    double p = a[mid];
    for (;;) {
        while (a[i] < p)
            i++;
        while (p < a[j])
            j--;
        if (i >= j)
            return j;
        swap_d(&a[i], &a[j]);
        i++;
        j--;
    }
}

static void intro_sort(double *a, size_t n, int depth)
{
    while (n > SMALL_SORT) {
        if (depth-- == 0) {
            heap_sort(a, n);
            return;
        }
        size_t left = partition(a, n) + 1;
        /* recurse into the smaller part, loop on the larger: stack depth O(log n) */
        if (left < n - left) {
            intro_sort(a, left, depth);
            a += left;
            n -= left;
        } else {
            intro_sort(a + left, n - left, depth);
            n = left;
        }
    }
    insertion_sort(a, n);
}

static void ensure_sorted(struct cs_stats *s)
{
    int depth = 0;
    for (size_t n = s->n; n > 1; n >>= 1)
        depth += 2;
    if (!s->sorted && s->n > 1)
        intro_sort(s->v, s->n, depth);
    s->sorted = 1;
}

/* numpy's _lerp: the form it picks for t >= 0.5 keeps lerp(a, b, 1) == b exactly. */
static double lerp(double a, double b, double t)
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

/* Quantile p of sorted v[0..n-1], n > 0: numpy method="linear". */
static double quantile(const double *v, size_t n, double p)
{
    double pos = (double)(n - 1) * p;
    size_t lo = (size_t)floor(pos);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return lerp(v[lo], v[hi], pos - (double)lo);
}

/* First index whose value is >= m (n when none). */
static size_t lower_bound(const double *v, size_t n, double m)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < m)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Median of |v[i] - m| for sorted v, n > 0, without a second array.  Left
 * of split r the deviations m - v[i] grow as i falls; from r on, v[j] - m
 * grows with j.  Merging the two runs visits deviations in ascending order;
 * we stop at the one or two order statistics the median needs.
 */
static double mad_sorted(const double *v, size_t n, double m)
{
    size_t r = lower_bound(v, n, m);
    size_t k = (n - 1) / 2, left = r, right = r; /* left: next left index is left-1 */
    double a = 0, b = 0;
    for (size_t idx = 0; idx <= k + 1 && idx < n; idx++) {
        double d;
        if (left > 0 && (right >= n || m - v[left - 1] <= v[right] - m))
            d = m - v[--left];
        else
            d = v[right++] - m;
        if (idx == k)
            a = d;
        else
            b = d;
    }
    return (n % 2) ? a : lerp(a, b, 0.5);
}

int cs_stats_profile(struct cs_stats *s, struct cs_profile *out)
{
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    out->count = s->n;
    if (s->n == 0)
        return 0; /* an empty column profiles as all zeros; callers look at count */
    ensure_sorted(s);
    out->mean = s->mean;
    out->sd = sqrt(s->m2 / (double)s->n);
    out->min = s->v[0];
    out->max = s->v[s->n - 1];
    out->q1 = quantile(s->v, s->n, 0.25);
    out->median = quantile(s->v, s->n, 0.5);
    out->q3 = quantile(s->v, s->n, 0.75);
    out->mad = mad_sorted(s->v, s->n, out->median);
    return 0;
}

int cs_stats_moments(struct cs_stats *s, struct cs_profile *out)
{
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    out->count = s->n;
    if (s->n == 0)
        return 0;
    out->mean = s->mean;
    out->sd = sqrt(s->m2 / (double)s->n);
    out->min = s->low[0].v; /* the extremes sets always hold the smallest and largest */
    out->max = s->high[0].v;
    return 0;
}

/* ---- offenders ----------------------------------------------------------- */

struct offender {
    double dist;
    cs_keyref key;
};

static size_t collect_offenders(const struct cs_stats *s, double lower, double upper, struct offender *o)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nlow; i++)
        if (s->low[i].v < lower && s->low[i].key != CS_KEYREF_NONE)
            o[n++] = (struct offender){lower - s->low[i].v, s->low[i].key};
    for (size_t i = 0; i < s->nhigh; i++) {
        if (!(s->high[i].v > upper) || s->high[i].key == CS_KEYREF_NONE)
            continue;
        int dup = 0; /* the same capture can sit in both sets when few values were seen */
        for (size_t j = 0; j < n && !dup; j++)
            dup = o[j].key == s->high[i].key;
        if (!dup)
            o[n++] = (struct offender){s->high[i].v - upper, s->high[i].key};
    }
    return n;
}

uint64_t cs_stats_count_outside(struct cs_stats *s, double lower, double upper, cs_keyref *keys, size_t max,
                                size_t *nkeys)
{
    uint64_t count = 0;
    for (size_t i = 0; i < s->n; i++)
        count += s->v[i] < lower || s->v[i] > upper;
    struct offender o[2 * CS_STATS_EXTREMES];
    size_t n = collect_offenders(s, lower, upper, o);
    /* Insertion sort, farthest outside first; stable, so ties keep low-then-high order. */
    for (size_t i = 1; i < n; i++) {
        struct offender x = o[i];
        size_t j = i;
        for (; j > 0 && o[j - 1].dist < x.dist; j--)
            o[j] = o[j - 1];
        o[j] = x;
    }
    size_t got = 0;
    for (size_t i = 0; keys != NULL && i < n && got < max; i++)
        keys[got++] = o[i].key;
    if (nkeys != NULL)
        *nkeys = got;
    return count;
}
