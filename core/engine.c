/*
** engine.c -- run orchestration: schema, policies, plugins, batches,
** findings.  See engine.h for the contract.
**
** A table pass ("tpass") is one table read once: it resolves the schema,
** builds each column's policy from the config, creates one state per check
** plugin, feeds every batch to every state and collects what they emit.
** A whole-table run is one pass; a customer run is one pass per configured
** table, filtered on the customer key by a bound parameter.
**
** The host services handed to plugins (struct cs_host_api) live here too:
** emit copies a finding into the run and gives it a severity; keep_key
** captures a row's primary key as a JSON value in a slot table of the check
** instance, which it refers to by index; stats_* forward to stats.c.  Every
** stats accumulator of a pass (the outlier check's and the run store's
** metrics) draws on the pass's one budget (scan.memory_mb, spilling to
** scan.spill_dir), which the pass owns and which outlives them.
**
** Check lanes.  A table scan reads on a thread of its own (prefetch.c) and
** checks on the calling thread, which is the slower of the two on tables
** with few columns and many rows.  So after WARM_BATCHES batches, each check
** timed, the checks are split into two lanes of about equal cost (largest
** first, each to the lighter lane) and the second lane runs on a thread of
** its own; the run store's metrics and the Lua rules stay on the calling
** thread (the rules' Lua state belongs to it).  Each check instance keeps to
** one thread, and what a batch callback may call is safe across lanes: keys
** are kept per check instance and the stats budget counts atomically.
** Findings are emitted by finish, on the calling thread, after the lanes join.
*/
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "metrics.h"
#include "prefetch.h"
#include "profile.h"
#include "pushdown.h"
#include "rules.h"
#include "severity.h"
#include "source.h"
#include "spill.h"
#include "stats.h"

struct cs_engine {
    const struct cs_config *cfg;
    const struct cs_registry *reg;
    struct cs_source *src;
    struct cs_profile_cache *profiles;
    struct cs_rules_vm *rules; /* Lua rules: one state per engine, reused */
};

/* Captured keys: JSON values addressed by cs_keyref, with a free list so
 * that keys dropped by the stats extremes are reused. */
struct keystore {
    json_t **slots;
    size_t n, cap;
    uint32_t *free;
    size_t nfree, freecap;
};

struct tpass {
    struct cs_engine *eng;
    struct cs_run *run;
    const struct cs_tableconf *tc;
    struct cs_schema schema;
    struct cs_column_info *infos;
    struct cs_column_policy *policies;
    size_t *pk;
    size_t npk;
    int mode;
    struct cs_metrics_acc *macc; /* whole-table runs for the store, else NULL */
    struct cs_stats_budget budget; /* memory of every stats accumulator of this run (scan.memory_mb) */
    struct cs_rules_pass *rules; /* the Lua rules reading this table, or NULL */
};

struct hctx {
    struct tpass *tp;
    const struct cs_check_plugin *plugin;
    void *state;
    struct keystore keys; /* this instance's kept keys: one lane touches them */
};

double cs_run_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void cs_run_new_id(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        uint64_t t = (uint64_t)(cs_run_now() * 1e9);
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)(t >> (8 * (i % 8))) ^ (unsigned char)(i * 37);
    }
    b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* ---- key store ---------------------------------------------------------- */

/* JSON string from bytes that may not be valid UTF-8 (bad bytes become '?'). */
static json_t *json_text(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j != NULL)
        return j;
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    j = json_stringn(copy, len);
    free(copy);
    return j;
}

static json_t *cell_json(const struct cs_column *c, size_t row)
{
    if (c->nulls[row])
        return json_null();
    switch (c->type) {
    case CS_TYPE_INT64: return json_integer(c->i64[row]);
    case CS_TYPE_DOUBLE: return json_real(c->f64[row]);
    default: return json_text(c->text[row], c->text_len[row]);
    }
}

static json_t *row_key(const struct tpass *tp, const struct cs_batch *b, size_t row)
{
    if (tp->npk == 0)
        return json_integer((json_int_t)(b->first_row + row + 1)); /* 1-based row number */
    if (tp->npk == 1)
        return cell_json(&b->cols[tp->pk[0]], row);
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < tp->npk; i++)
        json_array_append_new(a, cell_json(&b->cols[tp->pk[i]], row));
    return a;
}

