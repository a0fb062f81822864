/*
** stats.c -- exact column statistics.  See stats.h for the contract.
**
** Storage: values are 8-byte words (a double's bits, an int64, or an opaque
** word) in chunks of CHUNK_WORDS, each charged to the run's budget when it
** is allocated, so no array is ever copied to grow.  When the budget
** refuses a chunk, the accumulator writes all its chunks to a temporary file
** in the budget's spill_dir (an anonymous file from spill.h, so nothing is
** left behind on any exit path), returns them to the budget and keeps one chunk as the
** file's write buffer.  Passes read the file back in READ_WORDS blocks, then
** the chunks still in memory; the order of values means nothing to them.
** Mean and M2 are updated with Welford's recurrence as values arrive, so
** mean and population sd never depend on a pass.
**
** Quantiles without sorting: doubles map to 64-bit keys whose unsigned
** order is the numeric order (sign bit flipped for positives, all bits for
** negatives; -0.0 is stored as +0.0 so equal values have equal keys).  A
** selection keeps, per wanted rank, a key interval known to hold it and the
** count of values below the interval.  Each pass histograms every open
** interval into at most 2^16 equal-width buckets (and tracks the smallest
** and largest key seen in it), then narrows each rank to its bucket; an
** interval of at most COLLECT_MAX values is copied out instead and finished
** with an in-memory quickselect.  Typical columns need two passes, the worst
** case (64 bits, 16 at a time) four plus one.  All wanted ranks share each
** pass.  The results are the order statistics a sort would give, so the
** quantiles (numpy's "linear", pos = (n-1)p, with numpy's lerp) and the MAD
** (the median of |x - median|, selected in the same way over the
** deviations computed on the fly) are bit-identical to sorting.
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
** count_outside counts exactly (one pass) but can only name the offenders
** it kept: at most the EXTREMES lowest and EXTREMES highest values.  Those
** are always the farthest outside, so for max <= EXTREMES the keys returned
** are exactly the most extreme offenders.
**
** Distinct counts (metrics.c) use a hash set of at most PART_MAX words; more
** values are split by hash into partitions counted one pass each.
*/
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "spill.h"

#define CHUNK_WORDS 8192u          /* 64 KiB: the unit of budget and of spill writes */
#define CHUNK_BYTES (CHUNK_WORDS * sizeof(uint64_t))
#define READ_WORDS 131072u         /* 1 MiB reads of a spill file */
#define SPAN 1024u                 /* keys converted at a time inside a pass */
#define HIST_BITS 16u
#define COLLECT_MAX 16384u         /* an interval this small is copied out and quickselected */
#define MAX_RANKS 6u
#define PART_MAX (1u << 20)        /* distinct counting: words per hash-set partition */
#define SIGN (UINT64_C(1) << 63)

struct extreme {
    double v;
    cs_keyref key;
    int owned; /* captured through keyfn, so ours to drop */
};

struct cs_stats {
    int kind;
    uint64_t n, negatives;
    double mean, m2;
    /* storage: chunks[0..nchunks) in memory, the last one holding fill words; the rest in fd */
    uint64_t **chunks;
    size_t nchunks, chunkcap, fill;
    int fd;           /* spill file, -1 while everything is in memory */
    uint64_t nfile;   /* words in the spill file */
    struct cs_stats_budget *budget;
    char err[CS_ERR_MSG];
    /* low: ascending (low[0] is the smallest); high: descending (high[0] is the largest) */
    struct extreme low[CS_STATS_EXTREMES], high[CS_STATS_EXTREMES];
    size_t nlow, nhigh;
    cs_stats_keyfn keyfn;
    cs_stats_dropfn dropfn;
    void *keyctx;
};

static int fail(struct cs_stats *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct cs_stats *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    return CS_ENOMEM;
}

void cs_stats_budget_init(struct cs_stats_budget *b, size_t limit, const char *spill_dir)
{
    b->limit = limit;
    b->spill_dir = spill_dir;
    atomic_init(&b->used, 0);
    atomic_init(&b->peak, 0);
    atomic_init(&b->spills, 0);
}

