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
** Keys: how repeats are found.  Every distinct key is stored once, encoded,
** in a record arena (8 bytes per numeric part; a 4-byte length and the bytes
** per text part, which keeps ("a","bc") apart from ("ab","c")).  An
** open-addressing table of 8-byte slots points into the arena; a slot holds
** 31 bits of the key's hash (the tag), a "seen more than once" bit and the
** record number.  A key whose tag matches is confirmed by comparing the
** full encoded key, so key counts are exact whatever the hash does:
** collisions cost a comparison, never a wrong answer.  Each batch is encoded
** column by column (one type test per column, not per cell), then inserted
** in row order with the home slot of a row PREFETCH_AHEAD rows ahead already
** requested, because nearly every probe of a large table misses the caches.
** The slot position is the top bits of the hash, so doubling the table walks
** both tables in order instead of scattering reads.
** Memory (bytes per distinct key): the record (8 per numeric key part; for
** text keys 4 + length per text part plus an 8-byte offset) and 11-23 for
** the slots (8 bytes, kept at most 70 % full), plus about 23 more while the
** table doubles.  A single integer key costs 19-31.  It grows with the
** distinct keys, as the issue allows for keys, and ignores memory_limit.
** At most 2^31 slots (about 1.5 billion distinct keys): beyond that a batch
** fails with an out-of-memory error rather than miscounting.
**
** Whole rows.  Rows are not stored (memory would grow with row width): each
** is reduced to a 128-bit fingerprint, two independent 64-bit lanes over a
** tagged encoding of the cells.  Two different rows are taken for one only
** if both lanes collide, about n^2 / 2^129 for n distinct rows (2e-21 at a
** billion rows).  The hash is not cryptographic: rows crafted to collide
** could hide a duplicate, which is not a threat this monitor defends against.
** Fingerprints are counted by sorting, not hashing, so memory stays within
** the host's memory_limit (cs_table_info) whatever the table's size:
**   - each row appends a 20-byte record (fingerprint, row number within its
**     run) to one buffer of at most memory_limit bytes (no limit: it grows);
**   - when the buffer is full it is sorted by fingerprint (in-place radix)
**     and written to an unlinked spill file in spill_dir as a sorted run;
**     knowing the row count (rows_hint), the first runs are cut shorter so
**     that the rows met last fill the budget and are never written;
**   - at finish the runs in the file and the last one in memory are merged
**     (k-way, a read buffer of at least 64 KiB per run carved from the same
**     buffer), and each group of equal fingerprints adds its size - 1 to
**     count and 1 to groups.  Runs hold consecutive rows, numbered from 0
**     in arrival order (as the host numbers them in cs_batch.first_row), so
**     a group's second-earliest row is its first repeat, however the sort
**     ordered the group.
** Nothing is written when every row fits.  The sort's scratch buffer
** (1.25 MiB, less under tiny limits) is carved from the budget too.  Beyond
** memory_limit / 64 KiB runs (about 3.4 billion rows at 64 MiB) the read
** buffers pass the limit by 64 KiB a run.  The sample keys are asked for at finish with one-row
** batches: for a table without a key the host's key is the row number
** (keep_key in check.h).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap */
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

#define MIN_BITS 10u        /* 1024 slots */
#define HINT_BITS_MAX 24u   /* presize from rows_hint up to 16 M slots (128 MB), grow beyond */
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

/* Whole rows: the 128-bit fingerprint of each row, two words a row in w->buf. */
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
    }
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

/* ---- whole rows: sorted runs of fingerprints ------------------------------- */

/*
 * One row: its fingerprint and its row number relative to the first row of
 * its run.  Packed, 20 bytes rather than 24: a sixth less to sort, write
 * and read back.
 */
struct fprec {
    uint64_t hi, lo;
    uint32_t idx;
} __attribute__((packed));

