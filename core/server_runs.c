/*
** server_runs.c -- customer runs and the run store's history over HTTP.
**
** A customer request is one job in up to three steps, none of which makes
** the event loop wait:
**   CHECK   (worker)   run the checks and rules over the customer's rows,
**                      store the run and "pending" advice rows (LLM
**                      backends), hand the findings to the advisor;
**   ADVICE  (advisor)  the advisor's threads call the LLM (or answer from
**                      its cache) and, when done, post the job to the loop;
**   FINISH  (worker)   the loop queues the job again: the suggestions are
**                      stored and the answer (report + suggestions) built.
** Without an advisor, or with ?advice=false, CHECK answers directly.  The
** job goes back to the loop only when both the worker and the advisor are
** through with it (parts), because the advisor may call back before
** cs_advisor_submit even returns (everything answered from its cache).
** While advice is pending the job holds its config generation, so the
** advisor it asked outlives a reload.  A client that leaves does not stop
** FINISH: the LLM was paid for, so its answers are stored all the same.
**
** The history endpoints read the store on a worker: GET /api/v1/runs,
** /api/v1/runs/{run}, /api/v1/customers/{id}/report, /api/v1/suggestions.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advisor_cli.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "report.h"
#include "server_impl.h"
#include "store.h"

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 1000
#define MAX_OFFSET 100000

enum { STEP_CHECK, STEP_ADVICE, STEP_FINISH };

struct customer_job {
    struct cs_srv_job super;
    char *customer_id;
    int seed_shape; /* POST /process_customer: the findings also as "anomalies" */
    int want_advice;
    int step;
    int rc;
    struct cs_run *run;
    struct cs_srv_gen *gen; /* held while the advisor works */
    struct cs_advice *advice;
    atomic_int parts;       /* worker + advisor: the last one sends the job to the loop */
    char store_error[CS_ERR_MSG];
};

static void customer_destroy(struct cs_srv_job *job)
{
    struct customer_job *cj = (void *)job;
    cs_advice_free(cj->advice);
    cs_srv_gen_unref(cj->gen);
    free(cj->customer_id);
    cs_run_free(cj->run);
    free(job->body);
    free(cj);
}

void cs_srv_fail_run(struct cs_srv_job *job, struct cs_srv_worker *w, int rc, const struct cs_err *err)
{
    switch (rc) {
    case CS_EUSAGE: cs_srv_job_fail(job, 400, "invalid_customer_id", "%s", err->msg); break;
    case CS_ENOTFOUND: cs_srv_job_fail(job, 404, "not_found", "%s", err->msg); break;
    case CS_ESOURCE:
        job->db_error = 1;
        cs_srv_db_failed(job->srv, err->msg);
        cs_srv_job_fail(job, 503, "database_error", "%s", err->msg);
        if (w != NULL)
            cs_srv_worker_reset(w); /* reconnect for the next job */
        break;
    case CS_ECANCELED: cs_srv_job_fail(job, 503, "shutting_down", "the server is shutting down"); break;
    case CS_ECONFIG: cs_srv_job_fail(job, 500, "config_error", "%s", err->msg); break;
    default: cs_srv_job_fail(job, 500, "internal", "%s", err->msg[0] ? err->msg : "internal error"); break;
    }
}

static const char *outcome_name(int rc)
{
    switch (rc) {
    case 0: return "ok";
    case CS_EUSAGE: return "bad_request";
    case CS_ENOTFOUND: return "not_found";
    case CS_ESOURCE: return "db_error";
    case CS_ECANCELED: return "cancelled";
    default: return "error";
    }
}

/* Findings of one (check, source, severity): counted with one metrics call. */
struct finding_group {
    const struct cs_finding *first;
    uint64_t n;
};

#define COUNT_GROUPS 32

/* Runs on the loop thread: findings are grouped first, so the label text is built once per group
 * rather than once per finding (a customer run has dozens of findings in a handful of groups). */