struct cs_stats *cs_stats_open(const struct cs_stats_opts *o)
{
    struct cs_stats *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->kind = o->kind;
    s->keyfn = o->keyfn;
    s->dropfn = o->dropfn;
    s->keyctx = o->keyctx;
    s->budget = o->budget;
    s->fd = -1;
    return s;
}

struct cs_stats *cs_stats_new(cs_stats_keyfn keyfn, cs_stats_dropfn dropfn, void *keyctx)
{
    struct cs_stats_opts o = {.kind = CS_STATS_F64, .keyfn = keyfn, .dropfn = dropfn, .keyctx = keyctx};
    return cs_stats_open(&o);
}

static void release_chunks(struct cs_stats *s, size_t keep)
{
    for (size_t i = keep; i < s->nchunks; i++) {
        free(s->chunks[i]);
        if (s->budget != NULL)
            s->budget->used -= CHUNK_BYTES;
    }
    s->nchunks = keep < s->nchunks ? keep : s->nchunks;
}

void cs_stats_free(struct cs_stats *s)
{
    if (s == NULL)
        return;
    release_chunks(s, 0);
    free(s->chunks);
    if (s->fd >= 0)
        close(s->fd); /* the file was never linked (or unlinked at once): this removes it */
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

uint64_t cs_stats_count(const struct cs_stats *s)
{
    return s->n;
}

uint64_t cs_stats_negatives(const struct cs_stats *s)
{
    return s->negatives;
}

const char *cs_stats_error(const struct cs_stats *s)
{
    return s != NULL && s->err[0] != '\0' ? s->err : NULL;
}

/* ---- spill file ----------------------------------------------------------- */

static int spill_hint(struct cs_stats *s, const char *what, int e)
{
    return fail(s, "could not %s the spill file for column statistics in %s: %s (set scan.spill_dir to a "
                "writable directory with free space, or raise scan.memory_mb)", what, s->budget->spill_dir,
                strerror(e));
}

/* An anonymous file in spill_dir (spill.h). */
static int spill_open(struct cs_stats *s)
{
    int fd = cs_spill_open(s->budget->spill_dir); /* cs_config_spill_dir: $TMPDIR, else /var/tmp */
    if (fd < 0)
        return spill_hint(s, "create", -fd);
    s->fd = fd;
    s->budget->spills++;
    return 0;
}

static int spill_write(struct cs_stats *s, const uint64_t *w, size_t nwords)
{
    const char *p = (const char *)w;
    size_t left = nwords * sizeof(*w);
    while (left > 0) {
        ssize_t k = pwrite(s->fd, p, left, (off_t)(s->nfile * sizeof(*w) + (nwords * sizeof(*w) - left)));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return spill_hint(s, "write to", k < 0 ? errno : ENOSPC);
        p += k;
        left -= (size_t)k;
    }
    s->nfile += nwords;
    return 0;
}

/* Move every chunk to the file; keep chunks[0] as the write buffer. */
static int spill_all(struct cs_stats *s)
{
    int rc = s->fd < 0 ? spill_open(s) : 0;
    for (size_t i = 0; rc == 0 && i < s->nchunks; i++)
        rc = spill_write(s, s->chunks[i], i + 1 == s->nchunks ? s->fill : CHUNK_WORDS);
    if (rc != 0)
        return rc;
    release_chunks(s, 1);
    s->fill = 0;
    return 0;
}

/* ---- chunks ---------------------------------------------------------------- */

static int budget_allows(const struct cs_stats *s)
{
    const struct cs_stats_budget *b = s->budget;
    return b == NULL || b->used + CHUNK_BYTES <= b->limit || s->nchunks == 0;
}

/* One more chunk held; peak follows with a compare-and-swap, as another thread may charge too. */
static void budget_charge(struct cs_stats_budget *b)
{
    size_t now = atomic_fetch_add(&b->used, CHUNK_BYTES) + CHUNK_BYTES, peak = atomic_load(&b->peak);
    while (now > peak && !atomic_compare_exchange_weak(&b->peak, &peak, now))
        ;
}

static int new_chunk(struct cs_stats *s)
{
    if (s->nchunks == s->chunkcap) {
        size_t cap = s->chunkcap ? s->chunkcap * 2 : 16;
        uint64_t **c = realloc(s->chunks, cap * sizeof(*c));
        if (c == NULL)
            return fail(s, "out of memory");
        s->chunks = c;
        s->chunkcap = cap;
    }
    uint64_t *c = malloc(CHUNK_BYTES);
    if (c == NULL)
        return fail(s, "out of memory");
    s->chunks[s->nchunks++] = c;
    s->fill = 0;
    if (s->budget != NULL)
        budget_charge(s->budget);
    return 0;
}

/* The last chunk is full (or there is none): make room for one more word. */
static int make_room(struct cs_stats *s)
{
    if (s->err[0] != '\0')
        return CS_ENOMEM; /* a failed spill leaves the values incomplete: refuse to go on */
    if (s->fd >= 0) { /* spilled: the one chunk is the write buffer */
        int rc = spill_write(s, s->chunks[0], s->fill);
        if (rc == 0)
            s->fill = 0;
        return rc;
    }
    if (budget_allows(s))
        return new_chunk(s);
    return spill_all(s);
}

static inline int store_word(struct cs_stats *s, uint64_t w)
{
    if (s->nchunks == 0 || s->fill == CHUNK_WORDS) {
        int rc = make_room(s);
        if (rc != 0)
            return rc;
    }
    s->chunks[s->nchunks - 1][s->fill++] = w;
    return 0;
}

/* Call f on every stored word, in blocks: the spill file first, then the chunks in memory. */
typedef void (*span_fn)(void *ctx, const uint64_t *w, size_t n);

static int each_span(struct cs_stats *s, span_fn f, void *ctx)
{
    if (s->nfile > 0) {
        uint64_t *buf = malloc(READ_WORDS * sizeof(*buf));
        if (buf == NULL)
            return fail(s, "out of memory");
        for (uint64_t at = 0; at < s->nfile;) {
            size_t want = s->nfile - at < READ_WORDS ? (size_t)(s->nfile - at) : READ_WORDS;
            ssize_t k = pread(s->fd, buf, want * sizeof(*buf), (off_t)(at * sizeof(*buf)));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0 || k % (ssize_t)sizeof(*buf) != 0) {
                free(buf);
                return spill_hint(s, "read", k < 0 ? errno : EIO);
            }
            f(ctx, buf, (size_t)k / sizeof(*buf));
            at += (uint64_t)k / sizeof(*buf);
        }
        free(buf);
    }
    for (size_t i = 0; i < s->nchunks; i++)
        f(ctx, s->chunks[i], i + 1 == s->nchunks ? s->fill : CHUNK_WORDS);
    return 0;
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

static inline uint64_t f64_word(double v)
{
    uint64_t w;
    memcpy(&w, &v, sizeof(w));
    return w;
}

static inline double word_f64(uint64_t w)
{
    double v;
    memcpy(&v, &w, sizeof(v));
    return v;
}

/* Store v (already finite, -0.0 already made +0.0) as this accumulator's kind; Welford update. */
static inline int append(struct cs_stats *s, double v, uint64_t word)
{
    int rc = store_word(s, word);
    if (rc != 0)
        return rc;
    s->n++;
    s->negatives += v < 0;
    double d = v - s->mean;
    s->mean += d / (double)s->n;
    s->m2 += d * (v - s->mean);
    return 0;
}

int cs_stats_push(struct cs_stats *s, double v, cs_keyref key)
{
    if (!isfinite(v))
        return 0; /* NaN has no rank, inf would break every moment */
    if (s->kind != CS_STATS_F64)
        return CS_EINTERNAL; /* an integer or word store takes cs_stats_push_i64 / _word */
    v += 0.0; /* -0.0 becomes +0.0: equal values get equal keys */
    int rc = append(s, v, f64_word(v));
    if (rc == 0 && (enters_low(s, v) || enters_high(s, v)))
        extremes_add(s, (struct extreme){.v = v, .key = key, .owned = 0});
    return rc;
}

int cs_stats_push_i64(struct cs_stats *s, int64_t i)
{
    double v = (double)i;
    if (s->kind != CS_STATS_I64)
        return s->kind == CS_STATS_F64 ? cs_stats_push(s, v, CS_KEYREF_NONE) : CS_EINTERNAL;
    int rc = append(s, v, (uint64_t)i);
    if (rc == 0 && (enters_low(s, v) || enters_high(s, v)))
        extremes_add(s, (struct extreme){.v = v, .key = CS_KEYREF_NONE, .owned = 0});
    return rc;
}

int cs_stats_push_word(struct cs_stats *s, uint64_t w)
{
    if (s->kind != CS_STATS_WORD)
        return CS_EINTERNAL;
    int rc = store_word(s, w);
    s->n += rc == 0;
    return rc;
}

int cs_stats_add(struct cs_stats *s, const struct cs_batch *b, size_t col, const struct cs_column_policy *pol)
{
    if (b == NULL || col >= b->ncols || s->kind == CS_STATS_WORD)
        return CS_EINTERNAL;
    const struct cs_column *c = &b->cols[col];
    if (c->type != CS_TYPE_INT64 && c->type != CS_TYPE_DOUBLE)
        return 0; /* text has no usable numbers */
    if (s->kind == CS_STATS_I64 && c->type != CS_TYPE_INT64)
        return CS_EINTERNAL; /* an integer store keeps integers only */
    int exact = s->kind == CS_STATS_I64;
    for (size_t row = 0; row < b->nrows; row++) {
        if (c->nulls != NULL && c->nulls[row])
            continue; /* NULL (1) or not of the column's type (2) */
        double v = c->type == CS_TYPE_INT64 ? (double)c->i64[row] : c->f64[row];
        if (!cs_stats_usable(v, pol))
            continue;
        v += 0.0;
        int rc = append(s, v, exact ? (uint64_t)c->i64[row] : f64_word(v));
        if (rc != 0)
            return rc;
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

/* ---- selection ----------------------------------------------------------- */

/* Unsigned order of keys = numeric order of the doubles (finite, no -0.0). */
static inline uint64_t f64_key(double v)
{
    uint64_t b = f64_word(v);
    return (b & SIGN) ? ~b : b | SIGN;
}

static inline double key_f64(uint64_t k)
{
    return word_f64((k & SIGN) ? k & ~SIGN : ~k);
}

/* A pass converts words to keys: the values themselves, or their distance from `centre`. */
struct keying {
    int kind;
    int dev;
    double centre;
};

static void to_keys(const struct keying *kg, const uint64_t *w, size_t n, uint64_t *k)
{
    if (kg->dev && kg->kind == CS_STATS_I64)
        for (size_t i = 0; i < n; i++)
            k[i] = f64_key(fabs((double)(int64_t)w[i] - kg->centre));
    else if (kg->dev)
        for (size_t i = 0; i < n; i++)
            k[i] = f64_key(fabs(word_f64(w[i]) - kg->centre));
    else if (kg->kind == CS_STATS_I64)
        for (size_t i = 0; i < n; i++)
            k[i] = w[i] ^ SIGN;
    else
        for (size_t i = 0; i < n; i++)
            k[i] = (w[i] & SIGN) ? ~w[i] : w[i] | SIGN; /* f64_key of the stored bits */
}

static double key_value(const struct keying *kg, uint64_t k)
{
    return kg->dev || kg->kind != CS_STATS_I64 ? key_f64(k) : (double)(int64_t)(k ^ SIGN);
}

/* One wanted rank: its key lies in [lo, hi], which holds cnt values; base values lie below lo. */
struct target {
    uint64_t rank, base, lo, hi, cnt, key;
    int done;
    size_t group;
};

/* The values of one open interval in this pass: histogrammed, or copied out when few. */
struct group {
    uint64_t lo, hi, kmin, kmax;
    unsigned shift;
    int collect;
    uint64_t *hist; /* (hi - lo) >> shift + 1 buckets */
    uint64_t *buf;
    size_t nbuf, cap;
};

struct selpass {
    struct keying kg;
    struct group g[MAX_RANKS];
    size_t ng;
};

static void select_span(void *ctx, const uint64_t *w, size_t n)
{
    struct selpass *p = ctx;
    uint64_t k[SPAN];
    for (size_t at = 0; at < n; at += SPAN) {
        size_t m = n - at < SPAN ? n - at : SPAN;
        to_keys(&p->kg, w + at, m, k);
        for (size_t j = 0; j < p->ng; j++) {
            struct group *g = &p->g[j];
            uint64_t lo = g->lo, width = g->hi - g->lo;
            if (g->collect) {
                for (size_t i = 0; i < m; i++)
                    if (k[i] - lo <= width && g->nbuf < g->cap)
                        g->buf[g->nbuf++] = k[i];
                continue;
            }
            uint64_t kmin = g->kmin, kmax = g->kmax;
            for (size_t i = 0; i < m; i++) {
                uint64_t d = k[i] - lo;
                if (d > width)
                    continue;
                g->hist[d >> g->shift]++;
                kmin = k[i] < kmin ? k[i] : kmin;
                kmax = k[i] > kmax ? k[i] : kmax;
            }
            g->kmin = kmin;
            g->kmax = kmax;
        }
    }
}

static void swap_k(uint64_t *a, uint64_t *b)
{
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

/*
 * Hoare partition of a[0..n), n > 2, around the median of first, middle and
 * last (put in order first, so both scans stop inside the array and both
 * parts are non-empty).  Returns j: a[0..j] <= pivot <= a[j+1..n).
 */
static size_t partition(uint64_t *a, size_t n)
{
    size_t mid = n / 2, i = 0, j = n - 1;
    if (a[mid] < a[0])
        swap_k(&a[mid], &a[0]);
    if (a[n - 1] < a[mid]) {
        swap_k(&a[n - 1], &a[mid]);
        if (a[mid] < a[0])
            swap_k(&a[mid], &a[0]);
    }
    uint64_t p = a[mid];
    for (;;) {
        while (a[i] < p)
            i++;
        while (p < a[j])
            j--;
        if (i >= j)
            return j;
        swap_k(&a[i], &a[j]);
        i++;
        j--;
    }
}

/* The r-th smallest of a[0..n) (r < n), reordering a: quickselect, then insertion sort of the rest. */
static uint64_t nth_key(uint64_t *a, size_t n, size_t r)
{
    while (n > 16) {
        size_t left = partition(a, n) + 1;
        if (r < left) {
            n = left;
        } else {
            a += left;
            n -= left;
            r -= left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        uint64_t x = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > x; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
    return a[r];
}

static void groups_free(struct selpass *p)
{
    for (size_t j = 0; j < p->ng; j++) {
        free(p->g[j].hist);
        free(p->g[j].buf);
    }
    p->ng = 0;
}

/* Open one group per distinct interval of the targets still open.  0, or CS_ENOMEM. */
static int groups_open(struct selpass *p, struct target *t, size_t nt)
{
    p->ng = 0;
    for (size_t i = 0; i < nt; i++) {
        if (t[i].done)
            continue;
        size_t j = 0;
        while (j < p->ng && !(p->g[j].lo == t[i].lo && p->g[j].hi == t[i].hi))
            j++;
        t[i].group = j;
        if (j < p->ng)
            continue;
        struct group *g = &p->g[p->ng++];
        memset(g, 0, sizeof(*g));
        g->lo = t[i].lo;
        g->hi = t[i].hi;
        g->kmin = UINT64_MAX;
        if ((g->collect = t[i].cnt <= COLLECT_MAX)) {
            g->cap = (size_t)t[i].cnt;
            g->buf = malloc((g->cap ? g->cap : 1) * sizeof(*g->buf));
            if (g->buf == NULL)
                return CS_ENOMEM;
            continue;
        }
        unsigned bits = 64 - (unsigned)__builtin_clzll(g->hi - g->lo); /* hi > lo: a single key is done */
        g->shift = bits > HIST_BITS ? bits - HIST_BITS : 0;
        if ((g->hist = calloc(((g->hi - g->lo) >> g->shift) + 1, sizeof(*g->hist))) == NULL)
            return CS_ENOMEM;
    }
    return 0;
}

/* Narrow a target to the bucket of its group that holds its rank. */
static void narrow(struct target *t, const struct group *g)
{
    uint64_t r = t->rank - t->base, cum = 0;
    if (g->collect) {
        t->key = nth_key(g->buf, g->nbuf, (size_t)r);
        t->done = 1;
        return;
    }
    size_t b = 0;
    while (cum + g->hist[b] <= r)
        cum += g->hist[b++];
    uint64_t width = g->shift == 0 ? 0 : (UINT64_C(1) << g->shift) - 1;
    uint64_t lo = g->lo + ((uint64_t)b << g->shift);
    uint64_t hi = g->hi - lo < width ? g->hi : lo + width;
    t->base += cum;
    t->cnt = g->hist[b];
    t->lo = lo > g->kmin ? lo : g->kmin; /* every key of the group lies in [kmin, kmax] */
    t->hi = hi < g->kmax ? hi : g->kmax;
    if (t->lo == t->hi) {
        t->key = t->lo;
        t->done = 1;
    }
}

/* Keys of the order statistics ranks[0..nr) (each < n) of the keyed values: all ranks share every pass. */
static int select_keys(struct cs_stats *s, const struct keying *kg, const uint64_t *ranks, size_t nr, uint64_t *keys)
{
    struct target t[MAX_RANKS];
    struct selpass p = {.kg = *kg};
    for (size_t i = 0; i < nr; i++)
        t[i] = (struct target){.rank = ranks[i], .lo = 0, .hi = UINT64_MAX, .cnt = s->n};
    for (;;) {
        int rc = groups_open(&p, t, nr);
        if (rc == 0 && p.ng == 0)
            break;
        if (rc == 0)
            rc = each_span(s, select_span, &p);
        if (rc != 0) {
            groups_free(&p);
            return rc == CS_ENOMEM && s->err[0] == '\0' ? fail(s, "out of memory") : rc;
        }
        for (size_t i = 0; i < nr; i++)
            if (!t[i].done)
                narrow(&t[i], &p.g[t[i].group]);
        groups_free(&p);
    }
    for (size_t i = 0; i < nr; i++)
        keys[i] = t[i].key;
    return 0;
}

/* The values at ranks[0..nr). */
static int select_values(struct cs_stats *s, const struct keying *kg, const uint64_t *ranks, size_t nr, double *out)
{
    uint64_t keys[MAX_RANKS];
    int rc = select_keys(s, kg, ranks, nr, keys);
    for (size_t i = 0; rc == 0 && i < nr; i++)
        out[i] = key_value(kg, keys[i]);
    return rc;
}

/* ---- profile ------------------------------------------------------------- */

/* numpy's _lerp: the form it picks for t >= 0.5 keeps lerp(a, b, 1) == b exactly. */
static double lerp(double a, double b, double t)
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

static const double QUANTS[3] = {0.25, 0.5, 0.75};

/* q1, median and q3 of n > 0 values: numpy method="linear" (pos = (n-1)p). */
static int quartiles(struct cs_stats *s, double q[3])
{
    uint64_t ranks[MAX_RANKS];
    double v[MAX_RANKS];
    double frac[3];
    for (int i = 0; i < 3; i++) {
        double pos = (double)(s->n - 1) * QUANTS[i];
        uint64_t lo = (uint64_t)floor(pos);
        ranks[2 * i] = lo;
        ranks[2 * i + 1] = lo + 1 < s->n ? lo + 1 : lo;
        frac[i] = pos - (double)lo;
    }
    struct keying kg = {.kind = s->kind};
    int rc = select_values(s, &kg, ranks, 6, v);
    for (int i = 0; rc == 0 && i < 3; i++)
        q[i] = lerp(v[2 * i], v[2 * i + 1], frac[i]);
    return rc;
}

/* Median of |x - m| over n > 0 values: order statistics (n-1)/2 and, for even n, the next. */
static int mad_of(struct cs_stats *s, double m, double *mad)
{
    uint64_t k = (s->n - 1) / 2, ranks[2] = {k, k + 1};
    double v[2];
    struct keying kg = {.kind = s->kind, .dev = 1, .centre = m};
    int odd = s->n % 2;
    int rc = select_values(s, &kg, ranks, odd ? 1 : 2, v);
    if (rc == 0)
        *mad = odd ? v[0] : lerp(v[0], v[1], 0.5);
    return rc;
}

int cs_stats_moments(struct cs_stats *s, struct cs_profile *out)
{
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    if (s->kind == CS_STATS_WORD)
        return CS_EINTERNAL;
    out->count = s->n;
    if (s->n == 0)
        return 0;
    out->mean = s->mean;
    out->sd = sqrt(s->m2 / (double)s->n);
    out->min = s->low[0].v; /* the extremes sets always hold the smallest and largest */
    out->max = s->high[0].v;
    return 0;
}

int cs_stats_profile(struct cs_stats *s, struct cs_profile *out)
{
    int rc = cs_stats_moments(s, out);
    if (rc != 0 || s->n == 0)
        return rc; /* an empty column profiles as all zeros; callers look at count */
    double q[3];
    if ((rc = quartiles(s, q)) == 0)
        rc = mad_of(s, q[1], &out->mad);
    if (rc != 0)
        return rc;
    out->q1 = q[0];
    out->median = q[1];
    out->q3 = q[2];
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

struct outside {
    int kind;
    double lower, upper;
    uint64_t count;
};

static void outside_span(void *ctx, const uint64_t *w, size_t n)
{
    struct outside *o = ctx;
    uint64_t c = 0;
    if (o->kind == CS_STATS_I64)
        for (size_t i = 0; i < n; i++) {
            double v = (double)(int64_t)w[i];
            c += (v < o->lower) | (v > o->upper);
        }
    else
        for (size_t i = 0; i < n; i++) {
            double v = word_f64(w[i]);
            c += (v < o->lower) | (v > o->upper);
        }
    o->count += c;
}

uint64_t cs_stats_count_outside(struct cs_stats *s, double lower, double upper, cs_keyref *keys, size_t max,
                                size_t *nkeys)
{
    struct outside out = {.kind = s->kind, .lower = lower, .upper = upper};
    if (nkeys != NULL)
        *nkeys = 0;
    if (s->kind == CS_STATS_WORD || each_span(s, outside_span, &out) != 0)
        return 0; /* cs_stats_error says why */
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
    return out.count;
}

/* ---- distinct values ------------------------------------------------------ */

/* splitmix64's finaliser: spreads words (small integers, hashes alike) over the table. */
static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* One partition's hash set: open addressing, 0 marks a free slot (the word 0 is counted aside). */
struct dset {
    uint64_t *slot;
    uint64_t mask, used, parts, part;
    int zero, full;
};

static void distinct_span(void *ctx, const uint64_t *w, size_t n)
{
    struct dset *d = ctx;
    for (size_t i = 0; i < n && !d->full; i++) {
        uint64_t h = mix(w[i]);
        if (d->parts > 1 && (uint64_t)(((unsigned __int128)h * d->parts) >> 64) != d->part)
            continue;
        if (w[i] == 0) {
            d->zero = 1;
            continue;
        }
        uint64_t at = h & d->mask;
        while (d->slot[at] != 0 && d->slot[at] != w[i])
            at = (at + 1) & d->mask;
        if (d->slot[at] == 0) {
            d->slot[at] = w[i];
            d->full = ++d->used > d->mask - d->mask / 8; /* 7/8 full: retry with more partitions */
        }
    }
}

int cs_stats_distinct(struct cs_stats *s, uint64_t *out)
{
    *out = 0;
    if (s->n == 0)
        return 0;
    uint64_t per = s->n < PART_MAX ? s->n : PART_MAX, size = 16;
    while (size < 2 * per)
        size *= 2;
    struct dset d = {.slot = malloc(size * sizeof(uint64_t)), .mask = size - 1, .parts = (s->n + per - 1) / per};
    if (d.slot == NULL)
        return fail(s, "out of memory");
    uint64_t total = 0;
    int rc = 0;
    for (d.part = 0; rc == 0 && d.part < d.parts; d.part++) {
        memset(d.slot, 0, size * sizeof(uint64_t));
        d.used = 0;
        d.zero = d.full = 0;
        rc = each_span(s, distinct_span, &d);
        if (rc == 0 && d.full) { /* an unlucky split: twice the partitions, from the start */
            d.parts *= 2;
            d.part = UINT64_MAX; /* the loop's ++ makes it 0 */
            total = 0;
            continue;
        }
        total += d.used + (uint64_t)d.zero;
    }
    free(d.slot);
    if (rc == 0)
        *out = total;
    return rc;
}
