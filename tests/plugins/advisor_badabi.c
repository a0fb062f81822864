/*
** advisor_badabi.c -- a deliberately wrong advisor module for the advisor
** test.  It is built as tests/advisor_offline.so, so a test pointing the
** advisor at the tests directory asks for it by the offline backend's name;
** its struct claims advisor ABI version 99 and must be refused with a
** message naming the file and the version.  The check loader must skip it
** (advisor_ prefix) without an error.
*/
#include <stddef.h>

#include "creditsense/advisor.h"

static int bad_init(const struct cs_advisor_host *api, void *hctx, void **state, struct cs_advisor_err *err)
{
    (void)api, (void)hctx, (void)err;
    *state = NULL;
    return 0;
}

static int bad_call(void *state, const struct cs_advisor_request *req, struct cs_advisor_response *resp)
{
    (void)state, (void)req;
    resp->status = CS_ADVISOR_FAILED;
    return 0;
}

static void bad_destroy(void *state)
{
    (void)state;
}

static const struct cs_advisor_plugin plugin = {
    .abi_version = 99,
    .struct_size = sizeof(struct cs_advisor_plugin),
    .name = "offline",
    .description = "wrong ABI version",
    .default_model = "bad",
    .init = bad_init,
    .call = bad_call,
    .destroy = bad_destroy,
};

CS_ADVISOR_DECLARE(plugin)