static cs_keyref keystore_put(struct keystore *ks, json_t *v)
{
    if (v == NULL)
        return CS_KEYREF_NONE;
    if (ks->nfree > 0) {
        uint32_t slot = ks->free[--ks->nfree];
        ks->slots[slot] = v;
        return slot;
    }
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 64;
        json_t **s = realloc(ks->slots, cap * sizeof(*s));
        if (s == NULL) {
            json_decref(v);
            return CS_KEYREF_NONE;
        }
        ks->slots = s;
        ks->cap = cap;
    }
    ks->slots[ks->n] = v;
    return (cs_keyref)ks->n++;
}

static void keystore_drop(struct keystore *ks, cs_keyref k)
{
    if (k >= ks->n || ks->slots[k] == NULL)
        return;
    if (ks->nfree == ks->freecap) {
        size_t cap = ks->freecap ? ks->freecap * 2 : 64;
        uint32_t *f = realloc(ks->free, cap * sizeof(*f));
        if (f == NULL)
            return; /* the slot just stays used */
        ks->free = f;
        ks->freecap = cap;
    }
    json_decref(ks->slots[k]);
    ks->slots[k] = NULL;
    ks->free[ks->nfree++] = k;
}

static void keystore_free(struct keystore *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        json_decref(ks->slots[i]);
    free(ks->slots);
    free(ks->free);
}

/* ---- host services ------------------------------------------------------ */

static void host_log(void *hctx, int level, const char *fmt, ...)
{
    struct hctx *h = hctx;
    char component[96];
    snprintf(component, sizeof(component), "check:%s", h->plugin->name);
    va_list ap;
    va_start(ap, fmt);
    cs_logv(level, component, fmt, ap);
    va_end(ap);
}

static cs_keyref host_keep_key(void *hctx, const struct cs_batch *b, size_t row)
{
    struct hctx *h = hctx;
    if (b == NULL || row >= b->nrows)
        return CS_KEYREF_NONE;
    return keystore_put(&h->keys, row_key(h->tp, b, row));
}

static void host_drop_key(void *hctx, cs_keyref k)
{
    keystore_drop(&((struct hctx *)hctx)->keys, k);
}

static int column_is_key(const struct tpass *tp, const char *column)
{
    if (strchr(column, ',') != NULL)
        return 1;
    for (size_t i = 0; i < tp->schema.ncols; i++)
        if (strcmp(tp->infos[i].name, column) == 0)
            return tp->infos[i].is_key;
    return 0;
}

static void finding_release(struct cs_finding *f)
{
    free(f->check);
    free(f->source);
    free(f->table);
    free(f->column);
    free(f->kind);
    free(f->message);
    json_decref(f->sample_keys);
}

struct cs_finding *cs_run_add_finding(struct cs_run *run)
{
    if (run->nfindings == run->cap) {
        size_t cap = run->cap ? run->cap * 2 : 16;
        struct cs_finding *f = realloc(run->findings, cap * sizeof(*f));
        if (f == NULL)
            return NULL;
        run->findings = f;
        run->cap = cap;
    }
    struct cs_finding *f = &run->findings[run->nfindings++];
    memset(f, 0, sizeof(*f));
    return f;
}

struct cs_finding *cs_run_add(struct cs_run *run, const struct cs_finding_text *t, json_t *samples)
{
    struct cs_finding *f = cs_run_add_finding(run);
    if (f == NULL) {
        json_decref(samples);
        return NULL;
    }
    f->check = strdup(t->check);
    f->source = strdup(t->source);
    f->table = strdup(t->table);
    f->column = strdup(t->column);
    f->kind = strdup(t->kind ? t->kind : "");
    f->message = strdup(t->message ? t->message : "");
    f->sample_keys = samples ? samples : json_array();
    if (!f->check || !f->source || !f->table || !f->column || !f->kind || !f->message || !f->sample_keys) {
        finding_release(f); /* the run never shows a half-copied finding */
        run->nfindings--;
        return NULL;
    }
    return f;
}

