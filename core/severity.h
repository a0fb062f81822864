/*
** severity.h -- how a finding's severity is decided.
**
** Severity depends on the check, the finding's kind, the share of rows it
** affects and the column's settings.  The rules are documented, with the
** same numbers, in docs/checks.md ("Severity"); change both together.
*/
#ifndef CS_SEVERITY_H
#define CS_SEVERITY_H

#include "config.h"

struct cs_severity_in {
    const char *check;
    const char *kind;
    uint64_t count, total;
    int is_key;                  /* the column is (part of) a key */
    int customer;                /* per-customer run */
    const struct cs_colconf *cc; /* governing column settings, may be NULL */
    double change;               /* drift: factor between the new and the previous value (>= 1), 0 when unknown */
};

/** The severity (enum cs_severity) of a finding. */
int cs_severity_of(const struct cs_severity_in *in);

#endif
