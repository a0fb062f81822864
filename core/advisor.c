/*
** advisor.c -- the advisor: backend modules, the worker pool, the cache,
** retries and handles.  See advisor.h for the contract.
**
** Shape: one mutex guards everything shared (the cache, the job queue, the
** handles' outcome slots and the counters); the backend calls themselves
** run outside it.  A submission turns each wanted finding into a slot of
** its handle and each slot into a cache entry:
**   - an entry that is done and fresh fills the slot at once (a cache hit);
**   - an entry in flight gets the slot added to its waiters (coalesced);
**   - otherwise a new in-flight entry is made and queued for a call.
** New entries are grouped into jobs of batch_size; a worker runs a job (one
** prompt, retries, one repair), then, under the lock, resolves its entries:
** every waiting slot is filled and handles whose last slot was filled are
** done.  Entries that did not end "ok" leave the cache at once, so the next
** request tries again.
**
** Completion callbacks run outside the lock.  A handle is marked done
** before its callback runs (so the callback's receiver sees it done), and
** cb_running keeps cs_advice_free from freeing it underneath the callback:
** the free is then left to the worker.
*/
#include "advisor.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "advisor_config.h"
#include "advisor_impl.h"
#include "creditsense/advisor.h"
#include "err.h"
#include "log.h"

#define NBUCKETS 1024
#define REASON 256

/* ---- structures --------------------------------------------------------------------- */

struct backend {
    const struct cs_advisor_plugin *p;
    void *dl;
    void *state;
    struct cs_advisor_host api;
    struct cs_advisor *adv;
    char component[48]; /* "advisor:gemini" */
};

struct waiter {
    struct cs_advice *h;
    size_t slot;
};

enum { E_INFLIGHT = 0, E_DONE = 1 };

struct entry {
    char *signature;
    int state, status, local, in_map;
    char reason[REASON];
    json_t *fact;   /* in flight: what is sent about it */
    json_t *advice; /* done and ok: the validated advice, "id" = signature, pseudonyms unresolved */
    double expires; /* unix seconds */
    long long tokens_in, tokens_out, latency_ms;
    int http_status;
    char model[64];
    const char *backend;
    struct waiter *waiters;
    size_t nwaiters, capwaiters;
    struct entry *hnext;
};

struct job {
    struct job *next;
    struct entry **e;
    size_t n;
    int local;
    json_t *context;
    char *customer_id; /* the real id, for the privacy guard; NULL for table runs */
};

struct slot {
    struct cs_advice_item item;
    char *signature;
    char reason[REASON];
    char model[64];
};

struct cs_advice {
    struct cs_advisor *adv;
    struct slot *slots;
    size_t n, remaining;
    int done, cb_running, owner_gone;
    cs_advice_done_fn cb;
    void *ctx;
    char *customer_id;
    char pseudonym[32];
};

struct cs_advisor {
    const struct cs_config *cfg;
    struct cs_advisor_conf conf;
    char backend_name[32], model[128], base_url[512], key_env[128], dialect[16];
    char *api_key; /* a secret: scrubbed from every message */
    struct backend remote, local; /* local: the offline backend, for sensitive findings */
    int has_local;
    struct adv_template tmpl;

    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done, cv_stop;
    struct entry *buckets[NBUCKETS];
    struct job *qhead, *qtail;
    size_t queued;
    pthread_t *threads;
    int nthreads, stopping;
    struct cs_advisor_stats stats;
    unsigned seed;
};

/* Outcome of one job. */
struct outcome {
    int status;
    char reason[REASON];
    json_t *items; /* id -> advice, when ok */
    long long tokens_in, tokens_out, latency_ms;
    int http_status;
    char model[64];
};

/* ---- small helpers ----------------------------------------------------------------------- */

const char *cs_advice_status_name(int status)
{
    switch (status) {
    case CS_ADVICE_OK: return "ok";
    case CS_ADVICE_FAILED: return "failed";
    case CS_ADVICE_BLOCKED: return "blocked";
    default: return "pending";
    }
}

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Replace every occurrence of the API key by "***" (keys are long; short strings are left alone). */
static void scrub(const struct cs_advisor *adv, char *s, size_t size)
{
    const char *key = adv->api_key;
    size_t kl = key ? strlen(key) : 0;
    if (kl < 4 || strstr(s, key) == NULL)
        return;
    char *out = malloc(size);
    if (out == NULL) {
        snprintf(s, size, "(message withheld: it quoted the API key)");
        return;
    }
    size_t o = 0;
    for (const char *p = s; *p && o + 1 < size;) {
        if (strncmp(p, key, kl) == 0) {
            o += (size_t)snprintf(out + o, size - o, "***");
            p += kl;
        } else {
            out[o++] = *p++;
        }
    }
    out[o < size ? o : size - 1] = '\0';
    memcpy(s, out, size);
    free(out);
}

void cs_advisor_signature(const struct cs_finding *f, char *buf, size_t size)
{
    snprintf(buf, size, "%s|%s|%s|%s|%s", f->table, f->column, f->check, f->kind ? f->kind : "", adv_band(f->severity));
}

const char *cs_advisor_backend(const struct cs_advisor *adv)
{
    return adv->backend_name;
}

const char *cs_advisor_model(const struct cs_advisor *adv)
{
    return adv->model;
}

const char *cs_advisor_prompt_version(const struct cs_advisor *adv)
{
    return adv->tmpl.version;
}

double cs_advisor_cache_ttl(const struct cs_advisor *adv)
{
    return adv->conf.cache_ttl_s;
}

int cs_advisor_min_severity(const struct cs_advisor *adv)
{
    return adv->conf.min_severity;
}

void cs_advisor_stats(struct cs_advisor *adv, struct cs_advisor_stats *out)
{
    pthread_mutex_lock(&adv->mu);
    *out = adv->stats;
    out->queued = (uint32_t)adv->queued;
    pthread_mutex_unlock(&adv->mu);
}