static int host_emit(void *hctx, const struct cs_finding_in *in)
{
    struct hctx *h = hctx;
    struct tpass *tp = h->tp;
    if (in == NULL || in->struct_size < sizeof(struct cs_finding_in) || in->column == NULL)
        return CS_EPLUGIN;
    json_t *samples = json_array();
    for (size_t i = 0; samples && i < in->nsamples && i < 10; i++)
        if (in->samples[i] < h->keys.n && h->keys.slots[in->samples[i]] != NULL)
            json_array_append(samples, h->keys.slots[in->samples[i]]);
    const struct cs_finding_text t = {h->plugin->name, "builtin", tp->schema.table, in->column, in->kind, in->message};
    struct cs_finding *f = cs_run_add(tp->run, &t, samples);
    if (f == NULL)
        return CS_ENOMEM;
    f->count = in->count;
    f->total = in->total;
    f->groups = in->groups;
    f->threshold = in->threshold;
    f->lower = in->lower;
    f->upper = in->upper;
    f->has_range = in->lower != 0 || in->upper != 0;
    struct cs_severity_in s = {.check = f->check, .kind = f->kind, .count = f->count, .total = f->total,
                               .is_key = column_is_key(tp, f->column), .customer = tp->mode == CS_MODE_CUSTOMER,
                               .cc = cs_config_column(tp->tc, f->column)};
    f->severity = cs_severity_of(&s);
    return 0;
}

static cs_keyref stats_keyfn(void *ctx, const struct cs_batch *b, size_t row)
{
    return host_keep_key(ctx, b, row);
}

static void stats_dropfn(void *ctx, cs_keyref k)
{
    host_drop_key(ctx, k);
}

static struct cs_stats *host_stats_new(void *hctx)
{
    struct cs_stats_opts o = {.kind = CS_STATS_F64, .keyfn = stats_keyfn, .dropfn = stats_dropfn, .keyctx = hctx,
                              .budget = &((struct hctx *)hctx)->tp->budget};
    return cs_stats_open(&o);
}

static const struct cs_host_api host_api = {
    .abi_version = CS_CHECK_ABI_VERSION,
    .struct_size = sizeof(struct cs_host_api),
    .log = host_log,
    .emit = host_emit,
    .keep_key = host_keep_key,
    .stats_new = host_stats_new,
    .stats_add = cs_stats_add,
    .stats_profile = cs_stats_profile,
    .stats_count_outside = cs_stats_count_outside,
    .stats_free = cs_stats_free,
    .stats_moments = cs_stats_moments,
    .stats_error = cs_stats_error,
    .spill_open = cs_spill_open,
};

/* ---- Lua rules (rules.h): the same keys and findings as the plugins ---------- */

static json_t *rules_row_key(void *tp, const struct cs_batch *b, size_t row)
{
    return row_key(tp, b, row);
}

static void rules_begin(struct tpass *tp)
{
    struct cs_rules_target t = {.run = tp->run, .cfg = tp->eng->cfg, .tc = tp->tc, .schema = &tp->schema,
                                .mode = tp->mode, .row_key = rules_row_key, .key_ctx = tp};
    tp->rules = cs_rules_pass_begin(tp->eng->rules, &t);
}

/* ---- table pass ----------------------------------------------------------- */

