/*
** profile.c -- building, caching and attaching table profiles.  See profile.h.
**
** A profile is built in the database (cs_pushdown_profiles: the outlier
** check's statistics rounds) when profile.mode says so -- auto: remote
** warehouses, and SQLite tables above source.pushdown_rows -- and by one
** streaming scan otherwise or when the database cannot (a log line says
** why).  Both are cached the same way.
*/
#include "profile.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "pushdown.h"
#include "stats.h"
#include "store.h"

#define PROFILE_FILE_VERSION 1

struct profile_set {
    char *table;
    size_t n;
    char **names;
    struct cs_profile *p;
    double built_at;
};

struct cs_profile_cache {
    const struct cs_config *cfg;
    struct cs_store *store; /* borrowed, may be NULL */
    struct profile_set *sets;
    size_t nsets;
};

struct cs_profile_cache *cs_profile_cache_new(const struct cs_config *cfg)
{
    struct cs_profile_cache *pc = calloc(1, sizeof(*pc));
    if (pc != NULL)
        pc->cfg = cfg;
    return pc;
}

static void set_free(struct profile_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    free(s->p);
    free(s->table);
}

void cs_profile_cache_set_store(struct cs_profile_cache *pc, struct cs_store *st)
{
    if (pc != NULL)
        pc->store = st;
}

void cs_profile_cache_free(struct cs_profile_cache *pc)
{
    if (pc == NULL)
        return;
    for (size_t i = 0; i < pc->nsets; i++)
        set_free(&pc->sets[i]);
    free(pc->sets);
    free(pc);
}

static int wants_profile(const struct cs_column_info *ci)
{
    return (ci->type == CS_TYPE_INT64 || ci->type == CS_TYPE_DOUBLE) && !ci->is_key &&
           ci->policy->outlier_method != CS_OUTLIER_OFF;
}

static const struct cs_profile *set_lookup(const struct profile_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return &s->p[i];
    return NULL;
}

/* Does the set cover every column that wants a profile? */
static int set_covers(const struct profile_set *s, const struct cs_schema *schema, const struct cs_column_info *infos)
{
    for (size_t i = 0; i < schema->ncols; i++)
        if (wants_profile(&infos[i]) && set_lookup(s, infos[i].name) == NULL)
            return 0;
    return 1;
}

static int set_alloc(struct profile_set *s, const char *table, size_t n)
{
    memset(s, 0, sizeof(*s));
    s->table = strdup(table);
    s->names = calloc(n + 1, sizeof(char *));
    s->p = calloc(n + 1, sizeof(struct cs_profile));
    return (s->table && s->names && s->p) ? 0 : CS_ENOMEM;
}

/* The wanted columns' profiles by pushdown statements; *handled 0 when they are to be streamed. */
static int set_build_pushdown(struct profile_set *s, const struct cs_config *cfg, struct cs_source *src,
                              const struct cs_schema *schema, const struct cs_column_info *infos, const size_t *cols,
                              int *handled, struct cs_err *err)
{
    struct cs_pd_table t = {.src = src, .dialect = cs_source_dialect(src), .cfg = cfg,
                            .tc = cs_config_table(cfg, schema->table), .schema = schema, .infos = infos};
    int rc = cs_pushdown_profiles(&t, cfg->profile_mode, cols, s->n, s->p, handled, err);
    if (rc == 0 && *handled)
        cs_log(CS_LOG_INFO, "profile", "profile of %s computed in the database (%zu columns)", schema->table, s->n);
    return rc;
}

static int profile_failed(const char *table, const char *column, const struct cs_stats *acc, struct cs_err *err)
{
    const char *why = cs_stats_error(acc); /* a spill file problem, else memory ran out */
    return cs_err_set(err, CS_ENOMEM, "profiling %s.%s: %s", table, column, why != NULL ? why : "out of memory");
}

