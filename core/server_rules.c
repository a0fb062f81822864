/*
** server_rules.c -- the Lua rules in the daemon: listing, reloading, and
** watching the rules directory.
**
** Every engine of a config generation reads one shared catalogue
** (gen->rules, rules.h), which also re-checks the directory at the start
** of each run.  On top of that the daemon reloads on its own, so that a
** changed file is loaded (and a broken one reported) without waiting for
** the next run: on SIGHUP, on POST /api/v1/rules/reload, and when inotify
** reports a change in the directory.  The watch is on the directory
** itself, which also sees Kubernetes' ConfigMap update: a new
** ..<timestamp> directory, then the ..data symlink renamed over the old
** one (IN_CREATE, IN_MOVED_TO "..data", IN_DELETE).  Events are coalesced
** for DEBOUNCE_MS so one update is one reload.  If the directory goes away
** (or is not there yet) the watch is re-tried every second.
**
** The catalogue's lock is held while files load, and runs take it too, so
** the loop never touches the catalogue itself: listing and reloading run
** off the loop (a worker, or a thread of their own) and answer through a
** job.  A broken file keeps its last good version (rules.h).  The listing
** says which snapshot is in use: its generation (one more per load) and
** loaded_at, when it was read from the directory.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "err.h"
#include "http.h"
#include "log.h"
#include "report.h"
#include "rules.h"
#include "server_impl.h"

#define DEBOUNCE_MS 200
#define WATCH_MASK                                                                                                     \
    (IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |  \
     IN_MOVE_SELF | IN_ONLYDIR)

/* ---- the catalogue as JSON ------------------------------------------------------------ */

static json_t *rule_json(const struct cs_rule_meta *m)
{
    json_t *tables = json_array();
    for (size_t t = 0; tables != NULL && t < m->ntables; t++) {
        json_t *cols = json_array();
        for (size_t c = 0; cols != NULL && c < m->tables[t].ncols; c++)
            json_array_append_new(cols, json_string(m->tables[t].cols[c]));
        json_array_append_new(tables, json_pack("{s:s, s:o}", "table", m->tables[t].name, "columns", cols));
    }
    return json_pack("{s:s, s:s?, s:s, s:i, s:s, s:s, s:o, s:s?}", "name", m->name, "description", m->description,
                     "file", m->file, "line", m->line, "kind", cs_rule_kind_name(m->kind), "severity",
                     cs_severity_name(m->severity), "tables", tables, "sql", m->sql);
}

static json_t *snapshot_json(const struct cs_rules_snapshot *s, const char *dir)
{
    json_t *rules = json_array(), *problems = json_array();
    for (size_t i = 0; s != NULL && i < s->nrules; i++)
        json_array_append_new(rules, rule_json(&s->rules[i]));
    for (size_t i = 0; s != NULL && i < s->nproblems; i++) {
        const struct cs_rule_problem *p = &s->problems[i];
        json_array_append_new(problems, json_pack("{s:s, s:i, s:s, s:b}", "file", p->file, "line", p->line, "message",
                                                  p->message, "stale", p->stale));
    }
    char loaded[40];
    if (s != NULL)
        cs_report_iso_time(s->loaded_at, loaded, sizeof(loaded));
    return json_pack("{s:s, s:b, s:I, s:s?, s:I, s:o, s:o}", "dir", dir, "dir_missing", s ? s->dir_errno != 0 : 1,
                     "generation", (json_int_t)(s ? s->generation : 0), "loaded_at", s ? loaded : NULL, "files",
                     (json_int_t)(s ? s->nfiles : 0), "rules", rules, "problems", problems);
}

/* ---- list and reload ------------------------------------------------------------------- */

struct rules_job {
    struct cs_srv_job super;
    struct cs_srv_gen *gen;
    int reload;
    size_t nrules, nproblems;
};

static int rules_work(struct cs_srv_job *job, struct cs_srv_worker *w)
{
    struct rules_job *rj = (void *)job;
    (void)w;
    if (rj->reload && cs_rules_reload(rj->gen->rules) != 0) {
        cs_srv_job_fail(job, 500, "internal", "out of memory reloading the rules");
        return 0;
    }
    struct cs_rules_snapshot *s = cs_rules_acquire(rj->gen->rules);
    json_t *body = snapshot_json(s, rj->gen->rules_dir);
    rj->nrules = s ? s->nrules : 0;
    rj->nproblems = s ? s->nproblems : 0;
    cs_rules_release(s);
    cs_srv_job_answer(job, 200, body);
    json_decref(body);
    return 0;
}

static int rules_done(struct cs_srv_job *job)
{
    struct rules_job *rj = (void *)job;
    if (rj->reload)
        cs_srv_log(CS_LOG_INFO, job->request_id[0] ? job->request_id : NULL, NULL,
                   "rules reloaded from %s: %zu rules, %zu problems", rj->gen->rules_dir, rj->nrules, rj->nproblems);
    return 0;
}