static int resolve_keys(struct tpass *tp, struct cs_err *err)
{
    const struct cs_tableconf *tc = tp->tc;
    if (tc == NULL)
        return 0;
    if ((tp->pk = calloc(tc->npk + 1, sizeof(size_t))) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    for (size_t i = 0; i < tc->npk; i++) {
        ssize_t c = cs_schema_find(&tp->schema, tc->pk[i]);
        if (c < 0)
            return cs_err_set(err, CS_ECONFIG, "tables.%s.primary_key: table %s has no column %s", tc->name,
                              tp->schema.table, tc->pk[i]);
        tp->pk[tp->npk++] = (size_t)c;
        tp->infos[c].is_key = 1;
    }
    if (tc->customer_key != NULL) {
        ssize_t c = cs_schema_find(&tp->schema, tc->customer_key);
        if (c < 0)
            return cs_err_set(err, CS_ECONFIG, "tables.%s.customer_key: table %s has no column %s", tc->name,
                              tp->schema.table, tc->customer_key);
        tp->infos[c].is_key = 1;
    }
    return 0;
}

/* Warn about exact (non-glob) column entries that match no column: likely typos. */
static void warn_unmatched(const struct tpass *tp)
{
    for (size_t i = 0; tp->tc != NULL && i < tp->tc->ncols; i++) {
        const struct cs_colconf *cc = &tp->tc->cols[i];
        if (!cc->is_glob && cs_schema_find(&tp->schema, cc->pattern) < 0)
            cs_log(CS_LOG_WARNING, "config", "tables.%s.columns.%s: table %s has no such column; entry ignored",
                   tp->tc->name, cc->pattern, tp->schema.table);
    }
}

static int tpass_open(struct tpass *tp, struct cs_engine *eng, struct cs_run *run, const char *table, int mode,
                      struct cs_err *err)
{
    int rc;
    memset(tp, 0, sizeof(*tp));
    tp->eng = eng;
    tp->run = run;
    tp->mode = mode;
    tp->tc = cs_config_table(eng->cfg, table);
    cs_stats_budget_init(&tp->budget, eng->cfg->scan_memory_mb << 20, cs_config_spill_dir(eng->cfg));
    if ((rc = cs_source_describe(eng->src, table, &tp->schema, err)))
        return rc;
    size_t n = tp->schema.ncols;
    tp->infos = calloc(n + 1, sizeof(*tp->infos));
    tp->policies = calloc(n + 1, sizeof(*tp->policies));
    if (tp->infos == NULL || tp->policies == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        tp->infos[i].name = tp->schema.cols[i].name;
        tp->infos[i].type = tp->schema.cols[i].type;
        tp->infos[i].policy = &tp->policies[i];
    }
    if ((rc = resolve_keys(tp, err)))
        return rc;
    for (size_t i = 0; i < n; i++)
        cs_config_policy(cs_config_column(tp->tc, tp->infos[i].name), tp->infos[i].type, tp->infos[i].is_key,
                         &tp->policies[i]);
    warn_unmatched(tp);
    return 0;
}

static void tpass_close(struct tpass *tp)
{
    cs_rules_pass_free(tp->rules); /* begun by tpass_pushdown for a table it left to streaming */
    cs_metrics_acc_free(tp->macc);
    cs_schema_free(&tp->schema);
    free(tp->infos);
    free(tp->policies);
    free(tp->pk);
}

static void destroy_states(struct hctx *hs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (hs[i].state != NULL)
            hs[i].plugin->destroy(hs[i].state);
        keystore_free(&hs[i].keys);
    }
    free(hs);
}

