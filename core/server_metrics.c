/*
** server_metrics.c -- counters and histograms in Prometheus text format.  See server_metrics.h.
**
** Labelled counters are kept as small arrays searched linearly: their
** label sets are few (routes x methods x statuses seen, checks x
** severities) and the hot path, a request, only scans its own route's
** handful of (method, status) pairs.  A labelled family stops growing at
** MAX_SERIES so that unexpected label values cannot use unbounded memory.
*/
#include "server_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 4096

static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof(BUCKETS) / sizeof(BUCKETS[0]))

static const char *const METHODS[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "other"};
#define NMETHODS (sizeof(METHODS) / sizeof(METHODS[0]))

struct status_count {
    uint8_t method;
    int status;
    uint64_t n;
};

struct route_stats {
    struct status_count *st;
    size_t nst, capst;
    uint64_t buckets[NBUCKETS]; /* not cumulative; summed when rendered */
    uint64_t count;
    double sum;
};

struct series {
    char *labels; /* rendered label set: check="missing",severity="low" */
    uint64_t n;
};

struct family {
    struct series *v;
    size_t n, cap;
};

struct cs_srv_metrics {
    const char *const *routes;
    size_t nroutes;
    struct route_stats *r;
    struct family runs, findings, scans;
    uint64_t counters[CS_SRV_NCOUNTERS];
};

/* ---- text buffer ------------------------------------------------------------ */

static int buf_reserve(struct cs_srv_buf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void cs_srv_buf_printf(struct cs_srv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cs_srv_buf_label(struct cs_srv_buf *b, const char *value)
{
    for (const char *s = value; *s; s++) {
        if (*s == '\\')
            cs_srv_buf_printf(b, "\\\\");
        else if (*s == '"')
            cs_srv_buf_printf(b, "\\\"");
        else if (*s == '\n')
            cs_srv_buf_printf(b, "\\n");
        else
            cs_srv_buf_printf(b, "%c", *s);
    }
}

void cs_srv_buf_family(struct cs_srv_buf *b, const char *name, const char *type, const char *help)
{
    cs_srv_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- series --------------------------------------------------------------------- */

static void family_add(struct family *f, const char *labels, uint64_t n)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].labels, labels) == 0) {
            f->v[i].n += n;
            return;
        }
    if (f->n >= MAX_SERIES)
        return;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct series *v = realloc(f->v, cap * sizeof(*v));
        if (v == NULL)
            return;
        f->v = v;
        f->cap = cap;
    }
    if ((f->v[f->n].labels = strdup(labels)) == NULL)
        return;
    f->v[f->n++].n = n;
}

static void family_free(struct family *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].labels);
    free(f->v);
}

/* Render label pairs (name, value, name, value, ..., NULL) into out. */
static void labels(char *out, size_t size, ...)
{
    struct cs_srv_buf b = {0};
    va_list ap;
    va_start(ap, size);
    const char *name;
    int first = 1;
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        cs_srv_buf_printf(&b, "%s%s=\"", first ? "" : ",", name);
        cs_srv_buf_label(&b, value ? value : "");
        cs_srv_buf_printf(&b, "\"");
        first = 0;
    }
    va_end(ap);
    snprintf(out, size, "%s", b.p && !b.oom ? b.p : "");
    free(b.p);
}

/* ---- public ----------------------------------------------------------------------- */

struct cs_srv_metrics *cs_srv_metrics_new(const char *const *routes, size_t nroutes)
{
    struct cs_srv_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->r = calloc(nroutes, sizeof(*m->r))) == NULL) {
        free(m);
        return NULL;
    }
    m->routes = routes;
    m->nroutes = nroutes;
    return m;
}

void cs_srv_metrics_free(struct cs_srv_metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nroutes; i++)
        free(m->r[i].st);
    free(m->r);
    family_free(&m->runs);
    family_free(&m->findings);
    family_free(&m->scans);
    free(m);
}

static uint8_t method_index(const char *method)
{
    for (uint8_t i = 0; i < NMETHODS - 1; i++)
        if (strcmp(METHODS[i], method) == 0)
            return i;
    return NMETHODS - 1;
}

void cs_srv_metrics_request(struct cs_srv_metrics *m, size_t route, const char *method, int status, double seconds)
{
    if (route >= m->nroutes)
        return;
    struct route_stats *r = &m->r[route];
    uint8_t mi = method_index(method);
    size_t i;
    for (i = 0; i < r->nst && (r->st[i].method != mi || r->st[i].status != status); i++)
        ;
    if (i == r->nst && r->nst < 64) {
        if (r->nst == r->capst) {
            size_t cap = r->capst ? r->capst * 2 : 4;
            struct status_count *st = realloc(r->st, cap * sizeof(*st));
            if (st == NULL)
                return;
            r->st = st;
            r->capst = cap;
        }
        r->st[r->nst++] = (struct status_count){mi, status, 0};
    }
    if (i < r->nst)
        r->st[i].n++;
    size_t b;
    for (b = 0; b < NBUCKETS && seconds > BUCKETS[b]; b++)
        ;
    if (b < NBUCKETS)
        r->buckets[b]++;
    r->count++;
    r->sum += seconds;
}

