/*
** stats.h -- exact column statistics (the host's stats service).
**
** An accumulator collects the usable values of one numeric column (not NULL,
** not invalid, not NaN or +-inf, not one of the policy's sentinels) and the
** keys of the CS_STATS_EXTREMES lowest and highest of them (captured through
** keyfn only when a value enters those sets), and yields an exact profile:
** count, mean, population sd (divisor n; Welford, numerically stable), min,
** max, q1, median, q3 (linear interpolation, numpy/percentile_cont
** definition) and MAD (median of |x - median|).  -0.0 is stored as +0.0.
**
** Memory: 8 bytes per value, held in fixed-size chunks charged to the run's
** budget (struct cs_stats_budget).  When the budget is spent, an
** accumulator moves its values to an unlinked temporary file in the
** budget's spill_dir and streams them back for each pass, so memory stays
** flat while every answer stays exact (docs/checks.md).  Quantiles come
** from a radix selection in a few linear passes, not from a sort.
**
** Accumulators also serve the run store's column metrics (metrics.c):
** CS_STATS_I64 keeps 64-bit integers exactly (quantiles of their double
** values, distinct counts of the integers) and CS_STATS_WORD keeps opaque
** 64-bit words (text hashes) for distinct counts only.
**
** Threading: an accumulator serves one thread at a time; accumulators on
** different threads may share one budget (its counters are atomic).
** These functions are what struct cs_host_api's stats_* members point to.
*/
#ifndef CS_STATS_H
#define CS_STATS_H

#include <stdatomic.h>

#include "creditsense/check.h"

#define CS_STATS_EXTREMES 10

/** What an accumulator stores (8 bytes a value in every case). */
enum cs_stats_kind {
    CS_STATS_F64 = 0,  /**< doubles: the profile service */
    CS_STATS_I64 = 1,  /**< 64-bit integers, exact (profile of their double values) */
    CS_STATS_WORD = 2, /**< opaque words (hashes): count and distinct only */
};

/**
 * A run's memory for stored values, shared by all its accumulators.  The
 * run owns it (the engine keeps one per table pass) and must outlive every
 * accumulator opened on it.  The counters are atomic because a scan's checks
 * may run on two threads (engine.c); limit and spill_dir are set before.
 */
struct cs_stats_budget {
    size_t limit;                /**< bytes of values the run may hold in memory */
    _Atomic size_t used;         /**< bytes held now */
    _Atomic size_t peak;         /**< most bytes held at once */
    const char *spill_dir;       /**< borrowed: where spill files go */
    _Atomic unsigned spills;     /**< accumulators that moved to a spill file */
};

/** Set up a budget of limit bytes spilling into spill_dir (borrowed; must outlive b). */
void cs_stats_budget_init(struct cs_stats_budget *b, size_t limit, const char *spill_dir);

/** Callback used to capture a row key for values added from a batch. */
typedef cs_keyref (*cs_stats_keyfn)(void *ctx, const struct cs_batch *b, size_t row);
/** Callback releasing a key captured by keyfn that left the extremes (so key memory stays bounded). */
typedef void (*cs_stats_dropfn)(void *ctx, cs_keyref key);

struct cs_stats_opts {
    int kind;                       /**< enum cs_stats_kind */
    cs_stats_keyfn keyfn;           /**< may be NULL: no keys kept */
    cs_stats_dropfn dropfn;         /**< may be NULL: none released */
    void *keyctx;
    struct cs_stats_budget *budget; /**< NULL: unlimited memory, never spills */
};

/** New accumulator (NULL when out of memory). */
struct cs_stats *cs_stats_open(const struct cs_stats_opts *o);

/** New CS_STATS_F64 accumulator without a budget.  keyfn and dropfn may be NULL. */
struct cs_stats *cs_stats_new(cs_stats_keyfn keyfn, cs_stats_dropfn dropfn, void *keyctx);

/** Free it and its spill file (closing the file removes it: it was never linked). */
void cs_stats_free(struct cs_stats *s);

/** Add one value (key may be CS_KEYREF_NONE).  NaN and +-inf are ignored.  0 or <0 (see cs_stats_error). */
int cs_stats_push(struct cs_stats *s, double v, cs_keyref key);

/** Add one integer: exact in a CS_STATS_I64 accumulator, as a double in a CS_STATS_F64 one. */
int cs_stats_push_i64(struct cs_stats *s, int64_t v);

/** Add one word to a CS_STATS_WORD accumulator. */
int cs_stats_push_word(struct cs_stats *s, uint64_t w);

/** Add the usable values of column col of batch b under policy pol (may be NULL). */
int cs_stats_add(struct cs_stats *s, const struct cs_batch *b, size_t col, const struct cs_column_policy *pol);

/** Exact profile of the values added so far (more values may be added afterwards). */
int cs_stats_profile(struct cs_stats *s, struct cs_profile *out);

/** Count, mean, sd, min and max only (no pass over the values); quantiles left 0. */
int cs_stats_moments(struct cs_stats *s, struct cs_profile *out);

/**
 * Count values < lower or > upper.  Fills keys[] (up to max, *nkeys set)
 * with the keys of the most extreme offenders, farthest outside first.
 * When reading a spill file fails it returns 0 and cs_stats_error says why.
 */
uint64_t cs_stats_count_outside(struct cs_stats *s, double lower, double upper, cs_keyref *keys, size_t max,
                                size_t *nkeys);

/** Number of distinct values stored (exact; memory bounded, more passes for large counts). */
int cs_stats_distinct(struct cs_stats *s, uint64_t *out);

/** Values stored, and how many of them were below zero (numeric kinds). */
uint64_t cs_stats_count(const struct cs_stats *s);
uint64_t cs_stats_negatives(const struct cs_stats *s);

/** Why the last call failed (names the spill directory), or NULL when nothing failed. */
const char *cs_stats_error(const struct cs_stats *s);

/** Is v usable under pol (finite and not a sentinel)? */
int cs_stats_usable(double v, const struct cs_column_policy *pol);

#endif