static void rules_destroy(struct cs_srv_job *job)
{
    struct rules_job *rj = (void *)job;
    cs_srv_gen_unref(rj->gen);
    free(job->body);
    free(rj);
}

static const struct cs_srv_job_ops rules_ops = {"rules", rules_work, rules_done, rules_destroy};

static struct rules_job *rules_job_new(struct cs_server *srv, int reload)
{
    struct rules_job *rj = calloc(1, sizeof(*rj));
    if (rj == NULL)
        return NULL;
    rj->super.ops = &rules_ops;
    rj->gen = srv->gen;
    cs_srv_gen_ref(rj->gen);
    rj->reload = reload;
    return rj;
}

void cs_srv_rules_request(struct cs_srv_req *r, int reload)
{
    struct rules_job *rj = rules_job_new(r->srv, reload);
    if (rj == NULL) {
        cs_http_send_error(r->req, 500, "internal", "out of memory");
        return;
    }
    /* A reload may take a while (every file runs in a sandbox): a thread of its own, not a worker. */
    cs_srv_submit(r, reload ? NULL : &r->srv->workers, &rj->super);
}

void cs_srv_rules_reload(struct cs_server *srv, const char *why)
{
    struct rules_job *rj = rules_job_new(srv, 1);
    cs_srv_log(CS_LOG_INFO, NULL, NULL, "reloading the rules (%s)", why);
    if (rj != NULL && cs_srv_run_detached(srv, &rj->super) != 0)
        rules_destroy(&rj->super);
}

/* ---- the inotify watch ----------------------------------------------------------------- */

static void unwatch(struct cs_server *srv)
{
    if (srv->watch_wd >= 0 && srv->watch_sock != NULL)
        inotify_rm_watch(h2o_socket_get_fd(srv->watch_sock), srv->watch_wd);
    srv->watch_wd = -1;
    srv->watch_dir[0] = '\0';
}

static void on_debounced(h2o_timeout_entry_t *entry)
{
    struct cs_server *srv = H2O_STRUCT_FROM_MEMBER(struct cs_server, watch_debounce, entry);
    if (!srv->draining)
        cs_srv_rules_reload(srv, "the rules directory changed");
}

static void on_inotify(h2o_socket_t *sock, const char *err)
{
    struct cs_server *srv = sock->data;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    int lost = 0;
    (void)err;
    while ((n = read(h2o_socket_get_fd(sock), buf, sizeof(buf))) > 0)
        for (char *p = buf; p < buf + n; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len)
            if (((struct inotify_event *)p)->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
                lost = 1;
    if (lost) { /* the directory itself went: the tick watches it again once it is back */
        srv->watch_wd = -1;
        srv->watch_dir[0] = '\0';
    }
    if (!h2o_timeout_is_linked(&srv->watch_debounce))
        h2o_timeout_link(srv->ctx.loop, &srv->watch_timeout, &srv->watch_debounce);
}

void cs_srv_watch_start(struct cs_server *srv)
{
    srv->watch_wd = -1;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        cs_srv_log(CS_LOG_WARNING, NULL, NULL, "inotify: %s; rule files are still re-read at every run",
                   strerror(errno));
        return;
    }
    srv->watch_sock = h2o_evloop_socket_create(srv->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    srv->watch_sock->data = srv;
    h2o_socket_read_start(srv->watch_sock, on_inotify);
    h2o_timeout_init(srv->ctx.loop, &srv->watch_timeout, DEBOUNCE_MS);
    srv->watch_debounce.cb = on_debounced;
    cs_srv_watch_tick(srv);
}

void cs_srv_watch_tick(struct cs_server *srv)
{
    if (srv->watch_sock == NULL)
        return;
    const char *dir = srv->gen->rules_dir;
    if (srv->watch_wd >= 0 && strcmp(srv->watch_dir, dir) == 0)
        return;
    int was_lost = srv->watch_wd < 0 && srv->watch_dir_seen;
    unwatch(srv);
    int wd = inotify_add_watch(h2o_socket_get_fd(srv->watch_sock), dir, WATCH_MASK);
    if (wd < 0)
        return; /* not there (yet): try again at the next tick */
    srv->watch_wd = wd;
    srv->watch_dir_seen = 1;
    snprintf(srv->watch_dir, sizeof(srv->watch_dir), "%s", dir);
    cs_srv_log(CS_LOG_DEBUG, NULL, NULL, "watching %s for rule changes", dir);
    if (was_lost) /* it came back: what is in it now? */
        cs_srv_rules_reload(srv, "the rules directory is back");
}

void cs_srv_watch_stop(struct cs_server *srv)
{
    if (srv->watch_sock == NULL)
        return;
    if (h2o_timeout_is_linked(&srv->watch_debounce))
        h2o_timeout_unlink(&srv->watch_debounce);
    h2o_timeout_dispose(srv->ctx.loop, &srv->watch_timeout);
    unwatch(srv);
    h2o_socket_read_stop(srv->watch_sock);
    h2o_socket_close(srv->watch_sock);
    srv->watch_sock = NULL;
}
