/*
** server_api.c -- the HTTP API: routes, the checks every request passes,
** and the handlers.  docs/openapi.json documents every route below and
** tests/test_server.py checks that the two agree.
**
** Every request that reaches the daemon's path goes through dispatch():
**   1. per-request state (struct cs_srv_req) in the request's pool, and a
**      request id (the client's X-Request-Id when it is sane, else ours),
**      echoed as x-request-id and written in every log line about it;
**   2. the route: unknown /api paths get 404, a known path with the wrong
**      method 405 with an Allow header; anything else is a dashboard file;
**   3. the per-client rate limit (429 + Retry-After), the bearer token on
**      write endpoints (401), readiness for database endpoints (503), the
**      JSON body (400), each before any work is queued;
**   4. the handler: answers at once from the loop (health, metrics,
**      config, scan status) or queues a job for a worker.
** Limits on the body's size are libh2o's (server.max_body_bytes, 413).
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"
#include "server_impl.h"

extern const char cs_openapi_json[];
extern const size_t cs_openapi_json_len;

#define MAX_ID_LEN 64

static void h_healthz(struct cs_srv_req *r);
static void h_readyz(struct cs_srv_req *r);
static void h_metrics(struct cs_srv_req *r);
static void h_process(struct cs_srv_req *r);
static void h_customer_run(struct cs_srv_req *r);
static void h_scan_start(struct cs_srv_req *r);
static void h_scan_list(struct cs_srv_req *r);
static void h_scan_get(struct cs_srv_req *r);
static void h_customer_report(struct cs_srv_req *r);
static void h_runs(struct cs_srv_req *r);
static void h_run(struct cs_srv_req *r);
static void h_anomalies(struct cs_srv_req *r);
static void h_metric_history(struct cs_srv_req *r);
static void h_customer_rows(struct cs_srv_req *r);
static void h_suggestions(struct cs_srv_req *r);
static void h_rules(struct cs_srv_req *r);
static void h_rules_reload(struct cs_srv_req *r);
static void h_config(struct cs_srv_req *r);
static void h_openapi(struct cs_srv_req *r);

const struct cs_srv_route cs_srv_routes[] = {
    {"GET", "/healthz", 0, h_healthz},
    {"GET", "/readyz", 0, h_readyz},
    {"GET", "/metrics", 0, h_metrics},
    {"POST", "/process_customer", CS_ROUTE_LIMITED | CS_ROUTE_WRITE | CS_ROUTE_DB | CS_ROUTE_BODY, h_process},
    {"POST", "/api/v1/customers/{id}/runs", CS_ROUTE_LIMITED | CS_ROUTE_WRITE | CS_ROUTE_DB, h_customer_run},
    {"GET", "/api/v1/customers/{id}/report", CS_ROUTE_LIMITED | CS_ROUTE_DB, h_customer_report},
    {"GET", "/api/v1/customers/{id}/rows", CS_ROUTE_LIMITED | CS_ROUTE_DB, h_customer_rows},
    {"POST", "/api/v1/scans", CS_ROUTE_LIMITED | CS_ROUTE_WRITE | CS_ROUTE_DB | CS_ROUTE_BODY, h_scan_start},
    {"GET", "/api/v1/scans", CS_ROUTE_LIMITED, h_scan_list},
    {"GET", "/api/v1/scans/{job}", CS_ROUTE_LIMITED, h_scan_get},
    {"GET", "/api/v1/runs", CS_ROUTE_LIMITED | CS_ROUTE_DB, h_runs},
    {"GET", "/api/v1/runs/{run}", CS_ROUTE_LIMITED | CS_ROUTE_DB, h_run},
    {"GET", "/api/v1/anomalies", CS_ROUTE_LIMITED | CS_ROUTE_DB, h_anomalies},
    {"GET", "/api/v1/metrics", CS_ROUTE_LIMITED | CS_ROUTE_DB, h_metric_history},
    {"GET", "/api/v1/suggestions", CS_ROUTE_LIMITED | CS_ROUTE_DB, h_suggestions},
    {"GET", "/api/v1/rules", CS_ROUTE_LIMITED, h_rules},
    {"POST", "/api/v1/rules/reload", CS_ROUTE_LIMITED | CS_ROUTE_WRITE, h_rules_reload},
    {"GET", "/api/v1/config", CS_ROUTE_LIMITED, h_config},
    {"GET", "/api/v1/openapi.json", CS_ROUTE_LIMITED, h_openapi},
};
const size_t cs_srv_nroutes = sizeof(cs_srv_routes) / sizeof(cs_srv_routes[0]);

/* ---- routing ------------------------------------------------------------------- */

