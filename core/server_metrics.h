/*
** server_metrics.h -- the daemon's Prometheus metrics (GET /metrics).
**
** Counters and histograms live on the event loop thread only: every event
** they count (a request finishing, a run coming back from a worker, a
** database error reported with a job) is seen there, so they need no
** locks and cost a few additions per request.  Gauges (queue depth,
** workers busy, readiness) are read when the page is rendered.
**
** Families (all prefixed creditsense_):
**   http_requests_total{route,method,status}       counter
**   http_request_duration_seconds{route}           histogram
**   runs_total{scope,outcome}                      counter
**   findings_total{check,source,severity}          counter
**   db_errors_total                                counter
**   scans_total{outcome}                           counter
**   rate_limited_total, auth_failures_total, queue_rejections_total
** plus whatever the server appends (gauges, rules and advisor counters).
** Label values are escaped as the text format requires.
**
** Ownership: cs_srv_metrics_new/_free; cs_srv_buf memory is the caller's (free(buf.p)).
*/
#ifndef CS_SERVER_METRICS_H
#define CS_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

/** A growable text buffer. */
struct cs_srv_buf {
    char *p;
    size_t len, cap;
    int oom; /* an append failed: the text is incomplete */
};

/** Append printf-style text. */
void cs_srv_buf_printf(struct cs_srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Append a label value escaped for the Prometheus text format (\\, \", \n). */
void cs_srv_buf_label(struct cs_srv_buf *b, const char *value);

/** Append a "# HELP" and "# TYPE" header. */
void cs_srv_buf_family(struct cs_srv_buf *b, const char *name, const char *type, const char *help);

enum cs_srv_counter {
    CS_SRV_RULE_ERRORS,
    CS_SRV_RATE_LIMITED,
    CS_SRV_AUTH_FAILURES,
    CS_SRV_QUEUE_REJECTIONS,
    CS_SRV_NCOUNTERS
};

struct cs_srv_metrics;

/** Metrics for requests to nroutes named routes (the names are borrowed and must outlive m). */
struct cs_srv_metrics *cs_srv_metrics_new(const char *const *routes, size_t nroutes);
void cs_srv_metrics_free(struct cs_srv_metrics *m);

/** A finished request: route index, method, status and duration. */
void cs_srv_metrics_request(struct cs_srv_metrics *m, size_t route, const char *method, int status, double seconds);

/** A finished run: scope "customer" or "table", outcome "ok" or an error class. */
void cs_srv_metrics_run(struct cs_srv_metrics *m, const char *scope, const char *outcome);

/** A scan job finished with outcome "succeeded", "failed" or "cancelled". */
void cs_srv_metrics_scan(struct cs_srv_metrics *m, const char *outcome);

/** n findings of a check (source "builtin" or "lua") at a severity name. */
void cs_srv_metrics_findings(struct cs_srv_metrics *m, const char *check, const char *source, const char *severity,
                             uint64_t n);

void cs_srv_metrics_inc(struct cs_srv_metrics *m, enum cs_srv_counter c);

/** Render every family into b. */
void cs_srv_metrics_render(const struct cs_srv_metrics *m, struct cs_srv_buf *b);

#endif
