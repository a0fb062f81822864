/*
** test_stats.c -- core/stats.c against hand-computed statistics.
**
** Expected values follow numpy's definitions (np.mean, np.std with ddof=0,
** np.quantile method="linear", MAD = np.median(abs(x - np.median(x)))),
** worked out by hand in the comments.  Also: what counts as usable, the
** extremes' key capture and release, and the order of count_outside's keys.
** The selection (no sort) is compared bit for bit with a sorted reference
** on random data of many shapes and sizes; a run's budget forced to spill
** must give the same answers, leave no file behind, and fail with a message
** naming the directory when it cannot spill.
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "err.h"
#include "stats.h"
#include "tap.h"

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (1.0 + fabs(b));
}
#define NEAR(a, b) near((a), (b))

/* ---- helpers ------------------------------------------------------------- */

static struct cs_profile profile_of(const double *v, size_t n)
{
    struct cs_profile p;
    struct cs_stats *s = cs_stats_new(NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        cs_stats_push(s, v[i], CS_KEYREF_NONE);
    cs_stats_profile(s, &p);
    cs_stats_free(s);
    return p;
}

/* Key bookkeeping for the capture/release tests: key = row position in the run. */
struct keylog {
    size_t captures, drops, bad_drops;
    uint8_t live[4096];
};

static cs_keyref log_keyfn(void *ctx, const struct cs_batch *b, size_t row)
{
    struct keylog *k = ctx;
    cs_keyref key = (cs_keyref)(b->first_row + row);
    k->captures++;
    k->live[key] = 1;
    return key;
}

static void log_dropfn(void *ctx, cs_keyref key)
{
    struct keylog *k = ctx;
    if (key >= sizeof(k->live) || !k->live[key])
        k->bad_drops++; /* dropped twice, or never captured */
    else
        k->live[key] = 0;
    k->drops++;
}

static size_t live_count(const struct keylog *k)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(k->live); i++)
        n += k->live[i];
    return n;
}

/* A one-column double batch over values[first..first+n). */
struct dbatch {
    struct cs_column col;
    struct cs_batch b;
    uint8_t nulls[4096];
};

static void dbatch_init(struct dbatch *d, const double *values, size_t first, size_t n)
{
    memset(d, 0, sizeof(*d));
    d->col = (struct cs_column){.name = "V", .type = CS_TYPE_DOUBLE, .nulls = d->nulls, .f64 = values + first};
    d->b = (struct cs_batch){.nrows = n, .ncols = 1, .cols = &d->col, .first_row = first};
}

/* Add values[0..n) in batches of `per`, keys captured through k. */
static struct cs_stats *stats_from(const double *values, size_t n, size_t per, struct keylog *k)
{
    struct cs_stats *s = cs_stats_new(log_keyfn, log_dropfn, k);
    struct dbatch d;
    for (size_t first = 0; first < n; first += per) {
        dbatch_init(&d, values, first, n - first < per ? n - first : per);
        cs_stats_add(s, &d.b, 0, NULL);
    }
    return s;
}

/* ---- tests --------------------------------------------------------------- */