void cs_srv_count_run(struct cs_srv_metrics *m, const char *scope, int rc, const struct cs_run *run)
{
    struct finding_group g[COUNT_GROUPS];
    size_t ng = 0;
    cs_srv_metrics_run(m, scope, outcome_name(rc));
    for (size_t i = 0; run != NULL && i < run->nfindings; i++) {
        const struct cs_finding *f = &run->findings[i];
        size_t k = 0;
        while (k < ng && !(g[k].first->severity == f->severity && strcmp(g[k].first->check, f->check) == 0 &&
                           strcmp(g[k].first->source, f->source) == 0))
            k++;
        if (k == ng && ng == COUNT_GROUPS) { /* full: flush the groups and start again */
            for (k = 0; k < ng; k++)
                cs_srv_metrics_findings(m, g[k].first->check, g[k].first->source,
                                        cs_severity_name(g[k].first->severity), g[k].n);
            ng = k = 0;
        }
        if (k == ng)
            g[ng++] = (struct finding_group){f, 0};
        g[k].n++;
        if (strcmp(f->source, "lua") == 0 && strcmp(f->kind, "error") == 0)
            cs_srv_metrics_inc(m, CS_SRV_RULE_ERRORS);
    }
    for (size_t k = 0; k < ng; k++)
        cs_srv_metrics_findings(m, g[k].first->check, g[k].first->source, cs_severity_name(g[k].first->severity),
                                g[k].n);
}

/* The answer: the report, the seed's "anomalies", the advice (or why there is none). */
static void answer(struct customer_job *cj, const struct cs_advisor *adv, const char *no_advice)
{
    json_t *rep = cs_report_json(cj->run);
    if (rep == NULL) {
        cs_srv_job_fail(&cj->super, 500, "internal", "out of memory building the report");
        return;
    }
    if (cj->seed_shape)
        json_object_set(rep, "anomalies", json_object_get(rep, "findings"));
    if (cj->store_error[0])
        json_object_set_new(rep, "store_error", json_string(cj->store_error));
    if (cj->advice != NULL) {
        json_t *a = cs_advice_report(adv, cj->run, cj->advice);
        if (a != NULL)
            json_object_update(rep, a);
        json_decref(a);
    } else {
        json_object_set_new(rep, "suggestions", json_array());
        json_object_set_new(rep, "advisor", json_pack("{s:s}", "note", no_advice));
    }
    cs_srv_job_answer(&cj->super, 200, rep);
    json_decref(rep);
}

static void store_run(struct customer_job *cj, struct cs_srv_worker *w)
{
    struct cs_err err = {0};
    if (w->store == NULL)
        return;
    if (cs_store_write_run(w->store, cj->run, &err) == 0) {
        cj->run->stored = 1;
        return;
    }
    snprintf(cj->store_error, sizeof(cj->store_error), "%s", err.msg);
    cs_srv_log(CS_LOG_ERROR, cj->super.request_id, NULL, "could not store run %s: %s", cj->run->run_id, err.msg);
}

/* Advisor thread (or this one): the advice is done. */
static void advice_done(void *ctx, struct cs_advice *a)
{
    struct customer_job *cj = ctx;
    (void)a;
    if (atomic_fetch_sub(&cj->parts, 1) == 1)
        h2o_multithread_send_message(&cj->super.srv->jobs_back, &cj->super.super);
}

/* Hand the findings to the advisor; the job comes back to the loop when it is done. */
static int ask_advisor(struct customer_job *cj, struct cs_srv_worker *w)
{
    struct cs_err err = {0};
    cj->gen = w->gen;
    cs_srv_gen_ref(cj->gen);
    atomic_store(&cj->parts, 2);
    cj->step = STEP_ADVICE;
    if (cs_advisor_submit(cj->gen->advisor, cj->run, NULL, advice_done, cj, &cj->advice, &err) != 0) {
        cs_srv_log(CS_LOG_ERROR, cj->super.request_id, NULL, "advisor: %s", err.msg);
        cj->step = STEP_CHECK;
        return -1;
    }
    /* From here on the job may be back on the loop (or freed): do not touch cj. */
    if (atomic_fetch_sub(&cj->parts, 1) == 1) /* the advisor already called back */
        h2o_multithread_send_message(&cj->super.srv->jobs_back, &cj->super.super);
    return 0;
}

/*
 * "pending" rows before the LLM is asked, as the CLI writes them, so that
 * GET /api/v1/runs/{run} shows advice on its way while the calls are out.
 * Not for the offline backend: it answers at once, without a call to wait
 * for, and the extra transaction would only slow every request down.
 */
static void mark_pending(struct customer_job *cj, struct cs_srv_worker *w)
{
    struct cs_err err = {0};
    const struct cs_advisor *adv = w->gen->advisor;
    if (w->store == NULL || !cj->run->stored || strcmp(cs_advisor_backend(adv), "offline") == 0)
        return;
    if (cs_store_write_pending(w->store, cj->run, cs_advisor_min_severity(adv), cs_advisor_backend(adv),
                               cs_advisor_model(adv), "advice requested; no answer yet", &err) != 0)
        cs_srv_log(CS_LOG_ERROR, cj->super.request_id, NULL, "could not store the pending suggestions of run %s: %s",
                   cj->run->run_id, err.msg);
}

