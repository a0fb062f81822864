/*
** test_advisor.c -- the advisor in process (TAP), without network.
**
** Usage: test_advisor PLUGIN_DIR PROMPT_FILE TEST_MODULE_DIR
**
**   - answers: markdown fences, the schema validator, one entry per id
**   - privacy: the facts of a finding carry no message, sample key, min or
**     max; sensitive columns are recognised; pseudonyms are whole tokens
**     and map back
**   - the template: parts, comments, placeholders
**   - the "advisor" config section: defaults, unknown keys, ranges
**   - the asynchronous API with the offline backend: callbacks, wait/poll,
**     the cache (hits, expiry, coalescing of concurrent requests), handles
**     freed before they are done, customer ids re-pseudonymised in cached
**     answers, the default backend, a module with the wrong ABI refused,
**     a missing API key refused, and the check loader skipping advisor_*.so
** The network backends are exercised end to end by test_advisor.py.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "advisor.h"
#include "advisor_impl.h"
#include "config.h"
#include "engine.h"
#include "err.h"
#include "metrics.h"
#include "plugin.h"
#include "tap.h"

static const char *plugin_dir, *prompt_file, *module_dir;

/* ---- fixtures -------------------------------------------------------------------------- */

static void add_finding(struct cs_run *run, const char *table, const char *column, const char *check,
                        const char *kind, int sev, const char *msg)
{
    struct cs_finding *f = cs_run_add_finding(run);
    f->check = strdup(check);
    f->source = strdup("builtin");
    f->table = strdup(table);
    f->column = strdup(column);
    f->kind = strdup(kind);
    f->message = strdup(msg);
    f->count = 3;
    f->total = 1000;
    f->severity = sev;
    f->sample_keys = json_pack("[i, i]", 103065, 5014591);
}

static struct cs_run *new_run(const char *table, const char *customer)
{
    struct cs_run *run = calloc(1, sizeof(*run));
    snprintf(run->run_id, sizeof(run->run_id), "test-run");
    run->scope = customer ? CS_SCOPE_CUSTOMER : CS_SCOPE_TABLE;
    run->customer_id = customer ? strdup(customer) : NULL;
    run->table = customer ? NULL : strdup(table);
    add_finding(run, table, "AMT_ANNUITY", "missing", "null", CS_SEV_HIGH, "AMT_ANNUITY is missing in 3 of 1000 rows.");
    add_finding(run, table, "AMT_CREDIT", "negative", "negative", CS_SEV_MEDIUM,
                "AMT_CREDIT is negative in 3 of 1000 rows; the lowest value is -5000.");
    add_finding(run, table, "AMT_INCOME_TOTAL", "outlier", "iqr", CS_SEV_LOW, "income 98765432 is far out");
    add_finding(run, table, "DAYS_EMPLOYED", "missing", "sentinel", CS_SEV_MEDIUM, "placeholder");
    /* same signature as the first one: shares its answer */
    add_finding(run, table, "AMT_ANNUITY", "missing", "null", CS_SEV_CRITICAL, "again");
    return run;
}

static struct cs_config *load_config(const char *advisor)
{
    char text[4096];
    struct cs_config *cfg = NULL;
    struct cs_err err = {0};
    snprintf(text, sizeof(text),
             "{\"source\": {\"odbc\": \"Driver=SQLite3;Database=/nonexistent.db\"},"
             " \"tables\": {\"T\": {\"customer_key\": \"SK_ID_CURR\", \"primary_key\": \"SK_ID_CURR\","
             "  \"columns\": {\"AMT_INCOME_TOTAL\": {\"sensitive\": true}, \"DAYS_*\": {\"sentinels\": [365243]}}},"
             "  \"U\": {\"customer_key\": \"SK_ID_CURR\"}}%s%s}",
             advisor ? ", \"advisor\": " : "", advisor ? advisor : "");
    if (cs_config_parse(text, strlen(text), "/tmp/test.json", &cfg, &err) != 0)
        printf("# config: %s\n", err.msg);
    return cfg;
}

