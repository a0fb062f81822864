/*
** server.c -- `creditsense serve`: the daemon's life from start to exit.
**
** Contract (outside tests and deploy/ rely on it):
**   creditsense serve --config FILE [--listen HOST:PORT] [--parent-pid PID]
**   - Listens on --listen, else the config's server.listen (default
**     127.0.0.1:8080); port 0 picks a free port.  Once listening it prints
**     one line on stdout: "creditsense: serving on http://HOST:PORT/ ...".
**   - Logs are JSON lines on stderr with a request id where there is one
**     (CREDITSENSE_LOG=debug|info|warning|error, default info).
**   - SIGTERM or SIGINT: stop accepting, let in-flight requests finish and
**     their responses be written, close idle connections, exit 0; after
**     server.drain_timeout_ms whatever still runs is cancelled.  A second
**     signal stops at once.  Running scans are cancelled at the first.
**   - SIGHUP: reload the config (plugins, token, limits; listen, threads
**     and web_dir need a restart) and the Lua rules.  A broken config is
**     logged and the running one kept.
**   - --parent-pid PID: stop like SIGTERM when PID exits (the tests use it
**     so a killed test run never leaves a daemon behind).
**   - Exit status 2 with a message on stderr when the config is invalid
**     or the address cannot be bound.
**
** Shape (h2o's examples/libh2o/simple.c): h2o_config_init, one host, one
** path "/" carrying the API dispatcher, the dashboard's files and a JSON
** 404, an error-shape filter; one h2o_context_t on one evloop thread;
** signals arrive through a signalfd watched by that loop, so no handler
** runs asynchronously.  See server_impl.h for the threads.
*/
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "http.h"
#include "log.h"
#include "plugin.h"
#include "ratelimit.h"
#include "server_impl.h"

#define EXIT_ERROR 2
#define RATE_SLOTS 8192
#define SCAN_QUEUE 64
#define JOBS_GRACE_S 5.0

/* The level of the daemon's own lines; process-wide like log.c's. */
static int g_level = CS_LOG_INFO;

/* ---- logging --------------------------------------------------------------------- */

void cs_srv_log(int level, const char *request_id, json_t *fields, const char *fmt, ...)
{
    if (level > g_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *o = json_pack("{s:f, s:s, s:s, s:s?}", "ts", ts.tv_sec + ts.tv_nsec / 1e9, "level", cs_log_level_name(level),
                          "component", "server", "msg", msg);
    if (o == NULL) /* msg was not UTF-8 (a client's path): keep the line, drop the text */
        o = json_pack("{s:f, s:s, s:s, s:s}", "ts", ts.tv_sec + ts.tv_nsec / 1e9, "level", cs_log_level_name(level),
                      "component", "server", "msg", "(message not UTF-8)");
    if (request_id != NULL)
        json_object_set_new(o, "request_id", json_string(request_id));
    if (fields != NULL)
        json_object_update(o, fields);
    char *line = json_dumps(o, JSON_COMPACT);
    if (line != NULL) {
        fprintf(stderr, "%s\n", line); /* one write per line: stdio's lock keeps lines whole across threads */
        free(line);
    }
    json_decref(o);
}

/* A JSON string from client bytes that may not be UTF-8. */
static json_t *client_string(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    char copy[512];
    size_t i;
    for (i = 0; s[i] && i + 1 < sizeof(copy); i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    copy[i] = '\0';
    return json_string(copy);
}

void cs_srv_request_done(struct cs_server *srv, h2o_req_t *req, const char *id, const char *method, const char *path,
                         size_t route, double seconds)
{
    int status = req->res.status != 0 ? req->res.status : 499; /* the client left before the answer */
    cs_srv_metrics_request(srv->metrics, route, method, status, seconds);
    if (!srv->access_log || g_level < CS_LOG_INFO)
        return;
    char client[64];
    cs_http_peer(req, client, sizeof(client));
    json_t *f = json_pack("{s:s, s:o, s:o, s:i, s:f, s:I, s:s}", "component", "http", "method", client_string(method),
                          "path", client_string(path), "status", status, "duration_ms", seconds * 1000.0, "bytes",
                          (json_int_t)req->bytes_sent, "client", client);
    cs_srv_log(CS_LOG_INFO, id, f, "%s %s %d", method, path, status);
    json_decref(f);
}

/* Requests libh2o answers before routing (413 for a body over the limit,
 * 400 for a broken request) are bound to the host's fallback path. */
static void log_fallback(h2o_logger_t *self, h2o_req_t *req)
{
    struct cs_server *srv = *(struct cs_server **)(self + 1);
    char method[12], path[256];
    snprintf(method, sizeof(method), "%.*s", (int)req->method.len, req->method.base ? req->method.base : "");
    snprintf(path, sizeof(path), "%.*s", (int)req->input.path.len, req->input.path.base ? req->input.path.base : "");
    int64_t usec = 0;
    h2o_time_compute_duration(req, &usec);
    cs_srv_request_done(srv, req, NULL, method, path, cs_srv_nroutes + 1, usec / 1e6);
}

/* ---- listening ------------------------------------------------------------------- */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct cs_server *srv = listener->data;
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    if ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(&srv->accept_ctx, sock);
}

/* Split "host:port" / "[v6]:port". */
static int split_listen(const char *s, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL)
        return -1;
    const char *h = s;
    size_t hlen = colon - s;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']')
        h++, hlen -= 2;
    if (hlen == 0 || hlen >= hsize || strlen(colon + 1) >= psize)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, psize, "%s", colon + 1);
    return 0;
}

