/*
** badabi.c -- a deliberately wrong check module for the loader test.
**
** It is a complete, working plugin in every respect but one: its struct
** claims check ABI version 99.  The host must refuse it with a message
** naming the file and the version, dlclose() it, and load the others.
*/
#include <stdlib.h>

#include "creditsense/check.h"

static int bad_init(const struct cs_host_api *api, void *hctx, const struct cs_table_info *t, void **state,
                    struct cs_err *err)
{
    (void)api, (void)hctx, (void)t, (void)err;
    *state = NULL;
    return 0;
}

static int bad_batch(void *state, const struct cs_batch *b, struct cs_err *err)
{
    (void)state, (void)b, (void)err;
    return 0;
}

static int bad_finish(void *state, struct cs_err *err)
{
    (void)state, (void)err;
    return 0;
}

static void bad_destroy(void *state)
{
    (void)state;
}

static const struct cs_check_plugin badabi_plugin = {
    .abi_version = 99, /* the point of this module */
    .struct_size = sizeof(struct cs_check_plugin),
    .name = "badabi",
    .description = "test module built for a future ABI",
    .init = bad_init,
    .batch = bad_batch,
    .finish = bad_finish,
    .destroy = bad_destroy,
};

CS_CHECK_DECLARE(badabi_plugin)