static struct cs_config *offline_config(const char *extra)
{
    char adv[1024];
    snprintf(adv, sizeof(adv), "{\"backend\": \"offline\", \"prompt_file\": \"%s\", \"batch_size\": 20%s}",
             prompt_file, extra ? extra : "");
    return load_config(adv);
}

/* ---- pure parts ------------------------------------------------------------------------- */

static void test_fences(void)
{
    char *s = adv_strip_fences("Here it is:\n```json\n{\"a\": 1}\n```\nThanks");
    ok(strcmp(s, "\n{\"a\": 1}\n") == 0, "a ```json fence is stripped");
    free(s);
    s = adv_strip_fences("```\n[1]\n```");
    ok(strcmp(s, "\n[1]\n") == 0, "a bare ``` fence is stripped");
    free(s);
    s = adv_strip_fences("{\"plain\": true}");
    ok(strcmp(s, "{\"plain\": true}") == 0, "text without fences is kept");
    free(s);
}

static json_t *good_item(const char *id)
{
    return json_pack("{s:s, s:s, s:[s], s:{s:s, s:s}, s:[s], s:[s], s:s}", "id", id, "priority", "high",
                     "fix_suggestions", "fix it", "rule_templates", "sql", "SELECT 1", "lua", "rule{}",
                     "root_cause_hypotheses", "cause", "lineage_insights", "SK_ID_CURR", "business_impact", "money");
}

static void test_schema(const struct adv_template *t)
{
    char why[300];
    json_t *doc = json_pack("{s:[o]}", "anomalies", good_item("A1"));
    json_t *item = json_array_get(json_object_get(doc, "anomalies"), 0);
    ok(adv_schema_validate(t->schema, doc, why, sizeof(why)) == 0, "a complete answer is valid");
    json_object_del(item, "business_impact");
    ok(adv_schema_validate(t->schema, doc, why, sizeof(why)) != 0 && strstr(why, "business_impact") &&
           strstr(why, "$.anomalies[0]"),
       "a missing member is named with its path (%s)", why);
    json_object_set_new(item, "business_impact", json_string("money"));
    json_object_set_new(item, "extra", json_true());
    ok(adv_schema_validate(t->schema, doc, why, sizeof(why)) != 0 && strstr(why, "extra"),
       "a member the schema does not allow is refused (%s)", why);
    json_object_del(item, "extra");
    json_object_set_new(item, "priority", json_string("urgent"));
    ok(adv_schema_validate(t->schema, doc, why, sizeof(why)) != 0 && strstr(why, "urgent"),
       "a priority outside the enum is refused (%s)", why);
    json_object_set_new(item, "priority", json_string("low"));
    json_object_set_new(item, "fix_suggestions", json_string("one"));
    ok(adv_schema_validate(t->schema, doc, why, sizeof(why)) != 0 && strstr(why, "expected an array"),
       "a wrong type is refused (%s)", why);
    json_decref(doc);

    json_t *items = NULL;
    const char *ids[] = {"A1", "A2"};
    json_t *single = json_pack("{s:[o]}", "anomalies", good_item("A1"));
    char *one = json_dumps(single, 0);
    json_decref(single);
    ok(adv_answer_check(t->schema, one, ids, 2, &items, why, sizeof(why)) != 0 && strstr(why, "A2"),
       "an answer missing an anomaly is refused (%s)", why);
    free(one);
    json_t *two = json_pack("{s:[o, o]}", "anomalies", good_item("A2"), good_item("A1"));
    char *text = json_dumps(two, 0), fenced[4096];
    snprintf(fenced, sizeof(fenced), "```json\n%s\n```", text);
    ok(adv_answer_check(t->schema, fenced, ids, 2, &items, why, sizeof(why)) == 0 && json_object_get(items, "A1") &&
           json_object_get(items, "A2"),
       "a fenced answer with both anomalies is accepted");
    json_decref(items);
    ok(adv_answer_check(t->schema, "not json at all", ids, 2, &items, why, sizeof(why)) != 0 &&
           strstr(why, "not JSON"),
       "text that is not JSON is refused (%s)", why);
    free(text);
    json_decref(two);
}