static void test_small_profiles(void)
{
    /* [1,2,3,4,10]: mean 4; pop var (9+4+1+0+36)/5 = 10; q at pos 1,2,3 = 2,3,4;
     * |x-3| = 2,1,0,1,7 -> sorted 0,1,1,2,7 -> MAD 1. */
    double a[] = {10, 3, 1, 4, 2};
    struct cs_profile p = profile_of(a, 5);
    ok(p.count == 5 && p.struct_size == sizeof(p), "odd n: count 5, struct_size set");
    ok(NEAR(p.mean, 4) && NEAR(p.sd, sqrt(10.0)), "odd n: mean 4, sd sqrt(10) (got %g, %g)", p.mean, p.sd);
    ok(p.min == 1 && p.max == 10, "odd n: min 1, max 10");
    ok(p.q1 == 2 && p.median == 3 && p.q3 == 4, "odd n: quartiles 2,3,4 (got %g %g %g)", p.q1, p.median, p.q3);
    ok(p.mad == 1, "odd n: MAD 1 (got %g)", p.mad);

    /* [1,2,3,4]: q1 pos .75 -> 1.75, median pos 1.5 -> 2.5, q3 pos 2.25 -> 3.25;
     * var = (2.25+.25+.25+2.25)/4 = 1.25; |x-2.5| = 1.5,.5,.5,1.5 -> MAD (0.5+1.5)/2 = 1. */
    double b[] = {4, 1, 3, 2};
    p = profile_of(b, 4);
    ok(p.q1 == 1.75 && p.median == 2.5 && p.q3 == 3.25, "even n: quartiles 1.75,2.5,3.25 (got %g %g %g)", p.q1,
       p.median, p.q3);
    ok(NEAR(p.mean, 2.5) && NEAR(p.sd, sqrt(1.25)) && p.mad == 1, "even n: mean 2.5, sd sqrt(1.25), MAD 1");

    /* sorted -5,1,2,3,3,7,9,100: q1 pos 1.75 -> 1.75; median pos 3.5 -> 3; q3 pos 5.25 -> 7.5;
     * mean 120/8 = 15; squares of deviations sum to 8378 -> var 1047.25;
     * |x-3| sorted 0,0,1,2,4,6,8,97 -> MAD (2+4)/2 = 3. */
    double c[] = {7, 1, 3, 3, 9, 100, -5, 2};
    p = profile_of(c, 8);
    ok(p.q1 == 1.75 && p.median == 3 && p.q3 == 7.5, "skewed: quartiles 1.75,3,7.5 (got %g %g %g)", p.q1, p.median,
       p.q3);
    ok(NEAR(p.mean, 15) && NEAR(p.sd, sqrt(1047.25)), "skewed: mean 15, sd sqrt(1047.25) (got %g, %g)", p.mean, p.sd);
    ok(p.mad == 3 && p.min == -5 && p.max == 100, "skewed: MAD 3, min -5, max 100 (got MAD %g)", p.mad);
}

static void test_degenerate(void)
{
    struct cs_profile p;
    struct cs_stats *s = cs_stats_new(NULL, NULL, NULL);
    ok(cs_stats_profile(s, &p) == 0 && p.count == 0 && p.mean == 0 && p.sd == 0 && p.mad == 0,
       "n=0: profile succeeds with count 0 and zeros");
    size_t nk = 99;
    cs_keyref keys[4];
    ok(cs_stats_count_outside(s, 0, 1, keys, 4, &nk) == 0 && nk == 0, "n=0: nothing outside, no keys");
    cs_stats_push(s, 42.5, CS_KEYREF_NONE);
    cs_stats_profile(s, &p);
    ok(p.count == 1 && p.mean == 42.5 && p.sd == 0 && p.mad == 0, "n=1: mean is the value, sd 0, MAD 0");
    ok(p.min == 42.5 && p.max == 42.5 && p.q1 == 42.5 && p.median == 42.5 && p.q3 == 42.5,
       "n=1: every quantile is the value");
    /* adding after a profile: the next profile sees everything */
    cs_stats_push(s, 2.5, CS_KEYREF_NONE);
    cs_stats_push(s, NAN, CS_KEYREF_NONE);
    cs_stats_push(s, INFINITY, CS_KEYREF_NONE);
    cs_stats_profile(s, &p);
    ok(p.count == 2 && p.mean == 22.5 && p.sd == 20 && p.median == 22.5,
       "push after profile counts; push ignores NaN and inf (count %llu)", (unsigned long long)p.count);
    cs_stats_free(s);
    cs_stats_free(NULL);
    ok(1, "cs_stats_free(NULL) is harmless");
}

/* Welford and the merge-walk MAD against a naive two-pass / sort-the-deviations computation. */
static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double naive_median(double *v, size_t n)
{
    qsort(v, n, sizeof(double), cmp_d);
    double pos = (double)(n - 1) * 0.5;
    size_t lo = (size_t)pos;
    return lo + 1 < n ? v[lo] + (v[lo + 1] - v[lo]) * (pos - (double)lo) : v[lo];
}