/* The wanted columns: by pushdown when profile.mode says so, else one full scan. */
static int set_build(struct profile_set *s, const struct cs_config *cfg, struct cs_source *src,
                     const struct cs_schema *schema, const struct cs_column_info *infos, struct cs_err *err)
{
    size_t n = 0, *cols = calloc(schema->ncols + 1, sizeof(size_t));
    struct cs_stats **acc = calloc(schema->ncols + 1, sizeof(*acc));
    struct cs_cursor *cur = NULL;
    const struct cs_batch *b;
    int rc = (cols && acc) ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < schema->ncols; i++)
        if (wants_profile(&infos[i]))
            cols[n++] = i;
    if (rc == 0 && set_alloc(s, schema->table, n) != 0)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    /* Within scan.memory_mb like a table scan's statistics, so a daemon building profiles stays small. */
    struct cs_stats_budget budget;
    cs_stats_budget_init(&budget, cfg->scan_memory_mb << 20, cs_config_spill_dir(cfg));
    const struct cs_stats_opts opts = {.kind = CS_STATS_F64, .budget = &budget};
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((acc[i] = cs_stats_open(&opts)) == NULL || (s->names[i] = strdup(schema->cols[cols[i]].name)) == NULL)
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    s->n = n;
    struct cs_select sel = {.schema = schema, .ncols = n, .cols = cols};
    int pushed = 0;
    if (rc == 0 && n > 0)
        rc = set_build_pushdown(s, cfg, src, schema, infos, cols, &pushed, err);
    if (pushed)
        n = 0; /* nothing to stream or to finish below */
    if (rc == 0 && n > 0)
        rc = cs_source_select(src, &sel, &cur, err);
    while (rc == 0 && n > 0 && (rc = cs_cursor_next(cur, &b, err)) == 1) {
        rc = 0;
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (cs_stats_add(acc[i], b, i, infos[cols[i]].policy) != 0)
                rc = profile_failed(schema->table, s->names[i], acc[i], err);
    }
    cs_cursor_close(cur);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = cs_stats_profile(acc[i], &s->p[i])) != 0)
            rc = profile_failed(schema->table, s->names[i], acc[i], err);
    for (size_t i = 0; acc && i < s->n; i++)
        cs_stats_free(acc[i]);
    free(acc);
    free(cols);
    malloc_trim(0); /* a profile is built once per table and max_age_s: give its memory back to the system */
    s->built_at = (double)time(NULL);
    return rc < 0 ? rc : 0;
}

/* ---- disk cache ---------------------------------------------------------- */

static void cache_path(const struct cs_config *cfg, const char *table, char *buf, size_t size)
{
    char safe[256];
    size_t i;
    for (i = 0; table[i] && i + 1 < sizeof(safe); i++) {
        char c = table[i];
        safe[i] = (c == '/' || c == '\\' || c == '.' || c == ' ') ? '_' : c;
    }
    safe[i] = '\0';
    snprintf(buf, size, "%s/%s.%s.profile.json", cfg->profile_cache_dir, safe, cfg->hash);
}

static json_t *profile_json(const struct cs_profile *p)
{
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "count", (json_int_t)p->count, "mean", p->mean,
                     "sd", p->sd, "min", p->min, "max", p->max, "q1", p->q1, "median", p->median, "q3", p->q3, "mad",
                     p->mad);
}

