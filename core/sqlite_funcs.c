/*
** sqlite_funcs.c -- cs_stats and cs_outliers, aggregate SQL functions for
** the native SQLite connection.  Contract in sqlite_funcs.h.
**
** State lives in SQLite's per-group aggregate context, so the functions
** hold no globals and any number of them run in one statement.  An
** out-of-memory condition is reported to SQLite (sqlite3_result_error_nomem),
** which fails the statement: a pushdown query never returns a partial answer.
*/
#include "sqlite_funcs.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creditsense/check.h"
#include "source_impl.h"
#include "stats.h"

/* ---- values as the native reader reads them -------------------------------- */

/* 1 and *out when x holds a number of column type `type` (sq_int_cell / sq_double_cell). */
static int read_value(sqlite3_value *x, int type, double *out)
{
    int64_t i;
    switch (sqlite3_value_type(x)) {
    case SQLITE_INTEGER: *out = (double)sqlite3_value_int64(x); return 1;
    case SQLITE_FLOAT:
        *out = sqlite3_value_double(x);
        return type != CS_TYPE_INT64 || cs_f64_to_i64(*out, &i);
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_value_text(x);
        size_t len = (size_t)sqlite3_value_bytes(x);
        if (s == NULL)
            return 0;
        if (type != CS_TYPE_INT64)
            return cs_parse_f64(s, len, out);
        if (!cs_parse_i64(s, len, &i))
            return 0;
        *out = (double)i;
        return 1;
    }
    default: return 0; /* NULL, BLOB */
    }
}

/* Usable as stats.c counts it: finite and none of argv[0..n). */
static int usable(double v, sqlite3_value **sent, int n)
{
    if (!isfinite(v))
        return 0;
    for (int k = 0; k < n; k++)
        if (v == sqlite3_value_double(sent[k]))
            return 0;
    return 1;
}

/* ---- cs_stats(x, type, full, sentinel...) ----------------------------------- */

struct stats_ctx {
    int started;
    uint64_t n;
    double mean, m2, min, max; /* moments: stats.c's append() recurrence, same order */
    struct cs_stats *all;      /* full: every value, for the quantiles */
    int oom;
};

static void stats_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct stats_ctx *s = sqlite3_aggregate_context(ctx, sizeof(*s));
    double v;
    if (s == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (s->oom || argc < 3 || !read_value(argv[0], sqlite3_value_int(argv[1]), &v) || !usable(v, argv + 3, argc - 3))
        return;
    if (!s->started) {
        s->started = 1;
        s->min = s->max = v;
        if (sqlite3_value_int(argv[2]) && (s->all = cs_stats_new(NULL, NULL, NULL)) == NULL)
            s->oom = 1;
    }
    if (s->all != NULL && cs_stats_push(s->all, v, CS_KEYREF_NONE) != 0)
        s->oom = 1;
    s->n++;
    double d = v - s->mean;
    s->mean += d / (double)s->n;
    s->m2 += d * (v - s->mean);
    if (v < s->min)
        s->min = v;
    if (v > s->max)
        s->max = v;
}

static void stats_final(sqlite3_context *ctx)
{
    struct stats_ctx *s = sqlite3_aggregate_context(ctx, 0);
    if (s == NULL || s->n == 0) {
        sqlite3_result_null(ctx);
        return;
    }
    struct cs_profile p = {.count = s->n, .mean = s->mean, .sd = sqrt(s->m2 / (double)s->n), .min = s->min,
                           .max = s->max};
    if (!s->oom && s->all != NULL && cs_stats_profile(s->all, &p) != 0)
        s->oom = 1;
    cs_stats_free(s->all);
    s->all = NULL;
    if (s->oom) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    char text[320]; /* hex floats: exact, and SQLite's own printf has no %a */
    snprintf(text, sizeof(text), "%llu %a %a %a %a %a %a %a %a", (unsigned long long)p.count, p.min, p.max, p.mean,
             p.sd, p.q1, p.median, p.q3, p.mad);
    sqlite3_result_text(ctx, text, -1, SQLITE_TRANSIENT);
}

int cs_sqlf_stats_parse(const char *text, struct cs_sqlf_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (text == NULL)
        return 0;
    double *f[] = {&out->min, &out->max, &out->mean, &out->sd, &out->q1, &out->median, &out->q3, &out->mad};
    char *end;
    out->n = strtoull(text, &end, 10);
    for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
        const char *p = end;
        *f[k] = strtod(p, &end);
        if (end == p)
            return -1;
    }
    return *end == '\0' ? 0 : -1;
}