static void test_tokens(void)
{
    ok(adv_contains_token("customer 103065.", "103065"), "an id is found as a token");
    ok(!adv_contains_token("SK 1103065 and 1030650", "103065"), "an id inside a longer number is not");
    json_t *v = json_pack("{s:s, s:[s]}", "a", "for customer-1 and customer-12", "b", "customer-1");
    adv_map_back(v, "customer-1", "customer 42");
    ok(strcmp(json_string_value(json_object_get(v, "a")), "for customer 42 and customer-12") == 0,
       "pseudonyms map back as whole tokens only");
    ok(strcmp(json_string_value(json_array_get(json_object_get(v, "b"), 0)), "customer 42") == 0,
       "pseudonyms map back inside arrays");
    json_decref(v);
}

static void test_template(struct adv_template *t)
{
    ok(strcmp(t->version, "advice-v1") == 0, "the prompt version comes from the file name (%s)", t->version);
    ok(t->system_text[0] != '\0' && strstr(t->system_text, "JSON") != NULL, "the [system] part is read");
    ok(strstr(t->user_text, "# advice-v1") == NULL && strstr(t->system_text, "#") == NULL, "comment lines are dropped");
    ok(strstr(t->user_text, "\n\n") != NULL, "blank lines are kept");
    json_t *ctx = json_pack("{s:s, s:s, s:[{s:s, s:s, s:[s], s:i}]}", "scope", "customer", "subject", "customer-1",
                            "tables", "name", "T", "customer_key", "SK_ID_CURR", "primary_key", "SK_ID_CURR", "rows",
                            3);
    json_t *an = json_pack("[{s:s, s:s}]", "id", "A1", "column", "AMT_ANNUITY");
    char *p = adv_prompt_fill(t, ctx, an, "snowflake");
    ok(p && strstr(p, "dialect for rule_templates.sql: snowflake") && strstr(p, "(customer-1)") &&
           strstr(p, "{\"id\":\"A1\",\"column\":\"AMT_ANNUITY\"}") && strstr(p, "- T: customer key SK_ID_CURR") &&
           !strstr(p, "{{"),
       "every placeholder is filled");
    free(p);
    json_decref(ctx);
    json_decref(an);
    ok(strcmp(adv_dialect_guess("Driver={SnowflakeDSIIDriver};Server=x"), "snowflake") == 0 &&
           strcmp(adv_dialect_guess("Driver={PostgreSQL Unicode};Server=x"), "postgresql") == 0 &&
           strcmp(adv_dialect_guess("Driver=SQLite3;Database=x"), "sqlite") == 0,
       "the dialect is guessed from the connection string");
}