static void test_against_naive(size_t n)
{
    double *v = malloc(n * sizeof(double)), *w = malloc(n * sizeof(double));
    uint64_t x = 88172645463325252ull;
    double sum = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        v[i] = (double)(x % 100000) / 7.0 - 3000.0 + (i % 97 == 0 ? 1e6 : 0);
        sum += v[i];
    }
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - sum / (double)n) * (v[i] - sum / (double)n);
    struct cs_profile p = profile_of(v, n);
    memcpy(w, v, n * sizeof(double));
    double med = naive_median(w, n);
    for (size_t i = 0; i < n; i++)
        w[i] = fabs(v[i] - med);
    double mad = naive_median(w, n);
    ok(NEAR(p.mean, sum / (double)n) && NEAR(p.sd, sqrt(ss / (double)n)), "n=%zu: mean and sd match two-pass", n);
    ok(NEAR(p.median, med) && NEAR(p.mad, mad), "n=%zu: median and MAD match sort-based (%g vs %g)", n, p.mad, mad);
    free(v);
    free(w);
}

/* Input orders that trip naive quicksorts: the quantiles must still match a qsort() reference. */
static void test_sort_patterns(void)
{
    enum { N = 5003 };
    static const char *const names[] = {"ascending", "descending", "all equal", "organ pipe", "few distinct"};
    double *v = malloc(N * sizeof(double)), *w = malloc(N * sizeof(double));
    for (int pat = 0; pat < 5; pat++) {
        for (size_t i = 0; i < N; i++) {
            switch (pat) {
            case 0: v[i] = (double)i; break;
            case 1: v[i] = (double)(N - i); break;
            case 2: v[i] = 7; break;
            case 3: v[i] = (double)(i < N / 2 ? i : N - i); break;
            default: v[i] = (double)((i * 2654435761u) % 3); break;
            }
        }
        struct cs_profile p = profile_of(v, N);
        memcpy(w, v, N * sizeof(double));
        qsort(w, N, sizeof(double), cmp_d);
        /* N - 1 = 5002: q1 at pos 1250.5, median at 2501, q3 at 3751.5 */
        int same = p.min == w[0] && p.max == w[N - 1] && p.median == w[2501] &&
                   near(p.q1, (w[1250] + w[1251]) / 2) && near(p.q3, (w[3751] + w[3752]) / 2);
        ok(same, "%s input: min, max and quartiles match qsort (q1 %g, median %g, q3 %g)", names[pat], p.q1, p.median,
           p.q3);
    }
    free(v);
    free(w);
}

static void test_usable(void)
{
    double sent[] = {365243, -1};
    struct cs_column_policy pol = {.struct_size = sizeof(pol), .n_sentinels = 2, .sentinels = sent};
    ok(cs_stats_usable(1.5, &pol) && cs_stats_usable(-2, &pol) && cs_stats_usable(0, NULL), "plain values usable");
    ok(!cs_stats_usable(NAN, NULL) && !cs_stats_usable(INFINITY, NULL) && !cs_stats_usable(-INFINITY, &pol),
       "NaN and +-inf are not usable");
    ok(!cs_stats_usable(365243, &pol) && !cs_stats_usable(-1, &pol) && cs_stats_usable(365243, NULL),
       "sentinels are not usable under their policy, usable without one");

    /* A batch: rows 0..7 = 1, NULL, invalid(2), NaN, inf, 365243, 3, -inf; int column alike. */
    double f[] = {1, 999, 888, NAN, INFINITY, 365243, 3, -INFINITY};
    int64_t iv[] = {10, 0, 0, 365243, 20, 30, -1, 40};
    uint8_t fn[] = {0, 1, 2, 0, 0, 0, 0, 0}, in[] = {0, 1, 2, 0, 0, 0, 0, 0};
    const char *tx[] = {"1", "2", "3", "4", "5", "6", "7", "8"};
    uint32_t tl[] = {1, 1, 1, 1, 1, 1, 1, 1};
    uint8_t tn[8] = {0};
    struct cs_column cols[] = {
        {.name = "F", .type = CS_TYPE_DOUBLE, .nulls = fn, .f64 = f},
        {.name = "I", .type = CS_TYPE_INT64, .nulls = in, .i64 = iv},
        {.name = "T", .type = CS_TYPE_TEXT, .nulls = tn, .text = tx, .text_len = tl},
    };
    struct cs_batch b = {.nrows = 8, .ncols = 3, .cols = cols};
    struct cs_profile p;
    struct cs_stats *s = cs_stats_new(NULL, NULL, NULL);
    ok(cs_stats_add(s, &b, 0, &pol) == 0, "add double column");
    cs_stats_profile(s, &p);
    ok(p.count == 2 && p.mean == 2 && p.min == 1 && p.max == 3,
       "double column: only 1 and 3 usable (count %llu)", (unsigned long long)p.count);
    cs_stats_free(s);
    s = cs_stats_new(NULL, NULL, NULL);
    cs_stats_add(s, &b, 1, &pol);
    cs_stats_profile(s, &p);
    ok(p.count == 4 && p.mean == 25 && p.min == 10 && p.max == 40,
       "int column: NULL, invalid, 365243 and -1 (sentinels) skipped (count %llu)", (unsigned long long)p.count);
    ok(cs_stats_add(s, &b, 2, &pol) == 0 && cs_stats_profile(s, &p) == 0 && p.count == 4,
       "text column adds nothing");
    ok(cs_stats_add(s, &b, 3, &pol) != 0, "column index out of range is an error");
    cs_stats_free(s);
}

