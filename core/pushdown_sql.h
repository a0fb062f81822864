/*
** pushdown_sql.h -- private to pushdown.c and pushdown_sql.c: SQL text with
** its bound parameters, and the dialect's spelling of each piece a check
** needs (conditional counts, finite tests, percentiles).
**
** A struct pd_sql grows by appending; on out of memory it records `oom`
** and ignores further appends, so builders check once at the end.  Every
** user value (sentinels, thresholds, computed statistics) goes in as a
** `?` with a parameter, never as text.
*/
#ifndef CS_PUSHDOWN_SQL_H
#define CS_PUSHDOWN_SQL_H

#include <stddef.h>

#include "dialect.h"
#include "source.h"

struct pd_sql {
    char *s;
    size_t len, cap;
    struct cs_qparam *p;
    size_t np, pcap;
    size_t ncols; /* select-list entries (for explain's stand-in results) */
    int oom;
};

void pd_add(struct pd_sql *q, const char *text);
void pd_addf(struct pd_sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pd_ident(struct pd_sql *q, enum cs_dialect d, const char *ident);
void pd_param_f64(struct pd_sql *q, double v);
void pd_param_i64(struct pd_sql *q, long long v);
/** text is borrowed: it must outlive the query's execution. */
void pd_param_text(struct pd_sql *q, const char *text);
/** Append src's text and parameters to q. */
void pd_cat(struct pd_sql *q, const struct pd_sql *src);
void pd_free(struct pd_sql *q);

/* ---- dialect pieces ---- */

/** "COUNT_IF(" / "COUNT(*) FILTER (WHERE " ... : open a conditional count; close with pd_count_if_end. */
void pd_count_if_begin(struct pd_sql *q, enum cs_dialect d);
void pd_count_if_end(struct pd_sql *q, enum cs_dialect d);
/** +infinity / -infinity as a literal of the dialect. */
const char *pd_inf(enum cs_dialect d, int negative);
/** NaN literal, or NULL where the dialect cannot store NaN (SQLite). */
const char *pd_nan(enum cs_dialect d);
/** Open an exact percentile aggregate over the expression that follows; close with pd_percentile_end. */
void pd_percentile_begin(struct pd_sql *q, enum cs_dialect d, double p);
void pd_percentile_end(struct pd_sql *q, enum cs_dialect d);
/** Function trimming the characters of its second argument from both ends. */
const char *pd_trim_fn(enum cs_dialect d);
/** Function building one value of a composite key's columns: json_build_array, ARRAY_CONSTRUCT, json_array. */
const char *pd_key_array_fn(enum cs_dialect d);
/** 1 when src is a native SQLite connection, which has sqlite_funcs.h's cs_stats and cs_outliers. */
int pd_sqlite_funcs(const struct cs_source *src);

#endif