static void test_config(void)
{
    struct cs_config *cfg = NULL;
    struct cs_err err = {0};
    const char *base = "{\"source\": {\"odbc\": \"x\"}, \"tables\": {}, \"advisor\": %s}";
    const char *cases[][2] = {{"{\"backend\": \"gemni\"}", "unknown value \"gemni\""},
                              {"{\"timeout\": 1}", "did you mean \"timeout_ms\""},
                              {"{\"timeout_ms\": 10}", "out of range"},
                              {"{\"min_severity\": \"huge\"}", "min_severity"},
                              {"[]", "expected an object"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), base, cases[i][0]);
        int rc = cs_config_parse(text, strlen(text), "c.json", &cfg, &err);
        ok(rc == CS_ECONFIG && strstr(err.msg, cases[i][1]) && strstr(err.msg, "advisor"),
           "advisor %s is refused: %s", cases[i][0], err.msg);
    }
    char text[512];
    snprintf(text, sizeof(text), base,
             "{\"backend\": \"openai\", \"model\": \"qwen2.5:7b\", \"base_url\": \"http://127.0.0.1:11434/v1\", "
             "\"api_key_env\": \"OLLAMA_KEY\", \"timeout_ms\": 30000, \"max_in_flight\": 2, \"cache_ttl_s\": 60}");
    ok(cs_config_parse(text, strlen(text), "c.json", &cfg, &err) == 0 && cfg->advisor &&
           strcmp(cfg->advisor->backend, "openai") == 0 && cfg->advisor->max_in_flight == 2 &&
           cfg->advisor->timeout_ms == 30000 && cfg->advisor->cache_ttl_s == 60 && cfg->advisor->max_attempts == 4,
       "a full advisor section is read, with defaults for the rest");
    cs_config_free(cfg);
}

static void test_facts(void)
{
    struct cs_config *cfg = load_config(NULL);
    struct cs_run *run = new_run("T", "103065");
    run->metrics = calloc(1, sizeof(*run->metrics));
    run->nmetrics = 1;
    run->metrics[0] = (struct cs_colmetrics){.column = strdup("AMT_CREDIT"), .rows = 1000, .nulls = 10,
                                             .has_counts = 1, .has_stats = 1, .mean = 5.5, .sd = 1, .min = -777,
                                             .max = 999999, .q1 = 2, .median = 5, .q3 = 8};
    json_t *f = adv_fact(cfg, run, &run->findings[1]);
    char *s = json_dumps(f, 0);
    ok(s && !strstr(s, "-5000") && !strstr(s, "103065") && !strstr(s, "5014591") && !strstr(s, "message") &&
           !strstr(s, "sample"),
       "a fact carries no message, value or sample key: %s", s);
    ok(s && strstr(s, "\"mean\"") && strstr(s, "\"median\"") && !strstr(s, "-777") && !strstr(s, "999999"),
       "a fact has the column's statistics but not its min or max");
    free(s);
    json_decref(f);
    f = adv_fact(cfg, run, &run->findings[3]);
    ok(json_array_size(json_object_get(f, "sentinels")) == 1, "a fact names the configured placeholders");
    json_decref(f);
    ok(adv_sensitive(cfg, &run->findings[2]) && !adv_sensitive(cfg, &run->findings[0]),
       "a finding on a sensitive column is recognised");
    char sig[256];
    cs_advisor_signature(&run->findings[4], sig, sizeof(sig));
    ok(strcmp(sig, "T|AMT_ANNUITY|missing|null|high") == 0, "signature with severity band (%s)", sig);
    run->findings[4].severity = CS_SEV_INFO;
    cs_advisor_signature(&run->findings[4], sig, sizeof(sig));
    ok(strcmp(sig, "T|AMT_ANNUITY|missing|null|low") == 0, "info falls in the low band");
    cs_run_free(run);
    cs_config_free(cfg);
}

/* ---- the asynchronous API ------------------------------------------------------------------ */

static int callbacks;
static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_done(void *ctx, struct cs_advice *a)
{
    (void)a;
    pthread_mutex_lock(&cb_lock);
    callbacks++;
    pthread_mutex_unlock(&cb_lock);
    (void)ctx;
}

static int all_ok(struct cs_advice *a)
{
    for (size_t i = 0; i < cs_advice_count(a); i++)
        if (cs_advice_item(a, i)->status != CS_ADVICE_OK || cs_advice_item(a, i)->advice == NULL)
            return 0;
    return cs_advice_count(a) > 0;
}