static int init_states(struct tpass *tp, uint64_t rows_hint, struct hctx **out, struct cs_err *err)
{
    const struct cs_registry *reg = tp->eng->reg;
    struct hctx *hs = calloc(reg->nchecks + 1, sizeof(*hs));
    if (hs == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    struct cs_table_info ti = {.struct_size = sizeof(ti), .name = tp->schema.table, .mode = tp->mode,
                               .ncols = tp->schema.ncols, .cols = tp->infos, .npk = tp->npk, .pk = tp->pk,
                               .rows_hint = rows_hint, .memory_limit = tp->budget.limit,
                               .spill_dir = tp->budget.spill_dir};
    for (size_t i = 0; i < reg->nchecks; i++) {
        hs[i].tp = tp;
        hs[i].plugin = reg->checks[i].plugin;
        int rc = hs[i].plugin->init(&host_api, &hs[i], &ti, &hs[i].state, err);
        if (rc != 0) {
            destroy_states(hs, i + 1);
            cs_err_prefix(err, "check %s: ", reg->checks[i].plugin->name);
            return rc;
        }
    }
    *out = hs;
    return 0;
}

/* ---- check lanes (see the top of this file) --------------------------------- */

#define WARM_BATCHES 16

struct lane {
    struct cs_prefetch *pf;
    int id;
    struct hctx *hs;
    size_t *which; /* the checks of this lane: indexes into hs */
    size_t n;
    pthread_t thread;
    int started;
    atomic_int failed;
    int rc;
    struct cs_err err;
};

/* What one table scan's batches go through, and where. */
struct feed {
    struct tpass *tp;
    struct hctx *hs;
    size_t n;
    unsigned char *on_main; /* per check: it runs on the calling thread */
    double *cost;           /* per check: seconds over the first batches; NULL when not timing */
    double main_cost;       /* the metrics' and rules' seconds over the same batches */
    struct lane lane;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int check_batch(struct hctx *h, const struct cs_batch *b, struct cs_err *err)
{
    int rc = h->plugin->batch(h->state, b, err);
    if (rc != 0)
        cs_err_prefix(err, "check %s: ", h->plugin->name);
    return rc;
}

static void *lane_main(void *arg)
{
    struct lane *ln = arg;
    const struct cs_batch *b;
    struct cs_err ignored; /* the reader's own errors reach lane 0, which reports them */
    while (!ln->rc && cs_prefetch_next(ln->pf, ln->id, &b, &ignored) == 1)
        for (size_t i = 0; !ln->rc && i < ln->n; i++)
            ln->rc = check_batch(&ln->hs[ln->which[i]], b, &ln->err);
    if (ln->rc)
        atomic_store(&ln->failed, 1);
    cs_prefetch_lane_leave(ln->pf, ln->id);
    return NULL;
}

/* Which checks went to the second thread, and what the first batches cost on each side. */
static void lanes_log(const struct feed *f, double mine, double other)
{
    char names[512] = "";
    size_t len = 0;
    for (size_t i = 0; f->lane.started && i < f->lane.n && len < sizeof(names); i++)
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                                f->hs[f->lane.which[i]].plugin->name);
    cs_log(CS_LOG_DEBUG, "engine", "table %s: %zu of %zu checks on a second thread: %s (first %d batches: %.1f ms "
           "there, %.1f ms here)", f->tp->schema.table, f->lane.started ? f->lane.n : 0, f->n,
           f->lane.started ? names : "none", WARM_BATCHES, other * 1e3, mine * 1e3);
}

/* Split the timed checks over two lanes (largest first, each to the lighter lane) and start the
 * second one; with nothing for it, or no thread, everything stays on the calling thread. */
static void lanes_start(struct feed *f, struct cs_prefetch *pf)
{
    struct lane *ln = &f->lane;
    double mine = f->main_cost, other = 0;
    if ((ln->which = calloc(f->n + 1, sizeof(size_t))) == NULL)
        return;
    for (size_t k = 0; k < f->n; k++) {
        size_t big = f->n;
        for (size_t i = 0; i < f->n; i++)
            if (f->cost[i] >= 0 && (big == f->n || f->cost[i] > f->cost[big]))
                big = i;
        int here = mine <= other;
        *(here ? &mine : &other) += f->cost[big];
        f->on_main[big] = (unsigned char)here;
        if (!here)
            ln->which[ln->n++] = big;
        f->cost[big] = -1; /* taken */
    }
    if (ln->n > 0 && (ln->id = cs_prefetch_lane_add(pf)) > 0) {
        ln->pf = pf;
        ln->hs = f->hs;
        ln->started = pthread_create(&ln->thread, NULL, lane_main, ln) == 0;
        if (!ln->started)
            cs_prefetch_lane_leave(pf, ln->id);
    }
    if (!ln->started)
        memset(f->on_main, 1, f->n);
    lanes_log(f, mine, other);
}

/* Wait for the second lane; its error, if the calling thread had none. */
static int lanes_join(struct feed *f, struct cs_prefetch *pf, int rc, struct cs_err *err)
{
    struct lane *ln = &f->lane;
    if (ln->started) {
        if (rc != 0)
            cs_prefetch_cancel(pf);
        pthread_join(ln->thread, NULL);
        if (rc == 0 && ln->rc != 0) {
            rc = ln->rc;
            *err = ln->err;
        }
    }
    free(ln->which);
    return rc;
}

/* One batch through the calling thread's share: its checks, the metrics and the rules. */
static int feed_one(struct feed *f, const struct cs_batch *b, struct cs_err *err)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < f->n; i++) {
        if (!f->on_main[i])
            continue;
        double t0 = f->cost ? mono_now() : 0;
        rc = check_batch(&f->hs[i], b, err);
        if (f->cost)
            f->cost[i] += mono_now() - t0;
    }
    double t0 = f->cost ? mono_now() : 0;
    if (rc == 0 && f->tp->macc != NULL)
        rc = cs_metrics_acc_add(f->tp->macc, b, err);
    if (rc == 0)
        cs_rules_pass_batch(f->tp->rules, b);
    if (f->cost)
        f->main_cost += mono_now() - t0;
    if (rc == 0 && f->lane.started && atomic_load(&f->lane.failed)) {
        rc = f->lane.rc; /* written before the flag */
        *err = f->lane.err;
    }
    return rc;
}

