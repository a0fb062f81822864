/*
** server_pool.c -- worker threads, their engines, and jobs going back to
** the event loop.  See server_impl.h for who owns what.
**
** A pool is a FIFO of jobs under one mutex and N threads.  Each thread
** builds its own engine (its own database connection) from the current
** config generation, rebuilds it when a reload made a newer one, and, when
** idle for PROBE_S seconds, checks that the database still answers so
** /readyz reflects an outage that no request has hit yet.
**
** A finished job is handed to the loop with h2o_multithread_send_message;
** the loop (cs_srv_jobs_back) runs the job's done() hook, answers the
** request if it is still waiting, and frees the job.  A job whose request
** went away before a worker reached it is passed back without running.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "advisor_cli.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "server_impl.h"
#include "store.h"

#define PROBE_S 5.0

/*
 * Worker threads (and the advisor's threads, which they start and which
 * inherit it) run at a lower priority than the event loop: on a small
 * machine dozens of busy threads would otherwise take the loop's turn on
 * the CPU for a scheduler slice at a time, and /healthz would wait behind
 * report building.  The loop keeps the process's own priority.
 */
#define WORKER_NICE 10

static void lower_priority(void)
{
    errno = 0;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), getpriority(PRIO_PROCESS, (id_t)gettid()) + WORKER_NICE) != 0)
        cs_log(CS_LOG_DEBUG, "server", "cannot lower a worker's priority: %s", strerror(errno));
}

double cs_srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void cs_srv_db_failed(struct cs_server *srv, const char *msg)
{
    atomic_store(&srv->db_ok, 0);
    atomic_fetch_add(&srv->db_errors, 1);
    pthread_mutex_lock(&srv->err_lock);
    snprintf(srv->db_error, sizeof(srv->db_error), "%s", msg);
    pthread_mutex_unlock(&srv->err_lock);
}

void cs_srv_db_succeeded(struct cs_server *srv)
{
    atomic_store(&srv->db_ok, 1);
}

/* ---- answers ------------------------------------------------------------------- */

void cs_srv_job_answer(struct cs_srv_job *job, int status, const json_t *body)
{
    free(job->body);
    job->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    job->body_len = job->body ? strlen(job->body) : 0;
    job->status = job->body ? status : 500;
}

void cs_srv_job_fail(struct cs_srv_job *job, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:{s:s, s:s?}}", "error", "code", code, "message", msg);
    if (j == NULL) /* the message was not UTF-8 */
        j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", "(message not UTF-8)");
    cs_srv_job_answer(job, status, j);
    json_decref(j);
}

/* ---- engines ------------------------------------------------------------------- */

static void drop_engine(struct cs_srv_worker *w)
{
    if (w->eng != NULL)
        atomic_fetch_sub(&w->pool->srv->engines_up, 1);
    cs_engine_free(w->eng);
    w->eng = NULL;
    cs_store_close(w->store);
    w->store = NULL;
    cs_srv_gen_unref(w->gen);
    w->gen = NULL;
}

void cs_srv_worker_reset(struct cs_srv_worker *w)
{
    drop_engine(w);
}

int cs_srv_worker_engine(struct cs_srv_worker *w, struct cs_err *err)
{
    struct cs_server *srv = w->pool->srv;
    struct cs_srv_gen *g = cs_srv_gen_current(srv);
    if (w->eng != NULL && w->gen == g) {
        cs_srv_gen_unref(g);
        return 0;
    }
    drop_engine(w);
    int rc = cs_engine_new(&w->eng, g->cfg, g->reg, err);
    if (rc == 0 && g->cfg->store_enabled && (rc = cs_store_open_config(&w->store, g->cfg, err)) != 0)
        cs_err_prefix(err, "run store: ");
    if (rc != 0) {
        cs_engine_free(w->eng);
        w->eng = NULL;
        cs_srv_gen_unref(g);
        cs_srv_db_failed(srv, err->msg);
        return rc;
    }
    cs_engine_use_rules(w->eng, g->rules);
    if (w->store != NULL) {
        cs_engine_set_store(w->eng, w->store);
        /* One worker fills the advisor's cache with the store's recent answers, once per generation. */
        if (g->advisor != NULL && atomic_exchange(&g->advice_preloaded, 1) == 0)
            cs_advice_preload(g->advisor, w->store);
    }
    w->gen = g;
    w->last_ok = cs_srv_now();
    atomic_fetch_add(&srv->engines_up, 1);
    cs_srv_db_succeeded(srv);
    return 0;
}

