/*
** server_impl.h -- what the daemon's files share (server.c, server_pool.c,
** server_api.c, server_gen.c, server_scan.c, server_runs.c, server_query.c,
** server_rules.c).  Not a public interface.
**
** Threads and who touches what:
**   - The event loop thread (one h2o_context_t) owns every HTTP object,
**     struct cs_server's loop-side fields, the metrics, the rate limiter
**     and the scan registry.  It never waits on a database, a rules
**     reload or an LLM.
**   - Worker threads (struct cs_srv_pool, "worker" and "scan") each own an
**     engine (its own database connection) built from a config generation.
**     They take jobs from their pool's queue, run them, and hand each
**     finished job back to the loop with h2o_multithread_send_message;
**     the loop then answers the request, if it is still there.
**   - Shared between the two: the queue (pool mutex), the current
**     generation pointer (gen_lock), and the atomics below.
**
** A request that waits for a job is tied to it through struct cs_srv_req,
** allocated from the request's pool with a dispose callback: when the
** client goes away (an HTTP/2 reset, a closed connection) the callback
** unlinks the job, so the loop never writes to a freed request, and marks
** the job abandoned, so a worker that has not started it skips the work.
*/
#ifndef CS_SERVER_IMPL_H
#define CS_SERVER_IMPL_H

#include <h2o.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "advisor.h"
#include "config.h"
#include "engine.h"
#include "plugin.h"
#include "server_conf.h"
#include "server_metrics.h"

struct cs_server;
struct cs_srv_worker;

/* ---- config generations (server_gen.c) ------------------------------------ */

/** What one (re)load of the config file produced.  Reference-counted. */
struct cs_srv_gen {
    atomic_int refs;
    uint64_t id;
    struct cs_config *cfg;
    struct cs_registry *reg;
    char *token; /* bearer token for write endpoints; NULL = auth off.  A secret. */
    size_t token_len;
    json_t *view; /* the effective config with secrets redacted (GET /api/v1/config) */
    struct cs_rules *rules;       /* the Lua rules catalogue every engine of this generation reads */
    char rules_dir[4096];
    int rules_required;           /* rules_dir is configured: its absence is a problem */
    size_t rules_loaded, rules_problems; /* as loaded with the generation (for /readyz) */
    int rules_dir_missing;
    struct cs_advisor *advisor;   /* NULL when it could not start (advisor_error says why) */
    char advisor_error[256];
    atomic_int advice_preloaded;  /* the advisor's cache was filled from the store once */
};

/** Load the config file and everything it names (plugins, token, rules, advisor). */
int cs_srv_gen_load(const char *path, uint64_t id, struct cs_srv_gen **out, struct cs_err *err);
void cs_srv_gen_ref(struct cs_srv_gen *g);
void cs_srv_gen_unref(struct cs_srv_gen *g);

/** The generation workers should use now, with a reference the caller releases. */
struct cs_srv_gen *cs_srv_gen_current(struct cs_server *srv);

/* ---- jobs and worker pools (server_pool.c) --------------------------------- */

struct cs_srv_job;

struct cs_srv_job_ops {
    const char *name;
    /**
     * Worker thread: do the work, fill status and body.  Returns 0 when the
     * job is to go back to the loop now, 1 when it was handed on (to the
     * advisor), after which the worker must not touch it again.
     */
    int (*work)(struct cs_srv_job *job, struct cs_srv_worker *w);
    /**
     * Loop thread, when the job is back (before the response is sent); may be
     * NULL.  Returns 1 when the job goes on (it queued it again), else 0.
     */
    int (*done)(struct cs_srv_job *job);
    /** Free the job (any thread, once). */
    void (*destroy)(struct cs_srv_job *job);
};

struct cs_srv_req;