static void test_async_basics(void)
{
    struct cs_config *cfg = offline_config(NULL);
    struct cs_advisor *adv = NULL;
    struct cs_advice *a = NULL;
    struct cs_err err = {0};
    struct cs_advisor_stats st;
    ok(cs_advisor_new(&adv, cfg, plugin_dir, &err) == 0, "the offline advisor starts (%s)", err.msg);
    if (adv == NULL)
        return;
    ok(strcmp(cs_advisor_backend(adv), "offline") == 0 && strcmp(cs_advisor_model(adv), "offline-v1") == 0 &&
           strcmp(cs_advisor_prompt_version(adv), "advice-v1") == 0,
       "backend, model and prompt version are reported");
    struct cs_run *run = new_run("T", NULL);
    callbacks = 0;
    ok(cs_advisor_submit(adv, run, NULL, on_done, NULL, &a, &err) == 0 && a != NULL, "submit returns a handle");
    ok(cs_advice_wait(a, 20000) == 1 && cs_advice_done(a), "the handle is done after waiting");
    ok(cs_advice_count(a) == 5 && all_ok(a), "every finding has ok advice (%zu)", cs_advice_count(a));
    const struct cs_advice_item *sens = cs_advice_item(a, 2);
    ok(sens->finding == 2 && strcmp(sens->backend, "offline") == 0, "the sensitive finding is advised offline");
    const char *impact = json_string_value(json_object_get(cs_advice_item(a, 0)->advice, "business_impact"));
    ok(impact && strstr(impact, "offline"), "offline advice says so: %s", impact ? impact : "(none)");
    ok(impact && strpbrk(impact, "0123456789") == NULL,
       "offline advice cites no counts (it is reused for other findings of the same signature): %s",
       impact ? impact : "(none)");
    const char *sql = json_string_value(json_object_get(json_object_get(cs_advice_item(a, 1)->advice,
                                                                         "rule_templates"), "sql"));
    ok(sql && strstr(sql, "\"AMT_CREDIT\" < 0"), "the SQL template checks the finding's rule: %s", sql ? sql : "");
    cs_advisor_stats(adv, &st);
    ok(st.cache_misses == 4 && st.coalesced == 1 && st.calls == 2,
       "4 signatures, one coalesced, 2 calls (remote + local): misses %llu coalesced %llu calls %llu",
       (unsigned long long)st.cache_misses, (unsigned long long)st.coalesced, (unsigned long long)st.calls);
    /* The handle is marked done just before its callback runs on the worker: give it a moment. */
    int seen = 0;
    for (int i = 0; i < 200 && seen == 0; i++) {
        pthread_mutex_lock(&cb_lock);
        seen = callbacks;
        pthread_mutex_unlock(&cb_lock);
        if (seen == 0)
            usleep(10000);
    }
    ok(seen == 1, "the callback ran once (%d)", seen);
    json_t *rep = cs_advice_report(adv, run, a);
    ok(json_is_true(json_object_get(json_object_get(rep, "advisor"), "offline")) &&
           json_array_size(json_object_get(rep, "suggestions")) == 5,
       "the report says offline and lists every suggestion");
    json_decref(rep);
    cs_advice_free(a);

    /* The same findings again: all from the cache, done before submit returns. */
    ok(cs_advisor_submit(adv, run, NULL, on_done, NULL, &a, &err) == 0 && cs_advice_done(a) && all_ok(a) &&
           cs_advice_item(a, 0)->cached,
       "a second request is answered from the cache at once");
    cs_advisor_stats(adv, &st);
    ok(st.cache_hits == 5 && st.calls == 2, "cache hits 5, no new call (hits %llu, calls %llu)",
       (unsigned long long)st.cache_hits, (unsigned long long)st.calls);
    cs_advice_free(a);

    /* Only what is wanted. */
    unsigned char want[5] = {0, 1, 0, 0, 0};
    cs_advisor_submit(adv, run, want, NULL, NULL, &a, &err);
    ok(cs_advice_count(a) == 1 && cs_advice_item(a, 0)->finding == 1, "want[] selects the findings");
    cs_advice_free(a);
    cs_run_free(run);
    cs_advisor_free(adv);
    cs_config_free(cfg);
}

