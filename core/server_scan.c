/*
** server_scan.c -- whole-table scans as background jobs (POST/GET /api/v1/scans).
**
** A scan can take minutes, so POST answers 202 with a job id at once and
** the scan runs on the "scan" pool, whose thread has its own engine: long
** scans never hold up the per-customer requests on the worker pool.
** Clients poll GET /api/v1/scans/{id} for the state, the progress (rows
** read out of the table's row count) and, once done, the report: a
** pipeline fails its build when "max_severity" is at or above its limit.
**
** The registry lives on the loop thread.  While a scan runs, its worker
** writes only the progress atomics and the "running" flag; the result
** comes back with the finished job.  Finished scans are kept (newest
** KEEP_FINISHED) so late pollers still find them; a running or queued
** scan is never evicted.  SIGTERM cancels running scans (state
** "cancelled") so shutdown does not wait for them.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "http.h"
#include "log.h"
#include "drift.h"
#include "report.h"
#include "server_impl.h"
#include "store.h"

#define KEEP_FINISHED 100
#define MAX_ACTIVE 16

struct scan {
    struct scan *next; /* newest first */
    char id[37];
    char *table;
    int state;                  /* enum cs_srv_scan_state, loop thread */
    atomic_int running;         /* the worker started it */
    _Atomic uint64_t rows_done, rows_total;
    _Atomic double started_at;  /* unix seconds, written by the worker */
    double created_at, finished_at;
    json_t *result;             /* the report, when it succeeded */
    int max_severity;
    char error_code[32];
    char *error_msg;
};

struct cs_srv_scans {
    struct scan *head;
    size_t n;
};

struct scan_job {
    struct cs_srv_job super;
    struct scan *scan;
    struct cs_run *run;
    json_t *report;
    int rc;
    struct cs_err err;
    char store_error[CS_ERR_MSG];
};

/* JSON null for a time not reached yet. */
static json_t *iso_time(double t)
{
    char buf[40];
    if (t <= 0)
        return json_null();
    cs_report_iso_time(t, buf, sizeof(buf));
    return json_string(buf);
}

static const char *state_name(int s)
{
    static const char *const names[] = {"queued", "running", "succeeded", "failed", "cancelled"};
    return s >= 0 && s <= CS_SCAN_CANCELLED ? names[s] : "unknown";
}

/* ---- registry -------------------------------------------------------------------- */

struct cs_srv_scans *cs_srv_scans_new(void)
{
    return calloc(1, sizeof(struct cs_srv_scans));
}

static void scan_free(struct scan *s)
{
    free(s->table);
    free(s->error_msg);
    json_decref(s->result);
    free(s);
}

void cs_srv_scans_free(struct cs_srv_scans *reg)
{
    if (reg == NULL)
        return;
    while (reg->head != NULL) {
        struct scan *next = reg->head->next;
        scan_free(reg->head);
        reg->head = next;
    }
    free(reg);
}

static int is_active(const struct scan *s)
{
    return s->state == CS_SCAN_QUEUED || s->state == CS_SCAN_RUNNING;
}

size_t cs_srv_scans_active(const struct cs_srv_scans *reg)
{
    size_t n = 0;
    for (const struct scan *s = reg->head; s != NULL; s = s->next)
        n += is_active(s);
    return n;
}

/* Drop the oldest finished scans beyond KEEP_FINISHED. */
static void trim(struct cs_srv_scans *reg)
{
    size_t finished = 0;
    for (struct scan **p = &reg->head; *p != NULL;) {
        struct scan *s = *p;
        if (!is_active(s) && ++finished > KEEP_FINISHED) {
            *p = s->next;
            scan_free(s);
            reg->n--;
            continue;
        }
        p = &s->next;
    }
}