struct cs_srv_job {
    h2o_multithread_message_t super; /* first: how a finished job travels to the loop */
    struct cs_srv_job *next;         /* in a pool's queue */
    const struct cs_srv_job_ops *ops;
    struct cs_server *srv;
    struct cs_srv_req *rq;  /* loop thread only: the waiting request, NULL when there is none (any more) */
    atomic_int abandoned;   /* the request went away before the work started */
    char request_id[48];
    int status;      /* the HTTP answer; 0 when the work was skipped */
    char *body;      /* malloc'd JSON (the answer) */
    size_t body_len;
    int db_error;    /* the work failed on the database (counted on the loop) */
    int must_run;    /* run even when the request went away (work already paid for) */
};

/** A worker thread and the engine it owns. */
struct cs_srv_worker {
    struct cs_srv_pool *pool;
    pthread_t tid;
    int index;
    int started;
    struct cs_srv_gen *gen; /* the generation eng was built from */
    struct cs_engine *eng;
    struct cs_store *store; /* the run store's connection (NULL when store.enabled is false) */
    double last_ok;         /* monotonic seconds of the last good database contact */
};

struct cs_srv_pool {
    struct cs_server *srv;
    const char *name; /* "worker" or "scan", for logs */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct cs_srv_job *head, *tail;
    size_t depth, max_depth;
    int stopping;
    struct cs_srv_worker *workers;
    size_t nworkers;
    atomic_int busy;
};

int cs_srv_pool_start(struct cs_srv_pool *p, struct cs_server *srv, const char *name, size_t nworkers, size_t max_depth);

/** Queue a job.  -1 when the queue is full or stopping (the caller still owns the job). */
int cs_srv_pool_submit(struct cs_srv_pool *p, struct cs_srv_job *job);

/**
 * Run a job on a thread of its own (work gets w == NULL), for rare slow
 * work that must not wait behind the pools: config and rules reloads.
 * -1 when no thread could be started (the caller still owns the job).
 */
int cs_srv_run_detached(struct cs_server *srv, struct cs_srv_job *job);

/** Queue the next step of a job already accepted: not refused for a full queue, only when stopping. */
int cs_srv_pool_resubmit(struct cs_srv_pool *p, struct cs_srv_job *job);

/** Stop taking jobs, wake the workers, join them; queued jobs are destroyed unanswered. */
void cs_srv_pool_stop(struct cs_srv_pool *p);

size_t cs_srv_pool_depth(struct cs_srv_pool *p);

/**
 * Make sure w has an engine for the current generation (rebuilding it after
 * a reload).  0, or the engine error (the database is unreachable).
 */
int cs_srv_worker_engine(struct cs_srv_worker *w, struct cs_err *err);

/** Drop w's engine so the next job reconnects (after a database error). */
void cs_srv_worker_reset(struct cs_srv_worker *w);

