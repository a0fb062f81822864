/*
** pushdown_sql.c -- SQL text with bound parameters, and the dialect
** spelling of the pieces the pushdown checks use.  See pushdown_sql.h and
** docs/pushdown.md (the tables there list what each function writes).
*/
#include "pushdown_sql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(struct pd_sql *q, size_t more)
{
    if (q->oom || q->len + more + 1 <= q->cap)
        return;
    size_t cap = q->cap ? q->cap : 256;
    while (cap < q->len + more + 1)
        cap *= 2;
    char *s = realloc(q->s, cap);
    if (s == NULL) {
        q->oom = 1;
        return;
    }
    q->s = s;
    q->cap = cap;
}

void pd_add(struct pd_sql *q, const char *text)
{
    size_t n = strlen(text);
    reserve(q, n);
    if (q->oom)
        return;
    memcpy(q->s + q->len, text, n + 1);
    q->len += n;
}

void pd_addf(struct pd_sql *q, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        q->oom = 1; /* only short, fixed fragments go through here */
    else
        pd_add(q, buf);
}

void pd_ident(struct pd_sql *q, enum cs_dialect d, const char *ident)
{
    size_t room = 2 * strlen(ident) + 3;
    reserve(q, room);
    if (q->oom)
        return;
    int n = cs_dialect_quote(d, ident, q->s + q->len, q->cap - q->len);
    if (n < 0)
        q->oom = 1;
    else
        q->len += (size_t)n;
}

static struct cs_qparam *new_param(struct pd_sql *q)
{
    if (q->oom)
        return NULL;
    if (q->np == q->pcap) {
        size_t cap = q->pcap ? q->pcap * 2 : 16;
        struct cs_qparam *p = realloc(q->p, cap * sizeof(*p));
        if (p == NULL) {
            q->oom = 1;
            return NULL;
        }
        q->p = p;
        q->pcap = cap;
    }
    struct cs_qparam *p = &q->p[q->np++];
    memset(p, 0, sizeof(*p));
    pd_add(q, "?");
    return p;
}

void pd_param_f64(struct pd_sql *q, double v)
{
    struct cs_qparam *p = new_param(q);
    if (p != NULL)
        p->type = CS_TYPE_DOUBLE, p->f64 = v;
}

void pd_param_i64(struct pd_sql *q, long long v)
{
    struct cs_qparam *p = new_param(q);
    if (p != NULL)
        p->type = CS_TYPE_INT64, p->i64 = v;
}

void pd_param_text(struct pd_sql *q, const char *text)
{
    struct cs_qparam *p = new_param(q);
    if (p != NULL)
        p->type = CS_TYPE_TEXT, p->text = text;
}

void pd_cat(struct pd_sql *q, const struct pd_sql *src)
{
    if (src->oom) {
        q->oom = 1;
        return;
    }
    for (size_t i = 0; i < src->np && !q->oom; i++) {
        if (q->np == q->pcap) {
            size_t cap = q->pcap ? q->pcap * 2 : 16;
            while (cap < q->np + src->np - i)
                cap *= 2;
            struct cs_qparam *p = realloc(q->p, cap * sizeof(*p));
            if (p == NULL) {
                q->oom = 1;
                return;
            }
            q->p = p;
            q->pcap = cap;
        }
        q->p[q->np++] = src->p[i];
    }
    if (src->s != NULL)
        pd_add(q, src->s);
}

void pd_free(struct pd_sql *q)
{
    free(q->s);
    free(q->p);
    memset(q, 0, sizeof(*q));
}

/* ---- dialect pieces ------------------------------------------------------ */

void pd_count_if_begin(struct pd_sql *q, enum cs_dialect d)
{
    switch (d) {
    case CS_DIALECT_SNOWFLAKE: pd_add(q, "COUNT_IF("); break;
    case CS_DIALECT_POSTGRES:
    case CS_DIALECT_SQLITE: pd_add(q, "COUNT(*) FILTER (WHERE "); break; /* SQLite >= 3.30 */
    default: pd_add(q, "COUNT(CASE WHEN "); break;
    }
}

void pd_count_if_end(struct pd_sql *q, enum cs_dialect d)
{
    pd_add(q, d == CS_DIALECT_GENERIC ? " THEN 1 END)" : ")");
}


const char *pd_inf(enum cs_dialect d, int negative)
{
    switch (d) {
    case CS_DIALECT_SQLITE: return negative ? "-9e999" : "9e999"; /* SQLite reads an overflowing literal as inf */
    case CS_DIALECT_SNOWFLAKE: return negative ? "CAST('-inf' AS DOUBLE)" : "CAST('inf' AS DOUBLE)";
    default: return negative ? "CAST('-Infinity' AS DOUBLE PRECISION)" : "CAST('Infinity' AS DOUBLE PRECISION)";
    }
}

const char *pd_nan(enum cs_dialect d)
{
    switch (d) {
    case CS_DIALECT_SQLITE: return NULL; /* NaN is stored as NULL */
    case CS_DIALECT_SNOWFLAKE: return "CAST('NaN' AS DOUBLE)";
    default: return "CAST('NaN' AS DOUBLE PRECISION)";
    }
}

void pd_percentile_begin(struct pd_sql *q, enum cs_dialect d, double p)
{
    if (d == CS_DIALECT_SNOWFLAKE && p == 0.5)
        pd_add(q, "MEDIAN(");
    else
        pd_addf(q, "%s(%g) WITHIN GROUP (ORDER BY ", d == CS_DIALECT_SNOWFLAKE ? "PERCENTILE_CONT" : "percentile_cont",
                p);
}

void pd_percentile_end(struct pd_sql *q, enum cs_dialect d)
{
    (void)d;
    pd_add(q, ")");
}

const char *pd_trim_fn(enum cs_dialect d)
{
    return d == CS_DIALECT_POSTGRES ? "btrim" : "TRIM";
}

const char *pd_key_array_fn(enum cs_dialect d)
{
    /* each gives an array that the sample-key aggregates nest and serialise as JSON */
    switch (d) {
    case CS_DIALECT_SNOWFLAKE: return "ARRAY_CONSTRUCT";
    case CS_DIALECT_SQLITE: return "json_array";
    default: return "json_build_array";
    }
}

int pd_sqlite_funcs(const struct cs_source *src)
{
    /* cs_sqlite_open registers them on every native connection; explain (src NULL) and ODBC have none */
    return src != NULL && strcmp(cs_source_kind(src), "sqlite-native") == 0;
}
