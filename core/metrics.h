/*
** metrics.h -- per-column metrics of a whole-table scan (the DQ_METRICS rows).
**
** The engine feeds every batch of a whole-table scan to an accumulator
** (cs_metrics_acc_add) and, at the end of the pass, moves the result into
** the run (cs_metrics_acc_finish).  Customer runs collect no metrics.
**
** Per column:
**   rows        rows read
**   nulls       missing cells, by the same rules as the "missing" check:
**               SQL NULL, unreadable values, NaN and +-inf, the policy's
**               sentinels, and blank text when empty_is_missing
**   negatives   usable numeric values below zero (whatever allow_negative says)
**   duplicates  non-missing values minus distinct non-missing values (text is
**               compared through a 64-bit hash: a collision is ~1e-19 a pair)
**   values, mean, sd (population, divisor n), min, max, q1, median, q3
**               over usable numeric values (numpy's linear quantiles: the
**               profile of stats.h); has_stats is 0 for text columns and
**               empty columns
** Entry 0 is the table itself: column "*", rows only.
**
** Memory: 8 bytes per non-missing cell (the value, or the hash for text)
** in a stats.h accumulator per column, charged to the run's budget
** (scan.memory_mb) and spilled to scan.spill_dir beyond it, so memory
** stays flat.  finish selects the quantiles (stats.c: no sort) and counts
** distinct cells with a bounded hash set.  This is the price of exact
** quantiles and duplicate counts; a scan with --no-store collects nothing.
**
** Ownership: cs_metrics_acc_new/_free pair up; finish hands out an array the
** caller releases with cs_metrics_free.
*/
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "creditsense/check.h"

/** Metrics of one column (or of the table, column "*"). */
struct cs_colmetrics {
    char *column;
    int type;   /* enum cs_type; 0 for the table entry */
    int is_key; /* part of the primary or customer key */
    uint64_t rows, nulls, negatives, duplicates;
    int has_counts; /* nulls/negatives/duplicates meaningful (0 for "*") */
    uint64_t values;
    int has_stats;
    double mean, sd, min, max, q1, median, q3;
};

struct cs_metrics_acc;

struct cs_stats_budget;

/**
 * Accumulator for a table whose batches carry the columns infos[0..ncols) in
 * order, its values charged to budget (borrowed; NULL: unlimited).  NULL when
 * out of memory.
 */
struct cs_metrics_acc *cs_metrics_acc_new(size_t ncols, const struct cs_column_info *infos,
                                          struct cs_stats_budget *budget);

/** Add one batch.  0 or <0 with a message in err (out of memory, or a spill file that failed). */
int cs_metrics_acc_add(struct cs_metrics_acc *a, const struct cs_batch *b, struct cs_err *err);

/** Compute the metrics: *out gets ncols + 1 entries (the table first).  0 or <0 with a message in err. */
int cs_metrics_acc_finish(struct cs_metrics_acc *a, struct cs_colmetrics **out, size_t *n, struct cs_err *err);

void cs_metrics_acc_free(struct cs_metrics_acc *a);

/** Release an array returned by finish (or built by the store). */
void cs_metrics_free(struct cs_colmetrics *m, size_t n);

#endif
