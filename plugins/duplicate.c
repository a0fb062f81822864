/*
** duplicate.c -- the "duplicate" check: repeated primary keys, or repeated
** whole rows when the table has no primary key.
**
** Contract:
**   - With a primary key (npk > 0, one or more columns): kind "key",
**     column = the key's column names joined by ",".  count = rows whose key
**     was already seen earlier in the run; groups = distinct keys seen more
**     than once.  Rows with a NULL or invalid key part are skipped (the
**     missing check reports those).  Key parts compare as values: -0.0
**     equals 0.0 and all NaNs are equal; text compares byte for byte
**     (embedded NUL bytes included).
**   - Without one: kind "row", column "*": the same over all cells of the
**     row, where NULL equals NULL (as in SQL's DISTINCT), -0.0 equals 0.0,
**     and all NaNs are equal.  Two invalid cells (nulls == 2) in the same
**     column compare equal: the source does not hand us their text.
**   - Table and customer runs work alike (a customer run looks at that
**     customer's rows only).  total = rows seen.  Up to 10 sample keys: the
**     key of the first repeat of each of the first 10 duplicated groups.
**
** How repeats are found.  Every distinct key is stored once, encoded, in a
** record arena (8 bytes per numeric part; a 4-byte length and the bytes per
** text part, which keeps ("a","bc") apart from ("ab","c")).  An
** open-addressing table of 8-byte slots points into the arena; a slot holds
** 31 bits of the key's hash (the tag), a "seen more than once" bit and the
** record number.  A key whose tag matches is confirmed by comparing the
** full encoded key, so key counts are exact whatever the hash does:
** collisions cost a comparison, never a wrong answer.
** Whole rows are not stored (memory would grow with row width): the record
** is the row's 128-bit fingerprint, two independent 64-bit lanes over a
** tagged encoding of the cells.  Two different rows are taken for one only
** if both lanes collide, about n^2 / 2^129 for n distinct rows (2e-21 at a
** billion rows).  The hash is not cryptographic: rows crafted to collide
** could hide a duplicate, which is not a threat this monitor defends against.
**
** Speed: each batch is hashed column by column (one type test per column,
** not per cell) into per-batch arrays, then inserted in row order with the
** home slot of a row PREFETCH_AHEAD rows ahead already requested, because
** nearly every probe of a large table misses the caches.  The slot position
** is the top bits of the hash, so doubling the table walks both tables in
** order instead of scattering reads.
**
** Memory (bytes per distinct key): the record (8 per numeric key part;
** 16 for a whole row; for text keys 4 + length per text part plus an 8-byte
** offset) and 11-23 for the slots (8 bytes, kept at most 70 % full), plus
** about 23 more while the table doubles.  A single integer key costs 19-31.
** At most 2^31 slots (about 1.5 billion distinct keys): beyond that a batch
** fails with an out-of-memory error rather than miscounting.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap */
#endif
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "common.h"

#define MIN_BITS 10u        /* 1024 slots */
#define HINT_BITS_MAX 22u   /* presize from rows_hint up to 4 M slots (32 MB), grow beyond */
#define MAX_BITS 31u        /* the slot position comes from the 31-bit tag */
#define TAG_SHIFT 33        /* slot bits 63..33: hash bits 63..33 */
#define DUP_BIT (UINT64_C(1) << 32)
#define REC_MASK UINT64_C(0xFFFFFFFF) /* record number + 1; 0 marks an empty slot */
#define PREFETCH_AHEAD 16

/* ---- hashing ------------------------------------------------------------- */

/* Odd constants from the binary expansions of pi, e and sqrt(2). */
static const uint64_t K1 = UINT64_C(0x243F6A8885A308D3), K2 = UINT64_C(0x13198A2E03707345),
                      K3 = UINT64_C(0xB7E151628AED2A6B), K4 = UINT64_C(0x6A09E667F3BCC909);

__extension__ typedef unsigned __int128 u128;

