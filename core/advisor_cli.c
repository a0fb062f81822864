/*
** advisor_cli.c -- advice for the command line and its store rows.  See
** advisor_cli.h for the order of events.
**
** The CLI may wait for the advisor (it has nothing else to do); it still
** goes through the asynchronous API so that it exercises exactly what the
** daemon uses.
*/
#include "advisor_cli.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "advisor_config.h"
#include "err.h"
#include "log.h"
#include "plugin.h"

static int min_severity(const struct cs_config *cfg)
{
    return cfg->advisor != NULL ? cfg->advisor->min_severity : CS_SEV_LOW; /* advisor_config.c's default */
}

/* ---- rows -------------------------------------------------------------------------- */

static int by_anomaly(const void *a, const void *b)
{
    const struct cs_suggestion *x = a, *y = b;
    return (x->anomaly_seq > y->anomaly_seq) - (x->anomaly_seq < y->anomaly_seq);
}

/* {"reason": ..., "http_status": ...}: what a row that is not ok says about why. */
static char *reason_json(const char *reason, int http_status)
{
    json_t *o = json_pack("{s:s}", "reason", reason ? reason : "");
    if (o != NULL && http_status > 0)
        json_object_set_new(o, "http_status", json_integer(http_status));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static void item_row(const struct cs_advice_item *it, struct cs_suggestion *r, char **text)
{
    *text = it->status == CS_ADVICE_OK ? json_dumps(it->advice, JSON_COMPACT) : reason_json(it->reason, it->http_status);
    *r = (struct cs_suggestion){.anomaly_seq = (long)it->finding, .signature = it->signature, .backend = it->backend,
                                .model = it->model, .status = cs_advice_status_name(it->status), .json = *text,
                                .prompt_tokens = it->tokens_in, .completion_tokens = it->tokens_out,
                                .latency_ms = it->latency_ms};
}

int cs_advice_store(struct cs_store *st, const struct cs_advisor *adv, const struct cs_run *run,
                    const struct cs_advice *a, const struct cs_stored_suggestion *keep, size_t nkeep,
                    struct cs_err *err)
{
    (void)adv;
    size_t n = a ? cs_advice_count(a) : 0, total = n + nkeep;
    struct cs_suggestion *rows = calloc(total + 1, sizeof(*rows));
    char **texts = calloc(total + 1, sizeof(*texts));
    int rc = rows && texts ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        item_row(cs_advice_item(a, i), &rows[i], &texts[i]);
    for (size_t k = 0; rc == 0 && k < nkeep; k++)
        rows[n + k] = (struct cs_suggestion){.anomaly_seq = keep[k].anomaly_seq, .signature = keep[k].signature,
                                             .backend = keep[k].backend, .model = keep[k].model,
                                             .status = keep[k].status, .json = keep[k].json,
                                             .prompt_tokens = keep[k].prompt_tokens,
                                             .completion_tokens = keep[k].completion_tokens,
                                             .latency_ms = keep[k].latency_ms};
    if (rc == 0) {
        qsort(rows, total, sizeof(*rows), by_anomaly);
        rc = cs_store_write_suggestions(st, run->run_id, rows, total, err);
    }
    for (size_t i = 0; texts != NULL && i < n; i++)
        free(texts[i]);
    free(texts);
    free(rows);
    return rc;
}

size_t cs_advice_preload(struct cs_advisor *adv, struct cs_store *st)
{
    struct cs_stored_suggestion *s = NULL;
    size_t n = 0, loaded = 0;
    struct cs_err err = {0};
    double ttl = cs_advisor_cache_ttl(adv);
    if (st == NULL || ttl <= 0)
        return 0;
    if (cs_store_suggestions_recent(st, cs_advisor_backend(adv), cs_advisor_model(adv), (double)time(NULL) - ttl, &s,
                                    &n, &err) != 0) {
        cs_log(CS_LOG_WARNING, "advisor", "cannot read cached suggestions from the store: %s", err.msg);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = s[i].json ? json_loads(s[i].json, 0, NULL) : NULL;
        if (v != NULL && cs_advisor_cache_put(adv, s[i].signature, v, s[i].created_at, s[i].customer_id) == 0)
            loaded++;
        json_decref(v);
    }
    cs_store_suggestions_free(s, n);
    cs_log(CS_LOG_INFO, "advisor", "%zu cached suggestions of %s/%s loaded from the store", loaded,
           cs_advisor_backend(adv), cs_advisor_model(adv));
    return loaded;
}

/* ---- --advise ---------------------------------------------------------------------------- */

/* The advisor could not start: every anomaly stays pending, with the reason. */
static json_t *unavailable(const struct cs_config *cfg, struct cs_store *st, const struct cs_run *run, const char *why)
{
    struct cs_err err = {0};
    const char *backend = cfg->advisor && cfg->advisor->backend ? cfg->advisor->backend : "default";
    int stored = st != NULL && cs_store_write_pending(st, run, min_severity(cfg), backend, NULL, why, &err) == 0;
    if (st != NULL && !stored)
        fprintf(stderr, "creditsense: warning: could not store the pending suggestions: %s\n", err.msg);
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < run->nfindings; i++) {
        const struct cs_finding *f = &run->findings[i];
        char sig[768];
        if (f->severity < min_severity(cfg))
            continue;
        cs_advisor_signature(f, sig, sizeof(sig));
        json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "anomaly", (json_int_t)i,
                                              "table", f->table, "column", f->column, "check", f->check, "kind",
                                              f->kind, "signature", sig, "status", "pending", "reason", why));
    }
    return json_pack("{s:{s:s, s:s, s:b}, s:o}", "advisor", "backend", backend, "error", why, "stored", stored,
                     "suggestions", list);
}