/** Fill job->status/body with an error answer. */
void cs_srv_job_fail(struct cs_srv_job *job, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Fill job->status/body with a JSON answer (borrowed). */
void cs_srv_job_answer(struct cs_srv_job *job, int status, const json_t *body);

/** The loop's receiver callback: finished jobs coming back (queued on srv->backlog). */
void cs_srv_jobs_back(h2o_multithread_receiver_t *recv, h2o_linklist_t *messages);
/** Answer a few backlogged jobs; the rest wait for the next turn of the loop. */
void cs_srv_jobs_drain(struct cs_server *srv);

/* ---- background table scans (server_scan.c) -------------------------------- */

enum cs_srv_scan_state { CS_SCAN_QUEUED, CS_SCAN_RUNNING, CS_SCAN_SUCCEEDED, CS_SCAN_FAILED, CS_SCAN_CANCELLED };

struct cs_srv_scans;

struct cs_srv_scans *cs_srv_scans_new(void);
void cs_srv_scans_free(struct cs_srv_scans *s);

/** POST /api/v1/scans: queue a scan of table; 202 with the job id. */
void cs_srv_scans_start(struct cs_server *srv, struct cs_srv_req *r, const char *table);
/** GET /api/v1/scans/{id}: 200 with state, progress and result; 404 when unknown. */
void cs_srv_scans_get(struct cs_server *srv, struct cs_srv_req *r, const char *id);
/** GET /api/v1/scans: every scan kept, newest first, without results. */
void cs_srv_scans_list(struct cs_server *srv, struct cs_srv_req *r);
/** Scans queued or running. */
size_t cs_srv_scans_active(const struct cs_srv_scans *s);

/* ---- requests and routes (server_api.c) ------------------------------------ */

enum {
    CS_ROUTE_LIMITED = 1, /* counted by the per-client rate limit */
    CS_ROUTE_WRITE = 2,   /* needs the bearer token when one is configured */
    CS_ROUTE_DB = 4,      /* needs the database: 503 while not ready */
    CS_ROUTE_BODY = 8,    /* takes a JSON object body */
};

struct cs_srv_route {
    const char *method;
    const char *pattern; /* "/api/v1/scans/{job}": a {..} segment matches any one segment */
    int flags;
    void (*handle)(struct cs_srv_req *r);
};

/** Per-request state, in the request's pool (freed with it). */
struct cs_srv_req {
    struct cs_server *srv;
    h2o_req_t *req;
    struct cs_srv_job *job; /* the job this request waits for, or NULL */
    const struct cs_srv_route *route;
    h2o_iovec_t param;      /* the {..} segment of the path */
    json_t *body;           /* CS_ROUTE_BODY: the parsed object (released with the request) */
    char id[48];            /* request id (x-request-id) */
    /* for the access log and the metrics, copied when the request arrives */
    double t0;              /* monotonic seconds */
    size_t metric_route;    /* index into cs_srv_route_names */
    char method[12];
    char path[256];
};

extern const struct cs_srv_route cs_srv_routes[];
extern const size_t cs_srv_nroutes;

/** Route names for metrics: every pattern, then "static" and "unmatched". */
const char *const *cs_srv_route_names(size_t *n);
/** Count a finished run and its findings (loop thread). */
void cs_srv_count_run(struct cs_srv_metrics *m, const char *scope, int rc, const struct cs_run *run);

/** Access log line and metrics of a finished request (loop thread). */
void cs_srv_request_done(struct cs_server *srv, h2o_req_t *req, const char *id, const char *method, const char *path,
                         size_t route, double seconds);

/** Install the API handler, the dashboard's files and the JSON 404 on a path config. */
void cs_srv_api_register(struct cs_server *srv, h2o_pathconf_t *root, const char *web_dir);

/** Queue a job for a request (pool NULL: a thread of its own); answers 503 itself when it cannot.  Takes the job. */
void cs_srv_submit(struct cs_srv_req *r, struct cs_srv_pool *pool, struct cs_srv_job *job);

/* ---- customers and the run store (server_runs.c) ---------------------------------- */

/** Check a customer for a request (POST /process_customer when seed_shape, else the v1 endpoint). */
void cs_srv_customer_start(struct cs_srv_req *r, const char *customer_id, int seed_shape);
/** GET /api/v1/runs, /api/v1/runs/{run}, /api/v1/customers/{id}/report, /api/v1/suggestions. */
void cs_srv_runs_list(struct cs_srv_req *r);
void cs_srv_run_get(struct cs_srv_req *r, const char *run_id);
void cs_srv_customer_report(struct cs_srv_req *r, const char *customer_id);
void cs_srv_suggestions_list(struct cs_srv_req *r);
/** Answer a job with the HTTP form of an engine or store error (w may be NULL). */
void cs_srv_fail_run(struct cs_srv_job *job, struct cs_srv_worker *w, int rc, const struct cs_err *err);

/* ---- queries for the dashboard (server_query.c) ----------------------------------------- */

/** 400 naming the first query parameter not in allowed (NULL-terminated): -1 then, else 0 (loop thread). */
int cs_srv_param_known(struct cs_srv_req *r, const char *const *allowed);
/** Query parameter name as a whole number in [lo, hi] (digits only), def when absent; 400 and -1 otherwise. */
int cs_srv_param_number(struct cs_srv_req *r, const char *name, long lo, long hi, long def, long *out);
/** GET /api/v1/anomalies: stored findings across runs, filtered and paged (read on a worker). */
void cs_srv_anomalies_list(struct cs_srv_req *r);
/** GET /api/v1/metrics?table=T: the table's stored per-column metric history, oldest run first. */
void cs_srv_metrics_history(struct cs_srv_req *r);
/** GET /api/v1/customers/{id}/rows: the customer's rows per configured table (id already checked for shape). */
void cs_srv_customer_rows(struct cs_srv_req *r, const char *customer_id);

/* ---- Lua rules (server_rules.c) ------------------------------------------------------ */

/** GET /api/v1/rules (reload 0) and POST /api/v1/rules/reload (reload 1). */
void cs_srv_rules_request(struct cs_srv_req *r, int reload);
/** Reload the current generation's rules off the loop (inotify, SIGHUP); the outcome is logged. */
void cs_srv_rules_reload(struct cs_server *srv, const char *why);
/** Watch the rules directory (inotify); tick re-watches after a reload or when it was gone. */
void cs_srv_watch_start(struct cs_server *srv);
void cs_srv_watch_tick(struct cs_server *srv);
void cs_srv_watch_stop(struct cs_server *srv);

/* ---- the server (server.c) ------------------------------------------------------ */

struct cs_server {
    /* loop thread */
    h2o_globalconf_t h2o;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener, *sigsock;
    h2o_multithread_receiver_t jobs_back;
    h2o_linklist_t backlog;           /* finished jobs not answered yet */
    h2o_timeout_t backlog_timeout;    /* 0 ms: the next turn of the loop */
    h2o_timeout_entry_t backlog_entry;
    h2o_timeout_t tick_timeout;
    h2o_timeout_entry_t tick;
    h2o_socket_t *watch_sock;      /* inotify on the rules directory */
    int watch_wd, watch_dir_seen;
    char watch_dir[4096];
    h2o_timeout_t watch_timeout;   /* DEBOUNCE_MS */
    h2o_timeout_entry_t watch_debounce;
    const char *config_path;
    char listen[256];         /* as given; the bound address after start */
    struct cs_srv_metrics *metrics;
    struct cs_ratelimit *limiter;
    struct cs_srv_scans *scans;
    struct cs_srv_gen *gen;   /* current generation (the loop's reference) */
    uint64_t next_gen_id;
    size_t live;              /* requests in progress (until their response is written) */
    size_t waiting;           /* jobs out at the workers that a request waits for */
    int draining, stopped;
    double drain_deadline;
    pid_t parent_pid;
    uint64_t reqid_seq;
    char reqid_prefix[16];
    double started;
    int closing;              /* the loop is gone: finished jobs are only freed */
    int access_log;
    /* shared with the workers */
    pthread_mutex_t gen_lock; /* guards gen for workers reading it */
    struct cs_srv_pool workers, scanners;
    atomic_int cancel_scans;  /* shutting down: running scans stop */
    atomic_int cancel_all;    /* the drain deadline passed: every run stops */
    atomic_int engines_up;    /* workers with a connected engine */
    atomic_int jobs_out;      /* jobs queued, running or with the advisor (not yet freed) */
    atomic_int db_ok;         /* the last database contact: 1 succeeded, 0 failed, -1 none yet */
    atomic_ullong db_errors;
    pthread_mutex_t err_lock;
    char db_error[512];       /* the last database error (redacted), for /readyz */
};

/** Monotonic seconds. */
double cs_srv_now(void);

/** Record a database problem (any thread): db_ok = 0, counter, message for /readyz. */
void cs_srv_db_failed(struct cs_server *srv, const char *msg);
void cs_srv_db_succeeded(struct cs_server *srv);

/** Reload the config (SIGHUP): a new generation for the workers; settings that need a restart are logged. */
void cs_srv_reload(struct cs_server *srv);

/** Log one JSON line with a request id and extra fields (borrowed, may be NULL). */
void cs_srv_log(int level, const char *request_id, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
