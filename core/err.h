/*
** err.h -- error codes and the helper that fills struct cs_err.
**
** Contract: a function that can fail returns 0 or one of the negative CS_E*
** codes below and, when its `err` argument is not NULL, leaves a message in
** err->msg that names the thing that went wrong and what to do about it.
** cs_err_set() returns the code it was given so callers can
** `return cs_err_set(err, CS_ECONFIG, "...")`.
*/
#ifndef CS_ERR_H
#define CS_ERR_H

#include "creditsense/check.h"

enum {
    CS_OK = 0,
    CS_EUSAGE = -2,    /* bad command line */
    CS_ECONFIG = -3,   /* bad or unreadable configuration */
    CS_ESOURCE = -4,   /* database connection or query failed */
    CS_ENOTFOUND = -5, /* unknown table, column or customer */
    CS_ENOMEM = -6,    /* out of memory */
    CS_EPLUGIN = -7,   /* a plugin failed */
    CS_EDATA = -8,     /* data the engine cannot interpret */
    CS_EINTERNAL = -9, /* a bug: please report */
    CS_ECANCELED = -10, /* stopped on request (cs_scan_opts.cancel) */
};

/** Fill err (when not NULL) with code and a printf-style message; returns code. */
int cs_err_set(struct cs_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Prefix err->msg with more context ("table X: " + old message); returns err->code. */
int cs_err_prefix(struct cs_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Clear err. */
void cs_err_clear(struct cs_err *err);

#endif