static void log_stats(struct cs_advisor *adv)
{
    struct cs_advisor_stats s;
    cs_advisor_stats(adv, &s);
    cs_log(CS_LOG_INFO, "advisor",
           "calls %llu (retries %llu, repairs %llu, errors %llu), cache hits %llu, misses %llu, tokens in %llu out %llu",
           (unsigned long long)s.calls, (unsigned long long)s.retries, (unsigned long long)s.repairs,
           (unsigned long long)s.errors, (unsigned long long)s.cache_hits, (unsigned long long)s.cache_misses,
           (unsigned long long)s.tokens_in, (unsigned long long)s.tokens_out);
}

json_t *cs_advise_run(const struct cs_config *cfg, struct cs_store *st, const struct cs_run *run)
{
    char dir[PATH_MAX];
    struct cs_advisor *adv = NULL;
    struct cs_advice *a = NULL;
    struct cs_err err = {0};
    if (!run->stored)
        st = NULL; /* suggestion rows belong to a stored run: none when the run could not be written */
    cs_plugin_dir(cfg->plugin_dir, dir, sizeof(dir));
    if (cs_advisor_new(&adv, cfg, dir, &err) != 0) {
        fprintf(stderr, "creditsense: warning: no advice: %s\n", err.msg);
        return unavailable(cfg, st, run, err.msg);
    }
    /* Pending rows first: if this process dies during the calls, `advise --run` finds them. */
    if (st != NULL && cs_store_write_pending(st, run, min_severity(cfg), cs_advisor_backend(adv),
                                             cs_advisor_model(adv), "advice requested; no answer yet", &err) != 0)
        fprintf(stderr, "creditsense: warning: could not store the pending suggestions: %s\n", err.msg);
    cs_advice_preload(adv, st);
    cs_advisor_submit(adv, run, NULL, NULL, NULL, &a, &err);
    cs_advice_wait(a, -1);
    int stored = st != NULL && cs_advice_store(st, adv, run, a, NULL, 0, &err) == 0;
    if (st != NULL && !stored)
        fprintf(stderr, "creditsense: warning: could not store the suggestions: %s\n", err.msg);
    json_t *rep = cs_advice_report(adv, run, a);
    if (rep != NULL)
        json_object_set_new(json_object_get(rep, "advisor"), "stored", json_boolean(stored));
    log_stats(adv);
    cs_advice_free(a);
    cs_advisor_free(adv);
    return rep;
}

/* ---- creditsense advise --run ------------------------------------------------------------ */

/* The stored suggestions of a run marked per anomaly: want[i] is 1 unless anomaly i already has "ok". */
static unsigned char *to_advise(const struct cs_run *run, const struct cs_stored_suggestion *s, size_t n, size_t *nkeep)
{
    unsigned char *want = malloc(run->nfindings + 1);
    if (want == NULL)
        return NULL;
    memset(want, 1, run->nfindings + 1);
    *nkeep = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].anomaly_seq >= 0 && (size_t)s[i].anomaly_seq < run->nfindings && s[i].status != NULL &&
            strcmp(s[i].status, "ok") == 0) {
            want[s[i].anomaly_seq] = 0;
            (*nkeep)++;
        }
    return want;
}

/* The kept "ok" rows, compacted to the front of s (the rest are replaced). */
static size_t keep_ok(struct cs_stored_suggestion *s, size_t n, const unsigned char *want, size_t nfindings)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = s[i].anomaly_seq >= 0 && (size_t)s[i].anomaly_seq < nfindings && !want[s[i].anomaly_seq] &&
                 s[i].status && strcmp(s[i].status, "ok") == 0;
        if (ok) {
            struct cs_stored_suggestion t = s[k];
            s[k++] = s[i];
            s[i] = t;
        }
    }
    return k;
}

/* Report entries for kept rows, so the output lists every anomaly's advice. */
static void add_kept(json_t *rep, const struct cs_run *run, const struct cs_stored_suggestion *s, size_t n)
{
    json_t *list = json_object_get(rep, "suggestions");
    for (size_t i = 0; i < n; i++) {
        const struct cs_finding *f = &run->findings[s[i].anomaly_seq];
        json_t *adv = s[i].json ? json_loads(s[i].json, 0, NULL) : NULL;
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s}", "anomaly",
                              (json_int_t)s[i].anomaly_seq, "table", f->table, "column", f->column, "check", f->check,
                              "kind", f->kind, "severity", cs_severity_name(f->severity), "signature",
                              s[i].signature ? s[i].signature : "", "status", "ok", "cached", 1, "earlier", 1,
                              "backend", s[i].backend ? s[i].backend : "", "model", s[i].model ? s[i].model : "");
        if (o != NULL && adv != NULL) {
            json_object_del(adv, "id");
            json_object_update(o, adv);
        }
        json_decref(adv);
        json_array_append_new(list, o);
    }
}