/* Idle: is the database still there?  Reconnects a worker whose engine is gone. */
static void probe(struct cs_srv_worker *w)
{
    struct cs_err err = {0};
    w->last_ok = cs_srv_now(); /* also paces failed probes */
    if (cs_srv_worker_engine(w, &err) != 0)
        return;
    if (cs_engine_ping(w->eng, &err) != 0) {
        cs_log(CS_LOG_WARNING, "server", "%s %d: the database does not answer: %s", w->pool->name, w->index,
               err.msg);
        cs_srv_db_failed(w->pool->srv, err.msg);
        drop_engine(w); /* reconnect next time */
        return;
    }
    cs_srv_db_succeeded(w->pool->srv);
}

/* ---- the queue ----------------------------------------------------------------- */

static struct cs_srv_job *next_job(struct cs_srv_pool *p, struct cs_srv_worker *w)
{
    struct cs_srv_job *job = NULL;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping && p->head == NULL) {
        double wait = w->last_ok + PROBE_S - cs_srv_now();
        if (wait <= 0) {
            pthread_mutex_unlock(&p->lock);
            probe(w);
            pthread_mutex_lock(&p->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)wait;
        until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cond, &p->lock, &until);
    }
    if (!p->stopping && (job = p->head) != NULL) {
        p->head = job->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->depth--;
    }
    pthread_mutex_unlock(&p->lock);
    return job;
}

static void *worker_main(void *arg)
{
    struct cs_srv_worker *w = arg;
    struct cs_srv_pool *p = w->pool;
    struct cs_err err = {0};
    lower_priority();
    if (cs_srv_worker_engine(w, &err) != 0)
        cs_log(CS_LOG_ERROR, "server", "%s %d: cannot connect to the database (will retry): %s", p->name, w->index,
               err.msg);
    struct cs_srv_job *job;
    while ((job = next_job(p, w)) != NULL) {
        atomic_fetch_add(&p->busy, 1);
        int handed_on = 0;
        if (!atomic_load(&job->abandoned) || job->must_run)
            handed_on = job->ops->work(job, w);
        if (!handed_on) { /* a handed-on job may be gone already: touch nothing */
            if (job->status != 0 && !job->db_error)
                w->last_ok = cs_srv_now(); /* a good answer is as good as a probe */
            h2o_multithread_send_message(&p->srv->jobs_back, &job->super);
        }
        atomic_fetch_sub(&p->busy, 1);
    }
    drop_engine(w);
    return NULL;
}

int cs_srv_pool_start(struct cs_srv_pool *p, struct cs_server *srv, const char *name, size_t nworkers, size_t max_depth)
{
    memset(p, 0, sizeof(*p));
    p->srv = srv;
    p->name = name;
    p->max_depth = max_depth;
    atomic_init(&p->busy, 0);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    if ((p->workers = calloc(nworkers, sizeof(*p->workers))) == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < nworkers; i++) {
        struct cs_srv_worker *w = &p->workers[i];
        w->pool = p;
        w->index = (int)i;
        int rc = pthread_create(&w->tid, NULL, worker_main, w);
        if (rc != 0) {
            cs_log(CS_LOG_ERROR, "server", "cannot start %s thread %zu: %s", name, i, strerror(rc));
            return CS_EINTERNAL;
        }
        w->started = 1;
        p->nworkers++;
    }
    return 0;
}