#define INSERTION_MAX 24 /* ranges this small are finished by insertion */
#define SORT_PREFETCH 8  /* records ahead of a bucket's head to request (measured: halves the in-place pass) */
#define READ_MIN_RECS ((size_t)65536 / sizeof(struct fprec)) /* smallest read buffer per run in a merge */
#define RUN_MAX_RECS ((size_t)UINT32_MAX) /* idx is 32 bits */
#define SCRATCH_RECS ((size_t)65536) /* the sort's scratch buffer (1.25 MiB), part of the budget */

static inline int fp_less(const struct fprec *a, const struct fprec *b)
{
    return a->hi < b->hi || (a->hi == b->hi && a->lo < b->lo);
}

/* Byte d (0..15) of the 128-bit fingerprint, the most significant first. */
static inline unsigned fp_digit(const struct fprec *r, unsigned d)
{
    uint64_t w = d < 8 ? r->hi : r->lo;
    return (unsigned)(w >> (56 - 8 * (d & 7))) & 0xFFu;
}

static void insertion_sort(struct fprec *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct fprec v = a[i];
        size_t j = i;
        for (; j > 0 && fp_less(&v, &a[j - 1]); j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

static void sort_fps(struct fprec *a, size_t n, unsigned d, struct fprec *scratch, size_t scratch_n);

/* Bytes d and d + 1 of the fingerprint as one number. */
static inline unsigned fp_pair(const struct fprec *r, unsigned d)
{
    return fp_digit(r, d) << 8 | fp_digit(r, d + 1);
}

/*
 * Sort n <= scratch_n records by bytes d and d + 1 (d < 15): two stable
 * counting passes through the scratch buffer (LSD), both histograms from one
 * read.  Ranges that still share both bytes go on from byte d + 2.
 */
static void sort_two_bytes(struct fprec *a, size_t n, unsigned d, struct fprec *scratch, size_t scratch_n)
{
    size_t low[256] = {0}, high[256] = {0}, pl = 0, ph = 0;
    for (size_t i = 0; i < n; i++) {
        low[fp_digit(&a[i], d + 1)]++;
        high[fp_digit(&a[i], d)]++;
    }
    for (unsigned b = 0; b < 256; b++) {
        size_t l = low[b], h = high[b];
        low[b] = pl;
        high[b] = ph;
        pl += l;
        ph += h;
    }
    for (size_t i = 0; i < n; i++)
        scratch[low[fp_digit(&a[i], d + 1)]++] = a[i];
    for (size_t i = 0; i < n; i++)
        a[high[fp_digit(&scratch[i], d)]++] = scratch[i];
    for (size_t i = 0, j; i < n; i = j) {
        unsigned k = fp_pair(&a[i], d);
        for (j = i + 1; j < n && fp_pair(&a[j], d) == k; j++)
            ;
        if (j - i > 1)
            sort_fps(a + i, j - i, d + 2, scratch, scratch_n);
    }
}

/*
 * Sort by fingerprint from byte d on.  A range larger than the scratch
 * buffer is split in place on one byte (American flag sort: no second
 * buffer as large as the run, so a run may fill the whole budget); a range
 * that fits goes through the scratch (sort_two_bytes); a few dozen records
 * are finished by insertion.  Fingerprints are uniform, so a run of millions
 * takes one in-place pass and one two-byte pass per bucket.  Equal
 * fingerprints (repeated rows) end up adjacent in no particular row order; a
 * range of equal ones costs one pass per byte.
 */
static void sort_fps(struct fprec *a, size_t n, unsigned d, struct fprec *scratch, size_t scratch_n)
{
    for (; n > INSERTION_MAX && d < 16; d++) {
        if (n <= scratch_n && d < 15) {
            sort_two_bytes(a, n, d, scratch, scratch_n);
            return;
        }
        size_t count[256] = {0}, head[256], end[256], pos = 0;
        for (size_t i = 0; i < n; i++)
            count[fp_digit(&a[i], d)]++;
        if (count[fp_digit(&a[0], d)] == n)
            continue; /* all share this byte: the next one decides */
        for (unsigned b = 0; b < 256; b++) {
            head[b] = pos;
            pos += count[b];
            end[b] = pos;
        }
        for (unsigned b = 0; b < 256; b++)
            while (head[b] < end[b]) {
                struct fprec v = a[head[b]];
                for (unsigned k = fp_digit(&v, d); k != b; k = fp_digit(&v, d)) {
                    if (head[k] + SORT_PREFETCH < n) /* 256 streams: too many for the hardware prefetcher */
                        __builtin_prefetch(&a[head[k] + SORT_PREFETCH], 1);
                    struct fprec t = a[head[k]]; /* v goes home; carry what was there */
                    a[head[k]++] = v;
                    v = t;
                }
                a[head[b]++] = v;
            }
        for (unsigned b = 0; b < 256; b++)
            if (count[b] > 1)
                sort_fps(a + end[b] - count[b], count[b], d + 1, scratch, scratch_n);
        return;
    }
    if (n <= INSERTION_MAX)
        insertion_sort(a, n);
}

/*
 * Groups of equal fingerprints, met in sorted order: the count and groups
 * of the finding, and the rows of the earliest first repeats.  A group's
 * first repeat is its second-earliest row, whatever order its rows come in.
 */
struct tally {
    uint64_t count, groups;
    uint64_t sample[PLUG_SAMPLES]; /* first-repeat rows, ascending: the earliest groups to repeat */
    size_t nsamples;
    uint64_t hi, lo, n, min1, min2; /* the open group: fingerprint, rows, its two earliest rows */
};

static void tally_close(struct tally *t)
{
    if (t->n < 2)
        return;
    t->count += t->n - 1;
    t->groups++;
    size_t i = t->nsamples;
    if (i == PLUG_SAMPLES) {
        if (t->min2 >= t->sample[i - 1])
            return;
        i--; /* the latest of the ten makes room */
    } else {
        t->nsamples++;
    }
    for (; i > 0 && t->sample[i - 1] > t->min2; i--)
        t->sample[i] = t->sample[i - 1];
    t->sample[i] = t->min2;
}

static inline void tally_add(struct tally *t, const struct fprec *r, uint64_t row)
{
    if (t->n > 0 && r->hi == t->hi && r->lo == t->lo) {
        t->n++;
        if (row < t->min1) {
            t->min2 = t->min1;
            t->min1 = row;
        } else if (row < t->min2) {
            t->min2 = row;
        }
        return;
    }
    tally_close(t);
    t->hi = r->hi;
    t->lo = r->lo;
    t->n = 1;
    t->min1 = row;
    t->min2 = UINT64_MAX;
}

/* A sorted run in the spill file: records [off, off + n), rows first + idx. */
struct run {
    uint64_t off, n, first;
};

/*
 * The fingerprints of a table without a key.  One buffer of at most `max`
 * records (the budget) takes rows as they come; when it is full it is
 * sorted and written to the spill file as a run, and filled again.  Runs
 * hold consecutive rows, so a run's first row plus idx is the row number.
 */
struct rowset {
    struct fprec *buf;
    size_t cap;      /* records allocated (grows by doubling up to max) */
    size_t max;      /* records the budget allows, at most RUN_MAX_RECS */
    size_t lead_len; /* the first lead_runs runs are cut at lead_len records (see rowset_plan) */
    size_t lead_runs;
    size_t n;        /* records of the run being filled */
    uint64_t first;  /* its first row */
    int fd;          /* the spill file, -1 until a run is written */
    struct run *run; /* runs in the file, in row order */
    size_t nruns, run_cap;
    uint64_t file_recs;
    char *spill_dir; /* own copy; NULL: the host gave none */
    int (*open_file)(const char *dir); /* the host's spill_open; NULL: it has none */
    const char *table;
    struct fprec *scratch; /* for sort_fps, allocated at the first sort */
    size_t scratch_n;
};

static size_t buf_bytes(size_t recs)
{
    return recs * sizeof(struct fprec);
}

/* The merge's read buffer per run in the file: 64 KiB, unless the budget itself is smaller (tests). */
static size_t read_floor(size_t max)
{
    return max >= 16 * READ_MIN_RECS ? READ_MIN_RECS : 1;
}

/*
 * Write only what will not fit.  Cut into runs of max records, the rows
 * that come last would be left in memory as a run of any length from 0 to
 * max, while up to a whole budget of earlier rows went to the file and back.
 * Knowing the row count, the first k runs are cut shorter instead, so that
 * the last run (with a 3 % margin) and the merge's read buffers fill the
 * budget.  A wrong count costs time, never a wrong answer.
 */
static void rowset_plan(struct rowset *rs, uint64_t rows)
{
    rs->lead_len = rs->max;
    rs->lead_runs = 0;
    if (rows <= rs->max)
        return;
    size_t floor = read_floor(rs->max), slack = rs->max / 32;
    for (uint64_t k = (rows - rs->max) / rs->max + 1; k * floor + slack < rs->max; k++) {
        uint64_t spill = rows - (rs->max - k * floor - slack); /* in k runs; the rest stays */
        if (spill <= k * rs->max) {
            rs->lead_len = (size_t)((spill + k - 1) / k);
            rs->lead_runs = (size_t)k;
            return;
        }
    }
}

static int rowset_init(struct rowset *rs, const struct cs_host_api *api, const struct cs_table_info *t,
                       const char *table)
{
    memset(rs, 0, sizeof(*rs));
    rs->fd = -1;
    rs->table = table;
    rs->open_file = api->spill_open; /* plug_check_init saw a host_api of at least this size */
    size_t max = t->memory_limit ? t->memory_limit / sizeof(struct fprec) : RUN_MAX_RECS;
    rs->scratch_n = max / 16 < SCRATCH_RECS ? max / 16 : SCRATCH_RECS;
    max -= rs->scratch_n;
    rs->max = max < 2 ? 2 : max > RUN_MAX_RECS ? RUN_MAX_RECS : max;
    uint64_t want = t->rows_hint > 1024 ? t->rows_hint : 1024;
    rs->cap = want < rs->max ? (size_t)want : rs->max;
    rowset_plan(rs, t->rows_hint);
    if (t->spill_dir != NULL && t->spill_dir[0] != '\0' && (rs->spill_dir = plug_strdup(t->spill_dir)) == NULL)
        return PLUG_ENOMEM;
    rs->buf = big_grow(NULL, 0, buf_bytes(rs->cap));
    return rs->buf ? 0 : PLUG_ENOMEM;
}

static void rowset_free(struct rowset *rs)
{
    big_free(rs->buf, buf_bytes(rs->cap));
    if (rs->fd >= 0)
        close(rs->fd); /* never linked, or unlinked at once: closing removes it */
    free(rs->run);
    free(rs->spill_dir);
    free(rs->scratch);
}

/* Sort the run in the buffer (without the scratch buffer if it cannot be had: slower, not wrong). */
static void rowset_sort(struct rowset *rs)
{
    if (rs->scratch == NULL && rs->scratch_n > 0 && rs->n > INSERTION_MAX &&
        (rs->scratch = malloc(buf_bytes(rs->scratch_n))) == NULL)
        rs->scratch_n = 0;
    sort_fps(rs->buf, rs->n, 0, rs->scratch, rs->scratch_n);
}

static int spill_fail(const struct rowset *rs, const char *what, int e, struct cs_err *err)
{
    return plug_err(err, PLUG_EFAIL,
                    "could not %s the spill file of the duplicate check (table %s) in %s: %s (set scan.spill_dir to "
                    "a writable directory with free space, or raise scan.memory_mb)",
                    what, rs->table, rs->spill_dir, strerror(e));
}

/* An anonymous file in spill_dir, made by the host (cs_host_api.spill_open). */
static int spill_open(struct rowset *rs, struct cs_err *err)
{
    if (rs->spill_dir == NULL || rs->open_file == NULL)
        return plug_err(err, PLUG_EFAIL,
                        "table %s has more rows than the duplicate check may hold in memory (%zu MiB) and the host "
                        "gave no spill directory (set scan.spill_dir, or raise scan.memory_mb)",
                        rs->table, buf_bytes(rs->max) >> 20);
    int fd = rs->open_file(rs->spill_dir);
    if (fd < 0)
        return spill_fail(rs, "create", -fd, err);
    rs->fd = fd;
    return 0;
}

static int spill_io(struct rowset *rs, int writing, void *p, size_t bytes, uint64_t at, struct cs_err *err)
{
    char *c = p;
    while (bytes > 0) {
        ssize_t k = writing ? pwrite(rs->fd, c, bytes, (off_t)at) : pread(rs->fd, c, bytes, (off_t)at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return spill_fail(rs, writing ? "write to" : "read back", k < 0 ? errno : writing ? ENOSPC : EIO, err);
        c += k;
        at += (uint64_t)k;
        bytes -= (size_t)k;
    }
    return 0;
}

/* Sort the buffer and write it to the file as the next run; the buffer is empty again. */
static int rowset_spill(struct rowset *rs, struct cs_err *err)
{
    int rc;
    if (rs->fd < 0 && (rc = spill_open(rs, err)) != 0)
        return rc;
    if (grow_buffer((void **)&rs->run, &rs->run_cap, rs->nruns + 1, sizeof(*rs->run)) != 0)
        return plug_err(err, PLUG_ENOMEM, "out of memory");
    rowset_sort(rs);
    if ((rc = spill_io(rs, 1, rs->buf, buf_bytes(rs->n), buf_bytes(rs->file_recs), err)) != 0)
        return rc;
    rs->run[rs->nruns++] = (struct run){.off = rs->file_recs, .n = rs->n, .first = rs->first};
    rs->file_recs += rs->n;
    rs->first += rs->n;
    rs->n = 0;
    return 0;
}

/* The planned length of the run being filled. */
static size_t run_len(const struct rowset *rs)
{
    return rs->nruns < rs->lead_runs ? rs->lead_len : rs->max;
}

/* Where the run being filled must stop for now: its length, or the end of the buffer. */
static size_t run_end(const struct rowset *rs)
{
    size_t len = run_len(rs);
    return len < rs->cap ? len : rs->cap;
}

/* Room for one more record at least: spill the run when it has its planned length, else grow the buffer. */
static int rowset_room(struct rowset *rs, struct cs_err *err)
{
    if (rs->n == run_len(rs))
        return rowset_spill(rs, err);
    size_t cap = rs->cap > rs->max / 2 ? rs->max : rs->cap * 2;
    struct fprec *b = big_grow(rs->buf, buf_bytes(rs->cap), buf_bytes(cap));
    if (b == NULL)
        return plug_err(err, PLUG_ENOMEM, "out of memory holding %zu row fingerprints of table %s", cap, rs->table);
    rs->buf = b;
    rs->cap = cap;
    return 0;
}

/* Append the fingerprints (two words a row) of rows first .. first + nrows - 1. */
static int rowset_add(struct rowset *rs, const uint64_t *fp, size_t nrows, struct cs_err *err)
{
    for (size_t r = 0; r < nrows;) {
        int rc;
        if (rs->n == run_end(rs) && (rc = rowset_room(rs, err)) != 0)
            return rc;
        size_t end = run_end(rs), take = nrows - r < end - rs->n ? nrows - r : end - rs->n;
        struct fprec *o = rs->buf + rs->n;
        for (size_t i = 0; i < take; i++) {
            o[i].hi = fp[2 * (r + i)];
            o[i].lo = fp[2 * (r + i) + 1];
            o[i].idx = (uint32_t)(rs->n + i);
        }
        rs->n += take;
        r += take;
    }
    return 0;
}

/* One input of the merge: a run in the file read through its buffer, or the run in memory. */
struct source {
    uint64_t hi;                 /* p->hi, where the heap's comparisons find it */
    const struct fprec *p, *end; /* records in memory not yet taken */
    struct fprec *buf;           /* read buffer; NULL for the run in memory */
    size_t bufn;
    uint64_t off, left;          /* the rest in the file: records off .. off + left - 1 */
    uint64_t first;
};

static int source_refill(struct rowset *rs, struct source *s, struct cs_err *err)
{
    if (s->p < s->end || s->left == 0)
        return 0;
    size_t got = s->left < s->bufn ? (size_t)s->left : s->bufn;
    int rc = spill_io(rs, 0, s->buf, buf_bytes(got), buf_bytes(s->off), err);
    if (rc != 0)
        return rc;
    s->p = s->buf;
    s->end = s->buf + got;
    s->off += got;
    s->left -= got;
    return 0;
}

static inline int source_less(const struct source *src, size_t a, size_t b)
{
    return src[a].hi < src[b].hi || (src[a].hi == src[b].hi && src[a].p->lo < src[b].p->lo);
}

/* Restore the min-heap below position i. */
static void heap_down(size_t *heap, size_t n, size_t i, const struct source *src)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && source_less(src, heap[c + 1], heap[c]))
            c++;
        if (!source_less(src, heap[c], heap[i]))
            return;
        size_t t = heap[i];
        heap[i] = heap[c];
        heap[c] = t;
        i = c;
    }
}