const char *const *cs_srv_route_names(size_t *n)
{
    static const char *names[sizeof(cs_srv_routes) / sizeof(cs_srv_routes[0]) + 2];
    for (size_t i = 0; i < cs_srv_nroutes; i++)
        names[i] = cs_srv_routes[i].pattern;
    names[cs_srv_nroutes] = "static";
    names[cs_srv_nroutes + 1] = "unmatched";
    *n = cs_srv_nroutes + 2;
    return names;
}

/* Does path match pattern?  A {..} segment matches one non-empty segment, stored in *param. */
static int match(const char *pattern, h2o_iovec_t path, h2o_iovec_t *param)
{
    const char *p = pattern, *s = path.base, *end = path.base + path.len;
    while (*p && s < end) {
        if (*p == '{') {
            const char *close = strchr(p, '}'), *slash = memchr(s, '/', end - s);
            const char *seg_end = slash ? slash : end;
            if (close == NULL || seg_end == s)
                return 0;
            *param = h2o_iovec_init(s, seg_end - s);
            p = close + 1;
            s = seg_end;
        } else if (*p++ != *s++) {
            return 0;
        }
    }
    return *p == '\0' && s == end;
}

/* The route for the request, or NULL; *path_known says whether another method would match. */
static const struct cs_srv_route *find_route(const h2o_req_t *req, h2o_iovec_t *param, int *path_known)
{
    *path_known = 0;
    for (size_t i = 0; i < cs_srv_nroutes; i++) {
        const struct cs_srv_route *rt = &cs_srv_routes[i];
        if (!match(rt->pattern, req->path_normalized, param))
            continue;
        *path_known = 1;
        if (cs_http_method_is(req, rt->method))
            return rt;
    }
    return NULL;
}

static int is_api_path(h2o_iovec_t p)
{
    static const char *const exact[] = {"/healthz", "/readyz", "/metrics", "/process_customer", "/api", NULL};
    for (const char *const *e = exact; *e; e++)
        if (h2o_memis(p.base, p.len, *e, strlen(*e)))
            return 1;
    return p.len >= 5 && memcmp(p.base, "/api/", 5) == 0;
}


static void send_allow(struct cs_srv_req *r)
{
    char allow[64] = "";
    h2o_iovec_t param;
    for (size_t i = 0; i < cs_srv_nroutes; i++)
        if (match(cs_srv_routes[i].pattern, r->req->path_normalized, &param) &&
            strstr(allow, cs_srv_routes[i].method) == NULL)
            snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", allow[0] ? ", " : "",
                     cs_srv_routes[i].method);
    cs_http_header(r->req, "allow", allow);
    cs_http_send_error(r->req, 405, "method_not_allowed", "%.*s is not allowed on %.*s (allowed: %s)",
                       (int)r->req->method.len, r->req->method.base, (int)r->req->path_normalized.len,
                       r->req->path_normalized.base, allow);
}

/* ---- per-request state ---------------------------------------------------------- */

/* The request is finished (its response written, or its client gone): log, count, unlink. */
static void on_req_dispose(void *p)
{
    struct cs_srv_req *r = p;
    r->srv->live--;
    if (r->req->res.status == 404 && r->metric_route == cs_srv_nroutes)
        r->metric_route = cs_srv_nroutes + 1; /* not a file either */
    cs_srv_request_done(r->srv, r->req, r->id[0] ? r->id : NULL, r->method, r->path, r->metric_route,
                        cs_srv_now() - r->t0);
    if (r->job != NULL) { /* the client left before the worker answered */
        r->job->rq = NULL;
        atomic_store(&r->job->abandoned, 1);
        r->srv->waiting--;
    }
    json_decref(r->body);
}

static int sane_id(const char *s, size_t n)
{
    if (n == 0 || n > MAX_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.' && s[i] != ':')
            return 0;
    return 1;
}

static void assign_request_id(struct cs_srv_req *r)
{
    h2o_req_t *req = r->req;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0 && sane_id(req->headers.entries[i].value.base, req->headers.entries[i].value.len))
        snprintf(r->id, sizeof(r->id), "%.*s", (int)req->headers.entries[i].value.len,
                 req->headers.entries[i].value.base);
    else
        snprintf(r->id, sizeof(r->id), "%s-%llx", r->srv->reqid_prefix, (unsigned long long)++r->srv->reqid_seq);
    cs_http_header(req, "x-request-id", r->id);
}