static int feed_batches(struct tpass *tp, struct hctx *hs, const struct cs_select *sel, const struct cs_scan_opts *o,
                        uint64_t total, uint64_t *rows, struct cs_err *err)
{
    struct cs_cursor *cur = NULL;
    const struct cs_batch *b;
    struct cs_prefetch *pf = NULL;
    struct feed f = {.tp = tp, .hs = hs, .n = tp->eng->reg->nchecks};
    uint64_t batches = 0;
    int rc = cs_source_select(tp->eng->src, sel, &cur, err);
    if (rc == 0 && tp->mode == CS_MODE_TABLE) /* long reads: fetch the next batches while checking this one */
        rc = cs_prefetch_open(&pf, cur, err);
    if (rc == 0 && ((f.on_main = malloc(f.n + 1)) == NULL || (pf && (f.cost = calloc(f.n + 1, sizeof(double))) == NULL)))
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    if (f.on_main != NULL)
        memset(f.on_main, 1, f.n);
    while (rc == 0 && (rc = pf ? cs_prefetch_next(pf, 0, &b, err) : cs_cursor_next(cur, &b, err)) == 1) {
        rc = feed_one(&f, b, err);
        *rows += b->nrows;
        if (o && o->progress)
            o->progress(o->progress_ctx, tp->schema.table, *rows, total);
        if (rc == 0 && o && o->cancel && atomic_load(o->cancel))
            rc = cs_err_set(err, CS_ECANCELED, "the run was cancelled (the server is shutting down)");
        if (rc == 0 && f.cost != NULL && ++batches == WARM_BATCHES) {
            lanes_start(&f, pf);
            free(f.cost);
            f.cost = NULL;
        }
    }
    rc = lanes_join(&f, pf, rc < 0 ? rc : 0, err);
    free(f.on_main);
    free(f.cost);
    cs_prefetch_close(pf);
    cs_cursor_close(cur);
    return rc;
}

static int finish_states(struct hctx *hs, size_t n, struct cs_err *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = hs[i].plugin->finish(hs[i].state, err);
        if (rc != 0) {
            cs_err_prefix(err, "check %s: ", hs[i].plugin->name);
            return rc;
        }
    }
    return 0;
}

static int run_add_rows(struct cs_run *run, const char *table, uint64_t rows)
{
    struct cs_table_rows *t = realloc(run->tables, (run->ntables + 1) * sizeof(*t));
    if (t == NULL)
        return CS_ENOMEM;
    run->tables = t;
    t[run->ntables].table = strdup(table);
    t[run->ntables].rows = rows;
    run->ntables++;
    run->rows_scanned += rows;
    return t[run->ntables - 1].table ? 0 : CS_ENOMEM;
}

/* Read the selected rows once through every check. */
static int tpass_run(struct tpass *tp, const struct cs_select *sel, const struct cs_scan_opts *o, uint64_t *rows,
                     struct cs_err *err)
{
    uint64_t total = 0;
    struct hctx *hs = NULL;
    int rc;
    *rows = 0;
    if (o && o->count_rows && sel->where_col == NULL && cs_source_count(tp->eng->src, &tp->schema, &total, NULL) != 0)
        total = 0;
    if ((rc = init_states(tp, total, &hs, err)))
        return rc;
    if (tp->rules == NULL) /* tpass_pushdown may have begun it already: rule set-up runs once */
        rules_begin(tp);
    size_t n = tp->eng->reg->nchecks;
    if ((rc = feed_batches(tp, hs, sel, o, total, rows, err)) == 0)
        rc = finish_states(hs, n, err);
    if (rc == 0 && cs_rules_pass_finish(tp->rules) != 0)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    cs_rules_pass_free(tp->rules);
    tp->rules = NULL;
    destroy_states(hs, n);
    if (rc == 0 && run_add_rows(tp->run, tp->schema.table, *rows) != 0)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    return rc;
}

/* Whole-table run in the database (pushdown.h); *pushed 0: stream it.  The Lua rules' pass goes
 * along: rules with a SQL predicate are counted there, the others read only their columns. */