/* ---- the cache (called with the lock held) ---------------------------------------------- */

static size_t bucket_of(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h % NBUCKETS);
}

static void entry_free(struct entry *e)
{
    if (e == NULL)
        return;
    free(e->signature);
    json_decref(e->fact);
    json_decref(e->advice);
    free(e->waiters);
    free(e);
}

static void map_remove(struct cs_advisor *adv, struct entry *e)
{
    struct entry **pp = &adv->buckets[bucket_of(e->signature)];
    while (*pp != NULL && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp == e)
        *pp = e->hnext;
    e->in_map = 0;
}

/* The entry of a signature; an expired answer is dropped first. */
static struct entry *map_get(struct cs_advisor *adv, const char *sig)
{
    for (struct entry *e = adv->buckets[bucket_of(sig)]; e != NULL; e = e->hnext) {
        if (strcmp(e->signature, sig) != 0)
            continue;
        if (e->state == E_DONE && e->expires <= now_real()) {
            map_remove(adv, e);
            entry_free(e);
            return NULL;
        }
        return e;
    }
    return NULL;
}

static void map_put(struct cs_advisor *adv, struct entry *e)
{
    size_t b = bucket_of(e->signature);
    e->hnext = adv->buckets[b];
    adv->buckets[b] = e;
    e->in_map = 1;
}

static int add_waiter(struct entry *e, struct cs_advice *h, size_t slot)
{
    if (e->nwaiters == e->capwaiters) {
        size_t cap = e->capwaiters ? e->capwaiters * 2 : 4;
        struct waiter *w = realloc(e->waiters, cap * sizeof(*w));
        if (w == NULL)
            return CS_ENOMEM;
        e->waiters = w;
        e->capwaiters = cap;
    }
    e->waiters[e->nwaiters++] = (struct waiter){h, slot};
    return 0;
}

int cs_advisor_cache_put(struct cs_advisor *adv, const char *signature, json_t *advice, double created_at,
                         const char *customer_id)
{
    if (created_at + adv->conf.cache_ttl_s <= now_real() || !json_is_object(advice))
        return 0;
    struct entry *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->signature = strdup(signature)) == NULL || (e->advice = json_deep_copy(advice)) == NULL) {
        entry_free(e);
        return CS_ENOMEM;
    }
    char real[160];
    snprintf(real, sizeof(real), "customer %s", customer_id ? customer_id : "");
    if (customer_id != NULL && customer_id[0] != '\0' &&
        (adv_map_back(e->advice, real, "customer-1") != 0 || adv_map_back(e->advice, customer_id, "customer-1") != 0)) {
        entry_free(e);
        return CS_ENOMEM;
    }
    e->state = E_DONE;
    e->status = CS_ADVICE_OK;
    e->expires = created_at + adv->conf.cache_ttl_s;
    e->backend = adv->remote.p->name;
    snprintf(e->model, sizeof(e->model), "%s", adv->model);
    pthread_mutex_lock(&adv->mu);
    if (map_get(adv, signature) == NULL) {
        map_put(adv, e);
        e = NULL;
    }
    pthread_mutex_unlock(&adv->mu);
    entry_free(e);
    return 0;
}

/* ---- handles ---------------------------------------------------------------------------- */

/* Copy an entry's outcome into a slot (lock held).  Pseudonyms are mapped back to the real id. */
static void fill_slot(struct cs_advisor *adv, struct cs_advice *h, size_t i, const struct entry *e, int cached)
{
    struct slot *s = &h->slots[i];
    s->item.status = e->status;
    snprintf(s->reason, sizeof(s->reason), "%s", e->status == CS_ADVICE_OK ? "" : e->reason);
    snprintf(s->model, sizeof(s->model), "%s", e->model);
    s->item.backend = e->backend;
    s->item.cached = cached;
    s->item.tokens_in = cached ? 0 : e->tokens_in;
    s->item.tokens_out = cached ? 0 : e->tokens_out;
    s->item.latency_ms = cached ? 0 : e->latency_ms;
    s->item.http_status = cached ? 0 : e->http_status;
    if (e->status == CS_ADVICE_OK && e->advice != NULL) {
        char real[160];
        snprintf(real, sizeof(real), "customer %s", h->customer_id ? h->customer_id : "");
        s->item.advice = json_deep_copy(e->advice);
        if (h->customer_id != NULL && s->item.advice != NULL)
            adv_map_back(s->item.advice, h->pseudonym, real);
    }
    uint64_t *counter[] = {&adv->stats.advised_pending, &adv->stats.advised_ok, &adv->stats.advised_failed,
                           &adv->stats.advised_blocked};
    (*counter[e->status >= 0 && e->status <= 3 ? e->status : 0])++;
}

static void handle_free(struct cs_advice *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->slots[i].signature);
        json_decref(h->slots[i].item.advice);
    }
    free(h->slots);
    free(h->customer_id);
    free(h);
}

/* Handles finished by one resolution, called back once the lock is released. */
struct finished {
    struct cs_advice **v;
    size_t n, cap;
};

static void mark_done(struct cs_advice *h, struct finished *fin)
{
    h->done = 1;
    h->cb_running = h->cb != NULL || h->owner_gone;
    if (!h->cb_running)
        return;
    if (fin->n == fin->cap) {
        size_t cap = fin->cap ? fin->cap * 2 : 8;
        struct cs_advice **v = realloc(fin->v, cap * sizeof(*v));
        if (v == NULL) { /* cannot call back: at least keep the handle consistent */
            h->cb_running = 0;
            return;
        }
        fin->v = v;
        fin->cap = cap;
    }
    fin->v[fin->n++] = h;
}