void cs_srv_metrics_run(struct cs_srv_metrics *m, const char *scope, const char *outcome)
{
    char l[256];
    labels(l, sizeof(l), "scope", scope, "outcome", outcome, NULL);
    family_add(&m->runs, l, 1);
}

void cs_srv_metrics_scan(struct cs_srv_metrics *m, const char *outcome)
{
    char l[128];
    labels(l, sizeof(l), "outcome", outcome, NULL);
    family_add(&m->scans, l, 1);
}

void cs_srv_metrics_findings(struct cs_srv_metrics *m, const char *check, const char *source, const char *severity,
                             uint64_t n)
{
    char l[512];
    labels(l, sizeof(l), "check", check, "source", source, "severity", severity, NULL);
    family_add(&m->findings, l, n);
}

void cs_srv_metrics_inc(struct cs_srv_metrics *m, enum cs_srv_counter c)
{
    if (c < CS_SRV_NCOUNTERS)
        m->counters[c]++;
}

static void render_family(struct cs_srv_buf *b, const struct family *f, const char *name, const char *help)
{
    cs_srv_buf_family(b, name, "counter", help);
    for (size_t i = 0; i < f->n; i++)
        cs_srv_buf_printf(b, "%s{%s} %llu\n", name, f->v[i].labels, (unsigned long long)f->v[i].n);
}

static void render_requests(const struct cs_srv_metrics *m, struct cs_srv_buf *b)
{
    cs_srv_buf_family(b, "creditsense_http_requests_total", "counter", "HTTP requests by route, method and status.");
    for (size_t r = 0; r < m->nroutes; r++)
        for (size_t i = 0; i < m->r[r].nst; i++) {
            const struct status_count *s = &m->r[r].st[i];
            cs_srv_buf_printf(b, "creditsense_http_requests_total{route=\"");
            cs_srv_buf_label(b, m->routes[r]);
            cs_srv_buf_printf(b, "\",method=\"%s\",status=\"%d\"} %llu\n", METHODS[s->method], s->status,
                              (unsigned long long)s->n);
        }
    cs_srv_buf_family(b, "creditsense_http_request_duration_seconds", "histogram",
                      "Time from the request's arrival to its response, by route.");
    for (size_t r = 0; r < m->nroutes; r++) {
        const struct route_stats *rs = &m->r[r];
        if (rs->count == 0)
            continue;
        uint64_t cum = 0;
        for (size_t k = 0; k <= NBUCKETS; k++) {
            cum += k < NBUCKETS ? rs->buckets[k] : 0;
            cs_srv_buf_printf(b, "creditsense_http_request_duration_seconds_bucket{route=\"");
            cs_srv_buf_label(b, m->routes[r]);
            if (k < NBUCKETS)
                cs_srv_buf_printf(b, "\",le=\"%g\"} %llu\n", BUCKETS[k], (unsigned long long)cum);
            else
                cs_srv_buf_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)rs->count);
        }
        cs_srv_buf_printf(b, "creditsense_http_request_duration_seconds_sum{route=\"");
        cs_srv_buf_label(b, m->routes[r]);
        cs_srv_buf_printf(b, "\"} %.6f\ncreditsense_http_request_duration_seconds_count{route=\"", rs->sum);
        cs_srv_buf_label(b, m->routes[r]);
        cs_srv_buf_printf(b, "\"} %llu\n", (unsigned long long)rs->count);
    }
}

static void render_counter(struct cs_srv_buf *b, const char *name, const char *help, uint64_t v)
{
    cs_srv_buf_family(b, name, "counter", help);
    cs_srv_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

void cs_srv_metrics_render(const struct cs_srv_metrics *m, struct cs_srv_buf *b)
{
    render_requests(m, b);
    render_family(b, &m->runs, "creditsense_runs_total", "Check runs by scope (customer, table) and outcome.");
    render_family(b, &m->findings, "creditsense_findings_total", "Findings reported, by check, source and severity.");
    render_family(b, &m->scans, "creditsense_scans_total", "Background table scans by outcome.");
    render_counter(b, "creditsense_rule_errors_total", "Lua rules that failed during a run (error findings).",
                   m->counters[CS_SRV_RULE_ERRORS]);
    render_counter(b, "creditsense_rate_limited_total", "Requests refused with 429 by the per-client rate limit.",
                   m->counters[CS_SRV_RATE_LIMITED]);
    render_counter(b, "creditsense_auth_failures_total", "Write requests refused with 401.",
                   m->counters[CS_SRV_AUTH_FAILURES]);
    render_counter(b, "creditsense_queue_rejections_total", "Requests refused with 503 because the work queue was full.",
                   m->counters[CS_SRV_QUEUE_REJECTIONS]);
}