/* Values v[r] = a permutation of 0..n-1 (multiplicative, so every region of the run holds extremes). */
static void permutation(double *v, size_t *pos_of, size_t n, size_t mult)
{
    for (size_t r = 0; r < n; r++) {
        size_t val = (r * mult + 17) % n;
        v[r] = (double)val;
        pos_of[val] = r;
    }
}

static void test_extremes_keys(void)
{
    enum { N = 1000 };
    static double v[N];
    static size_t pos_of[N];
    permutation(v, pos_of, N, 7919);
    struct keylog *k = calloc(1, sizeof(*k));
    struct cs_stats *s = stats_from(v, N, 128, k);
    ok(k->captures < N / 2, "keys captured only on entering the extremes (%zu captures for %d values)", k->captures,
       N);
    ok(k->bad_drops == 0, "every dropped key was captured and dropped once");
    ok(k->captures - k->drops == 2 * CS_STATS_EXTREMES && live_count(k) == 2 * CS_STATS_EXTREMES,
       "drops = captures - kept (%zu - %zu = 20)", k->captures, k->drops);

    /* Outside [5, 990]: values 0..4 (distance 5..1) and 991..999 (distance 1..9): 14 in all.
     * Farthest first, ties low before high: 999 998 997 996 0 995 1 994 2 993. */
    cs_keyref keys[20];
    size_t nk = 0;
    ok(cs_stats_count_outside(s, 5, 990, keys, 10, &nk) == 14 && nk == 10, "14 outside [5, 990], 10 keys");
    const double want[] = {999, 998, 997, 996, 0, 995, 1, 994, 2, 993};
    int order = 1;
    for (size_t i = 0; i < 10; i++)
        order &= keys[i] == pos_of[(size_t)want[i]];
    ok(order, "keys come farthest outside first");
    ok(cs_stats_count_outside(s, 500, 500.5, keys, 20, &nk) == N - 1 && nk == 20 && keys[0] == pos_of[0] &&
           keys[1] == pos_of[1] && keys[2] == pos_of[999] && keys[3] == pos_of[2],
       "999 offenders: count exact, keys limited to the 20 kept extremes: 0, 1, 999, 2 (500, 499, 498.5, 498 out)");
    ok(cs_stats_count_outside(s, 500, 500.5, NULL, 20, &nk) == N - 1 && nk == 0, "NULL keys: count only");
    ok(cs_stats_count_outside(s, -1, 1000, keys, 10, &nk) == 0 && nk == 0, "nothing outside [-1, 1000]");
    cs_stats_free(s);
    ok(k->drops + 2 * CS_STATS_EXTREMES == k->captures, "free leaves the kept keys to their owner");
    free(k);

    /* Ascending input: every value enters the high set, so every value is captured once. */
    for (size_t r = 0; r < N; r++)
        v[r] = (double)r;
    k = calloc(1, sizeof(*k));
    s = stats_from(v, N, 100, k);
    ok(k->captures == N && k->drops == N - 2 * CS_STATS_EXTREMES && k->bad_drops == 0,
       "ascending: %zu captures, %zu drops", k->captures, k->drops);
    cs_stats_free(s);
    free(k);
}