static void call_back(struct cs_advisor *adv, struct finished *fin)
{
    for (size_t i = 0; i < fin->n; i++) {
        struct cs_advice *h = fin->v[i];
        pthread_mutex_lock(&adv->mu);
        int call = h->cb != NULL && !h->owner_gone;
        pthread_mutex_unlock(&adv->mu);
        if (call)
            h->cb(h->ctx, h);
        pthread_mutex_lock(&adv->mu);
        h->cb_running = 0;
        int gone = h->owner_gone;
        pthread_mutex_unlock(&adv->mu);
        if (gone)
            handle_free(h);
    }
    free(fin->v);
    memset(fin, 0, sizeof(*fin));
}

/* An entry got its outcome (lock held): fill its waiters, cache it or drop it. */
static void resolve(struct cs_advisor *adv, struct entry *e, struct finished *fin)
{
    e->state = E_DONE;
    e->expires = now_real() + adv->conf.cache_ttl_s;
    json_decref(e->fact);
    e->fact = NULL;
    for (size_t i = 0; i < e->nwaiters; i++) {
        struct cs_advice *h = e->waiters[i].h;
        fill_slot(adv, h, e->waiters[i].slot, e, 0);
        if (--h->remaining == 0)
            mark_done(h, fin);
    }
    e->nwaiters = 0;
    if (e->status != CS_ADVICE_OK || adv->conf.cache_ttl_s <= 0) {
        if (e->in_map)
            map_remove(adv, e);
        entry_free(e);
    }
    pthread_cond_broadcast(&adv->cv_done);
}

static void resolve_all(struct cs_advisor *adv, struct job *j, int status, const char *reason, struct finished *fin)
{
    for (size_t i = 0; i < j->n; i++) {
        j->e[i]->status = status;
        snprintf(j->e[i]->reason, sizeof(j->e[i]->reason), "%s", reason);
        resolve(adv, j->e[i], fin);
    }
}

int cs_advice_done(struct cs_advice *a)
{
    pthread_mutex_lock(&a->adv->mu);
    int d = a->done;
    pthread_mutex_unlock(&a->adv->mu);
    return d;
}

int cs_advice_wait(struct cs_advice *a, long timeout_ms)
{
    struct cs_advisor *adv = a->adv;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&adv->mu);
    while (!a->done) {
        if (timeout_ms < 0)
            pthread_cond_wait(&adv->cv_done, &adv->mu);
        else if (pthread_cond_timedwait(&adv->cv_done, &adv->mu, &dl) == ETIMEDOUT)
            break;
    }
    int d = a->done;
    pthread_mutex_unlock(&adv->mu);
    return d;
}

void cs_advice_free(struct cs_advice *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->adv->mu);
    int later = !a->done || a->cb_running;
    a->owner_gone = 1;
    pthread_mutex_unlock(&a->adv->mu);
    if (!later)
        handle_free(a);
}

size_t cs_advice_count(const struct cs_advice *a)
{
    return a->n;
}

const struct cs_advice_item *cs_advice_item(const struct cs_advice *a, size_t i)
{
    return i < a->n ? &a->slots[i].item : NULL;
}

/* ---- backends ------------------------------------------------------------------------------ */

static void host_log(void *hctx, int level, const char *fmt, ...)
{
    struct backend *b = hctx;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    scrub(b->adv, msg, sizeof(msg));
    cs_log(level, b->component, "%s", msg);
}

/* The host's response: the public struct first, so set_text can find the text slot. */
struct host_resp {
    struct cs_advisor_response pub;
    char *text;
};

static int host_set_text(void *hctx, struct cs_advisor_response *resp, const char *text, size_t len)
{
    (void)hctx;
    struct host_resp *hr = (struct host_resp *)resp;
    free(hr->text);
    hr->text = strndup(text, len);
    return hr->text ? 0 : CS_ENOMEM;
}

static int host_should_stop(void *hctx)
{
    struct backend *b = hctx;
    return __atomic_load_n(&b->adv->stopping, __ATOMIC_RELAXED);
}

static const char *refuse(const struct cs_advisor_plugin *p, char *why, size_t size)
{
    if (p == NULL)
        return "entry function returned NULL";
    if (p->abi_version != CS_ADVISOR_ABI_VERSION) {
        snprintf(why, size, "built for advisor ABI version %u, this host speaks version %u: rebuild it against "
                 "creditsense/advisor.h", p->abi_version, CS_ADVISOR_ABI_VERSION);
        return why;
    }
    if (p->struct_size < sizeof(struct cs_advisor_plugin)) {
        snprintf(why, size, "plugin struct is %u bytes, expected at least %zu: rebuild it against creditsense/advisor.h",
                 p->struct_size, sizeof(struct cs_advisor_plugin));
        return why;
    }
    if (p->name == NULL || p->default_model == NULL || !p->init || !p->call || !p->destroy)
        return "plugin struct lacks a name, a default model or one of init/call/destroy";
    return NULL;
}