static int advise_stored(const struct cs_config *cfg, struct cs_store *st, const char *run_id, json_t **out,
                         struct cs_err *err)
{
    struct cs_run *run = NULL;
    struct cs_stored_suggestion *s = NULL;
    struct cs_advisor *adv = NULL;
    struct cs_advice *a = NULL;
    unsigned char *want = NULL;
    size_t n = 0, nkeep = 0;
    char dir[PATH_MAX];
    cs_plugin_dir(cfg->plugin_dir, dir, sizeof(dir));
    int rc = cs_store_run_load(st, run_id, &run, err);
    if (rc == 0)
        rc = cs_store_suggestions_load(st, run_id, &s, &n, err);
    if (rc == 0 && (want = to_advise(run, s, n, &nkeep)) == NULL)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    if (rc == 0)
        rc = cs_advisor_new(&adv, cfg, dir, err);
    if (rc == 0) {
        nkeep = keep_ok(s, n, want, run->nfindings);
        cs_advice_preload(adv, st);
        rc = cs_advisor_submit(adv, run, want, NULL, NULL, &a, err);
    }
    if (rc == 0) {
        cs_advice_wait(a, -1);
        int stored = cs_advice_store(st, adv, run, a, s, nkeep, err) == 0;
        if (!stored)
            fprintf(stderr, "creditsense: warning: could not store the suggestions: %s\n", err->msg);
        *out = cs_advice_report(adv, run, a);
        add_kept(*out, run, s, nkeep);
        json_object_set_new(json_object_get(*out, "advisor"), "stored", json_boolean(stored));
        json_object_set_new(*out, "run_id", json_string(run->run_id));
        json_object_set_new(*out, "scope", json_string(run->scope == CS_SCOPE_CUSTOMER ? "customer" : "table"));
        if (run->scope == CS_SCOPE_CUSTOMER)
            json_object_set_new(*out, "customer_id", json_string(run->customer_id ? run->customer_id : ""));
        else
            json_object_set_new(*out, "table", json_string(run->table ? run->table : ""));
        log_stats(adv);
    }
    cs_advice_free(a);
    cs_advisor_free(adv);
    free(want);
    cs_store_suggestions_free(s, n);
    cs_run_free(run);
    return rc;
}

int cs_advise_command(const char *config_path, const char *run_id, int text, FILE *out, struct cs_err *err)
{
    struct cs_config *cfg = NULL;
    struct cs_store *st = NULL;
    json_t *rep = NULL;
    int rc = cs_config_load(config_path, &cfg, err);
    if (rc == 0)
        rc = cs_store_open_config(&st, cfg, err);
    if (rc == 0)
        rc = advise_stored(cfg, st, run_id, &rep, err);
    if (rc == 0 && text) {
        fprintf(out, "Run %s\n", run_id);
        cs_advice_print_text(out, rep);
    } else if (rc == 0 && (json_dumpf(rep, out, JSON_INDENT(2)) != 0 || fputc('\n', out) == EOF)) {
        rc = cs_err_set(err, CS_ENOMEM, "cannot write the advice");
    }
    json_decref(rep);
    cs_store_close(st);
    cs_config_free(cfg);
    return rc;
}

/* ---- text --------------------------------------------------------------------------------------- */

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void print_one(FILE *out, json_t *s)
{
    fprintf(out, "  %s.%s (%s%s%s, %s): ", str(s, "table"), str(s, "column"), str(s, "check"),
            str(s, "kind")[0] ? "/" : "", str(s, "kind"), str(s, "severity"));
    if (strcmp(str(s, "status"), "ok") != 0) {
        fprintf(out, "%s: %s\n", str(s, "status"), str(s, "reason"));
        return;
    }
    fprintf(out, "priority %s%s\n", str(s, "priority"), json_is_true(json_object_get(s, "cached")) ? " (cached)" : "");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(s, "fix_suggestions"), i, v)
        fprintf(out, "    - %s\n", json_string_value(v));
    fprintf(out, "    impact: %s\n", str(s, "business_impact"));
    fprintf(out, "    SQL: %s\n", str(json_object_get(s, "rule_templates"), "sql"));
}

void cs_advice_print_text(FILE *out, json_t *report)
{
    json_t *info = json_object_get(report, "advisor"), *list = json_object_get(report, "suggestions"), *s;
    size_t i;
    fprintf(out, "\nAdvice (backend %s%s%s, prompt %s)%s\n", str(info, "backend"), str(info, "model")[0] ? ", model " : "",
            str(info, "model"), str(info, "prompt"),
            json_is_true(json_object_get(info, "offline")) ? ": offline suggestions, no LLM was called" : "");
    if (str(info, "error")[0] != '\0')
        fprintf(out, "  not available: %s\n", str(info, "error"));
    json_array_foreach(list, i, s)
        print_one(out, s);
}
