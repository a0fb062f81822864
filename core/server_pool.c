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

/*
 * Answers are serialized here rather than by json_dumps: jansson walks
 * every string one UTF-8 sequence at a time through a callback, which was
 * a quarter of a customer request's CPU.  Its strings are valid UTF-8
 * already (jansson checks them when they are made), so only '"', '\\' and
 * control characters need escaping, and bytes are copied in runs.  The
 * output is what JSON_COMPACT gives: same key order, escapes and numbers.
 */
#define DUMP_MAX_DEPTH 2048

struct dumpbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static char *db_room(struct dumpbuf *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32768;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

static void db_add(struct dumpbuf *b, const char *s, size_t n)
{
    char *at = db_room(b, n);
    if (at != NULL) {
        memcpy(at, s, n);
        b->len += n;
    }
}

static void db_string(struct dumpbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    db_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        db_add(b, s + run, i - run);
        run = i + 1;
        char e[6] = {'\\', (char)c};
        size_t elen = 2;
        switch (c) {
        case '"': case '\\': break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default: e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hex[c >> 4]; e[5] = hex[c & 15]; elen = 6; break;
        }
        db_add(b, e, elen);
    }
    db_add(b, s + run, n - run);
    db_add(b, "\"", 1);
}

/* A real as jansson writes it: %.17g, ".0" when it would read as an integer, no '+' or leading zeros in
 * the exponent. */
static void db_real(struct dumpbuf *b, double v)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf) - 2, "%.17g", v);
    if (n < 0 || n >= (int)sizeof(buf) - 2) {
        b->failed = 1;
        return;
    }
    if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(buf, 'e');
    if (e != NULL) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        memmove(start, end, strlen(end) + 1);
        n = (int)strlen(buf);
    }
    db_add(b, buf, (size_t)n);
}

static void db_value(struct dumpbuf *b, const json_t *v, int depth)
{
    char num[32];
    const char *key;
    json_t *item;
    size_t i;
    if (depth > DUMP_MAX_DEPTH) {
        b->failed = 1;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        int first = 1;
        db_add(b, "{", 1);
        json_object_foreach((json_t *)v, key, item) {
            if (!first)
                db_add(b, ",", 1);
            first = 0;
            db_string(b, key, strlen(key));
            db_add(b, ":", 1);
            db_value(b, item, depth + 1);
        }
        db_add(b, "}", 1);
        break;
    }
    case JSON_ARRAY:
        db_add(b, "[", 1);
        json_array_foreach(v, i, item) {
            if (i > 0)
                db_add(b, ",", 1);
            db_value(b, item, depth + 1);
        }
        db_add(b, "]", 1);
        break;
    case JSON_STRING: db_string(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER:
        db_add(b, num, (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v)));
        break;
    case JSON_REAL: db_real(b, json_real_value(v)); break;
    case JSON_TRUE: db_add(b, "true", 4); break;
    case JSON_FALSE: db_add(b, "false", 5); break;
    case JSON_NULL: db_add(b, "null", 4); break;
    }
}

void cs_srv_job_answer(struct cs_srv_job *job, int status, const json_t *body)
{
    struct dumpbuf b = {0};
    free(job->body);
    if (body != NULL)
        db_value(&b, body, 0);
    if (body == NULL || b.failed || db_room(&b, 0) == NULL) { /* no body: a 500, as before */
        free(b.p);
        b = (struct dumpbuf){0};
    } else {
        b.p[b.len] = '\0';
    }
    job->body = b.p;
    job->body_len = b.len;
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
        /* One worker fills the advisor's cache with the store's recent answers, once per generation.
         * Not the offline backend's: they cost nothing to make again, and a store that has served
         * for a day holds hundreds of thousands of them (reading them took seconds and a GB). */
        if (g->advisor != NULL && strcmp(cs_advisor_backend(g->advisor), "offline") != 0 &&
            atomic_exchange(&g->advice_preloaded, 1) == 0)
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
