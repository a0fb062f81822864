/*
** test_server_unit.c -- the daemon's pieces that need no socket: the
** per-client rate limiter, the "server" config section, the metrics
** text, and the answer serializer.  The daemon itself is tested end to end by test_server.py.
*/
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ratelimit.h"
#include "server_conf.h"
#include "server_impl.h"
#include "server_metrics.h"
#include "tap.h"

static void test_ratelimit(void)
{
    struct cs_ratelimit *rl = cs_ratelimit_new(2, 3, 16);
    double retry = 0;
    const unsigned char a[4] = {127, 0, 0, 1}, b[4] = {10, 0, 0, 2};
    int allowed = 0;
    for (int i = 0; i < 5; i++)
        allowed += cs_ratelimit_take(rl, a, 4, 100.0, &retry);
    ok(allowed == 3, "a burst of 3 is allowed, then refused (%d allowed)", allowed);
    ok(retry > 0.4 && retry <= 0.5, "retry after the time one token takes at 2/s (%g s)", retry);
    ok(cs_ratelimit_take(rl, b, 4, 100.0, &retry), "another client has its own bucket");
    ok(cs_ratelimit_take(rl, a, 4, 100.6, &retry), "a token is back after 0.6 s at 2/s");
    ok(!cs_ratelimit_take(rl, a, 4, 100.6, &retry), "and only one");
    ok(cs_ratelimit_take(rl, NULL, 0, 100.0, &retry), "an unknown peer shares one bucket instead of crashing");
    /* A flood of new clients cannot grow the table: it stays at its slots. */
    for (unsigned i = 0; i < 10000; i++) {
        unsigned char k[4] = {(unsigned char)(i >> 24), (unsigned char)(i >> 16), (unsigned char)(i >> 8),
                              (unsigned char)i};
        cs_ratelimit_take(rl, k, 4, 200.0 + i * 1e-3, &retry);
    }
    ok(cs_ratelimit_take(rl, a, 4, 300.0, &retry), "a client evicted by the flood starts again with a full bucket");
    cs_ratelimit_set(rl, 100, 1);
    ok(cs_ratelimit_take(rl, b, 4, 400.0, &retry) && !cs_ratelimit_take(rl, b, 4, 400.0, &retry),
       "a new burst (1) applies at once");
    cs_ratelimit_free(rl);
}

static int parse(const char *text, struct cs_server_conf **sc, struct cs_err *err)
{
    json_error_t jerr;
    json_t *j = text ? json_loads(text, 0, &jerr) : NULL;
    int rc = cs_server_conf_parse(sc, j, "/etc/cs", err);
    json_decref(j);
    return rc;
}

static void test_conf(void)
{
    struct cs_server_conf *sc = NULL;
    struct cs_err err = {0};
    ok(parse(NULL, &sc, &err) == 0 && strcmp(sc->listen, "127.0.0.1:8080") == 0 && sc->threads == 4 &&
           sc->max_body_bytes == 1048576 && sc->rate_per_s == 0 && sc->access_log == 1,
       "no \"server\": the defaults, listening on 127.0.0.1:8080");
    cs_server_conf_free(sc);
    ok(parse("{\"listen\": \"[::1]:0\", \"threads\": 8, \"rate_limit\": {\"requests_per_s\": 5}, "
             "\"web_dir\": \"${CONFIG_DIR}/web\", \"access_log\": false}", &sc, &err) == 0 &&
           sc->threads == 8 && sc->rate_per_s == 5 && sc->rate_burst == 5 && strcmp(sc->web_dir, "/etc/cs/web") == 0 &&
           sc->access_log == 0,
       "settings are read; burst defaults to the rate; ${CONFIG_DIR} is expanded");
    cs_server_conf_free(sc);
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"{\"listne\": \"x:1\"}", "did you mean \"listen\""},
        {"{\"listen\": \"8080\"}", "HOST:PORT"},
        {"{\"listen\": \"h:70000\"}", "HOST:PORT"},
        {"{\"threads\": 0}", "server.threads"},
        {"{\"threads\": \"4\"}", "whole number"},
        {"{\"max_body_bytes\": 1}", "out of range"},
        {"{\"token_env\": \"A\", \"token_file\": \"b\"}", "not both"},
        {"{\"rate_limit\": {\"burst\": 3}}", "requests_per_s"},
        {"{\"rate_limit\": {\"requests_per_s\": 1, \"brust\": 3}}", "did you mean \"burst\""},
        {"{\"access_log\": 1}", "true or false"},
        {"[]", "expected an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        int rc = parse(bad[i].text, &sc, &err);
        ok(rc == CS_ECONFIG && sc == NULL && strstr(err.msg, bad[i].needle) != NULL, "refused %s: %s", bad[i].text,
           err.msg);
    }
}