/* Full 64x64 product folded to 64 bits: every input bit reaches the high output bits. */
static inline uint64_t fold_mul(uint64_t x, uint64_t k)
{
    u128 m = (u128)x * k;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}

/* The next (up to) 8 bytes; a fixed-size copy for whole words, so no call to memcpy. */
static inline uint64_t load_word(const unsigned char *p, size_t n)
{
    uint64_t w = 0;
    if (n >= 8)
        memcpy(&w, p, 8);
    else
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)p[i] << (8 * i);
    return w;
}

/* 64-bit hash of an encoded key (its length is part of the input). */
static uint64_t hash_bytes(const unsigned char *p, size_t len)
{
    uint64_t h = fold_mul(len ^ K3, K1);
    for (size_t i = 0; i < len; i += 8)
        h = fold_mul(h ^ load_word(p + i, len - i), K1);
    h = fold_mul(h ^ (h >> 29), K2);
    return h ^ (h >> 32);
}

/* One 64-bit word into a row fingerprint: two lanes, different seeds and multipliers. */
static inline void lanes_word(uint64_t *fp, uint64_t w)
{
    fp[0] = fold_mul(fp[0] ^ w, K1);
    fp[1] = fold_mul(fp[1] ^ w, K4);
}

static inline uint64_t double_bits(double v)
{
    uint64_t w;
    if (v == 0)
        v = 0.0; /* -0.0 == 0.0 */
    if (isnan(v))
        v = NAN; /* one NaN */
    memcpy(&w, &v, sizeof(w));
    return w;
}

/* ---- key set ------------------------------------------------------------- */

struct keyset {
    uint64_t *slot; /* 1 << bits slots: tag | DUP_BIT | record number + 1 */
    unsigned bits;
    size_t n;       /* distinct keys = records */
    size_t width;   /* bytes per record, or 0: records of varying length */
    unsigned char *rec;
    size_t rec_len, rec_cap;
    uint64_t *off;  /* width 0: record i is rec[off[i] .. off[i+1]) */
    size_t off_cap;
};

/*
 * Arrays of 4 MB and more (slots, records) come straight from mmap with a
 * hint for transparent huge pages, and grow with mremap, which moves page
 * mappings instead of copying bytes.  Two reasons, both measured: random
 * probes over hundreds of MB otherwise miss the TLB on nearly every access,
 * and on virtual machines each 4 KB page fault costs more than filling the
 * page.  Smaller arrays use the C heap.
 */
#define MMAP_BYTES ((size_t)2 << 20) /* one huge page */

static void *big_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure only costs speed */
#endif
    return p;
}

/* Zeroed. */
static void *big_alloc(size_t bytes)
{
    return bytes < MMAP_BYTES ? calloc(1, bytes) : big_map(bytes);
}

static void big_free(void *p, size_t bytes)
{
    if (p == NULL)
        return;
    if (bytes < MMAP_BYTES)
        free(p);
    else
        munmap(p, bytes);
}

/* p (old bytes, may be NULL) with room for bytes, contents kept, the tail not zeroed; NULL: p unchanged. */
static void *big_grow(void *p, size_t old, size_t bytes)
{
    if (bytes < MMAP_BYTES)
        return realloc(p, bytes);
    if (old >= MMAP_BYTES) {
        void *q = mremap(p, old, bytes, MREMAP_MAYMOVE);
        if (q == MAP_FAILED)
            return NULL;
#ifdef MADV_HUGEPAGE
        madvise(q, bytes, MADV_HUGEPAGE);
#endif
        return q;
    }
    void *q = big_map(bytes);
    if (q != NULL && p != NULL) {
        memcpy(q, p, old);
        free(p);
    }
    return q;
}