static int enqueue(struct cs_srv_pool *p, struct cs_srv_job *job, int bounded)
{
    pthread_mutex_lock(&p->lock);
    if (p->stopping || (bounded && p->depth >= p->max_depth)) {
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    if (bounded) /* a new job; a resubmitted one is counted already */
        atomic_fetch_add(&p->srv->jobs_out, 1);
    job->next = NULL;
    if (p->tail != NULL)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->depth++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int cs_srv_pool_submit(struct cs_srv_pool *p, struct cs_srv_job *job)
{
    return enqueue(p, job, 1);
}

int cs_srv_pool_resubmit(struct cs_srv_pool *p, struct cs_srv_job *job)
{
    return enqueue(p, job, 0);
}

static void *detached_main(void *arg)
{
    struct cs_srv_job *job = arg;
    lower_priority();
    (void)job->ops->work(job, NULL);
    h2o_multithread_send_message(&job->srv->jobs_back, &job->super);
    return NULL;
}

int cs_srv_run_detached(struct cs_server *srv, struct cs_srv_job *job)
{
    pthread_t tid;
    pthread_attr_t attr;
    job->srv = srv;
    atomic_fetch_add(&srv->jobs_out, 1);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&tid, &attr, detached_main, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        atomic_fetch_sub(&srv->jobs_out, 1);
        cs_log(CS_LOG_ERROR, "server", "cannot start a thread for %s: %s", job->ops->name, strerror(rc));
        return -1;
    }
    return 0;
}

size_t cs_srv_pool_depth(struct cs_srv_pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t d = p->depth;
    pthread_mutex_unlock(&p->lock);
    return d;
}

void cs_srv_pool_stop(struct cs_srv_pool *p)
{
    if (p->workers == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    struct cs_srv_job *queued = p->head;
    p->head = p->tail = NULL;
    p->depth = 0;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->nworkers; i++)
        if (p->workers[i].started)
            pthread_join(p->workers[i].tid, NULL);
    while (queued != NULL) {
        struct cs_srv_job *next = queued->next;
        atomic_fetch_sub(&p->srv->jobs_out, 1);
        queued->ops->destroy(queued);
        queued = next;
    }
    free(p->workers);
    p->workers = NULL;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}

/* ---- back on the loop ------------------------------------------------------------ */

static void answer(struct cs_srv_job *job)
{
    struct cs_srv_req *rq = job->rq;
    job->rq = NULL;
    rq->job = NULL;
    job->srv->waiting--;
    if (job->status == 0 || job->body == NULL) {
        cs_http_send_error(rq->req, 500, "internal", "the request could not be completed");
        return;
    }
    cs_http_send_owned(rq->req, job->status, "application/json", job->body, job->body_len);
    job->body = NULL; /* the request frees it once the response is written */
}

static void job_back(struct cs_server *srv, struct cs_srv_job *job)
{
    if (!srv->closing) {
        if (job->ops->done != NULL && job->ops->done(job))
            return; /* queued for its next step */
        if (job->rq != NULL)
            answer(job);
    } else if (job->rq != NULL) { /* shutting down: the request gets nothing more */
        job->rq->job = NULL;
        job->rq = NULL;
    }
    atomic_fetch_sub(&srv->jobs_out, 1);
    job->ops->destroy(job);
}

/*
 * At most ANSWERS_PER_TURN finished jobs are answered per turn of the loop,
 * the rest on the next turns: a burst of large answers (say 64 LLM calls
 * ending together, 150 KB each) is then interleaved with the sockets'
 * events instead of holding a /healthz behind ten megabytes of writes.
 */
#define ANSWERS_PER_TURN 8

void cs_srv_jobs_drain(struct cs_server *srv)
{
    for (int n = 0; n < ANSWERS_PER_TURN && !h2o_linklist_is_empty(&srv->backlog); n++) {
        struct cs_srv_job *job = H2O_STRUCT_FROM_MEMBER(struct cs_srv_job, super.link, srv->backlog.next);
        h2o_linklist_unlink(&job->super.link);
        job_back(srv, job);
    }
    if (!h2o_linklist_is_empty(&srv->backlog) && !h2o_timeout_is_linked(&srv->backlog_entry))
        h2o_timeout_link(srv->ctx.loop, &srv->backlog_timeout, &srv->backlog_entry);
}

void cs_srv_jobs_back(h2o_multithread_receiver_t *recv, h2o_linklist_t *messages)
{
    struct cs_server *srv = H2O_STRUCT_FROM_MEMBER(struct cs_server, jobs_back, recv);
    h2o_linklist_insert_list(&srv->backlog, messages);
    cs_srv_jobs_drain(srv);
}