/* ---- the checks before a handler ------------------------------------------------- */

static int rate_limited(struct cs_srv_req *r)
{
    struct cs_server *srv = r->srv;
    unsigned char key[16];
    double retry;
    if (srv->limiter == NULL || !(r->route->flags & CS_ROUTE_LIMITED))
        return 0;
    size_t n = cs_http_peer_key(r->req, key, sizeof(key));
    if (cs_ratelimit_take(srv->limiter, key, n, cs_srv_now(), &retry))
        return 0;
    char secs[32];
    snprintf(secs, sizeof(secs), "%d", (int)retry + 1);
    cs_http_header(r->req, "retry-after", secs);
    cs_srv_metrics_inc(srv->metrics, CS_SRV_RATE_LIMITED);
    cs_http_send_error(r->req, 429, "rate_limited", "too many requests from this client; retry in %s s "
                       "(server.rate_limit)", secs);
    return 1;
}

static int unauthorized(struct cs_srv_req *r)
{
    const struct cs_srv_gen *g = r->srv->gen;
    if (!(r->route->flags & CS_ROUTE_WRITE) || g->token == NULL || cs_http_bearer_ok(r->req, g->token, g->token_len))
        return 0;
    int given = h2o_find_header(&r->req->headers, H2O_TOKEN_AUTHORIZATION, -1) >= 0;
    cs_srv_metrics_inc(r->srv->metrics, CS_SRV_AUTH_FAILURES);
    cs_srv_log(CS_LOG_WARNING, r->id, NULL, "refused %s %.*s: %s bearer token", r->route->method,
               (int)r->req->path_normalized.len, r->req->path_normalized.base, given ? "wrong" : "no");
    cs_http_header(r->req, "www-authenticate", "Bearer realm=\"creditsense\"");
    cs_http_send_error(r->req, 401, "unauthorized", given ? "the bearer token is not valid"
                                                          : "this endpoint needs 'Authorization: Bearer <token>'");
    return 1;
}

static int not_ready(struct cs_srv_req *r)
{
    struct cs_server *srv = r->srv;
    /* While the workers are still connecting the request waits in the queue; 503 is for a known failure. */
    if (!(r->route->flags & CS_ROUTE_DB) || atomic_load(&srv->engines_up) > 0 || atomic_load(&srv->db_ok) != 0)
        return 0;
    char msg[512];
    pthread_mutex_lock(&srv->err_lock);
    snprintf(msg, sizeof(msg), "%s", srv->db_error[0] ? srv->db_error : "no worker is connected yet");
    pthread_mutex_unlock(&srv->err_lock);
    cs_http_header(r->req, "retry-after", "5");
    cs_http_send_error(r->req, 503, "not_ready", "the database is not reachable: %s", msg);
    return 1;
}

static int bad_body(struct cs_srv_req *r)
{
    h2o_iovec_t e = r->req->entity;
    json_error_t jerr;
    if (!(r->route->flags & CS_ROUTE_BODY))
        return 0;
    if (e.base == NULL || e.len == 0) {
        cs_http_send_error(r->req, 400, "bad_request", "expected a JSON object as the request body");
        return 1;
    }
    r->body = json_loadb(e.base, e.len, JSON_REJECT_DUPLICATES, &jerr);
    if (r->body == NULL) {
        cs_http_send_error(r->req, 400, "malformed_json", "the body is not valid JSON: %s (at character %d)",
                           jerr.text, jerr.position);
        return 1;
    }
    if (!json_is_object(r->body)) {
        cs_http_send_error(r->req, 400, "bad_request", "expected a JSON object as the request body");
        return 1;
    }
    return 0;
}

struct api_handler {
    h2o_handler_t super;
    struct cs_server *srv;
};

