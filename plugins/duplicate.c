/*
** duplicate.c -- the "duplicate" check: repeated primary keys, or repeated
** whole rows when the table has no primary key.
**
** Contract:
**   - With a primary key (npk > 0, one or more columns): kind "key",
**     column = the key's column names joined by ",".  count = rows whose key
**     was already seen earlier in the run; groups = distinct keys seen more
**     than once.  Rows with a NULL or invalid key part are skipped (the
**     missing check reports those).
**   - Without one: kind "row", column "*": the same over all cells of the
**     row, where NULL equals NULL (as in SQL's DISTINCT), -0.0 equals 0.0,
**     and all NaNs are equal.  Two invalid cells (nulls == 2) in the same
**     column compare equal: the source does not hand us their text.
**   - Table and customer runs work alike (a customer run looks at that
**     customer's rows only).  total = rows seen.  Up to 10 sample keys: the
**     key of the first repeat of each of the first 10 duplicated groups.
**
** Memory: one open-addressing hash set of 128-bit fingerprints, 16 bytes a
** slot, kept at most 70 % full, so 23-46 bytes per distinct key (about 70
** while it doubles).  Keys are not stored, only fingerprints: two different
** keys are taken for one if their fingerprints collide.  A fingerprint is
** 128 bits of which one marks "seen more than once", so for n distinct keys
** the probability is about n^2 / 2^128 (3e-21 at a billion rows) -- far
** below the odds of a disk error, so there is no verification pass.
** The fingerprint is not cryptographic: data crafted to collide could hide
** a duplicate, which is not a threat this monitor defends against.
*/
#include <stdlib.h>
#include <sys/mman.h>

#include "common.h"

#define DUP_FLAG (UINT64_C(1) << 63) /* in fp.b: this key has been seen more than once */
#define MIN_SLOTS 1024u
#define HINT_SLOTS_MAX (1u << 21) /* presize from rows_hint up to 32 MB, grow beyond */

/* ---- fingerprints -------------------------------------------------------- */

struct fp {
    uint64_t a, b;
};

static const uint64_t P1 = UINT64_C(0x9E3779B185EBCA87), P2 = UINT64_C(0xC2B2AE3D27D4EB4F),
                      P3 = UINT64_C(0x165667B19E3779F9), P4 = UINT64_C(0x85EBCA77C2B2AE63);

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* Two independent lanes (different multipliers, rotations and seeds), each an xxHash64-style round. */
static inline void fp_word(struct fp *h, uint64_t w)
{
    h->a = rotl(h->a + w * P2, 31) * P1;
    h->b = rotl(h->b ^ (w * P3), 27) * P4 + P2;
}

static inline uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xFF51AFD7ED558CCD);
    k ^= k >> 33;
    k *= UINT64_C(0xC4CEB9FE1A85EC53);
    k ^= k >> 33;
    return k;
}

static void fp_text(struct fp *h, const char *s, size_t len)
{
    fp_word(h, (uint64_t)len); /* the length first, so "ab"+"c" differs from "a"+"bc" */
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, s + i, len - i < 8 ? len - i : 8);
        fp_word(h, w);
    }
}

static uint64_t double_bits(double v)
{
    uint64_t w;
    if (v == 0)
        v = 0.0; /* -0.0 == 0.0 */
    if (isnan(v))
        v = NAN; /* one NaN */
    memcpy(&w, &v, sizeof(w));
    return w;
}

/* Feed one cell, tagged so that NULL, invalid and values never alias. */
static void fp_cell(struct fp *h, const struct cs_column *c, size_t row)
{
    fp_word(h, c->nulls[row] == 0 ? 2 : c->nulls[row] == 1 ? 0 : 1);
    if (c->nulls[row])
        return;
    if (c->type == CS_TYPE_INT64)
        fp_word(h, (uint64_t)c->i64[row]);
    else if (c->type == CS_TYPE_DOUBLE)
        fp_word(h, double_bits(c->f64[row]));
    else
        fp_text(h, c->text[row], c->text_len[row]);
}

static struct fp fp_final(struct fp h)
{
    struct fp out = {fmix64(h.a), fmix64(h.b ^ P3) & ~DUP_FLAG};
    if (out.a == 0 && out.b == 0)
        out.a = 1; /* (0, 0) marks an empty slot */
    return out;
}

/* ---- hash set ------------------------------------------------------------ */

struct fpset {
    struct fp *slot;
    size_t cap, n; /* cap is a power of two */
};

/*
 * Slot arrays of 4 MB and more come straight from mmap (zeroed) with a hint
 * for transparent huge pages: random probes over hundreds of MB otherwise
 * miss the TLB on nearly every access, which costs more than the cache miss
 * itself (measured: 3.0 s to 1.0-1.9 s for 10 M keys).  Smaller ones use calloc.
 */
#define MMAP_BYTES ((size_t)4 << 20)