struct burst {
    struct cs_advisor *adv;
    struct cs_run *run;
    int ok;
};

static void *burst_thread(void *arg)
{
    struct burst *b = arg;
    struct cs_err err = {0};
    for (int i = 0; i < 5; i++) {
        struct cs_advice *a = NULL;
        if (cs_advisor_submit(b->adv, b->run, NULL, NULL, NULL, &a, &err) == 0 && cs_advice_wait(a, 20000) && all_ok(a))
            b->ok++;
        cs_advice_free(a);
    }
    return NULL;
}

static void test_concurrency(void)
{
    struct cs_config *cfg = offline_config(", \"max_in_flight\": 2");
    struct cs_advisor *adv = NULL;
    struct cs_err err = {0};
    struct cs_advisor_stats st;
    if (cs_advisor_new(&adv, cfg, plugin_dir, &err) != 0) {
        ok(0, "advisor: %s", err.msg);
        return;
    }
    struct cs_run *run = new_run("U", NULL);
    struct burst b[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        b[i] = (struct burst){adv, run, 0};
        pthread_create(&th[i], NULL, burst_thread, &b[i]);
    }
    int good = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        good += b[i].ok;
    }
    cs_advisor_stats(adv, &st);
    ok(good == 20, "20 concurrent requests from 4 threads all got advice (%d)", good);
    ok(st.calls == 1, "...with one backend call in all (%llu): coalesced %llu, hits %llu", (unsigned long long)st.calls,
       (unsigned long long)st.coalesced, (unsigned long long)st.cache_hits);
    ok(st.in_flight == 0 && st.queued == 0, "nothing is left in flight");

    /* A handle dropped before it is done: the work finishes, nothing leaks. */
    struct cs_run *other = new_run("V", NULL);
    struct cs_advice *a = NULL;
    cs_advisor_submit(adv, other, NULL, NULL, NULL, &a, &err);
    cs_advice_free(a);
    struct cs_run *third = new_run("W", NULL);
    cs_advisor_submit(adv, third, NULL, NULL, NULL, &a, &err);
    ok(cs_advice_wait(a, 0) == 0 || cs_advice_done(a), "wait with a zero timeout returns at once");
    cs_advice_free(a);
    cs_advisor_free(adv); /* with dropped handles and work possibly in flight */
    ok(1, "the advisor shuts down with dropped handles and work in flight");
    cs_run_free(other);
    cs_run_free(third);
    cs_run_free(run);
    cs_config_free(cfg);
}

static void test_cache_pseudonyms(void)
{
    struct cs_config *cfg = offline_config(", \"cache_ttl_s\": 3600");
    struct cs_advisor *adv = NULL;
    struct cs_advice *a = NULL;
    struct cs_err err = {0};
    struct cs_advisor_stats st;
    if (cs_advisor_new(&adv, cfg, plugin_dir, &err) != 0) {
        ok(0, "advisor: %s", err.msg);
        return;
    }
    json_t *stored = good_item("T|AMT_ANNUITY|missing|null|high");
    json_object_set_new(stored, "business_impact", json_string("Blocks the loan of customer 424242 (id 424242)."));
    cs_advisor_cache_put(adv, "T|AMT_ANNUITY|missing|null|high", stored, (double)time(NULL) - 10, "424242");
    cs_advisor_cache_put(adv, "T|AMT_CREDIT|negative|negative|medium", stored, (double)time(NULL) - 7200, NULL);
    json_decref(stored);
    struct cs_run *run = new_run("T", "555");
    cs_advisor_submit(adv, run, NULL, NULL, NULL, &a, &err);
    cs_advice_wait(a, 20000);
    const char *impact = json_string_value(json_object_get(cs_advice_item(a, 0)->advice, "business_impact"));
    ok(cs_advice_item(a, 0)->cached && impact && strstr(impact, "customer 555") && !strstr(impact, "424242"),
       "a cached answer from another customer is re-pseudonymised: %s", impact ? impact : "(none)");
    ok(!cs_advice_item(a, 1)->cached, "an expired cache entry is not used");
    cs_advisor_stats(adv, &st);
    ok(st.cache_hits == 2, "both AMT_ANNUITY findings hit the cache (%llu)", (unsigned long long)st.cache_hits);
    cs_advice_free(a);
    cs_run_free(run);
    cs_advisor_free(adv);
    cs_config_free(cfg);
}