/* Returns 1 when the job went to the advisor (and is no longer this thread's). */
static int check_step(struct customer_job *cj, struct cs_srv_worker *w)
{
    struct cs_err err = {0};
    if ((cj->rc = cs_srv_worker_engine(w, &err)) != 0) {
        cj->super.db_error = 1;
        cs_srv_job_fail(&cj->super, 503, "database_unavailable", "cannot reach the database: %s", err.msg);
        return 0;
    }
    struct cs_scan_opts opts = {.cancel = &cj->super.srv->cancel_all};
    if ((cj->rc = cs_engine_scan_customer(w->eng, cj->customer_id, &opts, &cj->run, &err)) != 0) {
        cs_srv_fail_run(&cj->super, w, cj->rc, &err);
        return 0;
    }
    store_run(cj, w);
    if (!cj->want_advice) {
        answer(cj, NULL, "advice not requested (advice=false)");
        return 0;
    }
    if (w->gen->advisor == NULL) {
        char note[300];
        snprintf(note, sizeof(note), "no advisor: %s", w->gen->advisor_error);
        answer(cj, NULL, note);
        return 0;
    }
    mark_pending(cj, w);
    if (ask_advisor(cj, w) == 0)
        return 1;
    answer(cj, NULL, "the advisor refused the request (see the server log)");
    return 0;
}

static void finish_step(struct customer_job *cj, struct cs_srv_worker *w)
{
    struct cs_err err = {0};
    if (cs_srv_worker_engine(w, &err) == 0 && w->store != NULL && cj->run->stored &&
        cs_advice_store(w->store, cj->gen->advisor, cj->run, cj->advice, NULL, 0, &err) != 0)
        cs_srv_log(CS_LOG_ERROR, cj->super.request_id, NULL, "could not store the suggestions of run %s: %s",
                   cj->run->run_id, err.msg);
    answer(cj, cj->gen->advisor, NULL);
}

static int customer_work(struct cs_srv_job *job, struct cs_srv_worker *w)
{
    struct customer_job *cj = (void *)job;
    if (cj->step == STEP_FINISH) {
        finish_step(cj, w);
        return 0;
    }
    return check_step(cj, w);
}

/* Loop thread.  Returns 1 when the job goes on (queued for FINISH). */
static int customer_done(struct cs_srv_job *job)
{
    struct customer_job *cj = (void *)job;
    if (cj->step == STEP_ADVICE) {
        cj->step = STEP_FINISH;
        job->must_run = 1;
        if (cs_srv_pool_resubmit(&job->srv->workers, job) == 0)
            return 1;
        answer(cj, cj->gen->advisor, NULL); /* the pool is stopping: answer without storing */
    }
    if (job->status != 0) /* the last time the job is here: count it once */
        cs_srv_count_run(job->srv->metrics, "customer", cj->rc, cj->run);
    return 0;
}

static const struct cs_srv_job_ops customer_ops = {"customer", customer_work, customer_done, customer_destroy};

void cs_srv_customer_start(struct cs_srv_req *r, const char *id, int seed_shape)
{
    const char *advice = cs_http_query(r->req, "advice");
    if (advice != NULL && strcmp(advice, "false") != 0 && strcmp(advice, "true") != 0) {
        cs_http_send_error(r->req, 400, "bad_request", "advice: expected true or false");
        return;
    }
    struct customer_job *cj = calloc(1, sizeof(*cj));
    if (cj == NULL || (cj->customer_id = strdup(id)) == NULL) {
        free(cj);
        cs_http_send_error(r->req, 500, "internal", "out of memory");
        return;
    }
    cj->super.ops = &customer_ops;
    cj->seed_shape = seed_shape;
    cj->want_advice = advice == NULL || strcmp(advice, "true") == 0;
    cs_srv_submit(r, &r->srv->workers, &cj->super);
}

/* ---- reading the store ------------------------------------------------------------ */

enum store_query { Q_RUNS, Q_RUN, Q_CUSTOMER_REPORT, Q_SUGGESTIONS };

struct store_job {
    struct cs_srv_job super;
    enum store_query q;
    char *id;         /* run id or customer id */
    char *table, *customer;
    size_t limit, offset;
};

static void store_job_destroy(struct cs_srv_job *job)
{
    struct store_job *sj = (void *)job;
    free(sj->id);
    free(sj->table);
    free(sj->customer);
    free(job->body);
    free(sj);
}