/* k-way merge of the sources into the tally, smallest fingerprint first. */
static int merge_sources(struct rowset *rs, struct source *src, size_t nsrc, struct tally *t, struct cs_err *err)
{
    size_t *heap = malloc(nsrc * sizeof(*heap)), n = 0;
    if (heap == NULL)
        return plug_err(err, PLUG_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nsrc; i++)
        if ((rc = source_refill(rs, &src[i], err)) == 0 && src[i].p < src[i].end) {
            src[i].hi = src[i].p->hi;
            heap[n++] = i;
        }
    for (size_t i = n / 2; rc == 0 && i-- > 0;)
        heap_down(heap, n, i, src);
    while (rc == 0 && n > 0) {
        struct source *s = &src[heap[0]];
        tally_add(t, s->p, s->first + s->p->idx);
        if (++s->p == s->end && (rc = source_refill(rs, s, err)) != 0)
            break;
        if (s->p == s->end)
            heap[0] = heap[--n]; /* this source is done */
        else
            s->hi = s->p->hi;
        heap_down(heap, n, 0, src);
    }
    free(heap);
    return rc;
}

/*
 * Merge the runs in the file and the one in memory.  The buffer, which
 * holds the last run sorted at its start, lends the rest of itself as read
 * buffers, at least READ_MIN_RECS records each; when that does not fit, the
 * last run goes to the file as well.  Beyond max / READ_MIN_RECS runs the
 * read buffers exceed the budget (64 KiB a run).
 */