static int bind_listener(const char *addr, char *bound, size_t bsize, struct cs_err *err)
{
    char host[256], port[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    if (split_listen(addr, host, sizeof(host), port, sizeof(port)) != 0)
        return cs_err_set(err, CS_EUSAGE, "listen address \"%s\": expected HOST:PORT", addr);
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0)
        return cs_err_set(err, CS_EUSAGE, "listen address \"%s\": %s", addr, gai_strerror(gai));
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol), on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return cs_err_set(err, CS_EUSAGE, "cannot listen on %s: %s", addr, strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char numeric[NI_MAXHOST], serv[16];
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
        getnameinfo((struct sockaddr *)&ss, len, numeric, sizeof(numeric), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(bound, bsize, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", numeric, serv);
    else
        snprintf(bound, bsize, "%s", addr);
    return fd;
}

/* ---- signals, watchdog, drain -------------------------------------------------------- */

static void stop_listening(struct cs_server *srv)
{
    if (srv->listener == NULL)
        return;
    h2o_socket_read_stop(srv->listener);
    h2o_socket_close(srv->listener);
    srv->listener = NULL;
}

static void begin_drain(struct cs_server *srv, const char *why)
{
    if (srv->draining) {
        cs_srv_log(CS_LOG_WARNING, NULL, NULL, "%s again: stopping now with %zu requests in flight", why, srv->live);
        atomic_store(&srv->cancel_all, 1);
        srv->stopped = 1;
        return;
    }
    int ms = srv->gen->cfg->server->drain_timeout_ms;
    srv->draining = 1;
    srv->drain_deadline = cs_srv_now() + ms / 1000.0;
    atomic_store(&srv->cancel_scans, 1);
    stop_listening(srv);
    h2o_context_request_shutdown(&srv->ctx);
    cs_srv_log(CS_LOG_INFO, NULL, NULL, "%s: no new connections; draining %zu requests in flight (up to %d ms)", why,
               srv->live, ms);
}

static void on_signal(h2o_socket_t *sock, const char *err)
{
    struct cs_server *srv = sock->data;
    struct signalfd_siginfo si;
    (void)err;
    while (read(h2o_socket_get_fd(sock), &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP)
            cs_srv_reload(srv);
        else
            begin_drain(srv, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
    }
}

static int parent_gone(const struct cs_server *srv)
{
    return srv->parent_pid > 0 && (getppid() != srv->parent_pid || (kill(srv->parent_pid, 0) != 0 && errno == ESRCH));
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    struct cs_server *srv = H2O_STRUCT_FROM_MEMBER(struct cs_server, tick, entry);
    if (!srv->draining && parent_gone(srv))
        begin_drain(srv, "the parent process exited");
    cs_srv_watch_tick(srv);
    h2o_timeout_link(srv->ctx.loop, &srv->tick_timeout, &srv->tick);
}

/* After the drain only idle keep-alive connections are left: make their
 * idle timeouts expire now so they close cleanly before the loop goes. */
static void close_idle_connections(struct cs_server *srv)
{
    srv->ctx.http1.req_timeout.timeout = 0;
    srv->ctx.http2.idle_timeout.timeout = 0;
    srv->ctx.http2.graceful_shutdown_timeout.timeout = 0;
    double until = cs_srv_now() + 0.5;
    while ((!h2o_linklist_is_empty(&srv->ctx.http1._conns) || !h2o_linklist_is_empty(&srv->ctx.http2._conns)) &&
           cs_srv_now() < until)
        h2o_evloop_run(srv->ctx.loop, 10);
}

static void on_backlog(h2o_timeout_entry_t *entry)
{
    cs_srv_jobs_drain(H2O_STRUCT_FROM_MEMBER(struct cs_server, backlog_entry, entry));
}

/* ---- reload ------------------------------------------------------------------------- */

static void apply_limits(struct cs_server *srv, const struct cs_server_conf *sc)
{
    srv->h2o.max_request_entity_size = sc->max_body_bytes;
    srv->access_log = sc->access_log;
    if (sc->rate_per_s <= 0) {
        cs_ratelimit_free(srv->limiter);
        srv->limiter = NULL;
    } else if (srv->limiter != NULL) {
        cs_ratelimit_set(srv->limiter, sc->rate_per_s, sc->rate_burst);
    } else {
        srv->limiter = cs_ratelimit_new(sc->rate_per_s, sc->rate_burst, RATE_SLOTS);
    }
}

static void warn_restart(const struct cs_server_conf *old, const struct cs_server_conf *neu)
{
    if (strcmp(old->listen, neu->listen) != 0)
        cs_srv_log(CS_LOG_WARNING, NULL, NULL, "server.listen changed: takes effect after a restart");
    if (old->threads != neu->threads)
        cs_srv_log(CS_LOG_WARNING, NULL, NULL, "server.threads changed: takes effect after a restart");
    if ((old->web_dir == NULL) != (neu->web_dir == NULL) ||
        (old->web_dir && neu->web_dir && strcmp(old->web_dir, neu->web_dir) != 0))
        cs_srv_log(CS_LOG_WARNING, NULL, NULL, "server.web_dir changed: takes effect after a restart");
}

/* Loading a config opens plugins, the advisor and every rule file: a thread
 * of its own does it, and the loop only swaps the result in. */
struct reload_job {
    struct cs_srv_job super;
    uint64_t id;
    struct cs_srv_gen *gen;
    struct cs_err err;
};

static int reload_work(struct cs_srv_job *job, struct cs_srv_worker *w)
{
    struct reload_job *rj = (void *)job;
    (void)w;
    if (cs_srv_gen_load(job->srv->config_path, rj->id, &rj->gen, &rj->err) != 0)
        rj->gen = NULL;
    return 0;
}

static int reload_done(struct cs_srv_job *job)
{
    struct reload_job *rj = (void *)job;
    struct cs_server *srv = job->srv;
    struct cs_srv_gen *g = rj->gen;
    if (g == NULL) {
        cs_srv_log(CS_LOG_ERROR, NULL, NULL, "config reload failed, the running config stays: %s", rj->err.msg);
        return 0;
    }
    if (g->id < srv->gen->id) /* an older reload finishing after a newer one */
        return 0;
    rj->gen = NULL;
    warn_restart(srv->gen->cfg->server, g->cfg->server);
    apply_limits(srv, g->cfg->server);
    pthread_mutex_lock(&srv->gen_lock);
    struct cs_srv_gen *old = srv->gen;
    srv->gen = g;
    pthread_mutex_unlock(&srv->gen_lock);
    cs_srv_gen_unref(old);
    cs_srv_watch_tick(srv);
    cs_srv_log(CS_LOG_INFO, NULL, NULL, "config reloaded from %s (generation %llu: %zu checks, %zu rules, %zu rule "
               "problems)", srv->config_path, (unsigned long long)g->id, g->reg->nchecks, g->rules_loaded,
               g->rules_problems);
    return 0;
}

static void reload_destroy(struct cs_srv_job *job)
{
    struct reload_job *rj = (void *)job;
    cs_srv_gen_unref(rj->gen);
    free(rj);
}

static const struct cs_srv_job_ops reload_ops = {"reload", reload_work, reload_done, reload_destroy};

void cs_srv_reload(struct cs_server *srv)
{
    struct reload_job *rj = calloc(1, sizeof(*rj));
    if (rj == NULL)
        return;
    rj->super.ops = &reload_ops;
    rj->id = srv->next_gen_id++;
    cs_srv_log(CS_LOG_INFO, NULL, NULL, "SIGHUP: reloading the config and the rules");
    if (cs_srv_run_detached(srv, &rj->super) != 0)
        free(rj);
}

/* ---- setup ---------------------------------------------------------------------------- */

/* server.web_dir, else web/ beside the build tree (<exe dir>/../web), else the install datadir. */
static const char *find_web_dir(const struct cs_server_conf *sc, char *buf, size_t size)
{
    struct stat st;
    if (sc->web_dir != NULL)
        return stat(sc->web_dir, &st) == 0 && S_ISDIR(st.st_mode) ? sc->web_dir : NULL;
    if (cs_plugin_exe_subdir("../web", buf, size))
        return buf;
    snprintf(buf, size, "%s/web", CS_DATA_INSTALL_DIR);
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? buf : NULL;
}

static void setup_h2o(struct cs_server *srv, const char *web_dir)
{
    h2o_config_init(&srv->h2o);
    srv->h2o.server_name = h2o_iovec_init(H2O_STRLIT("creditsense/" CS_VERSION));
    h2o_hostconf_t *host = h2o_config_register_host(&srv->h2o, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *root = h2o_config_register_path(host, "/", 0);
    cs_srv_api_register(srv, root, web_dir);
    cs_http_json_errors_register(root);
    cs_http_json_errors_register(&host->fallback_path);
    h2o_logger_t *lg = h2o_create_logger(&host->fallback_path, sizeof(*lg) + sizeof(srv));
    lg->log_access = log_fallback;
    memcpy(lg + 1, &srv, sizeof(srv));
    apply_limits(srv, srv->gen->cfg->server);
}

static int setup_signals(struct cs_server *srv)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    srv->sigsock = h2o_evloop_socket_create(srv->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    srv->sigsock->data = srv;
    h2o_socket_read_start(srv->sigsock, on_signal);
    return 0;
}

static void make_reqid_prefix(struct cs_server *srv)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint32_t)getpid() ^ (uint32_t)time(NULL);
    snprintf(srv->reqid_prefix, sizeof(srv->reqid_prefix), "%08x", r);
}

static void print_banner(const struct cs_server *srv, const char *web_dir)
{
    printf("creditsense: serving on http://%s/ (API http://%s/api/v1/, health /healthz, metrics /metrics)\n",
           srv->listen, srv->listen);
    fflush(stdout);
    cs_srv_log(CS_LOG_INFO, NULL, NULL, "listening on %s with %zu worker threads; dashboard files: %s", srv->listen,
               srv->workers.nworkers, web_dir ? web_dir : "none (no web/ directory)");
}

static int start(struct cs_server *srv, const struct serve_opts *o, struct cs_err *err)
{
    char webbuf[PATH_MAX];
    int rc;
    if ((rc = cs_srv_gen_load(o->config, 1, &srv->gen, err)) != 0)
        return rc;
    srv->next_gen_id = 2;
    const struct cs_server_conf *sc = srv->gen->cfg->server;
    const char *web_dir = find_web_dir(sc, webbuf, sizeof(webbuf));
    int fd = bind_listener(o->listen ? o->listen : sc->listen, srv->listen, sizeof(srv->listen), err);
    if (fd < 0)
        return fd;
    size_t nroutes;
    const char *const *names = cs_srv_route_names(&nroutes);
    if ((srv->metrics = cs_srv_metrics_new(names, nroutes)) == NULL || (srv->scans = cs_srv_scans_new()) == NULL) {
        close(fd);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    setup_h2o(srv, web_dir);
    h2o_context_init(&srv->ctx, h2o_evloop_create(), &srv->h2o);
    srv->accept_ctx.ctx = &srv->ctx;
    srv->accept_ctx.hosts = srv->h2o.hosts;
    h2o_multithread_register_receiver(srv->ctx.queue, &srv->jobs_back, cs_srv_jobs_back);
    h2o_linklist_init_anchor(&srv->backlog);
    h2o_timeout_init(srv->ctx.loop, &srv->backlog_timeout, 0);
    srv->backlog_entry.cb = on_backlog;
    srv->listener = h2o_evloop_socket_create(srv->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    srv->listener->data = srv;
    h2o_socket_read_start(srv->listener, on_accept);
    if (setup_signals(srv) != 0)
        return cs_err_set(err, CS_EINTERNAL, "signalfd: %s", strerror(errno));
    h2o_timeout_init(srv->ctx.loop, &srv->tick_timeout, 1000);
    srv->tick.cb = on_tick;
    h2o_timeout_link(srv->ctx.loop, &srv->tick_timeout, &srv->tick);
    cs_srv_watch_start(srv);
    if ((rc = cs_srv_pool_start(&srv->workers, srv, "worker", (size_t)sc->threads, sc->max_queue)) != 0 ||
        (rc = cs_srv_pool_start(&srv->scanners, srv, "scan", 1, SCAN_QUEUE)) != 0)
        return cs_err_set(err, rc, "cannot start the worker threads");
    print_banner(srv, web_dir);
    return 0;
}

static void run_loop(struct cs_server *srv)
{
    while (!srv->stopped) {
        h2o_evloop_run(srv->ctx.loop, srv->draining ? 10 : INT32_MAX);
        if (!srv->draining)
            continue;
        if (srv->live == 0) {
            srv->stopped = 1;
        } else if (cs_srv_now() >= srv->drain_deadline) {
            cs_srv_log(CS_LOG_WARNING, NULL, NULL, "drain deadline passed: cancelling %zu requests", srv->live);
            atomic_store(&srv->cancel_all, 1);
            srv->stopped = 1;
        }
    }
    close_idle_connections(srv);
}

/* Everything start() made, in reverse; safe on a partial start. */
static void finish(struct cs_server *srv)
{
    atomic_store(&srv->cancel_scans, 1);
    atomic_store(&srv->cancel_all, 1);
    cs_srv_pool_stop(&srv->workers);
    cs_srv_pool_stop(&srv->scanners);
    if (srv->ctx.loop != NULL) {
        srv->closing = 1;
        /* Free the jobs handed back; jobs still with the advisor come back when its calls end. */
        double until = cs_srv_now() + JOBS_GRACE_S;
        do
            h2o_evloop_run(srv->ctx.loop, 10);
        while ((atomic_load(&srv->jobs_out) > 0 || !h2o_linklist_is_empty(&srv->backlog)) && cs_srv_now() < until);
        if (atomic_load(&srv->jobs_out) > 0) {
            /* Their callbacks would post to a freed queue: leave everything as it is and exit. */
            cs_srv_log(CS_LOG_WARNING, NULL, NULL, "%d jobs still wait for the advisor; exiting without them",
                       atomic_load(&srv->jobs_out));
            return;
        }
        stop_listening(srv);
        cs_srv_watch_stop(srv);
        if (srv->sigsock != NULL)
            h2o_socket_close(srv->sigsock);
        if (h2o_timeout_is_linked(&srv->tick))
            h2o_timeout_unlink(&srv->tick);
        h2o_timeout_dispose(srv->ctx.loop, &srv->tick_timeout);
        if (h2o_timeout_is_linked(&srv->backlog_entry))
            h2o_timeout_unlink(&srv->backlog_entry);
        h2o_timeout_dispose(srv->ctx.loop, &srv->backlog_timeout);
        /* h2o_context_request_shutdown armed HTTP/2's GOAWAY resend; the loop is going, so is that. */
        if (h2o_timeout_is_linked(&srv->ctx.http2._graceful_shutdown_timeout))
            h2o_timeout_unlink(&srv->ctx.http2._graceful_shutdown_timeout);
        h2o_multithread_unregister_receiver(srv->ctx.queue, &srv->jobs_back);
        h2o_loop_t *loop = srv->ctx.loop;
        h2o_multithread_queue_t *queue = srv->ctx.queue;
        h2o_context_dispose(&srv->ctx);
        h2o_evloop_destroy(loop);
        free(queue); /* libh2o 2.2.5's evloop build destroys the queue but never frees it */
        h2o_config_dispose(&srv->h2o);
    }
    cs_srv_scans_free(srv->scans);
    cs_srv_metrics_free(srv->metrics);
    cs_ratelimit_free(srv->limiter);
    cs_srv_gen_unref(srv->gen);
    pthread_mutex_destroy(&srv->gen_lock);
    pthread_mutex_destroy(&srv->err_lock);
}

int cs_server_run(const struct serve_opts *o)
{
    struct cs_server srv;
    struct cs_err err = {0};
    memset(&srv, 0, sizeof(srv));
    srv.config_path = o->config;
    srv.watch_wd = -1;
    atomic_init(&srv.db_ok, -1);
    srv.parent_pid = o->parent_pid;
    srv.started = cs_srv_now();
    pthread_mutex_init(&srv.gen_lock, NULL);
    pthread_mutex_init(&srv.err_lock, NULL);
    make_reqid_prefix(&srv);
    int rc = start(&srv, o, &err);
    if (rc == 0 && parent_gone(&srv))
        begin_drain(&srv, "the parent process exited");
    if (rc == 0)
        run_loop(&srv);
    finish(&srv);
    if (rc != 0) {
        fprintf(stderr, "creditsense: %s\n", err.msg);
        return EXIT_ERROR;
    }
    cs_srv_log(CS_LOG_INFO, NULL, NULL, "stopped");
    return 0;
}

/* ---- command line ------------------------------------------------------------------------ */

static const char USAGE[] = "usage: creditsense serve --config FILE [--listen HOST:PORT] [--parent-pid PID]\n";

static void set_level(void)
{
    const char *l = getenv("CREDITSENSE_LOG");
    g_level = CS_LOG_INFO;
    if (l != NULL && strcmp(l, "debug") == 0)
        g_level = CS_LOG_DEBUG;
    else if (l != NULL && strcmp(l, "warning") == 0)
        g_level = CS_LOG_WARNING;
    else if (l != NULL && strcmp(l, "error") == 0)
        g_level = CS_LOG_ERROR;
    cs_log_set_level(g_level);
}

static int parse(int argc, char **argv, struct serve_opts *o)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"listen", required_argument, NULL, 'l'},
                                             {"parent-pid", required_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'p':
            o->parent_pid = (pid_t)strtol(optarg, &end, 10);
            if (*end != '\0' || o->parent_pid <= 0) {
                fprintf(stderr, "creditsense: --parent-pid: expected a process id, got '%s'\n", optarg);
                return -1;
            }
            break;
        case 'h': fputs(USAGE, stdout); return 1;
        case ':': fprintf(stderr, "creditsense: option %s needs a value\n%s", argv[optind - 1], USAGE); return -1;
        default: fprintf(stderr, "creditsense: unknown option '%s'\n%s", argv[optind - 1], USAGE); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "creditsense: unexpected argument '%s'\n%s", argv[optind], USAGE);
        return -1;
    }
    if (o->config == NULL) {
        fprintf(stderr, "creditsense: serve needs --config FILE\n%s", USAGE);
        return -1;
    }
    return 0;
}

int cs_server_cli(int argc, char **argv)
{
    struct serve_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : EXIT_ERROR;
    set_level();
    /* Blocked in every thread (they inherit the mask) and read from the loop's signalfd. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (o.parent_pid > 0)
        prctl(PR_SET_PDEATHSIG, SIGTERM);
    return cs_server_run(&o);
}