static json_t *suggestions_json(const struct cs_stored_suggestion *s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        json_t *v = s[i].json ? json_loads(s[i].json, 0, NULL) : NULL;
        json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s?}", "signature", s[i].signature, "backend", s[i].backend,
                              "model", s[i].model, "status", s[i].status);
        if (o == NULL) {
            json_decref(v);
            continue;
        }
        json_object_set_new(o, "anomaly", s[i].anomaly_seq >= 0 ? json_integer(s[i].anomaly_seq) : json_null());
        json_object_set_new(o, "advice", v ? v : json_null());
        json_array_append_new(a, o);
    }
    return a;
}

/* A stored run as a report plus its suggestions. */
static int run_report(struct cs_store *st, const char *run_id, json_t **out, struct cs_err *err)
{
    struct cs_run *run = NULL;
    struct cs_stored_suggestion *s = NULL;
    size_t n = 0;
    int rc = cs_store_run_load(st, run_id, &run, err);
    if (rc == 0)
        rc = cs_store_suggestions_load(st, run_id, &s, &n, err);
    if (rc == 0) {
        *out = cs_report_json(run);
        if (*out == NULL)
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
        else
            json_object_set_new(*out, "suggestions", suggestions_json(s, n));
    }
    cs_store_suggestions_free(s, n);
    cs_run_free(run);
    return rc;
}

/* The newest stored run of a customer; CS_ENOTFOUND when there is none. */
static int latest_run(struct cs_store *st, const char *customer, char *run_id, size_t size, struct cs_err *err)
{
    json_t *runs = NULL;
    struct cs_history_query q = {.customer = customer, .limit = 1, .runs_only = 1};
    int rc = cs_store_history(st, &q, &runs, err);
    const char *id = rc == 0 ? json_string_value(json_object_get(json_array_get(runs, 0), "run_id")) : NULL;
    if (rc == 0 && id == NULL)
        rc = cs_err_set(err, CS_ENOTFOUND, "no stored run for customer %s", customer);
    if (rc == 0)
        snprintf(run_id, size, "%s", id);
    json_decref(runs);
    return rc;
}

static int list_runs(struct store_job *sj, struct cs_store *st, json_t **out, struct cs_err *err)
{
    json_t *runs = NULL;
    struct cs_history_query q = {.table = sj->table, .customer = sj->customer, .limit = sj->limit,
                                 .offset = sj->offset, .runs_only = 1}; /* GET /api/v1/runs/{run} has the anomalies */
    int rc = cs_store_history(st, &q, &runs, err);
    if (rc != 0)
        return rc;
    *out = json_pack("{s:o, s:I, s:I}", "runs", runs, "limit", (json_int_t)sj->limit, "offset",
                     (json_int_t)sj->offset);
    return *out ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
}

static int list_suggestions(struct store_job *sj, struct cs_store *st, json_t **out, struct cs_err *err)
{
    char run_id[64];
    struct cs_stored_suggestion *s = NULL;
    size_t n = 0;
    int rc = sj->id ? (snprintf(run_id, sizeof(run_id), "%s", sj->id), 0)
                    : latest_run(st, sj->customer, run_id, sizeof(run_id), err);
    if (rc == 0)
        rc = cs_store_suggestions_load(st, run_id, &s, &n, err);
    if (rc != 0)
        return rc;
    json_t *all = suggestions_json(s, n), *page = json_array();
    cs_store_suggestions_free(s, n);
    for (size_t i = sj->offset; i < json_array_size(all) && json_array_size(page) < sj->limit; i++)
        json_array_append(page, json_array_get(all, i));
    *out = json_pack("{s:s, s:o, s:I, s:I, s:I}", "run_id", run_id, "suggestions", page, "total",
                     (json_int_t)json_array_size(all), "limit", (json_int_t)sj->limit, "offset",
                     (json_int_t)sj->offset);
    json_decref(all);
    return *out ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
}