static int dispatch(h2o_handler_t *self, h2o_req_t *req)
{
    struct cs_server *srv = ((struct api_handler *)self)->srv;
    struct cs_srv_req *r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), on_req_dispose);
    memset(r, 0, sizeof(*r));
    r->srv = srv;
    r->req = req;
    r->t0 = cs_srv_now();
    r->metric_route = cs_srv_nroutes; /* "static" until a route matches */
    snprintf(r->method, sizeof(r->method), "%.*s", (int)req->method.len, req->method.base);
    snprintf(r->path, sizeof(r->path), "%.*s", (int)req->input.path.len, req->input.path.base);
    srv->live++;
    if (!is_api_path(req->path_normalized))
        return -1; /* a dashboard file (or the JSON 404 after the file handler) */
    assign_request_id(r);
    int path_known;
    r->route = find_route(req, &r->param, &path_known);
    r->metric_route = r->route ? (size_t)(r->route - cs_srv_routes) : cs_srv_nroutes + 1;
    if (r->route == NULL) {
        if (path_known)
            send_allow(r);
        else
            cs_http_send_error(req, 404, "not_found", "no API route %.*s (see /api/v1/openapi.json)",
                               (int)(req->path_normalized.len > 200 ? 200 : req->path_normalized.len),
                               req->path_normalized.base);
        return 0;
    }
    if (rate_limited(r) || unauthorized(r) || not_ready(r) || bad_body(r))
        return 0;
    r->route->handle(r);
    return 0;
}

/* ---- queueing work -------------------------------------------------------------- */

void cs_srv_submit(struct cs_srv_req *r, struct cs_srv_pool *pool, struct cs_srv_job *job)
{
    job->srv = r->srv;
    job->rq = r;
    snprintf(job->request_id, sizeof(job->request_id), "%s", r->id);
    if (pool == NULL ? cs_srv_run_detached(r->srv, job) != 0 : cs_srv_pool_submit(pool, job) != 0) {
        job->ops->destroy(job);
        cs_srv_metrics_inc(r->srv->metrics, CS_SRV_QUEUE_REJECTIONS);
        cs_http_header(r->req, "retry-after", "1");
        cs_http_send_error(r->req, 503, "overloaded", "too many requests are waiting for a worker "
                           "(server.max_queue); try again shortly");
        return;
    }
    r->job = job;
    r->srv->waiting++;
}

/* ---- health, readiness, metrics --------------------------------------------------- */

static void h_healthz(struct cs_srv_req *r)
{
    static const char body[] = "{\"status\":\"ok\"}\n";
    cs_http_send(r->req, 200, "application/json", body, sizeof(body) - 1);
}

/* What /readyz and the creditsense_ready gauge both report. */
static int db_up(const struct cs_server *srv)
{
    return atomic_load(&srv->engines_up) > 0 && atomic_load(&srv->db_ok) == 1;
}

static int rules_ok(const struct cs_srv_gen *g)
{
    return !(g->rules_required && g->rules_dir_missing);
}

static int is_ready(const struct cs_server *srv)
{
    return db_up(srv) && srv->gen->reg->nchecks > 0 && rules_ok(srv->gen) && !srv->draining;
}

static void h_readyz(struct cs_srv_req *r)
{
    struct cs_server *srv = r->srv;
    const struct cs_srv_gen *g = srv->gen;
    const struct cs_registry *reg = g->reg;
    int engines = atomic_load(&srv->engines_up), db = db_up(srv);
    int plugins = reg->nchecks > 0, rules = rules_ok(g);
    int ready = is_ready(srv);
    json_t *dbj = json_pack("{s:b, s:i, s:i}", "ok", db, "threads_connected", engines, "threads",
                            (int)(srv->workers.nworkers + srv->scanners.nworkers));
    if (!db) {
        pthread_mutex_lock(&srv->err_lock);
        json_object_set_new(dbj, "error", json_string(srv->db_error[0] ? srv->db_error : "not connected yet"));
        pthread_mutex_unlock(&srv->err_lock);
    }
    json_t *body = json_pack("{s:b, s:s, s:{s:o, s:{s:b, s:i, s:i}, s:{s:b, s:s, s:i, s:i}}}", "ready", ready,
                             "status", srv->draining ? "draining" : ready ? "ready" : "not_ready", "checks",
                             "database", dbj, "plugins", "ok", plugins, "loaded", (int)reg->nchecks, "refused",
                             (int)reg->nerrors, "rules", "ok", rules, "dir", g->rules_dir, "loaded",
                             (int)g->rules_loaded, "problems", (int)g->rules_problems);
    if (g->advisor == NULL)
        json_object_set_new(json_object_get(body, "checks"), "advisor",
                            json_pack("{s:b, s:s}", "ok", 0, "error", g->advisor_error));
    if (!ready)
        cs_http_header(r->req, "retry-after", "5");
    cs_http_send_json(r->req, ready ? 200 : 503, body);
    json_decref(body);
}

