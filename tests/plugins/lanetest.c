/*
** lanetest.c -- check modules for the check-lane test (tests/test_cli.py).
**
** Built twice: as "slowpoke" (LANETEST_FAIL 0), which sleeps 0.5 ms per
** batch and finds nothing, and as "failat" (LANETEST_FAIL 1), which sleeps
** twice as long and fails on the first batch past row FAIL_ROW.  The sleeps
** decide how the engine splits the checks after its timed first batches:
** the calling thread starts with the metrics' and rules' time, so the
** slowest check, failat, goes to the second lane, and its failure there
** must reach the user as a clean error.
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "creditsense/check.h"

#define FAIL_ROW 50

struct lanetest {
    int unused;
};

static int lt_init(const struct cs_host_api *api, void *hctx, const struct cs_table_info *t, void **state,
                   struct cs_err *err)
{
    (void)api, (void)hctx, (void)t, (void)err;
    *state = calloc(1, sizeof(struct lanetest));
    return *state ? CS_CHECK_OK : CS_CHECK_ENOMEM;
}

static int lt_batch(void *state, const struct cs_batch *b, struct cs_err *err)
{
    (void)state;
    struct timespec ts = {0, (LANETEST_FAIL ? 1000 : 500) * 1000L};
    nanosleep(&ts, NULL);
    if (LANETEST_FAIL && b->first_row + b->nrows > FAIL_ROW) {
        err->code = CS_CHECK_EPLUGIN;
        snprintf(err->msg, sizeof(err->msg), "planted failure after row %d", FAIL_ROW);
        return CS_CHECK_EPLUGIN;
    }
    return CS_CHECK_OK;
}

static int lt_finish(void *state, struct cs_err *err)
{
    (void)state, (void)err;
    return CS_CHECK_OK;
}

static void lt_destroy(void *state)
{
    free(state);
}

static const struct cs_check_plugin lanetest_plugin = {
    .abi_version = CS_CHECK_ABI_VERSION,
    .struct_size = sizeof(struct cs_check_plugin),
    .name = LANETEST_NAME,
    .description = "test module for check lanes",
    .init = lt_init,
    .batch = lt_batch,
    .finish = lt_finish,
    .destroy = lt_destroy,
};

CS_CHECK_DECLARE(lanetest_plugin)