/* Fewer than 2*EXTREMES values: one capture can sit in both sets; it is dropped only when it leaves both. */
static void test_shared_keys(void)
{
    double v[15];
    for (size_t r = 0; r < 15; r++)
        v[r] = (double)(r + 1);
    struct keylog *k = calloc(1, sizeof(*k));
    struct cs_stats *s = stats_from(v, 5, 5, k);
    cs_keyref keys[20];
    size_t nk;
    ok(k->captures == 5 && k->drops == 0, "5 values: 5 captures, each held by both sets, none dropped");
    /* lower > upper: every value is both below and above; each key must appear once */
    ok(cs_stats_count_outside(s, 10, 0, keys, 20, &nk) == 5 && nk == 5, "a capture in both sets is named once");
    cs_stats_free(s);
    memset(k, 0, sizeof(*k));
    s = stats_from(v, 15, 4, k);
    /* low keeps 1..10, high keeps 6..15; 1..5 left high but stay in low: no drop */
    ok(k->captures == 15 && k->drops == 0 && live_count(k) == 15, "15 ascending values: 15 live keys, 0 drops");
    cs_stats_free(s);
    free(k);
}

static void test_pushed_keys(void)
{
    struct keylog *k = calloc(1, sizeof(*k));
    struct cs_stats *s = cs_stats_new(log_keyfn, log_dropfn, k);
    for (cs_keyref i = 0; i < 100; i++)
        cs_stats_push(s, (double)i, 1000 + i);
    cs_keyref keys[3];
    size_t nk;
    ok(cs_stats_count_outside(s, 2, 97, keys, 3, &nk) == 4 && nk == 3 && keys[0] == 1000 && keys[1] == 1099 &&
           keys[2] == 1001,
       "pushed keys are returned: 0 and 99 (2 out), then 1 (1 out, low before high)");
    ok(k->captures == 0 && k->drops == 0, "pushed keys are the caller's: keyfn and dropfn never called");
    cs_stats_free(s);
    free(k);
}

/* Moments agree with the full profile and need no sort. */
static void test_moments(void)
{
    struct cs_stats *s = cs_stats_new(NULL, NULL, NULL);
    const double v[] = {5, -2, 9.5, 3, 3, 100, -40, 0.25};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        cs_stats_push(s, v[i], CS_KEYREF_NONE);
    struct cs_profile m, p;
    cs_stats_moments(s, &m);
    cs_stats_profile(s, &p);
    ok(m.count == 8 && m.mean == p.mean && m.sd == p.sd && m.min == -40 && m.max == 100 && m.median == 0,
       "moments: count %llu mean %g sd %g min %g max %g, no quantiles", (unsigned long long)m.count, m.mean, m.sd,
       m.min, m.max);
    cs_stats_free(s);
    s = cs_stats_new(NULL, NULL, NULL);
    cs_stats_moments(s, &m);
    ok(m.count == 0 && m.sd == 0, "moments of nothing are zeros");
    cs_stats_free(s);
}

/* ---- selection against a sorted reference, bit for bit -------------------- */

static double np_lerp(double a, double b, double t)
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

