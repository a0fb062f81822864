/*
** drift.h -- drift checks: a table's newest metrics judged against its history.
**
** After a whole-table scan, cs_drift_check loads the table's metric history
** from the store (DQ_METRICS, earlier drift findings from DQ_ANOMALIES) and
** adds one finding per (column, metric) that moved:
**   check "drift", kind = the metric ("null_ratio", "row_count", ...),
**   column = the column ("*" for row_count), a message naming the old and
**   the new value, severity from severity.c (medium; high when the value
**   changed 3x or more).
** Two rules, both needing at least min_runs past runs (docs/store.md):
**   change  factor = max(|new|,|prev|) / min(|new|,|prev|) against the
**           previous run; drift when factor >= 1 + max_change.  Only for
**           the row count, the ratios and sd: a relative change of a
**           location (mean, median, min, max) means nothing near zero
**   z-score z = (new - mean) / sd over the last `window` earlier runs that
**           were not themselves flagged for this metric; drift when
**           |z| >= zscore.  sd has floors (a perfectly steady history has
**           sd 0): 2% of |mean|, min_delta for ratios, and the sampling
**           error of a mean or median (column sd / sqrt(values), the
**           larger of the newest and the previous run's)
** For ratio metrics both rules ignore moves smaller than min_delta.
**
** Contract: config parsing of "drift" keys (cs_drift_parse) lives here too,
** so config.c only calls it.  cs_drift_judge is pure (unit-tested).
*/
#ifndef CS_DRIFT_H
#define CS_DRIFT_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "engine.h"

struct cs_store;

/** Metrics drift can judge (bits of struct cs_driftconf.metrics). */
enum {
    CS_DRIFT_ROW_COUNT = 1u << 0,
    CS_DRIFT_NULL_RATIO = 1u << 1,
    CS_DRIFT_NEGATIVE_RATIO = 1u << 2,
    CS_DRIFT_DUPLICATE_RATIO = 1u << 3,
    CS_DRIFT_MEAN = 1u << 4,
    CS_DRIFT_SD = 1u << 5,
    CS_DRIFT_MIN = 1u << 6,
    CS_DRIFT_MAX = 1u << 7,
    CS_DRIFT_MEDIAN = 1u << 8,
};

#define CS_DRIFT_DEFAULT_MAX_CHANGE 1.0
#define CS_DRIFT_DEFAULT_ZSCORE 3.0
#define CS_DRIFT_DEFAULT_MIN_DELTA 0.01
#define CS_DRIFT_DEFAULT_WINDOW 10
#define CS_DRIFT_DEFAULT_MIN_RUNS 5
#define CS_DRIFT_MAX_WINDOW 100
/** The baseline sd is taken as at least this share of |baseline mean| (non-ratio metrics). */
#define CS_DRIFT_SD_FLOOR 0.02

/**
 * Parse a "drift" value (false or an object) at path into out.  table_level
 * allows "row_count" among the metrics.  CS_ECONFIG naming the key.
 */
int cs_drift_parse(json_t *v, const char *path, int table_level, struct cs_driftconf *out, struct cs_err *err);

/** The settings that govern a column ("*": the table's row count): column entry, else table entry, else defaults. */
void cs_drift_effective(const struct cs_tableconf *tc, const char *column, struct cs_driftconf *out);

/** How one metric of one column was judged. */
struct cs_drift_verdict {
    int judged;        /* enough history */
    int flagged;
    int by_change, by_z;
    double prev, change; /* previous value, factor (>= 1, may be inf) */
    int z_judged;
    double z, base_mean, base_sd; /* sd as used (after the floor) */
    size_t nbase;
};

/** What kind of number a metric is. */
struct cs_drift_metric {
    int ratio;    /* a share in 0..1: min_delta applies */
    int relative; /* the change rule applies (counts, ratios, sd) */
    double noise; /* expected run-to-run sampling sd of the value (a floor for the z-score), 0 when none */
};

/**
 * Judge `value` against past[0..n) (oldest first); flagged[i] marks past
 * points that were flagged for this metric before (flagged may be NULL).
 */
void cs_drift_judge(const double *past, const int *flagged, size_t n, double value, const struct cs_drift_metric *m,
                    const struct cs_driftconf *dc, struct cs_drift_verdict *out);

/**
 * Judge a whole-table run's metrics against the table's history in the
 * store and append drift findings to the run.  A no-op for customer runs
 * and runs without metrics.
 */
int cs_drift_check(struct cs_store *st, const struct cs_config *cfg, struct cs_run *run, struct cs_err *err);

#endif