static struct fp *slots_alloc(size_t cap)
{
    size_t bytes = cap * sizeof(struct fp);
    if (bytes < MMAP_BYTES)
        return calloc(cap, sizeof(struct fp));
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure only costs speed */
#endif
    return p;
}

static void slots_free(struct fp *slot, size_t cap)
{
    if (slot == NULL)
        return;
    if (cap * sizeof(struct fp) < MMAP_BYTES)
        free(slot);
    else
        munmap(slot, cap * sizeof(struct fp));
}

static int fpset_init(struct fpset *s, size_t cap)
{
    s->slot = slots_alloc(cap);
    s->cap = s->slot ? cap : 0;
    s->n = 0;
    return s->slot ? 0 : PLUG_ENOMEM;
}

static int slot_empty(const struct fp *e)
{
    return e->a == 0 && e->b == 0;
}

/* The slot holding f, or the empty slot where it belongs. */
static struct fp *fpset_find(const struct fpset *s, struct fp f)
{
    size_t mask = s->cap - 1, i = (size_t)f.a & mask;
    for (;; i = (i + 1) & mask) {
        struct fp *e = &s->slot[i];
        if (slot_empty(e) || (e->a == f.a && (e->b & ~DUP_FLAG) == f.b))
            return e;
    }
}

/*
 * The set is far bigger than the caches, so nearly every probe is a cache
 * miss.  Work goes in chunks: fingerprints first, then a prefetch of each
 * home slot, then the inserts, so that CHUNK misses are in flight at once
 * instead of one (measured: 4.4 s to 3.0 s for 10 M distinct keys).
 */
#define CHUNK 16

static void fpset_prefetch(const struct fpset *s, const struct fp *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        __builtin_prefetch(&s->slot[(size_t)f[i].a & (s->cap - 1)], 1);
}

static int fpset_grow(struct fpset *s)
{
    struct fpset bigger;
    struct fp chunk[CHUNK];
    size_t n = 0;
    if (fpset_init(&bigger, s->cap * 2) != 0)
        return PLUG_ENOMEM;
    for (size_t i = 0; i <= s->cap; i++) {
        if (i < s->cap && !slot_empty(&s->slot[i]))
            chunk[n++] = s->slot[i];
        if (n < CHUNK && i < s->cap)
            continue;
        fpset_prefetch(&bigger, chunk, n);
        for (size_t k = 0; k < n; k++) {
            struct fp key = {chunk[k].a, chunk[k].b & ~DUP_FLAG};
            *fpset_find(&bigger, key) = chunk[k];
        }
        n = 0;
    }
    bigger.n = s->n;
    slots_free(s->slot, s->cap);
    *s = bigger;
    return 0;
}

/* Room for `more` new entries without passing 70 % load. */
static int fpset_reserve(struct fpset *s, size_t more)
{
    while ((s->n + more) * 10 > s->cap * 7)
        if (fpset_grow(s) != 0)
            return PLUG_ENOMEM;
    return 0;
}

enum seen { SEEN_NEW, SEEN_FIRST_REPEAT, SEEN_AGAIN };

/* Record f (room was reserved); says whether it is new, repeats for the first time, or repeats again. */
static enum seen fpset_add(struct fpset *s, struct fp f)
{
    struct fp *e = fpset_find(s, f);
    if (slot_empty(e)) {
        *e = f;
        s->n++;
        return SEEN_NEW;
    }
    if (e->b & DUP_FLAG)
        return SEEN_AGAIN;
    e->b |= DUP_FLAG;
    return SEEN_FIRST_REPEAT;
}

/* ---- the check ----------------------------------------------------------- */

struct duplicate {
    const struct cs_host_api *api;
    void *hctx;
    struct plug_table t;
    char *column; /* "A,B" for a key, "*" for whole rows */
    struct fpset set;
    uint64_t rows, count, groups;
    struct samples samples;
};

static void duplicate_destroy(void *state);

/* "A,B,C" from the key's column names, or "*" without a key. */
static char *key_column(const struct plug_table *t)
{
    if (t->npk == 0)
        return plug_strdup("*");
    size_t len = 1;
    for (size_t i = 0; i < t->npk; i++)
        len += strlen(t->cols[t->pk[i]].name) + 1;
    char *s = malloc(len);
    if (s == NULL)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < t->npk; i++) {
        if (i > 0)
            strcat(s, ",");
        strcat(s, t->cols[t->pk[i]].name);
    }
    return s;
}

/* Start with room for the expected rows (capped) so that big scans rehash less. */
static size_t initial_slots(uint64_t rows_hint)
{
    uint64_t want = rows_hint / 7 * 10 + 1;
    size_t cap = MIN_SLOTS;
    while (cap < want && cap < HINT_SLOTS_MAX)
        cap *= 2;
    return cap;
}