static int backend_load(struct cs_advisor *adv, struct backend *b, const char *dir, const char *name,
                        struct cs_err *err)
{
    char path[PATH_MAX], why[512];
    snprintf(path, sizeof(path), "%s/%s%s.so", dir, CS_ADVISOR_MODULE_PREFIX, name);
    b->adv = adv;
    if ((b->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
        return cs_err_set(err, CS_EPLUGIN, "advisor backend %s: %s", name, dlerror());
    cs_advisor_entry_fn entry;
    *(void **)&entry = dlsym(b->dl, CS_ADVISOR_ENTRY_SYMBOL);
    const char *bad = entry ? refuse(entry(CS_ADVISOR_ABI_VERSION), why, sizeof(why))
                            : "no " CS_ADVISOR_ENTRY_SYMBOL " symbol: not a CreditSense advisor module";
    if (bad != NULL) {
        dlclose(b->dl);
        b->dl = NULL;
        return cs_err_set(err, CS_EPLUGIN, "advisor backend %s refused: %s", path, bad);
    }
    b->p = entry(CS_ADVISOR_ABI_VERSION);
    snprintf(b->component, sizeof(b->component), "advisor:%s", b->p->name);
    b->api = (struct cs_advisor_host){.abi_version = CS_ADVISOR_ABI_VERSION, .struct_size = sizeof(b->api),
                                      .log = host_log, .set_text = host_set_text, .should_stop = host_should_stop,
                                      .user_agent = "creditsense/" CS_VERSION};
    struct cs_advisor_err perr = {0};
    if (b->p->init(&b->api, b, &b->state, &perr) != 0) {
        dlclose(b->dl);
        b->dl = NULL;
        b->p = NULL;
        return cs_err_set(err, CS_EPLUGIN, "advisor backend %s: %s", name, perr.msg);
    }
    return 0;
}

static void backend_unload(struct backend *b)
{
    if (b->p != NULL)
        b->p->destroy(b->state);
    if (b->dl != NULL)
        dlclose(b->dl);
    memset(b, 0, sizeof(*b));
}

/* ---- one job: prompt, attempts, repair --------------------------------------------------------- */

static const char REPAIR[] =
    "Your previous answer does not follow the required JSON schema: %s. Answer again with only the corrected JSON "
    "object, following the schema exactly, with one entry in \"anomalies\" for each anomaly id.";

struct attempt_ctx {
    struct cs_advisor *adv;
    struct backend *b;
    struct cs_advisor_request req;
    const char *const *ids;
    size_t n;
    char *previous, repair[600];
    int repaired;
};

static void count_call(struct cs_advisor *adv, const struct host_resp *r, long long ms, int retry, int repair)
{
    pthread_mutex_lock(&adv->mu);
    adv->stats.calls++;
    adv->stats.retries += retry;
    adv->stats.repairs += repair;
    adv->stats.latency_ms_total += (uint64_t)ms;
    if ((uint64_t)ms > adv->stats.latency_ms_max)
        adv->stats.latency_ms_max = (uint64_t)ms;
    adv->stats.tokens_in += r->pub.tokens_in > 0 ? (uint64_t)r->pub.tokens_in : 0;
    adv->stats.tokens_out += r->pub.tokens_out > 0 ? (uint64_t)r->pub.tokens_out : 0;
    if (r->pub.status != CS_ADVISOR_OK)
        adv->stats.errors++;
    if (strncmp(r->pub.reason, "timeout", 7) == 0)
        adv->stats.timeouts++;
    pthread_mutex_unlock(&adv->mu);
}

/* Sleep ms unless the advisor stops first.  Returns 1 when stopping. */
static int pause_ms(struct cs_advisor *adv, long ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&adv->mu);
    while (!adv->stopping && pthread_cond_timedwait(&adv->cv_stop, &adv->mu, &dl) != ETIMEDOUT)
        ;
    int stop = adv->stopping;
    pthread_mutex_unlock(&adv->mu);
    return stop;
}

/* Capped exponential back-off with "equal jitter": half fixed, half random, so retries spread out. */
static long backoff_ms(struct cs_advisor *adv, int attempt)
{
    double d = (double)adv->conf.backoff_ms;
    for (int i = 0; i < attempt && d < (double)adv->conf.backoff_max_ms; i++)
        d *= 2;
    if (d > (double)adv->conf.backoff_max_ms)
        d = (double)adv->conf.backoff_max_ms;
    pthread_mutex_lock(&adv->mu);
    unsigned r = (unsigned)rand_r(&adv->seed);
    pthread_mutex_unlock(&adv->mu);
    return (long)(d / 2 + (d / 2) * ((double)(r % 1000) / 1000.0));
}

/* One backend call; the outcome's totals are updated. */
static void call_once(struct attempt_ctx *c, struct host_resp *r, struct outcome *o, int retry)
{
    memset(r, 0, sizeof(*r));
    r->pub.struct_size = sizeof(r->pub);
    r->pub.retry_after_s = -1;
    r->pub.tokens_in = r->pub.tokens_out = -1;
    double t0 = now_mono();
    if (c->b->p->call(c->b->state, &c->req, &r->pub) != 0) {
        r->pub.status = CS_ADVISOR_FAILED;
        snprintf(r->pub.reason, sizeof(r->pub.reason), "the backend failed (out of memory?)");
    }
    if (r->pub.status == CS_ADVISOR_OK && r->text == NULL) {
        r->pub.status = CS_ADVISOR_FAILED;
        snprintf(r->pub.reason, sizeof(r->pub.reason), "the backend returned no text");
    }
    scrub(c->adv, r->pub.reason, sizeof(r->pub.reason));
    long long ms = (long long)((now_mono() - t0) * 1000);
    count_call(c->adv, r, ms, retry, c->req.repair_instruction != NULL && !retry);
    o->latency_ms += ms;
    o->tokens_in += r->pub.tokens_in > 0 ? r->pub.tokens_in : 0;
    o->tokens_out += r->pub.tokens_out > 0 ? r->pub.tokens_out : 0;
    o->http_status = r->pub.http_status;
    if (r->pub.model_version[0] != '\0')
        snprintf(o->model, sizeof(o->model), "%s", r->pub.model_version);
}

/* An OK response: valid -> done (1); invalid -> a repair request next (0), or failed after one repair (1). */
static int take_answer(struct attempt_ctx *c, struct host_resp *r, struct outcome *o)
{
    char why[300];
    if (adv_answer_check(c->adv->tmpl.schema, r->text, c->ids, c->n, &o->items, why, sizeof(why)) == 0) {
        o->status = CS_ADVICE_OK;
        return 1;
    }
    if (c->repaired) {
        o->status = CS_ADVICE_FAILED;
        snprintf(o->reason, sizeof(o->reason), "the answer does not follow the schema, even after a repair: %s", why);
        return 1;
    }
    c->repaired = 1;
    free(c->previous);
    c->previous = r->text;
    r->text = NULL;
    snprintf(c->repair, sizeof(c->repair), REPAIR, why);
    c->req.previous_output = c->previous;
    c->req.repair_instruction = c->repair;
    return 0;
}

/* A transient failure: wait and go on (0), or give up as pending (1). */
static int take_transient(struct attempt_ctx *c, const struct host_resp *r, int attempt, struct outcome *o)
{
    struct cs_advisor *adv = c->adv;
    o->status = CS_ADVICE_PENDING;
    if (attempt + 1 >= adv->conf.max_attempts) {
        snprintf(o->reason, sizeof(o->reason), "%s (gave up after %d attempts; advise again later)", r->pub.reason,
                 attempt + 1);
        return 1;
    }
    double ra = r->pub.retry_after_s;
    if (ra * 1000 > (double)adv->conf.max_retry_wait_ms) {
        snprintf(o->reason, sizeof(o->reason), "%s (the server asked to wait %.1f s, more than "
                 "advisor.max_retry_wait_ms; advise again later)", r->pub.reason, ra);
        return 1;
    }
    long wait = ra >= 0 ? (long)(ra * 1000 + 0.5) : backoff_ms(adv, attempt);
    cs_log(CS_LOG_INFO, "advisor", "attempt %d: %s; retrying in %ld ms", attempt + 1, r->pub.reason, wait);
    if (pause_ms(adv, wait)) {
        snprintf(o->reason, sizeof(o->reason), "%s (the advisor shut down before a retry)", r->pub.reason);
        return 1;
    }
    return 0;
}

static void attempts(struct attempt_ctx *c, struct outcome *o)
{
    struct host_resp r = {0};
    int attempt = 0, retry = 0;
    for (;;) {
        call_once(c, &r, o, retry);
        int finished = 1;
        retry = 0;
        if (r.pub.status == CS_ADVISOR_OK) {
            finished = take_answer(c, &r, o);
        } else if (r.pub.status == CS_ADVISOR_RETRYABLE) {
            finished = take_transient(c, &r, attempt++, o);
            retry = !finished;
        } else {
            o->status = r.pub.status == CS_ADVISOR_BLOCKED ? CS_ADVICE_BLOCKED : CS_ADVICE_FAILED;
            snprintf(o->reason, sizeof(o->reason), "%s", r.pub.reason);
        }
        free(r.text);
        r.text = NULL;
        if (finished)
            break;
    }
    free(c->previous);
}

/* The facts of a job's entries with their ids "A1".."An". */
static json_t *job_facts(struct job *j, char (*ids)[16])
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < j->n; i++) {
        json_t *f = json_deep_copy(j->e[i]->fact);
        snprintf(ids[i], 16, "A%zu", i + 1);
        if (f == NULL || json_object_set_new(f, "id", json_string(ids[i])) != 0) {
            json_decref(f);
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, f);
    }
    return arr;
}

