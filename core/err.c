/*
** err.c -- filling struct cs_err.  See err.h for the contract.
*/
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cs_err_set(struct cs_err *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

int cs_err_prefix(struct cs_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return CS_EINTERNAL;
    char head[CS_ERR_MSG], old[CS_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    size_t hl = strnlen(head, sizeof(head) - 1), ol = strnlen(old, sizeof(old) - 1);
    if (hl + ol >= sizeof(err->msg))
        ol = sizeof(err->msg) - 1 - hl; /* keep the context, cut the tail */
    memcpy(err->msg, head, hl);
    memcpy(err->msg + hl, old, ol);
    err->msg[hl + ol] = '\0';
    return err->code;
}

void cs_err_clear(struct cs_err *err)
{
    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}