static int tpass_pushdown(struct tpass *tp, const struct cs_scan_opts *o, int *pushed, struct cs_err *err)
{
    uint64_t rows = 0;
    int mode = o->scan_mode;
    *pushed = 0;
    rules_begin(tp); /* kept for tpass_run when the table is streamed */
    if (tp->macc != NULL && mode == CS_SCAN_AUTO) {
        cs_log(CS_LOG_INFO, "pushdown", "table %s: the run store's column metrics need the rows, so the table is "
               "streamed (--mode pushdown stores findings without column metrics)", tp->schema.table);
        return 0;
    }
    struct cs_pd_table t = {.src = tp->eng->src, .dialect = cs_source_dialect(tp->eng->src), .cfg = tp->eng->cfg,
                            .tc = tp->tc, .schema = &tp->schema, .infos = tp->infos, .pk = tp->pk, .npk = tp->npk,
                            .reg = tp->eng->reg, .run = tp->run, .rules = tp->rules, .opts = o};
    int rc = cs_pushdown_table(&t, mode, &rows, pushed, err);
    if (rc == 0 && *pushed) {
        snprintf(tp->run->mode, sizeof(tp->run->mode), "pushdown");
        cs_metrics_acc_free(tp->macc); /* per-column metrics need the rows: not collected */
        tp->macc = NULL;
        if (run_add_rows(tp->run, tp->schema.table, rows) != 0)
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    return rc;
}

/* ---- runs ----------------------------------------------------------------- */

static struct cs_run *run_new(const struct cs_engine *eng, int scope)
{
    struct cs_run *run = calloc(1, sizeof(*run));
    if (run == NULL)
        return NULL;
    cs_run_new_id(run->run_id);
    run->scope = scope;
    run->started = cs_run_now();
    memcpy(run->config_hash, eng->cfg->hash, sizeof(run->config_hash));
    snprintf(run->source_kind, sizeof(run->source_kind), "%s", cs_source_kind(eng->src));
    return run;
}

int cs_engine_scan_table(struct cs_engine *eng, const char *table, const struct cs_scan_opts *opts,
                         struct cs_run **out, struct cs_err *err)
{
    struct tpass tp;
    uint64_t rows;
    struct cs_run *run = run_new(eng, CS_SCOPE_TABLE);
    *out = NULL;
    if (run == NULL || (run->table = strdup(table)) == NULL) {
        cs_run_free(run);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    cs_rules_vm_sync(eng->rules);
    int rc = tpass_open(&tp, eng, run, table, CS_MODE_TABLE, err);
    if (rc == 0 && opts != NULL && opts->metrics &&
        (tp.macc = cs_metrics_acc_new(tp.schema.ncols, tp.infos, &tp.budget)) == NULL)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    int pushed = 0;
    if (rc == 0 && opts != NULL && opts->scan_mode != CS_SCAN_STREAM)
        rc = tpass_pushdown(&tp, opts, &pushed, err);
    if (rc == 0 && !pushed) {
        struct cs_select sel = {.schema = &tp.schema};
        rc = tpass_run(&tp, &sel, opts, &rows, err);
    }
    if (rc == 0 && tp.macc != NULL)
        rc = cs_metrics_acc_finish(tp.macc, &run->metrics, &run->nmetrics, err);
    tpass_close(&tp);
    if (rc != 0) {
        cs_run_free(run);
        return rc;
    }
    run->finished = cs_run_now();
    *out = run;
    return 0;
}

int cs_engine_parse_customer(const char *id, int type, struct cs_keyval *kv, struct cs_err *err)
{
    kv->type = type == CS_TYPE_INT64 ? CS_TYPE_INT64 : CS_TYPE_TEXT;
    kv->text = id;
    if (kv->type == CS_TYPE_TEXT)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(id, &end, 10);
    if (errno != 0 || end == id || *end != '\0' || id[0] == ' ' || id[0] == '\t')
        return cs_err_set(err, CS_EUSAGE, "customer id \"%.64s\" is not an integer (the customer key is numeric)", id);
    kv->i64 = v;
    return 0;
}

static int customer_table(struct cs_engine *eng, struct cs_run *run, const struct cs_tableconf *tc, const char *id,
                          const struct cs_scan_opts *opts, struct cs_err *err)
{
    struct tpass tp;
    uint64_t rows = 0;
    int rc = tpass_open(&tp, eng, run, tc->name, CS_MODE_CUSTOMER, err);
    ssize_t kc = rc == 0 ? cs_schema_find(&tp.schema, tc->customer_key) : -1;
    struct cs_select sel = {.schema = &tp.schema};
    if (rc == 0) {
        sel.where_col = tp.schema.cols[kc].name;
        rc = cs_engine_parse_customer(id, tp.schema.cols[kc].type, &sel.where_val, err);
        run->customer_is_int = sel.where_val.type == CS_TYPE_INT64;
    }
    if (rc == 0)
        rc = cs_profile_attach(eng->profiles, eng->src, &tp.schema, tp.infos, err);
    if (rc == 0)
        rc = tpass_run(&tp, &sel, opts, &rows, err);
    tpass_close(&tp);
    return rc;
}

int cs_engine_scan_customer(struct cs_engine *eng, const char *customer_id, const struct cs_scan_opts *opts,
                            struct cs_run **out, struct cs_err *err)
{
    struct cs_run *run = run_new(eng, CS_SCOPE_CUSTOMER);
    int rc = 0, tables = 0;
    *out = NULL;
    if (run == NULL || (run->customer_id = strdup(customer_id)) == NULL) {
        cs_run_free(run);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    cs_rules_vm_sync(eng->rules);
    cs_rules_customer_begin(eng->rules);
    for (size_t i = 0; rc == 0 && i < eng->cfg->ntables; i++) {
        const struct cs_tableconf *tc = &eng->cfg->tables[i];
        if (tc->customer_key == NULL)
            continue;
        tables++;
        if ((rc = customer_table(eng, run, tc, customer_id, opts, err)) != 0)
            cs_err_prefix(err, "table %s: ", tc->name);
    }
    if (rc == 0 && tables == 0)
        rc = cs_err_set(err, CS_ECONFIG, "no table in the config has a customer_key, so customers cannot be looked up");
    if (rc == 0 && run->rows_scanned == 0)
        rc = cs_err_set(err, CS_ENOTFOUND, "customer %.64s was not found in any configured table", customer_id);
    if (cs_rules_customer_end(eng->rules, run, rc == 0) != 0 && rc == 0)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    if (rc != 0) {
        cs_run_free(run);
        return rc;
    }
    run->finished = cs_run_now();
    *out = run;
    return 0;
}

/* ---- engine --------------------------------------------------------------- */

int cs_engine_new(struct cs_engine **out, const struct cs_config *cfg, const struct cs_registry *reg,
                  struct cs_err *err)
{
    struct cs_engine *eng = calloc(1, sizeof(*eng));
    *out = NULL;
    if (eng == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    eng->cfg = cfg;
    eng->reg = reg;
    struct cs_source_opts so = {.conn = cfg->source_odbc, .native_sqlite = cfg->native_sqlite,
                                .batch_rows = cfg->batch_rows};
    int rc = cs_source_open(&eng->src, &so, err);
    if (rc == 0 && (eng->profiles = cs_profile_cache_new(cfg)) == NULL)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    if (rc == 0 && (eng->rules = cs_rules_vm_new(cfg)) == NULL)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    if (rc != 0) {
        cs_engine_free(eng);
        return rc;
    }
    *out = eng;
    return 0;
}

void cs_engine_set_store(struct cs_engine *eng, struct cs_store *st)
{
    cs_profile_cache_set_store(eng->profiles, st);
}

void cs_engine_use_rules(struct cs_engine *eng, struct cs_rules *rules)
{
    cs_rules_vm_use(eng->rules, rules);
}

struct cs_source *cs_engine_source(struct cs_engine *eng)
{
    return eng->src;
}

int cs_engine_ping(struct cs_engine *eng, struct cs_err *err)
{
    struct cs_schema s;
    if (eng->cfg->ntables == 0)
        return 0;
    int rc = cs_source_describe(eng->src, eng->cfg->tables[0].name, &s, err);
    if (rc == 0)
        cs_schema_free(&s);
    return rc == CS_ENOTFOUND ? 0 : rc; /* the database answered */
}

void cs_engine_free(struct cs_engine *eng)
{
    if (eng == NULL)
        return;
    cs_rules_vm_free(eng->rules);
    cs_profile_cache_free(eng->profiles);
    cs_source_close(eng->src);
    free(eng);
}

void cs_run_free(struct cs_run *run)
{
    if (run == NULL)
        return;
    for (size_t i = 0; i < run->nfindings; i++)
        finding_release(&run->findings[i]);
    for (size_t i = 0; i < run->ntables; i++)
        free(run->tables[i].table);
    cs_metrics_free(run->metrics, run->nmetrics);
    free(run->tables);
    free(run->findings);
    free(run->table);
    free(run->customer_id);
    free(run);
}

int cs_run_max_severity(const struct cs_run *run)
{
    int max = -1;
    for (size_t i = 0; i < run->nfindings; i++)
        if (run->findings[i].severity > max)
            max = run->findings[i].severity;
    return max;
}