/* Grow the big array *p (*cap elements of elem bytes) to at least need elements, doubling. */
static int grow_array(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    void *q = big_grow(*p, *cap * elem, c * elem);
    if (q == NULL)
        return PLUG_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static uint64_t *slots_alloc(unsigned bits)
{
    return big_alloc(sizeof(uint64_t) << bits);
}

static void slots_free(uint64_t *slot, unsigned bits)
{
    big_free(slot, sizeof(uint64_t) << bits);
}

/* Grow the heap buffer *p (*cap elements of elem bytes) to at least need elements, doubling. */
static int grow_buffer(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (q == NULL)
        return PLUG_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static int keyset_init(struct keyset *s, unsigned bits, size_t width)
{
    memset(s, 0, sizeof(*s));
    s->width = width;
    s->slot = slots_alloc(bits);
    s->bits = s->slot ? bits : 0;
    if (s->slot == NULL || (width == 0 && grow_array((void **)&s->off, &s->off_cap, 1, sizeof(uint64_t)) != 0))
        return PLUG_ENOMEM;
    if (width == 0)
        s->off[0] = 0;
    return 0;
}

static void keyset_free(struct keyset *s)
{
    slots_free(s->slot, s->bits);
    big_free(s->rec, s->rec_cap);
    big_free(s->off, s->off_cap * sizeof(uint64_t));
}

/* Double the slots.  Positions are hash prefixes, so both arrays are walked in order. */
static int keyset_grow(struct keyset *s)
{
    if (s->bits >= MAX_BITS)
        return PLUG_ENOMEM;
    unsigned bits = s->bits + 1;
    uint64_t *slot = slots_alloc(bits);
    if (slot == NULL)
        return PLUG_ENOMEM;
    size_t mask = ((size_t)1 << bits) - 1;
    for (size_t i = 0; i < (size_t)1 << s->bits; i++) {
        uint64_t e = s->slot[i];
        if (e == 0)
            continue;
        size_t j = (size_t)(e >> TAG_SHIFT) >> (MAX_BITS - bits);
        while (slot[j] != 0)
            j = (j + 1) & mask;
        slot[j] = e;
    }
    slots_free(s->slot, s->bits);
    s->slot = slot;
    s->bits = bits;
    return 0;
}

/* Room for `keys` more keys of `bytes` encoded bytes in all, without passing 70 % load. */
static int keyset_reserve(struct keyset *s, size_t keys, size_t bytes)
{
    while ((s->n + keys) * 10 > ((size_t)7 << s->bits))
        if (keyset_grow(s) != 0)
            return PLUG_ENOMEM;
    if (grow_array((void **)&s->rec, &s->rec_cap, s->rec_len + bytes, 1) != 0)
        return PLUG_ENOMEM;
    if (s->width == 0 && grow_array((void **)&s->off, &s->off_cap, s->n + keys + 1, sizeof(uint64_t)) != 0)
        return PLUG_ENOMEM;
    return 0;
}

/* Bytes equal; the common fixed lengths inline instead of calling memcmp. */
static inline int same_bytes(const unsigned char *a, const unsigned char *b, size_t len)
{
    uint64_t x[2], y[2];
    if (len == 8 || len == 16) {
        memcpy(x, a, len);
        memcpy(y, b, len);
        return x[0] == y[0] && (len == 8 || x[1] == y[1]);
    }
    return memcmp(a, b, len) == 0;
}

static int rec_equal(const struct keyset *s, size_t i, const unsigned char *key, size_t len)
{
    if (s->width != 0)
        return same_bytes(s->rec + i * s->width, key, len);
    return s->off[i + 1] - s->off[i] == len && same_bytes(s->rec + s->off[i], key, len);
}

static void rec_append(struct keyset *s, const unsigned char *key, size_t len)
{
    unsigned char *p = s->rec + s->rec_len;
    if (len == 8)
        memcpy(p, key, 8);
    else if (len == 16)
        memcpy(p, key, 16);
    else
        memcpy(p, key, len);
    s->rec_len += len;
    if (s->width == 0)
        s->off[s->n + 1] = s->rec_len;
    s->n++;
}

static inline void keyset_prefetch(const struct keyset *s, uint64_t h)
{
    __builtin_prefetch(&s->slot[h >> (64 - s->bits)], 1);
}

enum seen { SEEN_NEW, SEEN_FIRST_REPEAT, SEEN_AGAIN };

/* Record the key with hash h (room was reserved); says whether it is new, repeats for the first time, or again. */
static enum seen keyset_add(struct keyset *s, uint64_t h, const unsigned char *key, size_t len)
{
    size_t mask = ((size_t)1 << s->bits) - 1, i = (size_t)(h >> (64 - s->bits));
    uint64_t tag = h >> TAG_SHIFT;
    for (;; i = (i + 1) & mask) {
        uint64_t e = s->slot[i];
        if (e == 0) {
            s->slot[i] = tag << TAG_SHIFT | (uint64_t)(s->n + 1);
            rec_append(s, key, len);
            return SEEN_NEW;
        }
        if ((e >> TAG_SHIFT) == tag && rec_equal(s, (size_t)(e & REC_MASK) - 1, key, len)) {
            if (e & DUP_BIT)
                return SEEN_AGAIN;
            s->slot[i] = e | DUP_BIT;
            return SEEN_FIRST_REPEAT;
        }
    }
}

/* ---- per-batch encoding ---------------------------------------------------- */

/* Work arrays for one batch, grown to the largest batch seen (never per row). */
struct scratch {
    size_t rows;         /* capacity in rows */
    uint64_t *h;         /* hash of row r's key */
    size_t *off;         /* key r is buf[off[r] .. off[r + 1]); equal bounds: row skipped */
    size_t *cur;         /* write position while encoding column by column */
    uint32_t *pat;       /* whole rows: the cell states of the current group of columns */
    unsigned char *buf;  /* encoded keys, or fingerprints (16 bytes a row) */
    size_t buf_cap;
};

static void scratch_free(struct scratch *w)
{
    free(w->h);
    free(w->off);
    free(w->cur);
    free(w->pat);
    free(w->buf);
}

static int scratch_rows(struct scratch *w, size_t rows)
{
    if (rows <= w->rows)
        return 0;
    scratch_free(w);
    memset(w, 0, sizeof(*w));
    w->h = malloc(rows * sizeof(*w->h));
    w->off = malloc((rows + 1) * sizeof(*w->off));
    w->cur = malloc(rows * sizeof(*w->cur));
    w->pat = malloc(rows * sizeof(*w->pat));
    if (!w->h || !w->off || !w->cur || !w->pat)
        return PLUG_ENOMEM;
    w->rows = rows;
    return 0;
}

/* Cell state as a tag: value 0, NULL 1, invalid (any other mark) 2. */
static inline uint32_t cell_tag(uint8_t mark)
{
    return mark == CS_CELL_VALUE ? 0 : mark == CS_CELL_NULL ? 1 : 2;
}

/* One column into every row's fingerprint; NULL and invalid cells feed 0 (their tag tells them apart). */
static void fp_column(uint64_t *fp, const struct cs_column *c, size_t nrows)
{
    const uint8_t *nl = c->nulls;
    switch (c->type) {
    case CS_TYPE_INT64:
        for (size_t r = 0; r < nrows; r++)
            lanes_word(fp + 2 * r, nl[r] ? 0 : (uint64_t)c->i64[r]);
        break;
    case CS_TYPE_DOUBLE:
        for (size_t r = 0; r < nrows; r++)
            lanes_word(fp + 2 * r, nl[r] ? 0 : double_bits(c->f64[r]));
        break;
    default:
        for (size_t r = 0; r < nrows; r++) {
            if (nl[r]) {
                lanes_word(fp + 2 * r, 0);
                continue;
            }
            const unsigned char *s = (const unsigned char *)c->text[r];
            size_t len = c->text_len[r];
            lanes_word(fp + 2 * r, len); /* the length first: "ab"+"c" differs from "a"+"bc" */
            for (size_t i = 0; i < len; i += 8)
                lanes_word(fp + 2 * r, load_word(s + i, len - i));
        }
    }
}

/* Columns per cell-state word: 3^20 < 2^32. */
#define PAT_COLS 20

/* The cell states of the last PAT_COLS columns (base-3 digits) into every row's fingerprint. */
static void fp_states(uint64_t *fp, uint32_t *pat, size_t nrows)
{
    for (size_t r = 0; r < nrows; r++) {
        lanes_word(fp + 2 * r, pat[r]);
        pat[r] = 0;
    }
}

/* Whole rows: the 128-bit fingerprint of each row, 16 bytes a row in w->buf. */
static int fingerprint_rows(struct scratch *w, const struct cs_batch *b)
{
    size_t n = b->nrows;
    if (grow_buffer((void **)&w->buf, &w->buf_cap, 16 * n, 1) != 0)
        return PLUG_ENOMEM;
    uint64_t *fp = (uint64_t *)(void *)w->buf;
    for (size_t r = 0; r < n; r++) {
        fp[2 * r] = K2;
        fp[2 * r + 1] = K3;
        w->pat[r] = 0;
    }
    for (size_t i = 0; i < b->ncols; i++) {
        const uint8_t *nl = b->cols[i].nulls;
        for (size_t r = 0; r < n; r++)
            w->pat[r] = w->pat[r] * 3 + cell_tag(nl[r]);
        fp_column(fp, &b->cols[i], n);
        if ((i + 1) % PAT_COLS == 0 || i + 1 == b->ncols)
            fp_states(fp, w->pat, n);
    }
    for (size_t r = 0; r < n; r++) {
        uint64_t a = fold_mul(fp[2 * r] ^ (fp[2 * r] >> 31), K3), c = fold_mul(fp[2 * r + 1] ^ (fp[2 * r + 1] >> 29), K2);
        fp[2 * r] = a;
        fp[2 * r + 1] = c;
        w->h[r] = a;
        w->off[r] = 16 * r;
    }
    w->off[n] = 16 * n;
    return 0;
}

static size_t part_len(const struct cs_column *c, size_t r)
{
    return c->type == CS_TYPE_TEXT ? 4 + (size_t)c->text_len[r] : 8;
}

/* Key parts of column c, appended at w->cur[r] for every row not skipped. */
static void encode_column(struct scratch *w, const struct cs_column *c, size_t nrows)
{
    const int type = c->type; /* a local, so the compiler can take the switch out of the loop */
    for (size_t r = 0; r < nrows; r++) {
        if (w->cur[r] == w->off[r + 1])
            continue; /* skipped row: a NULL or invalid key part */
        unsigned char *p = w->buf + w->cur[r];
        switch (type) {
        case CS_TYPE_INT64:
            memcpy(p, &c->i64[r], 8);
            w->cur[r] += 8;
            break;
        case CS_TYPE_DOUBLE: {
            uint64_t bits = double_bits(c->f64[r]);
            memcpy(p, &bits, 8);
            w->cur[r] += 8;
            break;
        }
        default: {
            uint32_t len = c->text_len[r];
            memcpy(p, &len, 4);
            memcpy(p + 4, c->text[r], len);
            w->cur[r] += 4 + (size_t)len;
        }
        }
    }
}

/*
 * Keys: lengths (0 for a row with a NULL or invalid key part), offsets,
 * then the parts column by column, then a hash per row.
 */
static int encode_keys(struct scratch *w, const struct plug_table *t, const struct cs_batch *b)
{
    size_t n = b->nrows;
    for (size_t r = 0; r < n; r++)
        w->cur[r] = 0; /* length so far; SIZE_MAX once a part is missing */
    for (size_t k = 0; k < t->npk; k++) {
        const struct cs_column *c = &b->cols[t->pk[k]];
        for (size_t r = 0; r < n; r++)
            w->cur[r] = c->nulls[r] || w->cur[r] == SIZE_MAX ? SIZE_MAX : w->cur[r] + part_len(c, r);
    }
    size_t total = 0;
    for (size_t r = 0; r < n; r++) {
        w->off[r] = total;
        total += w->cur[r] == SIZE_MAX ? 0 : w->cur[r];
    }
    w->off[n] = total;
    if (grow_buffer((void **)&w->buf, &w->buf_cap, total, 1) != 0)
        return PLUG_ENOMEM;
    for (size_t r = 0; r < n; r++)
        w->cur[r] = w->off[r];
    for (size_t k = 0; k < t->npk; k++)
        encode_column(w, &b->cols[t->pk[k]], n);
    for (size_t r = 0; r < n; r++)
        w->h[r] = w->off[r + 1] > w->off[r] ? hash_bytes(w->buf + w->off[r], w->off[r + 1] - w->off[r]) : 0;
    return 0;
}

/* ---- the check ----------------------------------------------------------- */

struct duplicate {
    const struct cs_host_api *api;
    void *hctx;
    struct plug_table t;
    char *column; /* "A,B" for a key, "*" for whole rows */
    struct keyset set;
    struct scratch w;
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
static unsigned initial_bits(uint64_t rows_hint)
{
    uint64_t want = rows_hint / 7 * 10 + 1;
    unsigned bits = MIN_BITS;
    while (((uint64_t)1 << bits) < want && bits < HINT_BITS_MAX)
        bits++;
    return bits;
}

/* Bytes per record: 16 for a fingerprint, 8 per numeric key part, 0 (varying) with a text part. */
static size_t record_width(const struct plug_table *t)
{
    if (t->npk == 0)
        return 16;
    for (size_t i = 0; i < t->npk; i++)
        if (t->cols[t->pk[i]].type == CS_TYPE_TEXT)
            return 0;
    return 8 * t->npk;
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
        ((d->column = key_column(&d->t)) == NULL ||
         keyset_init(&d->set, initial_bits(t->rows_hint), record_width(&d->t)) != 0))
        rc = plug_err(err, PLUG_ENOMEM, "out of memory");
    if (rc != 0) {
        duplicate_destroy(d);
        return rc;
    }
    *state = d;
    return 0;
}

static void insert_rows(struct duplicate *d, const struct cs_batch *b)
{
    struct scratch *w = &d->w;
    size_t n = b->nrows;
    for (size_t r = 0; r < n && r < PREFETCH_AHEAD; r++)
        keyset_prefetch(&d->set, w->h[r]);
    for (size_t r = 0; r < n; r++) {
        if (r + PREFETCH_AHEAD < n)
            keyset_prefetch(&d->set, w->h[r + PREFETCH_AHEAD]);
        size_t len = w->off[r + 1] - w->off[r];
        if (len == 0)
            continue; /* a NULL or invalid key part */
        enum seen seen = keyset_add(&d->set, w->h[r], w->buf + w->off[r], len);
        if (seen == SEEN_NEW)
            continue;
        d->count++;
        if (seen == SEEN_FIRST_REPEAT) {
            d->groups++;
            samples_take(&d->samples, d->api, d->hctx, b, r);
        }
    }
}

static int duplicate_batch(void *state, const struct cs_batch *b, struct cs_err *err)
{
    struct duplicate *d = state;
    int rc = plug_check_batch(&d->t, b, err);
    if (rc != 0)
        return rc;
    if (b->nrows == 0)
        return 0;
    if (scratch_rows(&d->w, b->nrows) != 0 ||
        (d->t.npk == 0 ? fingerprint_rows(&d->w, b) : encode_keys(&d->w, &d->t, b)) != 0 ||
        keyset_reserve(&d->set, b->nrows, d->w.off[b->nrows]) != 0)
        return plug_err(err, PLUG_ENOMEM, "out of memory remembering %zu distinct keys of table %s", d->set.n,
                        d->t.name);
    insert_rows(d, b);
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
    keyset_free(&d->set);
    scratch_free(&d->w);
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