static void run_job(struct cs_advisor *adv, struct job *j, struct outcome *o)
{
    char (*ids)[16] = calloc(j->n, sizeof(*ids));
    const char **idp = calloc(j->n, sizeof(*idp));
    json_t *anomalies = ids && idp ? job_facts(j, ids) : NULL;
    json_t *facts = anomalies ? json_pack("{s:s, s:s, s:O, s:O}", "prompt_version", adv->tmpl.version, "dialect",
                                          adv->dialect, "context", j->context, "anomalies", anomalies)
                              : NULL;
    char *facts_text = facts ? json_dumps(facts, JSON_COMPACT) : NULL;
    char *prompt = anomalies ? adv_prompt_fill(&adv->tmpl, j->context, anomalies, adv->dialect) : NULL;
    o->status = CS_ADVICE_FAILED;
    if (facts_text == NULL || prompt == NULL) {
        snprintf(o->reason, sizeof(o->reason), "out of memory building the prompt");
    } else if (j->customer_id != NULL && adv_contains_token(prompt, j->customer_id)) {
        snprintf(o->reason, sizeof(o->reason), "privacy guard: the prompt would carry the customer id; not sent");
    } else {
        struct backend *b = j->local ? &adv->local : &adv->remote;
        for (size_t i = 0; i < j->n; i++)
            idp[i] = ids[i];
        struct attempt_ctx c = {.adv = adv, .b = b, .ids = idp, .n = j->n};
        c.req = (struct cs_advisor_request){
            .struct_size = sizeof(c.req), .system_text = adv->tmpl.system_text, .prompt = prompt,
            .schema_json = adv->tmpl.schema_text, .schema_name = "creditsense_advice", .facts_json = facts_text,
            .dialect = adv->dialect, .model = j->local ? b->p->default_model : adv->model,
            .base_url = j->local ? "" : adv->base_url, .api_key = j->local ? NULL : adv->api_key,
            .timeout_ms = adv->conf.timeout_ms, .temperature = adv->conf.temperature,
            .max_output_tokens = adv->conf.max_output_tokens};
        snprintf(o->model, sizeof(o->model), "%s", c.req.model);
        attempts(&c, o);
    }
    free(prompt);
    free(facts_text);
    json_decref(facts);
    json_decref(anomalies);
    free(idp);
    free(ids);
}

/* Apply a job's outcome to its entries (lock held). */
static void finish_job(struct cs_advisor *adv, struct job *j, struct outcome *o, struct finished *fin)
{
    char id[16];
    for (size_t i = 0; i < j->n; i++) {
        struct entry *e = j->e[i];
        e->status = o->status;
        snprintf(e->reason, sizeof(e->reason), "%s", o->reason);
        /* One call answered the whole job: split its tokens so per-anomaly rows add up to the bill. */
        e->tokens_in = o->tokens_in / (long long)j->n + (i == 0 ? o->tokens_in % (long long)j->n : 0);
        e->tokens_out = o->tokens_out / (long long)j->n + (i == 0 ? o->tokens_out % (long long)j->n : 0);
        e->latency_ms = o->latency_ms;
        e->http_status = o->http_status;
        e->backend = (j->local ? &adv->local : &adv->remote)->p->name;
        snprintf(e->model, sizeof(e->model), "%s", o->model);
        if (o->status == CS_ADVICE_OK) {
            snprintf(id, sizeof(id), "A%zu", i + 1);
            e->advice = json_deep_copy(json_object_get(o->items, id));
            if (e->advice == NULL || json_object_set_new(e->advice, "id", json_string(e->signature)) != 0) {
                e->status = CS_ADVICE_FAILED;
                snprintf(e->reason, sizeof(e->reason), "out of memory keeping the answer");
            }
        }
        resolve(adv, e, fin);
    }
}

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    free(j->e);
    json_decref(j->context);
    free(j->customer_id);
    free(j);
}

