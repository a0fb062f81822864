/*
** stats.h -- exact column statistics (the host's stats service).
**
** An accumulator collects the usable values of one numeric column (not NULL,
** not invalid, not NaN or +-inf, not one of the policy's sentinels) and the
** keys of the CS_STATS_EXTREMES lowest and highest of them (captured through
** keyfn only when a value enters those sets), and yields an exact profile:
** count, mean, population sd (divisor n; Welford, numerically stable), min,
** max, q1, median, q3 (linear interpolation, numpy/percentile_cont
** definition) and MAD (median of |x - median|).
**
** Memory: 8 bytes per value; this is the one piece of a table scan that
** grows with the table (documented in docs/checks.md).
**
** These functions are what struct cs_host_api's stats_* members point to.
*/
#ifndef CS_STATS_H
#define CS_STATS_H

#include "creditsense/check.h"

#define CS_STATS_EXTREMES 10

/** Callback used to capture a row key for values added from a batch. */
typedef cs_keyref (*cs_stats_keyfn)(void *ctx, const struct cs_batch *b, size_t row);
/** Callback releasing a key captured by keyfn that left the extremes (so key memory stays bounded). */
typedef void (*cs_stats_dropfn)(void *ctx, cs_keyref key);

/** New accumulator.  keyfn and dropfn may be NULL (no keys kept / none released). */
struct cs_stats *cs_stats_new(cs_stats_keyfn keyfn, cs_stats_dropfn dropfn, void *keyctx);
void cs_stats_free(struct cs_stats *s);

/** Add one value (key may be CS_KEYREF_NONE). Returns 0 or CS_ENOMEM. */
int cs_stats_push(struct cs_stats *s, double v, cs_keyref key);

/** Add the usable values of column col of batch b under policy pol (may be NULL). */
int cs_stats_add(struct cs_stats *s, const struct cs_batch *b, size_t col, const struct cs_column_policy *pol);

/** Exact profile of the values added so far (sorts internally; more values may be added afterwards). */
int cs_stats_profile(struct cs_stats *s, struct cs_profile *out);

/** Count, mean, sd, min and max only (no sort: what a z-score needs); quantiles left 0. */
int cs_stats_moments(struct cs_stats *s, struct cs_profile *out);

/**
 * Count values < lower or > upper.  Fills keys[] (up to max, *nkeys set)
 * with the keys of the most extreme offenders, farthest outside first.
 */
uint64_t cs_stats_count_outside(struct cs_stats *s, double lower, double upper, cs_keyref *keys, size_t max, size_t *nkeys);

/** Is v usable under pol (finite and not a sentinel)? */
int cs_stats_usable(double v, const struct cs_column_policy *pol);

#endif