static void test_token(void)
{
    struct cs_server_conf sc = {.token_env = "CS_UNIT_TOKEN"};
    struct cs_err err = {0};
    char *token = NULL;
    unsetenv("CS_UNIT_TOKEN");
    ok(cs_server_conf_token(&sc, &token, &err) == CS_ECONFIG && token == NULL && strstr(err.msg, "CS_UNIT_TOKEN"),
       "an unset token variable is an error naming it");
    setenv("CS_UNIT_TOKEN", "abc123", 1);
    ok(cs_server_conf_token(&sc, &token, &err) == 0 && strcmp(token, "abc123") == 0, "the token comes from it");
    free(token);
    json_t *view = cs_server_conf_json(&(struct cs_server_conf){.listen = "x:1", .token_env = "CS_UNIT_TOKEN"});
    char *text = json_dumps(view, 0);
    ok(text && strstr(text, "abc123") == NULL && strstr(text, "CS_UNIT_TOKEN"), "the config view names the variable only");
    free(text);
    json_decref(view);
    struct cs_server_conf none = {0};
    ok(cs_server_conf_token(&none, &token, &err) == 0 && token == NULL, "no token source: auth off");
}

static void test_metrics(void)
{
    static const char *const routes[] = {"/healthz", "/x\"y"};
    struct cs_srv_metrics *m = cs_srv_metrics_new(routes, 2);
    struct cs_srv_buf b = {0};
    cs_srv_metrics_request(m, 0, "GET", 200, 0.0004);
    cs_srv_metrics_request(m, 0, "GET", 200, 0.02);
    cs_srv_metrics_request(m, 1, "BREW", 418, 1.0);
    cs_srv_metrics_findings(m, "missing", "builtin", "low", 3);
    cs_srv_metrics_findings(m, "missing", "builtin", "low", 2);
    cs_srv_metrics_render(m, &b);
    ok(b.p && strstr(b.p, "creditsense_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2"),
       "requests are counted by route, method and status");
    ok(b.p && strstr(b.p, "duration_seconds_bucket{route=\"/healthz\",le=\"0.0005\"} 1") &&
           strstr(b.p, "duration_seconds_bucket{route=\"/healthz\",le=\"0.025\"} 2") &&
           strstr(b.p, "duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 2"),
       "the histogram is cumulative");
    ok(b.p && strstr(b.p, "route=\"/x\\\"y\",method=\"other\",status=\"418\""),
       "label values are escaped and unknown methods folded into \"other\"");
    ok(b.p && strstr(b.p, "creditsense_findings_total{check=\"missing\",source=\"builtin\",severity=\"low\"} 5"),
       "findings add up per check, source and severity");
    free(b.p);
    cs_srv_metrics_free(m);
}

/* Answers are serialized by the daemon's own writer: byte for byte what json_dumps(JSON_COMPACT) gives. */
static void test_answer_json(void)
{
    static const char raw[] = "nul\0inside";
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s#, s:[f, f, f, f, f, f, f, f, f], s:[I, I, I], s:{}, s:[], s:n, s:b, "
                            "s:b, s:{s:{s:[{s:s}]}}}",
                            "quotes", "say \"hi\" \\ back/slash", "controls", "\b\f\n\r\t\x01\x1f\x7f end",
                            "utf8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "nul", raw, sizeof(raw) - 1,
                            "reals", 0.1, 1e20, 1e-5, 3.0, -0.0, 1.5e300, 123456789.125, -2.5e-300, 0.0,
                            "ints", (json_int_t)0, (json_int_t)-9223372036854775807LL - 1, (json_int_t)42,
                            "empty_object", "empty_array", "null", "true", 1, "false", 0,
                            "nested", "a", "b", "c", "\xc3\xa9\"");
    struct cs_srv_job job = {0};
    char *want = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    cs_srv_job_answer(&job, 200, doc);
    ok(want != NULL && job.body != NULL && job.body_len == strlen(want) && strcmp(job.body, want) == 0,
       "the answer is byte for byte jansson's compact dump (%s)", job.body ? job.body : "(null)");
    ok(job.status == 200, "and the status is kept");
    free(want);
    free(job.body);
    json_decref(doc);
}

int main(void)
{
    test_ratelimit();
    test_conf();
    test_token();
    test_metrics();
    test_answer_json();
    return tap_done();
}