static double ref_quantile(const double *sorted, size_t n, double p)
{
    double pos = (double)(n - 1) * p;
    size_t lo = (size_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    return np_lerp(sorted[lo], sorted[hi], pos - (double)lo);
}

/* The profile a sort gives (min, max, quartiles, MAD), -0.0 counted as +0.0. */
static struct cs_profile ref_profile(const double *v, size_t n)
{
    struct cs_profile p = {.count = n};
    double *w = malloc(n * sizeof(double)), *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        w[i] = v[i] + 0.0;
    qsort(w, n, sizeof(double), cmp_d);
    p.min = w[0];
    p.max = w[n - 1];
    p.q1 = ref_quantile(w, n, 0.25);
    p.median = ref_quantile(w, n, 0.5);
    p.q3 = ref_quantile(w, n, 0.75);
    for (size_t i = 0; i < n; i++)
        d[i] = fabs(w[i] - p.median);
    qsort(d, n, sizeof(double), cmp_d);
    size_t k = (n - 1) / 2;
    p.mad = n % 2 ? d[k] : np_lerp(d[k], d[k + 1], 0.5);
    free(w);
    free(d);
    return p;
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static int same_order_stats(const struct cs_profile *a, const struct cs_profile *b)
{
    return a->count == b->count && same_bits(a->min, b->min) && same_bits(a->max, b->max) &&
           same_bits(a->q1, b->q1) && same_bits(a->median, b->median) && same_bits(a->q3, b->q3) &&
           same_bits(a->mad, b->mad);
}

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* Shapes: wide uniform, few distinct (ties), mixed signs and magnitudes (with -0.0, huge, tiny, subnormal). */
static double shaped(int shape, uint64_t *x)
{
    uint64_t r = rng_next(x);
    static const double odd[] = {-0.0, 0.0, 1e300, -1e300, 1e-300, -1e-300, 5e-324, -5e-324, 1.7976931348623157e308};
    switch (shape) {
    case 0: return (double)(r % 2000001) / 3.0 - 333333.0;
    case 1: return (double)(r % 5) - 2.0;
    default:
        if (r % 7 == 0)
            return odd[(r >> 8) % (sizeof(odd) / sizeof(odd[0]))];
        return ((r >> 11) % 2 ? -1.0 : 1.0) * ldexp((double)((r >> 12) % 1000), (int)((r >> 24) % 200) - 100);
    }
}

static void test_selection_exact(void)
{
    static const size_t sizes[] = {1, 2, 3, 4, 5, 1000, 1001, 16384, 16385, 50001, 200000};
    static const char *const shapes[] = {"uniform", "few distinct", "mixed magnitudes"};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int shape = 0; shape < 3; shape++) {
        int all = 1;
        char where[64] = "";
        for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            size_t n = sizes[si];
            double *v = malloc(n * sizeof(double));
            for (size_t i = 0; i < n; i++)
                v[i] = shaped(shape, &x);
            struct cs_profile ref = ref_profile(v, n), got = profile_of(v, n);
            if (!same_order_stats(&got, &ref) && all) {
                all = 0;
                snprintf(where, sizeof(where), " (first difference at n=%zu)", n);
            }
            free(v);
        }
        ok(all, "%s data, n = 1 .. 200000: min, max, quartiles and MAD bit-identical to sorting%s", shapes[shape],
           where);
    }
    /* -0.0 and +0.0 are one value: the median of {-0, +0, -0} is +0 */
    double z[] = {-0.0, 0.0, -0.0};
    struct cs_profile p = profile_of(z, 3);
    ok(same_bits(p.median, 0.0) && same_bits(p.min, 0.0) && same_bits(p.mad, 0.0), "-0.0 is stored as +0.0");
}

/* ---- budget and spilling ---------------------------------------------------- */

static size_t files_in(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d != NULL)
        closedir(d);
    return n;
}

static struct cs_stats *budget_stats(int kind, struct cs_stats_budget *b)
{
    struct cs_stats_opts o = {.kind = kind, .budget = b};
    return cs_stats_open(&o);
}

static void test_spill_same_answers(void)
{
    enum { N = 300001 };
    char dir[] = "/tmp/cs-spill-test-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return;
    }
    struct cs_stats_budget big, tiny;
    cs_stats_budget_init(&big, (size_t)1 << 30, dir);
    cs_stats_budget_init(&tiny, 100000, dir); /* one 64 KiB chunk fits: every other value is spilled */
    struct cs_stats *mem = budget_stats(CS_STATS_F64, &big), *a = budget_stats(CS_STATS_F64, &tiny),
                    *b = budget_stats(CS_STATS_F64, &tiny);
    uint64_t x = 12345;
    int rc = 0;
    for (size_t i = 0; i < N; i++) {
        double v = shaped(i % 3, &x);
        rc |= cs_stats_push(mem, v, CS_KEYREF_NONE) | cs_stats_push(a, v, CS_KEYREF_NONE) |
              cs_stats_push(b, -v, CS_KEYREF_NONE);
    }
    ok(rc == 0 && tiny.spills == 2 && big.spills == 0, "a 100 kB budget makes both accumulators spill (%u spills)",
       tiny.spills);
    ok(tiny.peak <= 3 * 65536, "the spilling budget held at most its chunk and two write buffers (%zu bytes)",
       tiny.peak);
    ok(files_in(dir) == 0, "spill files are never visible in the directory");
    struct cs_profile pm, pa;
    cs_stats_profile(mem, &pm);
    cs_stats_profile(a, &pa);
    ok(same_order_stats(&pm, &pa) && same_bits(pm.mean, pa.mean) && same_bits(pm.sd, pa.sd),
       "spilled and in-memory profiles are identical (median %g, MAD %g)", pa.median, pa.mad);
    uint64_t cm = cs_stats_count_outside(mem, pm.q1, pm.q3, NULL, 0, NULL);
    uint64_t ca = cs_stats_count_outside(a, pm.q1, pm.q3, NULL, 0, NULL);
    uint64_t dm = 0, da = 0;
    cs_stats_distinct(mem, &dm);
    cs_stats_distinct(a, &da);
    ok(cm == ca && cm > 0 && dm == da && dm > 0, "spilled counts agree: %llu outside, %llu distinct",
       (unsigned long long)ca, (unsigned long long)da);
    ok(cs_stats_error(a) == NULL, "no error after spilling");
    cs_stats_free(mem);
    cs_stats_free(a);
    cs_stats_free(b);
    ok(tiny.used == 0 && big.used == 0, "freeing returns every chunk to the budget");
    ok(files_in(dir) == 0 && rmdir(dir) == 0, "no temporary file is left behind");
}