static void *worker(void *arg)
{
    struct cs_advisor *adv = arg;
    pthread_mutex_lock(&adv->mu);
    for (;;) {
        while (!adv->stopping && adv->qhead == NULL)
            pthread_cond_wait(&adv->cv_work, &adv->mu);
        if (adv->stopping)
            break;
        struct job *j = adv->qhead;
        adv->qhead = j->next;
        if (adv->qhead == NULL)
            adv->qtail = NULL;
        adv->queued--;
        adv->stats.in_flight++;
        pthread_mutex_unlock(&adv->mu);

        struct outcome o = {0};
        struct finished fin = {0};
        run_job(adv, j, &o);
        pthread_mutex_lock(&adv->mu);
        adv->stats.in_flight--;
        finish_job(adv, j, &o, &fin);
        pthread_mutex_unlock(&adv->mu);
        call_back(adv, &fin);
        json_decref(o.items);
        job_free(j);
        pthread_mutex_lock(&adv->mu);
    }
    pthread_mutex_unlock(&adv->mu);
    return NULL;
}

/* ---- submitting --------------------------------------------------------------------------- */

static int start_workers(struct cs_advisor *adv)
{
    if (adv->threads != NULL)
        return 0;
    adv->threads = calloc((size_t)adv->conf.max_in_flight, sizeof(pthread_t));
    if (adv->threads == NULL)
        return CS_ENOMEM;
    for (int i = 0; i < adv->conf.max_in_flight; i++) {
        if (pthread_create(&adv->threads[i], NULL, worker, adv) != 0)
            break;
        adv->nthreads++;
    }
    return adv->nthreads > 0 ? 0 : CS_EINTERNAL;
}

struct pending_list {
    struct entry **v;
    size_t n;
};

/* One slot of a new handle (lock held): a hit, a coalesced wait, or a new entry for a job. */
static int plan_slot(struct cs_advisor *adv, struct cs_advice *h, size_t i, json_t *fact, int local,
                     struct pending_list *lists)
{
    struct slot *s = &h->slots[i];
    struct entry *e = map_get(adv, s->signature);
    if (e != NULL && e->state == E_DONE) {
        adv->stats.cache_hits++;
        fill_slot(adv, h, i, e, 1);
        return 0;
    }
    if (e != NULL) {
        adv->stats.coalesced++;
    } else {
        adv->stats.cache_misses++;
        if ((e = calloc(1, sizeof(*e))) == NULL || (e->signature = strdup(s->signature)) == NULL) {
            entry_free(e);
            return CS_ENOMEM;
        }
        /* Copies, not references: json_t refcounts are not safe to share between threads. */
        if ((e->fact = json_deep_copy(fact)) == NULL) {
            entry_free(e);
            return CS_ENOMEM;
        }
        e->local = local;
        map_put(adv, e);
        lists[local].v[lists[local].n++] = e;
    }
    if (add_waiter(e, h, i) != 0)
        return CS_ENOMEM;
    h->remaining++;
    return 0;
}

static int enqueue(struct cs_advisor *adv, struct job *j, struct finished *fin)
{
    if (adv->queued >= (size_t)adv->conf.max_queue) {
        resolve_all(adv, j, CS_ADVICE_PENDING, "the advisor queue is full (advisor.max_queue); advise again later",
                    fin);
        job_free(j);
        return 0;
    }
    if (j->local && !adv->has_local) {
        resolve_all(adv, j, CS_ADVICE_BLOCKED, "sensitive column: never sent to an LLM, and the offline backend "
                    "is not available to advise on it locally", fin);
        job_free(j);
        return 0;
    }
    if (adv->qtail != NULL)
        adv->qtail->next = j;
    else
        adv->qhead = j;
    adv->qtail = j;
    adv->queued++;
    pthread_cond_signal(&adv->cv_work);
    return 0;
}

/* Jobs of batch_size new entries each (lock held). */
static int make_jobs(struct cs_advisor *adv, struct pending_list *l, int local, json_t *ctx, const char *cust,
                     struct finished *fin)
{
    size_t bs = (size_t)adv->conf.batch_size;
    for (size_t at = 0; at < l->n; at += bs) {
        struct job *j = calloc(1, sizeof(*j));
        size_t n = l->n - at < bs ? l->n - at : bs;
        if (j == NULL || (j->e = calloc(n, sizeof(*j->e))) == NULL ||
            (cust != NULL && (j->customer_id = strdup(cust)) == NULL)) {
            if (j != NULL) {
                j->n = 0;
                job_free(j);
            }
            struct job tmp = {.e = l->v + at, .n = l->n - at};
            resolve_all(adv, &tmp, CS_ADVICE_PENDING, "out of memory queueing the request", fin);
            return CS_ENOMEM;
        }
        memcpy(j->e, l->v + at, n * sizeof(*j->e));
        j->n = n;
        j->local = local;
        j->context = json_deep_copy(ctx); /* the job's own: it is freed on a worker thread */
        enqueue(adv, j, fin);
    }
    return 0;
}