static struct scan *find(struct cs_srv_scans *reg, const char *id)
{
    for (struct scan *s = reg->head; s != NULL; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

/* ---- the job ---------------------------------------------------------------------- */

static void on_progress(void *ctx, const char *table, uint64_t done, uint64_t total)
{
    struct scan *s = ctx;
    (void)table;
    atomic_store(&s->rows_done, done);
    atomic_store(&s->rows_total, total);
}

/* Drift against the stored history, then the run with its drift findings (as the CLI does). */
static void store_scan(struct scan_job *sj, struct cs_srv_worker *w)
{
    struct cs_err err = {0};
    if (w->store == NULL)
        return;
    if (cs_drift_check(w->store, w->gen->cfg, sj->run, &err) == 0 && cs_store_write_run(w->store, sj->run, &err) == 0) {
        sj->run->stored = 1;
        return;
    }
    snprintf(sj->store_error, sizeof(sj->store_error), "%s", err.msg);
    cs_srv_log(CS_LOG_ERROR, sj->super.request_id, NULL, "could not store scan %s: %s", sj->scan->id, err.msg);
}

static int scan_work(struct cs_srv_job *job, struct cs_srv_worker *w)
{
    struct scan_job *sj = (void *)job;
    struct scan *s = sj->scan;
    atomic_store(&s->started_at, cs_run_now());
    atomic_store(&s->running, 1);
    job->status = 200; /* no request waits; marks the job as run */
    if ((sj->rc = cs_srv_worker_engine(w, &sj->err)) != 0) {
        job->db_error = 1;
        return 0;
    }
    struct cs_scan_opts opts = {.progress = on_progress, .progress_ctx = s, .count_rows = 1,
                                .metrics = w->store != NULL, .cancel = &job->srv->cancel_scans};
    sj->rc = cs_engine_scan_table(w->eng, s->table, &opts, &sj->run, &sj->err);
    if (sj->rc == CS_ESOURCE) {
        job->db_error = 1;
        cs_srv_db_failed(job->srv, sj->err.msg);
        cs_srv_worker_reset(w);
    }
    if (sj->rc == 0)
        store_scan(sj, w);
    if (sj->rc == 0 && (sj->report = cs_report_json(sj->run)) == NULL)
        sj->rc = cs_err_set(&sj->err, CS_ENOMEM, "out of memory building the report");
    if (sj->report != NULL && sj->store_error[0])
        json_object_set_new(sj->report, "store_error", json_string(sj->store_error));
    return 0;
}

static void set_error(struct scan *s, int rc, const char *msg)
{
    const char *code = rc == CS_ENOTFOUND ? "not_found" : rc == CS_ESOURCE ? "database_error"
                     : rc == CS_ECANCELED ? "shutting_down" : "internal";
    snprintf(s->error_code, sizeof(s->error_code), "%s", code);
    free(s->error_msg);
    s->error_msg = strdup(msg[0] ? msg : "the scan failed");
}

static int scan_done(struct cs_srv_job *job)
{
    struct scan_job *sj = (void *)job;
    struct scan *s = sj->scan;
    s->finished_at = cs_run_now();
    if (sj->rc == 0) {
        s->state = CS_SCAN_SUCCEEDED;
        s->result = sj->report;
        sj->report = NULL;
        s->max_severity = cs_run_max_severity(sj->run);
    } else {
        s->state = sj->rc == CS_ECANCELED ? CS_SCAN_CANCELLED : CS_SCAN_FAILED;
        set_error(s, sj->rc, sj->err.msg);
        cs_srv_log(CS_LOG_WARNING, job->request_id, NULL, "scan %s of %s %s: %s", s->id, s->table,
                   state_name(s->state), sj->err.msg);
    }
    cs_srv_count_run(job->srv->metrics, "table", sj->rc, sj->run);
    cs_srv_metrics_scan(job->srv->metrics, state_name(s->state));
    return 0;
}

static void scan_destroy(struct cs_srv_job *job)
{
    struct scan_job *sj = (void *)job;
    cs_run_free(sj->run);
    json_decref(sj->report);
    free(job->body);
    free(sj);
}

static const struct cs_srv_job_ops scan_ops = {"scan", scan_work, scan_done, scan_destroy};

/* ---- handlers ------------------------------------------------------------------------ */

void cs_srv_scans_start(struct cs_server *srv, struct cs_srv_req *r, const char *table)
{
    const struct cs_tableconf *tc = cs_config_table(srv->gen->cfg, table);
    if (tc == NULL) {
        cs_http_send_error(r->req, 404, "not_found", "table \"%.128s\" is not in the config; only configured tables "
                           "can be scanned", table);
        return;
    }
    if (cs_srv_scans_active(srv->scans) >= MAX_ACTIVE) {
        cs_http_header(r->req, "retry-after", "30");
        cs_http_send_error(r->req, 503, "overloaded", "%d scans are already queued or running", MAX_ACTIVE);
        return;
    }
    struct scan *s = calloc(1, sizeof(*s));
    struct scan_job *sj = calloc(1, sizeof(*sj));
    if (s == NULL || sj == NULL || (s->table = strdup(tc->name)) == NULL) {
        free(s);
        free(sj);
        cs_http_send_error(r->req, 500, "internal", "out of memory");
        return;
    }
    cs_run_new_id(s->id);
    s->created_at = cs_run_now();
    sj->super.ops = &scan_ops;
    sj->super.srv = srv;
    sj->scan = s;
    snprintf(sj->super.request_id, sizeof(sj->super.request_id), "%s", r->id);
    if (cs_srv_pool_submit(&srv->scanners, &sj->super) != 0) {
        scan_free(s);
        free(sj);
        cs_http_send_error(r->req, 503, "overloaded", "the scan queue is full");
        return;
    }
    s->next = srv->scans->head;
    srv->scans->head = s;
    srv->scans->n++;
    trim(srv->scans);
    char href[80];
    snprintf(href, sizeof(href), "/api/v1/scans/%s", s->id);
    cs_http_header(r->req, "location", href);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "job_id", s->id, "status", "queued", "table", s->table, "href",
                             href);
    cs_srv_log(CS_LOG_INFO, r->id, NULL, "scan %s of %s queued", s->id, s->table);
    cs_http_send_json(r->req, 202, body);
    json_decref(body);
}

static json_t *progress_json(struct scan *s)
{
    uint64_t done = atomic_load(&s->rows_done), total = atomic_load(&s->rows_total);
    if (s->state == CS_SCAN_SUCCEEDED && s->result != NULL)
        total = done = (uint64_t)json_integer_value(json_object_get(s->result, "rows_scanned"));
    json_t *p = json_pack("{s:I}", "rows_done", (json_int_t)done);
    json_object_set_new(p, "rows_total", total ? json_integer((json_int_t)total) : json_null());
    json_object_set_new(p, "fraction", total ? json_real(done >= total ? 1.0 : (double)done / (double)total)
                                             : json_null());
    return p;
}

static json_t *scan_json(struct scan *s, int with_result)
{
    int state = s->state == CS_SCAN_QUEUED && atomic_load(&s->running) ? CS_SCAN_RUNNING : s->state;
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "job_id", s->id, "table", s->table, "status",
                          state_name(state), "created_at", iso_time(s->created_at), "started_at",
                          iso_time(atomic_load(&s->started_at)), "finished_at", iso_time(s->finished_at), "progress",
                          progress_json(s));
    if (o == NULL)
        return NULL;
    if (s->state == CS_SCAN_SUCCEEDED) {
        json_object_set_new(o, "max_severity", s->max_severity >= 0 ? json_string(cs_severity_name(s->max_severity))
                                                                    : json_null());
        json_object_set(o, "summary", json_object_get(s->result, "summary"));
        if (with_result)
            json_object_set(o, "result", s->result);
    }
    if (s->error_msg != NULL)
        json_object_set_new(o, "error", json_pack("{s:s, s:s}", "code", s->error_code, "message", s->error_msg));
    return o;
}

void cs_srv_scans_get(struct cs_server *srv, struct cs_srv_req *r, const char *id)
{
    struct scan *s = find(srv->scans, id);
    if (s == NULL) {
        cs_http_send_error(r->req, 404, "not_found", "no scan job %s (finished jobs are kept for the last %d scans)",
                           id, KEEP_FINISHED);
        return;
    }
    json_t *o = scan_json(s, 1);
    cs_http_send_json(r->req, 200, o);
    json_decref(o);
}

void cs_srv_scans_list(struct cs_server *srv, struct cs_srv_req *r)
{
    json_t *a = json_array();
    for (struct scan *s = srv->scans->head; a != NULL && s != NULL; s = s->next)
        json_array_append_new(a, scan_json(s, 0));
    json_t *body = json_pack("{s:o}", "scans", a);
    cs_http_send_json(r->req, 200, body);
    json_decref(body);
}