static void set_save(const struct cs_config *cfg, const struct profile_set *s)
{
    char path[PATH_MAX], tmp[PATH_MAX + 16];
    if (cfg->profile_cache_dir == NULL)
        return;
    mkdir(cfg->profile_cache_dir, 0755);
    cache_path(cfg, s->table, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
    json_t *cols = json_object();
    for (size_t i = 0; cols && i < s->n; i++)
        json_object_set_new(cols, s->names[i], profile_json(&s->p[i]));
    json_t *root = json_pack("{s:i, s:s, s:s, s:f, s:o}", "version", PROFILE_FILE_VERSION, "table", s->table,
                             "config_hash", cfg->hash, "built_at", s->built_at, "columns", cols);
    if (root != NULL && json_dump_file(root, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0)
        cs_log(CS_LOG_DEBUG, "profile", "saved profile of %s to %s", s->table, path);
    else
        cs_log(CS_LOG_WARNING, "profile", "cannot write profile cache %s: %s", path, strerror(errno));
    unlink(tmp);
    json_decref(root);
}

static int profile_from_json(json_t *j, struct cs_profile *p)
{
    json_int_t count;
    p->struct_size = sizeof(*p);
    if (json_unpack(j, "{s:I, s:F, s:F, s:F, s:F, s:F, s:F, s:F, s:F}", "count", &count, "mean", &p->mean, "sd",
                    &p->sd, "min", &p->min, "max", &p->max, "q1", &p->q1, "median", &p->median, "q3", &p->q3, "mad",
                    &p->mad) != 0 || count < 0)
        return -1;
    p->count = (uint64_t)count;
    return 0;
}

/* Load a fresh cached set; returns 0 when loaded. */
static int set_load(const struct cs_config *cfg, const char *table, struct profile_set *s)
{
    char path[PATH_MAX];
    memset(s, 0, sizeof(*s));
    if (cfg->profile_cache_dir == NULL)
        return -1;
    cache_path(cfg, table, path, sizeof(path));
    json_t *root = json_load_file(path, 0, NULL), *cols = json_object_get(root, "columns"), *v;
    double built = json_number_value(json_object_get(root, "built_at"));
    const char *key;
    int rc = -1;
    memset(s, 0, sizeof(*s));
    if (!json_is_object(cols) || json_integer_value(json_object_get(root, "version")) != PROFILE_FILE_VERSION ||
        time(NULL) - built > cfg->profile_max_age_s || set_alloc(s, table, json_object_size(cols)) != 0)
        goto out;
    s->built_at = built;
    json_object_foreach(cols, key, v) {
        if (profile_from_json(v, &s->p[s->n]) != 0 || (s->names[s->n] = strdup(key)) == NULL)
            goto out;
        s->n++;
    }
    rc = 0;
out:
    if (rc != 0 && s->table != NULL)
        set_free(s);
    json_decref(root);
    return rc;
}

/* ---- run store (DQ_PROFILES) ---------------------------------------------- */

/* Load a fresh set from the store; returns 0 when loaded. */
static int store_load(const struct cs_profile_cache *pc, const char *table, struct profile_set *s)
{
    struct cs_store_profile *sp = NULL;
    size_t n = 0;
    double built = 0, oldest = (double)time(NULL) - (double)pc->cfg->profile_max_age_s;
    struct cs_err err = {0};
    memset(s, 0, sizeof(*s));
    if (pc->store == NULL)
        return -1;
    if (cs_store_profiles_load(pc->store, table, pc->cfg->hash, oldest, &sp, &n, &built, &err) != 0) {
        cs_log(CS_LOG_WARNING, "profile", "cannot read stored profiles of %s: %s", table, err.msg);
        return -1;
    }
    int rc = n > 0 && set_alloc(s, table, n) == 0 ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        s->p[i] = sp[i].p;
        s->names[i] = sp[i].column; /* ownership moves to the set */
        sp[i].column = NULL;
        s->n++;
    }
    s->built_at = built;
    cs_store_profiles_free(sp, n);
    if (rc != 0 && s->table != NULL)
        set_free(s);
    return rc;
}

static void store_save(const struct cs_profile_cache *pc, const struct profile_set *s)
{
    struct cs_err err = {0};
    if (pc->store != NULL && cs_store_profiles_save(pc->store, s->table, pc->cfg->hash, s->built_at,
                                                    (const char *const *)s->names, s->p, s->n, &err) != 0)
        cs_log(CS_LOG_WARNING, "profile", "cannot store the profile of %s: %s", s->table, err.msg);
}

/* ---- attach ------------------------------------------------------------- */

static struct profile_set *cache_find(struct cs_profile_cache *pc, const char *table)
{
    for (size_t i = 0; i < pc->nsets; i++)
        if (strcmp(pc->sets[i].table, table) == 0)
            return &pc->sets[i];
    return NULL;
}

static int cache_fill(struct cs_profile_cache *pc, struct cs_source *src, const struct cs_schema *schema,
                      const struct cs_column_info *infos, struct profile_set **out, struct cs_err *err)
{
    struct profile_set fresh;
    int rc = 0, loaded = store_load(pc, schema->table, &fresh) == 0;
    if (loaded && !set_covers(&fresh, schema, infos)) {
        set_free(&fresh);
        loaded = 0;
    }
    if (!loaded)
        loaded = set_load(pc->cfg, schema->table, &fresh) == 0;
    if (loaded && !set_covers(&fresh, schema, infos)) {
        set_free(&fresh);
        loaded = 0;
    }
    if (!loaded) {
        cs_log(CS_LOG_INFO, "profile", "building the profile of %s (its outlier-checked columns)", schema->table);
        if ((rc = set_build(&fresh, pc->cfg, src, schema, infos, err)) != 0) {
            set_free(&fresh);
            return rc;
        }
        set_save(pc->cfg, &fresh);
        store_save(pc, &fresh);
    }
    struct profile_set *old = cache_find(pc, schema->table);
    if (old != NULL) {
        set_free(old);
        *old = fresh;
        *out = old;
        return 0;
    }
    struct profile_set *sets = realloc(pc->sets, (pc->nsets + 1) * sizeof(*sets));
    if (sets == NULL) {
        set_free(&fresh);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    pc->sets = sets;
    sets[pc->nsets] = fresh;
    *out = &sets[pc->nsets++];
    return 0;
}

int cs_profile_attach(struct cs_profile_cache *pc, struct cs_source *src, const struct cs_schema *schema,
                      struct cs_column_info *infos, struct cs_err *err)
{
    struct profile_set *s = cache_find(pc, schema->table);
    int fresh = s != NULL && (double)time(NULL) - s->built_at <= (double)pc->cfg->profile_max_age_s;
    if (!fresh || !set_covers(s, schema, infos)) {
        int rc = cache_fill(pc, src, schema, infos, &s, err);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < schema->ncols; i++)
        if (wants_profile(&infos[i]))
            infos[i].profile = set_lookup(s, infos[i].name);
    return 0;
}