static struct cs_advice *handle_new(struct cs_advisor *adv, const struct cs_run *run, const unsigned char *want)
{
    struct cs_advice *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->slots = calloc(run->nfindings + 1, sizeof(*h->slots))) == NULL) {
        free(h);
        return NULL;
    }
    h->adv = adv;
    for (size_t i = 0; i < run->nfindings; i++) {
        const struct cs_finding *f = &run->findings[i];
        if ((want != NULL && !want[i]) || f->severity < adv->conf.min_severity)
            continue;
        char sig[768];
        cs_advisor_signature(f, sig, sizeof(sig));
        struct slot *s = &h->slots[h->n++];
        s->item.finding = i;
        s->item.reason = s->reason;
        s->item.model = s->model;
        s->item.backend = adv->backend_name;
        if ((s->signature = strdup(sig)) == NULL) {
            handle_free(h);
            return NULL;
        }
        s->item.signature = s->signature;
    }
    if (run->scope == CS_SCOPE_CUSTOMER && run->customer_id != NULL) {
        snprintf(h->pseudonym, sizeof(h->pseudonym), "customer-1");
        if ((h->customer_id = strdup(run->customer_id)) == NULL) {
            handle_free(h);
            return NULL;
        }
    }
    return h;
}

/* Facts for every slot, built before taking the lock (pure CPU). */
static json_t **slot_facts(struct cs_advisor *adv, const struct cs_run *run, struct cs_advice *h, int *local)
{
    json_t **facts = calloc(h->n + 1, sizeof(*facts));
    for (size_t i = 0; facts != NULL && i < h->n; i++) {
        const struct cs_finding *f = &run->findings[h->slots[i].item.finding];
        local[i] = adv_sensitive(adv->cfg, f);
        if ((facts[i] = adv_fact(adv->cfg, run, f)) == NULL) {
            for (size_t k = 0; k < i; k++)
                json_decref(facts[k]);
            free(facts);
            return NULL;
        }
    }
    return facts;
}

static int plan_all(struct cs_advisor *adv, struct cs_advice *h, json_t **facts, int *local, json_t *ctx,
                    struct finished *fin)
{
    struct pending_list lists[2] = {{calloc(h->n + 1, sizeof(struct entry *)), 0},
                                    {calloc(h->n + 1, sizeof(struct entry *)), 0}};
    int rc = lists[0].v && lists[1].v ? 0 : CS_ENOMEM;
    pthread_mutex_lock(&adv->mu);
    for (size_t i = 0; rc == 0 && i < h->n; i++)
        rc = plan_slot(adv, h, i, facts[i], local[i], lists);
    if (rc == 0 && (lists[0].n + lists[1].n) > 0)
        rc = start_workers(adv);
    /* Entries already made must be queued or resolved whatever happened, or their waiters hang. */
    for (int l = 0; l < 2; l++) {
        if (rc == 0) {
            make_jobs(adv, &lists[l], l, ctx, h->customer_id, fin);
        } else {
            struct job tmp = {.e = lists[l].v, .n = lists[l].n};
            resolve_all(adv, &tmp, CS_ADVICE_PENDING, "the advisor could not start (out of memory or threads); "
                        "advise again later", fin);
        }
    }
    if (h->remaining == 0 && !h->done)
        mark_done(h, fin);
    pthread_mutex_unlock(&adv->mu);
    free(lists[0].v);
    free(lists[1].v);
    return rc;
}

int cs_advisor_submit(struct cs_advisor *adv, const struct cs_run *run, const unsigned char *want,
                      cs_advice_done_fn done, void *ctx, struct cs_advice **out, struct cs_err *err)
{
    struct finished fin = {0};
    *out = NULL;
    struct cs_advice *h = handle_new(adv, run, want);
    int *local = h ? calloc(h->n + 1, sizeof(int)) : NULL;
    json_t **facts = local ? slot_facts(adv, run, h, local) : NULL;
    json_t *context = facts ? adv_context(adv->cfg, run, h->customer_id ? h->pseudonym : NULL) : NULL;
    if (context == NULL) {
        if (h != NULL)
            handle_free(h);
        free(local);
        free(facts);
        return cs_err_set(err, CS_ENOMEM, "out of memory preparing advice");
    }
    h->cb = done;
    h->ctx = ctx;
    int rc = plan_all(adv, h, facts, local, context, &fin);
    *out = h;
    call_back(adv, &fin);
    for (size_t i = 0; i < h->n; i++)
        json_decref(facts[i]);
    free(facts);
    free(local);
    json_decref(context);
    if (rc != 0)
        cs_log(CS_LOG_ERROR, "advisor", "could not start the advisor's workers; the affected anomalies stay pending");
    return 0;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static int resolve_names(struct cs_advisor *adv, const struct cs_config *cfg)
{
    const struct cs_advisor_conf *c = &adv->conf;
    const char *key_env = c->api_key_env ? c->api_key_env : "GEMINI_API_KEY";
    const char *k = getenv(key_env);
    const char *backend = c->backend ? c->backend : (k != NULL && k[0] != '\0') ? "gemini" : "offline";
    snprintf(adv->backend_name, sizeof(adv->backend_name), "%s", backend);
    snprintf(adv->dialect, sizeof(adv->dialect), "%s", c->dialect ? c->dialect : adv_dialect_guess(cfg->source_odbc));
    return 0;
}

static int settle_backend(struct cs_advisor *adv, struct cs_err *err)
{
    const struct cs_advisor_plugin *p = adv->remote.p;
    const struct cs_advisor_conf *c = &adv->conf;
    snprintf(adv->model, sizeof(adv->model), "%s", c->model ? c->model : p->default_model);
    snprintf(adv->base_url, sizeof(adv->base_url), "%s", c->base_url ? c->base_url : p->default_base_url ? p->default_base_url : "");
    snprintf(adv->key_env, sizeof(adv->key_env), "%s", c->api_key_env ? c->api_key_env : p->default_key_env ? p->default_key_env : "");
    const char *k = adv->key_env[0] ? getenv(adv->key_env) : NULL;
    if (k != NULL && k[0] != '\0' && (adv->api_key = strdup(k)) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    if (p->needs_key && adv->api_key == NULL)
        return cs_err_set(err, CS_ECONFIG, "advisor backend %s needs an API key in $%s (or set advisor.api_key_env)",
                          p->name, adv->key_env[0] ? adv->key_env : "?");
    return 0;
}

static int init_sync(struct cs_advisor *adv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&adv->mu, NULL) || pthread_cond_init(&adv->cv_work, NULL) ||
             pthread_cond_init(&adv->cv_done, &ca) || pthread_cond_init(&adv->cv_stop, &ca);
    pthread_condattr_destroy(&ca);
    adv->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)adv;
    return rc ? CS_EINTERNAL : 0;
}