static int store_work(struct cs_srv_job *job, struct cs_srv_worker *w)
{
    struct store_job *sj = (void *)job;
    struct cs_err err = {0};
    json_t *out = NULL;
    char run_id[64];
    int rc = cs_srv_worker_engine(w, &err);
    if (rc == 0 && w->store == NULL) {
        cs_srv_job_fail(job, 501, "not_implemented", "the run store is off in this config (store.enabled is false)");
        return 0;
    }
    if (rc == 0) {
        switch (sj->q) {
        case Q_RUNS: rc = list_runs(sj, w->store, &out, &err); break;
        case Q_RUN: rc = run_report(w->store, sj->id, &out, &err); break;
        case Q_CUSTOMER_REPORT:
            if ((rc = latest_run(w->store, sj->id, run_id, sizeof(run_id), &err)) == 0)
                rc = run_report(w->store, run_id, &out, &err);
            break;
        case Q_SUGGESTIONS: rc = list_suggestions(sj, w->store, &out, &err); break;
        }
    }
    if (rc == 0)
        cs_srv_job_answer(job, 200, out);
    else if (rc == CS_ENOTFOUND)
        cs_srv_job_fail(job, 404, "not_found", "%s", err.msg);
    else
        cs_srv_fail_run(job, w, rc, &err);
    json_decref(out);
    return 0;
}

static const struct cs_srv_job_ops store_ops = {"store", store_work, NULL, store_job_destroy};

/* limit and offset from the query; answers 400 itself. */
static int paging(struct cs_srv_req *r, size_t *limit, size_t *offset)
{
    long l, o;
    if (cs_srv_param_number(r, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, &l) != 0 ||
        cs_srv_param_number(r, "offset", 0, MAX_OFFSET, 0, &o) != 0)
        return -1;
    *limit = (size_t)l;
    *offset = (size_t)o;
    return 0;
}

static char *dup_param(struct cs_srv_req *r, const char *name)
{
    const char *v = cs_http_query(r->req, name);
    return v && v[0] ? strdup(v) : NULL;
}

/* A store job for query q, or NULL after answering 500. */
static struct store_job *store_job_new(struct cs_srv_req *r, enum store_query q)
{
    struct store_job *sj = calloc(1, sizeof(*sj));
    if (sj == NULL) {
        cs_http_send_error(r->req, 500, "internal", "out of memory");
        return NULL;
    }
    sj->super.ops = &store_ops;
    sj->q = q;
    sj->limit = DEFAULT_LIMIT;
    return sj;
}

static void submit_store(struct cs_srv_req *r, enum store_query q, const char *id)
{
    struct store_job *sj = store_job_new(r, q);
    if (sj == NULL)
        return;
    sj->id = id ? strdup(id) : NULL;
    cs_srv_submit(r, &r->srv->workers, &sj->super);
}

void cs_srv_runs_list(struct cs_srv_req *r)
{
    static const char *const allowed[] = {"table", "customer", "limit", "offset", NULL};
    size_t limit, offset;
    if (cs_srv_param_known(r, allowed) != 0 || paging(r, &limit, &offset) != 0)
        return;
    const char *table = cs_http_query(r->req, "table"), *customer = cs_http_query(r->req, "customer");
    if (table != NULL && table[0] && customer != NULL && customer[0]) { /* no run is both: say so, not []. */
        cs_http_send_error(r->req, 400, "bad_request", "table= selects table scans and customer= selects customer "
                           "runs (which cover every table): give one of them");
        return;
    }
    struct store_job *sj = store_job_new(r, Q_RUNS);
    if (sj == NULL)
        return;
    sj->table = dup_param(r, "table");
    sj->customer = dup_param(r, "customer");
    sj->limit = limit;
    sj->offset = offset;
    cs_srv_submit(r, &r->srv->workers, &sj->super);
}

void cs_srv_run_get(struct cs_srv_req *r, const char *run_id)
{
    submit_store(r, Q_RUN, run_id);
}

void cs_srv_customer_report(struct cs_srv_req *r, const char *customer_id)
{
    submit_store(r, Q_CUSTOMER_REPORT, customer_id);
}

void cs_srv_suggestions_list(struct cs_srv_req *r)
{
    static const char *const allowed[] = {"run", "customer", "limit", "offset", NULL};
    size_t limit, offset;
    if (cs_srv_param_known(r, allowed) != 0 || paging(r, &limit, &offset) != 0)
        return;
    const char *run = cs_http_query(r->req, "run"), *customer = cs_http_query(r->req, "customer");
    if ((run == NULL || !run[0]) == (customer == NULL || !customer[0])) {
        cs_http_send_error(r->req, 400, "bad_request", "give run=<run id> or customer=<customer id> (one of them)");
        return;
    }
    struct store_job *sj = store_job_new(r, Q_SUGGESTIONS);
    if (sj == NULL)
        return;
    sj->id = dup_param(r, "run");
    sj->customer = dup_param(r, "customer");
    sj->limit = limit;
    sj->offset = offset;
    cs_srv_submit(r, &r->srv->workers, &sj->super);
}