/* ---- cs_outliers(x, type, lower, upper, nsent, sentinel..., key...) -------------- */

struct offender {
    double dist;
    sqlite3_value **key; /* nkeys protected copies */
};

struct outliers_ctx {
    uint64_t count;
    int nkeys, n, oom;
    struct offender top[CS_SQLF_SAMPLES]; /* farthest first */
};

static void free_key(struct offender *o, int nkeys)
{
    for (int k = 0; o->key != NULL && k < nkeys; k++)
        sqlite3_value_free(o->key[k]);
    free(o->key);
    o->key = NULL;
}

/* Keep the row's key when it is among the farthest; strictly farther moves ahead, so ties keep scan order. */
static void keep_offender(struct outliers_ctx *s, double dist, sqlite3_value **key, int nkeys)
{
    if (nkeys == 0 || (s->n == CS_SQLF_SAMPLES && !(dist > s->top[s->n - 1].dist)))
        return;
    struct offender o = {.dist = dist, .key = calloc((size_t)nkeys, sizeof(*o.key))};
    for (int k = 0; o.key != NULL && k < nkeys; k++)
        if ((o.key[k] = sqlite3_value_dup(key[k])) == NULL) {
            free_key(&o, nkeys);
            break;
        }
    if (o.key == NULL) {
        s->oom = 1;
        return;
    }
    s->nkeys = nkeys;
    if (s->n == CS_SQLF_SAMPLES)
        free_key(&s->top[--s->n], nkeys);
    int i = s->n++;
    for (; i > 0 && dist > s->top[i - 1].dist; i--)
        s->top[i] = s->top[i - 1];
    s->top[i] = o;
}

static void outliers_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct outliers_ctx *s = sqlite3_aggregate_context(ctx, sizeof(*s));
    double v;
    if (s == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    int nsent = argc >= 5 ? sqlite3_value_int(argv[4]) : -1;
    if (nsent < 0 || 5 + nsent > argc) {
        sqlite3_result_error(ctx, "cs_outliers: wrong arguments", -1);
        return;
    }
    if (s->oom || !read_value(argv[0], sqlite3_value_int(argv[1]), &v) || !usable(v, argv + 5, nsent))
        return;
    double lower = sqlite3_value_double(argv[2]), upper = sqlite3_value_double(argv[3]);
    if (!(v < lower || v > upper))
        return;
    s->count++;
    keep_offender(s, v < lower ? lower - v : v - upper, argv + 5 + nsent, argc - 5 - nsent);
}

static json_t *value_json(sqlite3_value *v)
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_value_int64(v));
    case SQLITE_FLOAT: return json_real(sqlite3_value_double(v));
    case SQLITE_NULL: return json_null();
    default: {
        const char *t = (const char *)sqlite3_value_text(v);
        return json_string(t ? t : "");
    }
    }
}

static char *keys_text(const struct outliers_ctx *s)
{
    json_t *keys = json_array();
    for (int i = 0; keys != NULL && i < s->n; i++) {
        json_t *key = s->nkeys == 1 ? value_json(s->top[i].key[0]) : json_array();
        for (int k = 0; s->nkeys > 1 && key != NULL && k < s->nkeys; k++)
            json_array_append_new(key, value_json(s->top[i].key[k]));
        if (key == NULL || json_array_append_new(keys, key) != 0) {
            json_decref(keys);
            return NULL;
        }
    }
    char *out = keys ? json_dumps(keys, JSON_COMPACT) : NULL;
    json_decref(keys);
    return out;
}

static void outliers_final(sqlite3_context *ctx)
{
    struct outliers_ctx *s = sqlite3_aggregate_context(ctx, 0);
    if (s == NULL) {
        sqlite3_result_text(ctx, "0\t[]", -1, SQLITE_STATIC);
        return;
    }
    char *keys = s->oom ? NULL : keys_text(s);
    char *text = keys ? sqlite3_mprintf("%llu\t%s", (unsigned long long)s->count, keys) : NULL;
    free(keys);
    for (int i = 0; i < s->n; i++)
        free_key(&s->top[i], s->nkeys);
    if (text == NULL)
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_text(ctx, text, -1, sqlite3_free);
}

int cs_sqlite_funcs_register(sqlite3 *db)
{
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    int rc = sqlite3_create_function_v2(db, "cs_stats", -1, flags, NULL, NULL, stats_step, stats_final, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, "cs_outliers", -1, flags, NULL, NULL, outliers_step, outliers_final,
                                        NULL);
    return rc;
}