static int duplicate_init(const struct cs_host_api *api, void *hctx, const struct cs_table_info *t, void **state,
                          struct cs_err *err)
{
    int rc = plug_check_init(api, t, state, err);
    if (rc != 0)
        return rc;
    struct duplicate *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return plug_err(err, PLUG_ENOMEM, "out of memory");
    d->api = api;
    d->hctx = hctx;
    if ((rc = plug_table_copy(&d->t, t, err)) == 0 &&
        ((d->column = key_column(&d->t)) == NULL || fpset_init(&d->set, initial_slots(t->rows_hint)) != 0))
        rc = plug_err(err, PLUG_ENOMEM, "out of memory");
    if (rc != 0) {
        duplicate_destroy(d);
        return rc;
    }
    *state = d;
    return 0;
}

/* Fingerprint of row's key (or whole row); 0 when a key part is NULL or invalid. */
static int row_fp(const struct duplicate *d, const struct cs_batch *b, size_t row, struct fp *out)
{
    struct fp h = {P1, P4};
    if (d->t.npk == 0) {
        for (size_t i = 0; i < b->ncols; i++)
            fp_cell(&h, &b->cols[i], row);
    } else {
        for (size_t i = 0; i < d->t.npk; i++) {
            const struct cs_column *c = &b->cols[d->t.pk[i]];
            if (c->nulls[row])
                return 0;
            fp_cell(&h, c, row);
        }
    }
    *out = fp_final(h);
    return 1;
}

/* Rows [first, first+n) of b, n <= CHUNK: fingerprint, prefetch, insert. */
static int add_chunk(struct duplicate *d, const struct cs_batch *b, size_t first, size_t n)
{
    struct fp f[CHUNK];
    size_t row[CHUNK], m = 0;
    for (size_t r = first; r < first + n; r++)
        if (row_fp(d, b, r, &f[m]))
            row[m++] = r;
    if (fpset_reserve(&d->set, m) != 0)
        return PLUG_ENOMEM;
    fpset_prefetch(&d->set, f, m);
    for (size_t k = 0; k < m; k++) {
        enum seen seen = fpset_add(&d->set, f[k]);
        if (seen == SEEN_NEW)
            continue;
        d->count++;
        if (seen == SEEN_FIRST_REPEAT) {
            d->groups++;
            samples_take(&d->samples, d->api, d->hctx, b, row[k]);
        }
    }
    return 0;
}

static int duplicate_batch(void *state, const struct cs_batch *b, struct cs_err *err)
{
    struct duplicate *d = state;
    int rc = plug_check_batch(&d->t, b, err);
    if (rc != 0)
        return rc;
    for (size_t first = 0; first < b->nrows; first += CHUNK) {
        size_t n = b->nrows - first < CHUNK ? b->nrows - first : CHUNK;
        if (add_chunk(d, b, first, n) != 0)
            return plug_err(err, PLUG_ENOMEM, "out of memory remembering %zu distinct keys of table %s", d->set.n,
                            d->t.name);
    }
    d->rows += b->nrows;
    return 0;
}

static void message(const struct duplicate *d, char *buf, size_t size)
{
    char pct[16];
    unsigned long long n = d->count, total = d->rows, groups = d->groups;
    plug_fmt_pct(pct, sizeof(pct), d->count, d->rows);
    if (d->t.npk == 0)
        snprintf(buf, size, "%llu of %llu rows (%s) are exact copies of an earlier row (%llu distinct rows repeated).",
                 n, total, pct, groups);
    else if (d->t.npk == 1)
        snprintf(buf, size, "%llu values of the key %s appear more than once, so %llu of %llu rows (%s) repeat a key.",
                 groups, d->column, n, total, pct);
    else
        snprintf(buf, size,
                 "%llu combinations of the key columns %s appear more than once, so %llu of %llu rows (%s) repeat a key.",
                 groups, d->column, n, total, pct);
}

static int duplicate_finish(void *state, struct cs_err *err)
{
    struct duplicate *d = state;
    if (d->count == 0)
        return 0;
    char msg[768];
    message(d, msg, sizeof(msg));
    struct cs_finding_in f = {.column = d->column, .kind = d->t.npk ? "key" : "row", .count = d->count,
                              .total = d->rows, .groups = d->groups, .message = msg, .nsamples = d->samples.n,
                              .samples = d->samples.keys};
    return plug_emit(d->api, d->hctx, &f, err);
}

static void duplicate_destroy(void *state)
{
    struct duplicate *d = state;
    if (d == NULL)
        return;
    plug_table_free(&d->t);
    free(d->column);
    slots_free(d->set.slot, d->set.cap);
    free(d);
}

static const struct cs_check_plugin duplicate_plugin = {
    .abi_version = CS_CHECK_ABI_VERSION,
    .struct_size = sizeof(struct cs_check_plugin),
    .name = "duplicate",
    .description = "repeated primary keys, or repeated whole rows in tables without a key",
    .init = duplicate_init,
    .batch = duplicate_batch,
    .finish = duplicate_finish,
    .destroy = duplicate_destroy,
};

CS_CHECK_DECLARE(duplicate_plugin)