static void gauge(struct cs_srv_buf *b, const char *name, const char *help, double v)
{
    cs_srv_buf_family(b, name, "gauge", help);
    cs_srv_buf_printf(b, "%s %.17g\n", name, v);
}

static void pool_gauges(struct cs_srv_buf *b, struct cs_server *srv)
{
    struct cs_srv_pool *pools[] = {&srv->workers, &srv->scanners};
    cs_srv_buf_family(b, "creditsense_queue_depth", "gauge", "Jobs waiting for a thread, by pool.");
    for (size_t i = 0; i < 2; i++)
        cs_srv_buf_printf(b, "creditsense_queue_depth{pool=\"%s\"} %zu\n", pools[i]->name,
                          cs_srv_pool_depth(pools[i]));
    cs_srv_buf_family(b, "creditsense_threads_busy", "gauge", "Threads running a job, by pool.");
    for (size_t i = 0; i < 2; i++)
        cs_srv_buf_printf(b, "creditsense_threads_busy{pool=\"%s\"} %d\n", pools[i]->name,
                          atomic_load(&pools[i]->busy));
    cs_srv_buf_family(b, "creditsense_threads", "gauge", "Threads, by pool.");
    for (size_t i = 0; i < 2; i++)
        cs_srv_buf_printf(b, "creditsense_threads{pool=\"%s\"} %zu\n", pools[i]->name, pools[i]->nworkers);
}

