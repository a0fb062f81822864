/*
** severity.c -- severity rules.  See severity.h and docs/checks.md.
*/
#include "severity.h"

#include <string.h>

/* Map a ratio onto low/medium/high by two thresholds, never below floor. */
static int by_ratio(double r, double medium_at, double high_at, int floor)
{
    int s = r >= high_at ? CS_SEV_HIGH : r >= medium_at ? CS_SEV_MEDIUM : CS_SEV_LOW;
    return s < floor ? floor : s;
}

static int missing_severity(const struct cs_severity_in *in, double r)
{
    if (strcmp(in->kind, "invalid") == 0)
        return CS_SEV_HIGH;
    if (in->is_key)
        return CS_SEV_CRITICAL;
    if (strcmp(in->kind, "sentinel") == 0) /* a customer's placeholders are no rate: low */
        return r >= 0.2 && !in->customer ? CS_SEV_MEDIUM : CS_SEV_LOW;
    if (in->cc != NULL && r <= in->cc->max_missing)
        return CS_SEV_INFO;
    /* One customer's few rows say nothing about rates: a value the config expects to be
     * missing at times is information, one that is normally present is worth a look. */
    if (in->customer)
        return in->cc != NULL && in->cc->max_missing > 0 ? CS_SEV_INFO : CS_SEV_MEDIUM;
    if (r >= 1.0 && !in->customer)
        return CS_SEV_HIGH;
    if (r < 0.01)
        return CS_SEV_INFO;
    return by_ratio(r, 0.2, 0.5, CS_SEV_LOW);
}

int cs_severity_of(const struct cs_severity_in *in)
{
    if (in->cc != NULL && in->cc->severity >= 0)
        return in->cc->severity;
    double r = in->total ? (double)in->count / (double)in->total : 0.0;
    if (strcmp(in->check, "missing") == 0)
        return missing_severity(in, r);
    if (strcmp(in->check, "negative") == 0)
        return in->is_key ? CS_SEV_CRITICAL : by_ratio(r, 0.01, 0.10, CS_SEV_LOW);
    if (strcmp(in->check, "duplicate") == 0) {
        if (strcmp(in->kind, "key") == 0)
            return r >= 0.01 ? CS_SEV_CRITICAL : CS_SEV_HIGH;
        return r >= 0.01 ? CS_SEV_HIGH : CS_SEV_MEDIUM;
    }
    if (strcmp(in->check, "outlier") == 0)
        return in->customer ? CS_SEV_MEDIUM : by_ratio(r, 0.01, 0.05, CS_SEV_LOW);
    if (strcmp(in->check, "drift") == 0) /* a metric moved against its history (drift.c) */
        return in->change >= 3.0 ? CS_SEV_HIGH : CS_SEV_MEDIUM;
    return CS_SEV_MEDIUM;
}