int cs_advisor_new(struct cs_advisor **out, const struct cs_config *cfg, const char *plugin_dir, struct cs_err *err)
{
    char path[PATH_MAX];
    struct cs_advisor *adv = calloc(1, sizeof(*adv));
    *out = NULL;
    if (adv == NULL || init_sync(adv) != 0) {
        free(adv);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    adv->cfg = cfg;
    if (cfg->advisor != NULL)
        adv->conf = *cfg->advisor; /* strings stay the config's: it outlives the advisor */
    else
        cs_advisor_conf_defaults(&adv->conf);
    resolve_names(adv, cfg);
    adv_template_locate(&adv->conf, path, sizeof(path));
    int rc = adv_template_load(path, &adv->tmpl, err);
    if (rc == 0)
        rc = backend_load(adv, &adv->remote, plugin_dir, adv->backend_name, err);
    if (rc == 0)
        rc = settle_backend(adv, err);
    if (rc != 0) {
        cs_advisor_free(adv);
        return rc;
    }
    struct cs_err lerr = {0};
    if (strcmp(adv->backend_name, "offline") == 0) {
        adv->local = adv->remote; /* the same instance answers everything */
        adv->has_local = 1;
    } else if ((adv->has_local = backend_load(adv, &adv->local, plugin_dir, "offline", &lerr) == 0) == 0) {
        cs_log(CS_LOG_WARNING, "advisor", "%s; findings on sensitive columns will not be advised", lerr.msg);
    }
    cs_log(CS_LOG_INFO, "advisor", "backend %s, model %s, prompt %s, dialect %s", adv->backend_name, adv->model,
           adv->tmpl.version, adv->dialect);
    *out = adv;
    return 0;
}

static void drain_queue(struct cs_advisor *adv)
{
    struct finished fin = {0};
    pthread_mutex_lock(&adv->mu);
    while (adv->qhead != NULL) {
        struct job *j = adv->qhead;
        adv->qhead = j->next;
        adv->queued--;
        resolve_all(adv, j, CS_ADVICE_PENDING, "the advisor shut down before the call; advise again later", &fin);
        job_free(j);
    }
    adv->qtail = NULL;
    pthread_mutex_unlock(&adv->mu);
    call_back(adv, &fin);
}

void cs_advisor_free(struct cs_advisor *adv)
{
    if (adv == NULL)
        return;
    pthread_mutex_lock(&adv->mu);
    __atomic_store_n(&adv->stopping, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&adv->cv_work);
    pthread_cond_broadcast(&adv->cv_stop);
    pthread_mutex_unlock(&adv->mu);
    for (int i = 0; i < adv->nthreads; i++)
        pthread_join(adv->threads[i], NULL);
    free(adv->threads);
    drain_queue(adv);
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct entry *e = adv->buckets[b], *next; e != NULL; e = next) {
            next = e->hnext;
            entry_free(e);
        }
    int shared = adv->local.state == adv->remote.state && adv->local.p == adv->remote.p;
    backend_unload(&adv->remote);
    if (!shared)
        backend_unload(&adv->local);
    adv_template_clear(&adv->tmpl);
    if (adv->api_key != NULL) {
        explicit_bzero(adv->api_key, strlen(adv->api_key));
        free(adv->api_key);
    }
    pthread_mutex_destroy(&adv->mu);
    pthread_cond_destroy(&adv->cv_work);
    pthread_cond_destroy(&adv->cv_done);
    pthread_cond_destroy(&adv->cv_stop);
    free(adv);
}

/* ---- the report ------------------------------------------------------------------------------- */

static json_t *suggestion_json(const struct cs_run *run, const struct cs_advice_item *it)
{
    const struct cs_finding *f = &run->findings[it->finding];
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "anomaly", (json_int_t)it->finding,
                          "table", f->table, "column", f->column, "check", f->check, "kind", f->kind ? f->kind : "",
                          "severity", cs_severity_name(f->severity), "signature", it->signature, "status",
                          cs_advice_status_name(it->status), "cached", it->cached, "backend",
                          it->backend ? it->backend : "", "model", it->model ? it->model : "");
    if (o == NULL)
        return NULL;
    if (it->status != CS_ADVICE_OK) {
        json_object_set_new(o, "reason", json_string(it->reason));
        return o;
    }
    const char *k;
    json_t *v;
    json_object_foreach(it->advice, k, v)
        if (strcmp(k, "id") != 0)
            json_object_set(o, k, v);
    return o;
}

json_t *cs_advice_report(const struct cs_advisor *adv, const struct cs_run *run, const struct cs_advice *a)
{
    int offline = strcmp(adv->backend_name, "offline") == 0;
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < a->n; i++)
        json_array_append_new(list, suggestion_json(run, &a->slots[i].item));
    /* min_severity: findings below it have no suggestion on purpose (a reader can say so). */
    json_t *info = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "backend", adv->backend_name, "model", adv->model,
                             "prompt", adv->tmpl.version, "dialect", adv->dialect, "offline", offline, "min_severity",
                             cs_severity_name(adv->conf.min_severity));
    if (info != NULL)
        json_object_set_new(info, "note",
                            json_string(offline ? "offline backend: deterministic suggestions built from each "
                                                  "finding's check, table and column; no LLM was called and no "
                                                  "data left this machine"
                                                : "findings on sensitive columns are advised offline and never sent"));
    return json_pack("{s:o, s:o}", "advisor", info, "suggestions", list);
}