static void counter(struct cs_srv_buf *b, const char *name, const char *help, uint64_t v)
{
    cs_srv_buf_family(b, name, "counter", help);
    cs_srv_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* The advisor's own counters (they restart with a config reload, as Prometheus expects of a restart). */
static void advisor_metrics(struct cs_srv_buf *b, struct cs_advisor *adv)
{
    struct cs_advisor_stats s;
    if (adv == NULL)
        return;
    cs_advisor_stats(adv, &s);
    counter(b, "creditsense_llm_calls_total", "LLM backend calls (retries and repairs included).", s.calls);
    counter(b, "creditsense_llm_retries_total", "LLM calls that retried a transient failure.", s.retries);
    counter(b, "creditsense_llm_repairs_total", "LLM calls that asked for a schema repair.", s.repairs);
    counter(b, "creditsense_llm_errors_total", "LLM calls that did not end with a valid answer.", s.errors);
    counter(b, "creditsense_llm_timeouts_total", "LLM calls that timed out.", s.timeouts);
    cs_srv_buf_family(b, "creditsense_llm_tokens_total", "counter", "Tokens sent to and received from the LLM.");
    cs_srv_buf_printf(b, "creditsense_llm_tokens_total{direction=\"in\"} %llu\n", (unsigned long long)s.tokens_in);
    cs_srv_buf_printf(b, "creditsense_llm_tokens_total{direction=\"out\"} %llu\n", (unsigned long long)s.tokens_out);
    counter(b, "creditsense_llm_cache_hits_total", "Advice answered from the cache.", s.cache_hits);
    counter(b, "creditsense_llm_cache_misses_total", "Advice that needed a call.", s.cache_misses);
    counter(b, "creditsense_llm_coalesced_total", "Advice that joined a call already in flight.", s.coalesced);
    cs_srv_buf_family(b, "creditsense_advice_total", "counter", "Anomalies advised, by outcome.");
    cs_srv_buf_printf(b, "creditsense_advice_total{status=\"ok\"} %llu\n", (unsigned long long)s.advised_ok);
    cs_srv_buf_printf(b, "creditsense_advice_total{status=\"pending\"} %llu\n",
                      (unsigned long long)s.advised_pending);
    cs_srv_buf_printf(b, "creditsense_advice_total{status=\"failed\"} %llu\n", (unsigned long long)s.advised_failed);
    cs_srv_buf_printf(b, "creditsense_advice_total{status=\"blocked\"} %llu\n",
                      (unsigned long long)s.advised_blocked);
    counter(b, "creditsense_llm_latency_ms_total", "Milliseconds spent in LLM calls.", s.latency_ms_total);
    gauge(b, "creditsense_llm_in_flight", "LLM calls in flight now.", s.in_flight);
    gauge(b, "creditsense_llm_queued", "LLM calls waiting for an advisor thread.", s.queued);
}

static void h_metrics(struct cs_srv_req *r)
{
    struct cs_server *srv = r->srv;
    struct cs_srv_buf b = {0};
    cs_srv_metrics_render(srv->metrics, &b);
    cs_srv_buf_family(&b, "creditsense_db_errors_total", "counter",
                      "Database errors (connection, query) seen by requests, scans and probes.");
    cs_srv_buf_printf(&b, "creditsense_db_errors_total %llu\n", (unsigned long long)atomic_load(&srv->db_errors));
    gauge(&b, "creditsense_http_requests_in_flight", "Requests received and not yet answered.", (double)srv->live);
    pool_gauges(&b, srv);
    gauge(&b, "creditsense_scans_active", "Background scans queued or running.",
          (double)cs_srv_scans_active(srv->scans));
    gauge(&b, "creditsense_ready", "1 when /readyz answers 200.", is_ready(srv));
    gauge(&b, "creditsense_config_generation", "Config loads so far (1 + successful reloads).",
          (double)srv->gen->id);
    gauge(&b, "creditsense_rules_loaded", "Lua rules loaded with the current config.", (double)srv->gen->rules_loaded);
    gauge(&b, "creditsense_rule_problems", "Rule files that failed to load with the current config.",
          (double)srv->gen->rules_problems);
    advisor_metrics(&b, srv->gen->advisor);
    cs_srv_buf_family(&b, "creditsense_build_info", "gauge", "Version of the running binary.");
    cs_srv_buf_printf(&b, "creditsense_build_info{version=\"%s\"} 1\n", CS_VERSION);
    if (b.oom) {
        free(b.p);
        cs_http_send_error(r->req, 500, "internal", "out of memory rendering metrics");
        return;
    }
    cs_http_send(r->req, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
    free(b.p);
}

/* ---- customers ------------------------------------------------------------------- */

/* A customer id: 1..64 letters, digits, '-', '_' or '.'; a JSON integer is written in decimal. */
static int customer_id_of(json_t *v, char *buf, size_t size)
{
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    if (!json_is_string(v) || !sane_id(json_string_value(v), json_string_length(v)) ||
        strchr(json_string_value(v), ':') != NULL)
        return -1;
    snprintf(buf, size, "%s", json_string_value(v));
    return 0;
}

static int unknown_keys(struct cs_srv_req *r, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(r->body, key, v) {
        const char *const *a;
        for (a = allowed; *a && strcmp(*a, key) != 0; a++)
            ;
        if (*a == NULL) {
            cs_http_send_error(r->req, 400, "bad_request", "unknown key \"%.64s\" in the body", key);
            return 1;
        }
    }
    return 0;
}

static void h_process(struct cs_srv_req *r)
{
    static const char *const keys[] = {"customer_id", NULL};
    char id[MAX_ID_LEN + 1];
    json_t *v = json_object_get(r->body, "customer_id");
    if (unknown_keys(r, keys))
        return;
    if (v == NULL) {
        cs_http_send_error(r->req, 400, "bad_request", "missing \"customer_id\" (e.g. {\"customer_id\": 103065})");
        return;
    }
    if (customer_id_of(v, id, sizeof(id)) != 0) {
        cs_http_send_error(r->req, 400, "invalid_customer_id", "customer_id: expected an integer or a string of up "
                           "to 64 letters, digits, '-', '_' or '.'");
        return;
    }
    cs_srv_customer_start(r, id, 1);
}

static int path_customer_id(struct cs_srv_req *r, char *buf, size_t size)
{
    if (!sane_id(r->param.base, r->param.len) || memchr(r->param.base, ':', r->param.len) != NULL) {
        cs_http_send_error(r->req, 400, "invalid_customer_id", "the customer id in the path must be up to 64 "
                           "letters, digits, '-', '_' or '.'");
        return -1;
    }
    snprintf(buf, size, "%.*s", (int)r->param.len, r->param.base);
    return 0;
}

static void h_customer_run(struct cs_srv_req *r)
{
    char id[MAX_ID_LEN + 1];
    h2o_iovec_t e = r->req->entity;
    if (path_customer_id(r, id, sizeof(id)) != 0)
        return;
    /* No options yet: an empty body or {} only, so a future option is never silently ignored. */
    if (e.base != NULL && e.len > 0) {
        json_error_t jerr;
        json_t *b = json_loadb(e.base, e.len, 0, &jerr);
        int ok = json_is_object(b) && json_object_size(b) == 0;
        json_decref(b);
        if (!ok) {
            cs_http_send_error(r->req, 400, "bad_request", "this endpoint takes no body (or {})");
            return;
        }
    }
    cs_srv_customer_start(r, id, 0);
}

/* ---- scans --------------------------------------------------------------------------- */

static void h_scan_start(struct cs_srv_req *r)
{
    static const char *const keys[] = {"table", NULL};
    json_t *t = json_object_get(r->body, "table");
    if (unknown_keys(r, keys))
        return;
    if (!json_is_string(t) || json_string_length(t) == 0 || json_string_length(t) > 128) {
        cs_http_send_error(r->req, 400, "bad_request", "expected {\"table\": \"<configured table name>\"}");
        return;
    }
    cs_srv_scans_start(r->srv, r, json_string_value(t));
}

static void h_scan_list(struct cs_srv_req *r)
{
    cs_srv_scans_list(r->srv, r);
}

static void h_scan_get(struct cs_srv_req *r)
{
    char id[MAX_ID_LEN + 1];
    if (!sane_id(r->param.base, r->param.len)) {
        cs_http_send_error(r->req, 404, "not_found", "no scan job with that id");
        return;
    }
    snprintf(id, sizeof(id), "%.*s", (int)r->param.len, r->param.base);
    cs_srv_scans_get(r->srv, r, id);
}

/* ---- the run store ----------------------------------------------------------------------- */

static void h_customer_report(struct cs_srv_req *r)
{
    char id[MAX_ID_LEN + 1];
    if (path_customer_id(r, id, sizeof(id)) == 0)
        cs_srv_customer_report(r, id);
}

static void h_runs(struct cs_srv_req *r)
{
    cs_srv_runs_list(r);
}

static void h_run(struct cs_srv_req *r)
{
    char id[MAX_ID_LEN + 1];
    if (!sane_id(r->param.base, r->param.len)) {
        cs_http_send_error(r->req, 404, "not_found", "no run with that id");
        return;
    }
    snprintf(id, sizeof(id), "%.*s", (int)r->param.len, r->param.base);
    cs_srv_run_get(r, id);
}

static void h_suggestions(struct cs_srv_req *r)
{
    cs_srv_suggestions_list(r);
}

static void h_anomalies(struct cs_srv_req *r)
{
    cs_srv_anomalies_list(r);
}

static void h_metric_history(struct cs_srv_req *r)
{
    cs_srv_metrics_history(r);
}

static void h_customer_rows(struct cs_srv_req *r)
{
    char id[MAX_ID_LEN + 1];
    if (path_customer_id(r, id, sizeof(id)) == 0)
        cs_srv_customer_rows(r, id);
}

/* ---- rules ------------------------------------------------------------------------------- */

static void h_rules(struct cs_srv_req *r)
{
    cs_srv_rules_request(r, 0);
}

static void h_rules_reload(struct cs_srv_req *r)
{
    cs_srv_rules_request(r, 1);
}

/* ---- config and the API document ------------------------------------------------------- */

static void h_config(struct cs_srv_req *r)
{
    cs_http_send_json(r->req, 200, r->srv->gen->view);
}

static void h_openapi(struct cs_srv_req *r)
{
    cs_http_send(r->req, 200, "application/json", cs_openapi_json, cs_openapi_json_len);
}

/* ---- the dashboard's files and the JSON 404 ----------------------------------------------- */

static int not_found(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    cs_http_send_error(req, 404, "not_found", "nothing at %.*s", (int)(req->path_normalized.len > 200 ? 200
                       : req->path_normalized.len), req->path_normalized.base);
    return 0;
}

void cs_srv_api_register(struct cs_server *srv, h2o_pathconf_t *root, const char *web_dir)
{
    struct api_handler *h = (void *)h2o_create_handler(root, sizeof(*h));
    h->super.on_req = dispatch;
    h->srv = srv;
    if (web_dir != NULL) {
        static const char *index_files[] = {"index.html", NULL};
        h2o_file_register(root, web_dir, index_files, NULL, 0);
    }
    h2o_create_handler(root, sizeof(h2o_handler_t))->on_req = not_found;
}