static int rowset_merge(struct rowset *rs, struct tally *t, struct cs_err *err)
{
    size_t floor = read_floor(rs->max);
    if (rs->n > 0 && (rs->cap - rs->n) / rs->nruns < floor) {
        int rc = rowset_spill(rs, err);
        if (rc != 0)
            return rc;
    }
    rowset_sort(rs);
    size_t k = rs->nruns, mem = rs->n, per = (rs->cap - mem) / k;
    if (per < floor) {
        per = floor;
        struct fprec *b = big_grow(rs->buf, buf_bytes(rs->cap), buf_bytes(mem + k * per));
        if (b == NULL)
            return plug_err(err, PLUG_ENOMEM, "out of memory merging %zu sorted runs of table %s", k, rs->table);
        rs->buf = b;
        rs->cap = mem + k * per;
    }
    struct source *src = calloc(k + 1, sizeof(*src));
    if (src == NULL)
        return plug_err(err, PLUG_ENOMEM, "out of memory");
    for (size_t i = 0; i < k; i++)
        src[i] = (struct source){.buf = rs->buf + mem + i * per, .bufn = per, .off = rs->run[i].off,
                                 .left = rs->run[i].n, .first = rs->run[i].first};
    src[k] = (struct source){.p = rs->buf, .end = rs->buf + mem, .first = rs->first};
    int r = merge_sources(rs, src, k + 1, t, err);
    free(src);
    return r;
}

