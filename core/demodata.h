/*
** demodata.h -- a deterministic generator of Home Credit-style sample data.
**
** Contract:
**   cs_demodata_write() writes a new SQLite database to opts->out with four
**   tables, SAMPLE_APPLICATION, SAMPLE_BUREAU, SAMPLE_PREVIOUS_APP and
**   SAMPLE_INSTALLMENTS, whose columns, types, distributions, missing rates
**   and quirks follow the public Home Credit Default Risk data, plus a small,
**   documented set of deliberate defects (docs/sample-data.md).
**   - Customers get SK_ID_CURR 100002 .. 100002 + customers - 1; the six
**     example customers (CS_DEMODATA_EXAMPLE_IDS) are always present, added
**     after the range when it does not reach them.
**   - The same seed and customer count give the same rows, in the same order,
**     with the same values (on the same platform and build: values come from
**     libm's exp/log, which may differ in the last bit elsewhere).
**   - The file is built as "<out>.tmp-<pid>", flushed to disk and renamed over
**     out, so out is either the old file or the complete new one.  On failure
**     the temporary file is removed and an existing out is left untouched.
**     Two writers of the same out in one process are not supported.
**   - No global mutable state: calls on different threads (different outputs)
**     are independent.
**   - progress (may be NULL) is called on the calling thread about every
**     10,000 rows of each table and once when a table is done; total is the
**     final row count when it is known in advance (the application table) and
**     0 otherwise.
*/
#ifndef CS_DEMODATA_H
#define CS_DEMODATA_H

#include <stdint.h>

#include "creditsense/check.h"

/** The example customers the docs and the quickstart refer to, comma-separated. */
#define CS_DEMODATA_EXAMPLE_IDS 103065, 108032, 111950, 112961, 121072, 103788

/** First SK_ID_CURR, as in the real data. */
#define CS_DEMODATA_FIRST_ID 100002

/** Largest accepted customer count (keeps ids and row counters far from overflow). */
#define CS_DEMODATA_MAX_CUSTOMERS 50000000u

struct cs_demodata_opts {
    const char *out;    /**< database file to create or replace */
    uint64_t customers; /**< 1 .. CS_DEMODATA_MAX_CUSTOMERS */
    uint64_t seed;      /**< any value; the same seed gives the same data */
    /** Optional progress report; table is borrowed for the call. */
    void (*progress)(void *ctx, const char *table, uint64_t done, uint64_t total);
    void *progress_ctx;
};

/**
 * Generate the sample database described above.
 * Returns 0, or CS_EUSAGE (bad options), CS_ESOURCE (SQLite or file system
 * failure, message names the path and the reason) or CS_ENOMEM, with err
 * filled when not NULL.
 */
int cs_demodata_write(const struct cs_demodata_opts *o, struct cs_err *err);

#endif