static void test_refusals(void)
{
    struct cs_config *cfg = offline_config(NULL);
    struct cs_advisor *adv = NULL;
    struct cs_err err = {0};
    ok(cs_advisor_new(&adv, cfg, module_dir, &err) != 0 && adv == NULL && strstr(err.msg, "ABI version 99") &&
           strstr(err.msg, "advisor_offline.so"),
       "a module built for another ABI is refused: %s", err.msg);
    cs_config_free(cfg);

    char adv_json[1024];
    snprintf(adv_json, sizeof(adv_json), "{\"backend\": \"gemini\", \"api_key_env\": \"CS_TEST_NO_SUCH_KEY\", "
             "\"prompt_file\": \"%s\"}", prompt_file);
    cfg = load_config(adv_json);
    unsetenv("CS_TEST_NO_SUCH_KEY");
    ok(cs_advisor_new(&adv, cfg, plugin_dir, &err) != 0 && strstr(err.msg, "needs an API key") &&
           strstr(err.msg, "CS_TEST_NO_SUCH_KEY"),
       "gemini without a key is refused: %s", err.msg);
    cs_config_free(cfg);

    snprintf(adv_json, sizeof(adv_json), "{\"prompt_file\": \"%s\", \"api_key_env\": \"CS_TEST_DEFAULT_KEY\"}",
             prompt_file);
    cfg = load_config(adv_json);
    unsetenv("CS_TEST_DEFAULT_KEY");
    ok(cs_advisor_new(&adv, cfg, plugin_dir, &err) == 0 && strcmp(cs_advisor_backend(adv), "offline") == 0,
       "without a key the default backend is offline");
    cs_advisor_free(adv);
    setenv("CS_TEST_DEFAULT_KEY", "test-key-not-real", 1);
    ok(cs_advisor_new(&adv, cfg, plugin_dir, &err) == 0 && strcmp(cs_advisor_backend(adv), "gemini") == 0 &&
           strcmp(cs_advisor_model(adv), "gemini-2.5-flash") == 0,
       "with a key the default backend is gemini (%s)", adv ? cs_advisor_backend(adv) : err.msg);
    cs_advisor_free(adv);
    unsetenv("CS_TEST_DEFAULT_KEY");
    cs_config_free(cfg);

    struct cs_registry *reg = NULL;
    ok(cs_registry_load(&reg, plugin_dir, &err) == 0 && reg->nerrors == 0 && reg->nchecks >= 4,
       "the check loader skips advisor modules without an error (%zu errors)", reg ? reg->nerrors : 0);
    cs_registry_free(reg);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_advisor PLUGIN_DIR PROMPT_FILE TEST_MODULE_DIR\n");
        return 2;
    }
    plugin_dir = argv[1];
    prompt_file = argv[2];
    module_dir = argv[3];
    struct adv_template t;
    struct cs_err err = {0};
    test_fences();
    ok(adv_template_load(prompt_file, &t, &err) == 0, "the template and its schema load (%s)", err.msg);
    test_schema(&t);
    test_template(&t);
    adv_template_clear(&t);
    test_tokens();
    test_config();
    test_facts();
    test_async_basics();
    test_concurrency();
    test_cache_pseudonyms();
    test_refusals();
    return tap_done();
}