/* Every row added: sort what is in memory and count the groups, merging with the runs in the file. */
static int rowset_tally(struct rowset *rs, struct tally *t, struct cs_err *err)
{
    if (rs->nruns > 0) {
        int rc = rowset_merge(rs, t, err);
        if (rc != 0)
            return rc;
    } else {
        rowset_sort(rs);
        for (size_t i = 0; i < rs->n; i++)
            tally_add(t, &rs->buf[i], rs->first + rs->buf[i].idx);
    }
    tally_close(t);
    return 0;
}

/* ---- the check ----------------------------------------------------------- */

struct duplicate {
    const struct cs_host_api *api;
    void *hctx;
    struct plug_table t;
    char *column; /* "A,B" for a key, "*" for whole rows */
    struct keyset set;   /* with a key */
    struct rowset rowfp; /* without one */
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

/* Bytes per key record: 8 per numeric key part, 0 (varying) with a text part. */
static size_t record_width(const struct plug_table *t)
{
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
    d->rowfp.fd = -1;
    if ((rc = plug_table_copy(&d->t, t, err)) == 0 &&
        ((d->column = key_column(&d->t)) == NULL ||
         (d->t.npk > 0 ? keyset_init(&d->set, initial_bits(t->rows_hint), record_width(&d->t))
                       : rowset_init(&d->rowfp, api, t, d->t.name)) != 0))
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
    if (scratch_rows(&d->w, b->nrows) != 0)
        return plug_err(err, PLUG_ENOMEM, "out of memory");
    if (d->t.npk == 0) {
        if (fingerprint_rows(&d->w, b) != 0)
            return plug_err(err, PLUG_ENOMEM, "out of memory");
        if ((rc = rowset_add(&d->rowfp, (const uint64_t *)(void *)d->w.buf, b->nrows, err)) != 0)
            return rc;
    } else {
        if (encode_keys(&d->w, &d->t, b) != 0 || keyset_reserve(&d->set, b->nrows, d->w.off[b->nrows]) != 0)
            return plug_err(err, PLUG_ENOMEM, "out of memory remembering %zu distinct keys of table %s", d->set.n,
                            d->t.name);
        insert_rows(d, b);
    }
    d->rows += b->nrows;
    return 0;
}

/*
 * Whole rows: count the groups now that every row is in, and keep the keys
 * of the earliest first repeats.  The batches are gone, so each key is asked
 * for with a one-row batch at that row's position: the host's key of a row
 * in a table without a key is its row number (see keep_key in check.h).
 */
static int finish_rows(struct duplicate *d, struct cs_err *err)
{
    struct tally t = {0};
    int rc = rowset_tally(&d->rowfp, &t, err);
    if (rc != 0)
        return rc;
    d->count = t.count;
    d->groups = t.groups;
    for (size_t i = 0; i < t.nsamples; i++) {
        struct cs_batch one = {.nrows = 1, .ncols = 0, .cols = NULL, .first_row = t.sample[i]};
        cs_keyref k = d->api->keep_key(d->hctx, &one, 0);
        if (k != CS_KEYREF_NONE) /* out of memory: skip rather than emit a dangling ref */
            d->samples.keys[d->samples.n++] = k;
    }
    if (d->rowfp.nruns > 0 && d->api->log != NULL)
        d->api->log(d->hctx, CS_LOG_DEBUG, "table %s: fingerprints of %llu rows merged from %zu sorted runs in %s",
                    d->t.name, (unsigned long long)d->rows, d->rowfp.nruns, d->rowfp.spill_dir);
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
    int rc = d->t.npk == 0 ? finish_rows(d, err) : 0;
    if (rc != 0)
        return rc;
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
    rowset_free(&d->rowfp);
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