static void test_spill_failure(void)
{
    struct cs_stats_budget b;
    cs_stats_budget_init(&b, 0, "/nonexistent/creditsense-spill");
    struct cs_stats *s = budget_stats(CS_STATS_F64, &b);
    int rc = 0;
    for (size_t i = 0; i < 100000 && rc == 0; i++)
        rc = cs_stats_push(s, (double)i, CS_KEYREF_NONE);
    const char *why = cs_stats_error(s);
    ok(rc != 0 && why != NULL && strstr(why, "/nonexistent/creditsense-spill") != NULL &&
           strstr(why, "scan.spill_dir") != NULL,
       "an unusable spill directory is an error naming it: %s", why ? why : "(none)");
    ok(cs_stats_push(s, 1.0, CS_KEYREF_NONE) != 0, "and the accumulator refuses further values");
    cs_stats_free(s);
}

/* Integer and word stores: exact distinct counts (2^53 + 1 is not 2^53), quantiles of integers. */
static void test_kinds(void)
{
    struct cs_stats *s = budget_stats(CS_STATS_I64, NULL);
    const int64_t big = INT64_C(9007199254740992);
    int64_t vals[] = {big, big + 1, big + 1, -5, 7, 7};
    for (size_t i = 0; i < 6; i++)
        cs_stats_push_i64(s, vals[i]);
    uint64_t d = 0;
    struct cs_profile p;
    cs_stats_distinct(s, &d);
    cs_stats_profile(s, &p);
    ok(d == 4 && cs_stats_count(s) == 6 && cs_stats_negatives(s) == 1,
       "int64: 4 distinct of 6 (2^53 and 2^53+1 apart), 1 negative (got %llu)", (unsigned long long)d);
    ok(p.min == -5 && p.max == (double)(big + 1) && p.median == np_lerp(7.0, (double)big, 0.5),
       "int64: quantiles of the double values");
    ok(cs_stats_push(s, 1.5, CS_KEYREF_NONE) != 0, "int64 store refuses a double");
    cs_stats_free(s);
    s = budget_stats(CS_STATS_WORD, NULL);
    for (uint64_t i = 0; i < 2500000; i++)
        cs_stats_push_word(s, (i % 1200000) * 0x9e3779b97f4a7c15ull);
    cs_stats_distinct(s, &d);
    ok(d == 1200000, "words: 1200000 distinct of 2500000 (three hash partitions; got %llu)", (unsigned long long)d);
    ok(cs_stats_profile(s, &p) != 0, "words have no profile");
    cs_stats_free(s);
}

int main(void)
{
    test_moments();
    test_small_profiles();
    test_degenerate();
    test_against_naive(1001);
    test_against_naive(1000);
    test_sort_patterns();
    test_usable();
    test_extremes_keys();
    test_shared_keys();
    test_pushed_keys();
    test_selection_exact();
    test_spill_same_answers();
    test_spill_failure();
    test_kinds();
    return tap_done();
}
