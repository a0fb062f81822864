/*
** test_checks.c -- the four built-in check plugins, loaded with dlopen and
** driven by a fake host.
**
** Usage: test_checks <plugin dir>   (or CS_PLUGIN_DIR in the environment)
**
** The fake host implements struct cs_host_api: emit copies findings into
** an array, keep_key returns the row's position in the run (so sample keys
** are row numbers the test can predict), and the stats services are
** core/stats.c with the same row-number keys.  Synthetic batches cover
** every finding kind; assertions are on exact counts, groups, sample keys
** and bounds.
*/
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "creditsense/check.h"
#include "spill.h"
#include "stats.h"
#include "tap.h"

/* ---- fake host ----------------------------------------------------------- */

#define MAXF 64

struct finding {
    char column[128], kind[32], message[1024];
    uint64_t count, total, groups;
    size_t nsamples;
    cs_keyref samples[16];
    double threshold, lower, upper;
};

struct host {
    struct finding f[MAXF];
    size_t nf;
    size_t nlogs;
    char lastlog[512];
    size_t keys_kept, keys_dropped;
    int emit_fails; /* make emit return an error */
};

static void host_log(void *hctx, int level, const char *fmt, ...)
{
    struct host *h = hctx;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->lastlog, sizeof(h->lastlog), fmt, ap);
    va_end(ap);
    h->nlogs++;
    printf("# log(%d): %s\n", level, h->lastlog);
}

static int host_emit(void *hctx, const struct cs_finding_in *in)
{
    struct host *h = hctx;
    if (h->emit_fails)
        return -6;
    if (in->struct_size < sizeof(*in) || h->nf == MAXF)
        return -7;
    struct finding *f = &h->f[h->nf++];
    memset(f, 0, sizeof(*f));
    snprintf(f->column, sizeof(f->column), "%s", in->column);
    snprintf(f->kind, sizeof(f->kind), "%s", in->kind);
    snprintf(f->message, sizeof(f->message), "%s", in->message);
    f->count = in->count;
    f->total = in->total;
    f->groups = in->groups;
    f->nsamples = in->nsamples;
    for (size_t i = 0; i < in->nsamples && i < 16; i++)
        f->samples[i] = in->samples[i];
    f->threshold = in->threshold;
    f->lower = in->lower;
    f->upper = in->upper;
    return 0;
}

static cs_keyref host_keep_key(void *hctx, const struct cs_batch *b, size_t row)
{
    ((struct host *)hctx)->keys_kept++;
    return (cs_keyref)(b->first_row + row);
}

static void host_drop_key(void *hctx, cs_keyref k)
{
    (void)k;
    ((struct host *)hctx)->keys_dropped++;
}

static struct cs_stats *host_stats_new(void *hctx)
{
    return cs_stats_new(host_keep_key, host_drop_key, hctx);
}

static const struct cs_host_api api = {
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
    .spill_open = cs_spill_open,
};

static const struct finding *find(const struct host *h, const char *column, const char *kind)
{
    for (size_t i = 0; i < h->nf; i++)
        if (strcmp(h->f[i].column, column) == 0 && strcmp(h->f[i].kind, kind) == 0)
            return &h->f[i];
    return NULL;
}

/* Does f exist with exactly these numbers and sample keys? Prints what differs. */
static int is(const struct finding *f, uint64_t count, uint64_t total, uint64_t groups, size_t nsamples,
              const cs_keyref *samples)
{
    if (f == NULL) {
        printf("#   finding missing\n");
        return 0;
    }
    int same = f->count == count && f->total == total && f->groups == groups && f->nsamples == nsamples;
    for (size_t i = 0; same && i < nsamples; i++)
        same = f->samples[i] == samples[i];
    if (!same) {
        printf("#   got count %llu total %llu groups %llu samples", (unsigned long long)f->count,
               (unsigned long long)f->total, (unsigned long long)f->groups);
        for (size_t i = 0; i < f->nsamples; i++)
            printf(" %u", f->samples[i]);
        printf("\n");
    }
    return same;
}

#define KEYS(...) ((const cs_keyref[]){__VA_ARGS__})
#define NKEYS(...) (sizeof((const cs_keyref[]){__VA_ARGS__}) / sizeof(cs_keyref))
#define IS(f, count, total, groups, ...) is((f), (count), (total), (groups), NKEYS(__VA_ARGS__), KEYS(__VA_ARGS__))

/* ---- plugins ------------------------------------------------------------- */

struct loaded {
    void *handle;
    const struct cs_check_plugin *p;
};

static struct loaded load(const char *dir, const char *name)
{
    char path[4096];
    struct loaded l = {0};
    snprintf(path, sizeof(path), "%s/%s.so", dir, name);
    l.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (l.handle == NULL) {
        printf("# dlopen %s: %s\n", path, dlerror());
        return l;
    }
    cs_check_entry_fn entry;
    *(void **)&entry = dlsym(l.handle, CS_CHECK_ENTRY_SYMBOL);
    l.p = entry ? entry(CS_CHECK_ABI_VERSION) : NULL;
    return l;
}

/* ---- synthetic tables ---------------------------------------------------- */

#define MAXR 256
#define MAXC 8

struct tcol {
    const char *name;
    int type;
    uint8_t nulls[MAXR];
    int64_t i64[MAXR];
    double f64[MAXR];
    const char *text[MAXR];
    uint32_t len[MAXR];
};

/* A table's worth of rows, cut into batches by run(). */
struct table {
    size_t ncols, nrows;
    struct tcol c[MAXC];
    struct cs_column_info info[MAXC];
    struct cs_column_policy pol[MAXC];
    size_t pk[MAXC];
    struct cs_table_info ti;
};

static struct table *table_new(int mode, size_t nrows)
{
    struct table *t = calloc(1, sizeof(*t));
    t->nrows = nrows;
    t->ti = (struct cs_table_info){.struct_size = sizeof(t->ti), .name = "T", .mode = mode, .cols = t->info,
                                   .pk = t->pk};
    return t;
}

static size_t add_col(struct table *t, const char *name, int type, int is_key)
{
    size_t i = t->ncols++;
    t->c[i].name = name;
    t->c[i].type = type;
    for (size_t r = 0; r < MAXR; r++) {
        t->c[i].text[r] = "";
        t->c[i].len[r] = 0;
    }
    t->pol[i] = (struct cs_column_policy){.struct_size = sizeof(t->pol[i])};
    t->info[i] = (struct cs_column_info){.name = name, .type = type, .is_key = is_key, .policy = &t->pol[i]};
    t->ti.ncols = t->ncols;
    return i;
}

static void set_pk(struct table *t, size_t n, const size_t *cols)
{
    memcpy(t->pk, cols, n * sizeof(size_t));
    t->ti.npk = n;
}

static void set_text(struct table *t, size_t c, size_t r, const char *s)
{
    t->c[c].text[r] = s;
    t->c[c].len[r] = (uint32_t)strlen(s);
}

/*
 * The table description as the host lends it: heap copies of everything
 * (names, policies, sentinels, profiles, pk) freed as soon as init returns,
 * so that ASan catches a plugin that keeps a pointer into it.  The real
 * engine builds it on its stack.
 */
struct lent {
    struct cs_table_info ti;
    struct cs_column_info info[MAXC];
    struct cs_column_policy pol[MAXC];
    struct cs_profile prof[MAXC];
    char *names[MAXC];
    double *sent[MAXC];
    const char **tsent[MAXC];
    size_t pk[MAXC];
    char *spill_dir;
};

static void *dup_mem(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

static struct lent *lend(const struct table *t)
{
    struct lent *l = calloc(1, sizeof(*l));
    l->ti = t->ti;
    l->ti.cols = l->info;
    l->ti.pk = l->pk;
    memcpy(l->pk, t->pk, sizeof(l->pk));
    if (t->ti.spill_dir != NULL)
        l->ti.spill_dir = l->spill_dir = dup_mem(t->ti.spill_dir, strlen(t->ti.spill_dir) + 1);
    for (size_t i = 0; i < t->ncols; i++) {
        l->info[i] = t->info[i];
        l->pol[i] = t->pol[i];
        l->info[i].policy = &l->pol[i];
        l->info[i].name = l->names[i] = dup_mem(t->info[i].name, strlen(t->info[i].name) + 1);
        l->pol[i].sentinels = l->sent[i] = dup_mem(t->pol[i].sentinels, t->pol[i].n_sentinels * sizeof(double));
        l->tsent[i] = dup_mem(t->pol[i].text_sentinels, t->pol[i].n_text_sentinels * sizeof(char *));
        l->pol[i].text_sentinels = l->tsent[i];
        if (t->info[i].profile != NULL) {
            l->prof[i] = *t->info[i].profile;
            l->info[i].profile = &l->prof[i];
        }
    }
    return l;
}

static void unlend(struct lent *l)
{
    for (size_t i = 0; i < MAXC; i++) {
        free(l->names[i]);
        free(l->sent[i]);
        free(l->tsent[i]);
    }
    free(l->spill_dir);
    memset(l, 0xA5, sizeof(*l));
    free(l);
}

/*
 * Feed rows [0, nrows) in batches starting at the given cut points
 * (cuts[0] must be 0) through init/batch/finish/destroy.  Returns the
 * first non-zero return code; err holds its message.
 */
static int run_cut(const struct cs_check_plugin *p, struct host *h, struct table *t, const size_t *cuts, size_t ncuts,
                   struct cs_err *err)
{
    void *state = NULL;
    memset(h, 0, sizeof(*h));
    memset(err, 0, sizeof(*err));
    struct lent *l = lend(t);
    int rc = p->init(&api, h, &l->ti, &state, err);
    unlend(l);
    if (rc != 0)
        return state == NULL ? rc : -999; /* a failed init must leave nothing to destroy */
    struct cs_column cols[MAXC];
    for (size_t k = 0; rc == 0 && k < ncuts; k++) {
        size_t first = cuts[k], end = k + 1 < ncuts ? cuts[k + 1] : t->nrows;
        for (size_t i = 0; i < t->ncols; i++)
            cols[i] = (struct cs_column){.name = t->c[i].name, .type = t->c[i].type, .nulls = t->c[i].nulls + first,
                                         .i64 = t->c[i].i64 + first, .f64 = t->c[i].f64 + first,
                                         .text = t->c[i].text + first, .text_len = t->c[i].len + first};
        struct cs_batch b = {.nrows = end - first, .ncols = t->ncols, .cols = cols, .first_row = first};
        rc = p->batch(state, &b, err);
    }
    if (rc == 0)
        rc = p->finish(state, err);
    p->destroy(state);
    return rc;
}

static int run(const struct cs_check_plugin *p, struct host *h, struct table *t, struct cs_err *err)
{
    size_t cuts[] = {0, t->nrows / 2};
    return run_cut(p, h, t, cuts, t->nrows > 1 ? 2 : 1, err);
}

/* ---- missing ------------------------------------------------------------- */

static void test_missing(const struct cs_check_plugin *p)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = table_new(CS_MODE_TABLE, 20);
    static const double amt_sent[] = {-1};
    static const double days_sent[] = {365243};
    static const char *const name_sent[] = {"XNA", "XAP"};
    size_t id = add_col(t, "ID", CS_TYPE_INT64, 1);
    size_t amt = add_col(t, "AMT", CS_TYPE_DOUBLE, 0);
    size_t days = add_col(t, "DAYS", CS_TYPE_INT64, 0);
    size_t name = add_col(t, "NAME", CS_TYPE_TEXT, 0);
    size_t flag = add_col(t, "FLAG", CS_TYPE_TEXT, 0);
    size_t many = add_col(t, "MANY", CS_TYPE_DOUBLE, 0);
    set_pk(t, 1, &id);
    t->pol[amt].n_sentinels = 1, t->pol[amt].sentinels = amt_sent;
    t->pol[days].n_sentinels = 1, t->pol[days].sentinels = days_sent;
    t->pol[name].empty_is_missing = 1, t->pol[name].n_text_sentinels = 2, t->pol[name].text_sentinels = name_sent;
    for (size_t r = 0; r < 20; r++) {
        t->c[id].i64[r] = (int64_t)r;
        t->c[amt].f64[r] = 100.0 + (double)r;
        t->c[days].i64[r] = -(int64_t)r;
        set_text(t, name, r, "Alice");
        set_text(t, flag, r, "Y");
        t->c[many].nulls[r] = r < 15; /* 15 NULLs: samples stop at 10 */
    }
    t->c[id].nulls[18] = 1;
    t->c[amt].nulls[2] = 1;
    t->c[amt].nulls[3] = 2, t->c[amt].f64[3] = -1; /* invalid wins over the slot's value */
    t->c[amt].f64[4] = NAN, t->c[amt].f64[12] = NAN;
    t->c[amt].f64[5] = INFINITY;
    t->c[amt].f64[6] = -1;
    t->c[days].i64[1] = t->c[days].i64[11] = t->c[days].i64[15] = 365243;
    t->c[days].nulls[19] = 1;
    set_text(t, name, 0, "");
    set_text(t, name, 7, " \t ");
    set_text(t, name, 13, "XNA");
    set_text(t, name, 14, "xna"); /* case matters */
    set_text(t, name, 9, "XNA "); /* so does the exact length */
    t->c[name].nulls[16] = 1;
    set_text(t, flag, 3, ""); /* empty_is_missing off: not reported */

    ok(run(p, h, t, &err) == 0, "missing: run succeeds (%s)", err.msg);
    ok(h->nf == 11, "missing: 11 findings (got %zu)", h->nf);
    ok(IS(find(h, "ID", "null"), 1, 20, 0, 18), "missing: NULL in the key column");
    ok(IS(find(h, "AMT", "null"), 1, 20, 0, 2), "missing: AMT null 1 [2]");
    ok(IS(find(h, "AMT", "invalid"), 2, 20, 0, 3, 5), "missing: AMT invalid 2 [3 (nulls=2), 5 (inf)]");
    ok(IS(find(h, "AMT", "nan"), 2, 20, 0, 4, 12), "missing: AMT NaN 2 [4, 12] across batches");
    ok(IS(find(h, "AMT", "sentinel"), 1, 20, 0, 6), "missing: AMT sentinel -1 [6]");
    ok(IS(find(h, "DAYS", "sentinel"), 3, 20, 0, 1, 11, 15), "missing: DAYS 365243 x3 [1, 11, 15]");
    ok(IS(find(h, "DAYS", "null"), 1, 20, 0, 19), "missing: DAYS null [19]");
    ok(IS(find(h, "NAME", "empty"), 2, 20, 0, 0, 7), "missing: NAME empty and blank [0, 7]");
    ok(IS(find(h, "NAME", "sentinel"), 1, 20, 0, 13), "missing: NAME 'XNA' only exact [13]");
    ok(IS(find(h, "NAME", "null"), 1, 20, 0, 16), "missing: NAME null [16]");
    ok(IS(find(h, "MANY", "null"), 15, 20, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), "missing: 15 nulls, first 10 keys");
    ok(find(h, "FLAG", "empty") == NULL && find(h, "AMT", "empty") == NULL, "missing: no empty without the policy");
    const struct finding *f = find(h, "AMT", "null");
    ok(f && strcmp(f->message, "AMT is missing in 1 of 20 rows (5.00%).") == 0, "missing: message '%s'",
       f ? f->message : "");
    f = find(h, "MANY", "null");
    ok(f && strcmp(f->message, "MANY is missing in 15 of 20 rows (75.00%).") == 0, "missing: message '%s'",
       f ? f->message : "");
    ok(f && f->threshold == 0 && f->lower == 0 && f->upper == 0, "missing: no range on missing findings");

    /* every row of a column NULL, and the emit failure path */
    free(t);
    t = table_new(CS_MODE_CUSTOMER, 3);
    size_t c = add_col(t, "X", CS_TYPE_TEXT, 0);
    t->c[c].nulls[0] = t->c[c].nulls[1] = t->c[c].nulls[2] = 1;
    ok(run(p, h, t, &err) == 0 && h->nf == 1 && strstr(h->f[0].message, "3 of 3 rows (100%)") != NULL,
       "missing: customer run, all NULL: '%s'", h->nf ? h->f[0].message : "");
    void *state = NULL;
    h->emit_fails = 1;
    p->init(&api, h, &t->ti, &state, &err);
    struct cs_column col = {.name = "X", .type = CS_TYPE_TEXT, .nulls = t->c[c].nulls, .text = t->c[c].text,
                            .text_len = t->c[c].len};
    struct cs_batch b = {.nrows = 3, .ncols = 1, .cols = &col};
    p->batch(state, &b, &err);
    ok(p->finish(state, &err) < 0 && strstr(err.msg, "X") != NULL, "missing: emit failure reported: %s", err.msg);
    b.ncols = 2;
    ok(p->batch(state, &b, &err) < 0 && strstr(err.msg, "2 columns") != NULL, "missing: wrong batch shape: %s",
       err.msg);
    p->destroy(state);
    free(t);
    free(h);
}

/* ---- negative ------------------------------------------------------------ */

static void test_negative(const struct cs_check_plugin *p)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = table_new(CS_MODE_TABLE, 20);
    static const double sent[] = {-1};
    size_t id = add_col(t, "ID", CS_TYPE_INT64, 1);
    size_t amt = add_col(t, "AMT", CS_TYPE_DOUBLE, 0);
    size_t days = add_col(t, "DAYS", CS_TYPE_INT64, 0);
    size_t name = add_col(t, "NAME", CS_TYPE_TEXT, 0);
    size_t s = add_col(t, "S", CS_TYPE_DOUBLE, 0);
    (void)name;
    set_pk(t, 1, &id);
    t->pol[days].allow_negative = 1;
    t->pol[s].n_sentinels = 1, t->pol[s].sentinels = sent;
    for (size_t r = 0; r < 20; r++) {
        t->c[id].i64[r] = (int64_t)r + 1;
        t->c[amt].f64[r] = (double)r;
        t->c[days].i64[r] = -1000 - (int64_t)r;
        t->c[s].f64[r] = r < 4 ? -1 : 5;
    }
    t->c[id].i64[4] = -5;
    t->c[amt].f64[1] = -0.0;
    t->c[amt].f64[2] = -3.5;
    t->c[amt].f64[11] = -100;
    t->c[amt].f64[3] = NAN;
    t->c[amt].f64[5] = -INFINITY;
    t->c[amt].nulls[6] = 1, t->c[amt].f64[6] = -7;
    t->c[amt].nulls[7] = 2, t->c[amt].f64[7] = -9;
    t->c[s].f64[8] = -2;

    ok(run(p, h, t, &err) == 0, "negative: run succeeds (%s)", err.msg);
    ok(h->nf == 3, "negative: 3 findings (got %zu)", h->nf);
    ok(IS(find(h, "ID", "key"), 1, 20, 0, 4), "negative: key column, kind key [4]");
    ok(IS(find(h, "AMT", "value"), 2, 20, 0, 2, 11), "negative: AMT -3.5 and -100 only [2, 11]");
    ok(IS(find(h, "S", "value"), 1, 20, 0, 8), "negative: sentinel -1 skipped, -2 counted [8]");
    ok(find(h, "DAYS", "value") == NULL, "negative: allow_negative respected");
    const struct finding *f = find(h, "AMT", "value");
    ok(f && strcmp(f->message, "AMT is negative in 2 of 20 rows (10.00%); the lowest value is -100.") == 0,
       "negative: message '%s'", f ? f->message : "");
    f = find(h, "ID", "key");
    ok(f && strncmp(f->message, "Key column ID is negative", 25) == 0, "negative: key message '%s'",
       f ? f->message : "");
    free(t);
    free(h);
}

/* ---- duplicate ----------------------------------------------------------- */

static void test_duplicate_key(const struct cs_check_plugin *p, int mode)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = table_new(mode, 20);
    size_t id = add_col(t, "ID", CS_TYPE_INT64, 1);
    size_t v = add_col(t, "V", CS_TYPE_TEXT, 0);
    set_pk(t, 1, &id);
    const int64_t ids[20] = {1, 2, 3, 2, 5, 0, 7, 8, 9, 1, 2, 11, 12, 5, 13, 0, 14, 15, 16, 17};
    for (size_t r = 0; r < 20; r++) {
        t->c[id].i64[r] = ids[r];
        t->c[id].nulls[r] = ids[r] == 0;
        set_text(t, v, r, r % 2 ? "odd" : "even");
    }
    t->c[id].nulls[15] = 2; /* invalid key part: skipped like NULL */
    ok(run(p, h, t, &err) == 0 && h->nf == 1, "duplicate key (%s): one finding (%s)",
       mode == CS_MODE_TABLE ? "table" : "customer", err.msg);
    /* repeats: row 3 (2, first repeat), 9 (1, first), 10 (2 again), 13 (5, first) */
    ok(IS(find(h, "ID", "key"), 4, 20, 3, 3, 9, 13), "duplicate key: count 4, groups 3, samples = first repeats");
    const struct finding *f = find(h, "ID", "key");
    ok(f && strcmp(f->message,
                   "3 values of the key ID appear more than once, so 4 of 20 rows (20.00%) repeat a key.") == 0,
       "duplicate key: message '%s'", f ? f->message : "");
    free(t);
    free(h);
}

static void test_duplicate_composite(const struct cs_check_plugin *p)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = table_new(CS_MODE_TABLE, 6);
    size_t a = add_col(t, "A", CS_TYPE_TEXT, 1);
    size_t b = add_col(t, "B", CS_TYPE_TEXT, 1);
    size_t c = add_col(t, "C", CS_TYPE_INT64, 0);
    size_t pk[] = {a, b};
    set_pk(t, 2, pk);
    const char *av[] = {"a", "ab", "a", "?", "ab", "a"}, *bv[] = {"bc", "c", "bc", "c", "c", "bc"};
    for (size_t r = 0; r < 6; r++) {
        set_text(t, a, r, av[r]);
        set_text(t, b, r, bv[r]);
        t->c[c].i64[r] = (int64_t)r; /* differs on every row: not part of the key */
    }
    t->c[a].nulls[3] = 1;
    ok(run(p, h, t, &err) == 0 && h->nf == 1, "duplicate composite: one finding (%s)", err.msg);
    /* ("a","bc") vs ("ab","c") differ; row 2 repeats row 0, row 4 repeats row 1, row 5 repeats again */
    ok(IS(find(h, "A,B", "key"), 3, 6, 2, 2, 4), "duplicate composite: column 'A,B', count 3, groups 2 [2, 4]");
    const struct finding *f = find(h, "A,B", "key");
    ok(f && strstr(f->message, "2 combinations of the key columns A,B") != NULL, "duplicate composite: message '%s'",
       f ? f->message : "");
    free(t);
    free(h);
}

static void test_duplicate_rows(const struct cs_check_plugin *p)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = table_new(CS_MODE_TABLE, 10);
    size_t x = add_col(t, "X", CS_TYPE_INT64, 0);
    size_t y = add_col(t, "Y", CS_TYPE_DOUBLE, 0);
    size_t z = add_col(t, "Z", CS_TYPE_TEXT, 0);
    const int64_t xv[] = {1, 2, 1, 3, 2, 1, 2, 3, 1, 2};
    const double yv[] = {1.5, 0, 1.5, -0.0, 2, 1.5, 0, 0.0, 1.5, 2};
    const char *zv[] = {"a", "b", "a ", "c", "", "a", "b", "c", "a", ""};
    for (size_t r = 0; r < 10; r++) {
        t->c[x].i64[r] = xv[r];
        t->c[y].f64[r] = yv[r];
        set_text(t, z, r, zv[r]);
    }
    t->c[y].nulls[1] = t->c[y].nulls[6] = 1; /* NULL equals NULL */
    t->c[z].nulls[4] = 1;                     /* row 4 has NULL, row 9 has '': different */
    size_t cuts[] = {0, 5};
    ok(run_cut(p, h, t, cuts, 2, &err) == 0 && h->nf == 1, "duplicate rows: one finding (%s)", err.msg);
    /* row 5 = row 0, row 6 = row 1 (NULLs), row 7 = row 3 (-0.0 = 0.0), row 8 = row 0 again */
    ok(IS(find(h, "*", "row"), 4, 10, 3, 5, 6, 7), "duplicate rows: across batches, count 4, groups 3 [5, 6, 7]");
    const struct finding *f = find(h, "*", "row");
    ok(f && strcmp(f->message, "4 of 10 rows (40.00%) are exact copies of an earlier row (3 distinct rows repeated).") == 0,
       "duplicate rows: message '%s'", f ? f->message : "");

    /* one row per batch, and no duplicates at all: no finding */
    size_t every[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    for (size_t r = 0; r < 10; r++)
        t->c[x].i64[r] = 100 + (int64_t)r;
    ok(run_cut(p, h, t, every, 10, &err) == 0 && h->nf == 0, "duplicate rows: distinct rows, no finding");
    free(t);
    free(h);
}

/* Enough distinct keys to make the hash set grow several times, past the size where it is mmap()ed. */
static void test_duplicate_growth(const struct cs_check_plugin *p)
{
    enum { N = 200000, REPEATS = N / 500 };
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    int64_t *ids = malloc(N * sizeof(int64_t));
    uint8_t *nulls = calloc(N, 1);
    for (size_t r = 0; r < N; r++)
        ids[r] = r % 500 == 499 ? (int64_t)(r / 500) : 1000000 + (int64_t)r; /* repeats of 0..REPEATS-1 */
    for (size_t r = 0; r < REPEATS; r++)
        ids[r] = (int64_t)r; /* the originals */
    struct cs_column_policy pol = {.struct_size = sizeof(pol)};
    struct cs_column_info info = {.name = "ID", .type = CS_TYPE_INT64, .is_key = 1, .policy = &pol};
    size_t pk = 0;
    struct cs_table_info ti = {.struct_size = sizeof(ti), .name = "BIG", .mode = CS_MODE_TABLE, .ncols = 1,
                               .cols = &info, .npk = 1, .pk = &pk, .rows_hint = 0}; /* no hint: the set must grow */
    void *state = NULL;
    int rc = p->init(&api, h, &ti, &state, &err);
    for (size_t first = 0; rc == 0 && first < N; first += 1000) {
        struct cs_column col = {.name = "ID", .type = CS_TYPE_INT64, .nulls = nulls + first, .i64 = ids + first};
        struct cs_batch b = {.nrows = 1000, .ncols = 1, .cols = &col, .first_row = first};
        rc = p->batch(state, &b, &err);
    }
    if (rc == 0)
        rc = p->finish(state, &err);
    p->destroy(state);
    ok(rc == 0 && h->nf == 1 && h->f[0].count == REPEATS && h->f[0].groups == REPEATS && h->f[0].total == N &&
           h->f[0].nsamples == 10 && h->f[0].samples[0] == 499 && h->f[0].samples[9] == 9 * 500 + 499,
       "duplicate: %d keys, %d repeats found (count %llu)", N, REPEATS,
       h->nf ? (unsigned long long)h->f[0].count : 0ull);
    free(ids);
    free(nulls);
    free(h);
}

/*
 * Keys are confirmed by comparing the full key, not the hash: 31-bit tags
 * of 300,000 distinct keys collide a few dozen times, so a set that trusted
 * tags (or any short fingerprint) would report phantom duplicates here.
 * Single integer keys and composite (text, integer) keys, with planted repeats.
 */
static void test_duplicate_many_keys(const struct cs_check_plugin *p)
{
    enum { N = 300000, PLANTED = 7 };
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    int64_t *ids = malloc(N * sizeof(int64_t));
    uint8_t *nulls = calloc(N, 1);
    const char **text = malloc(N * sizeof(char *));
    uint32_t *len = malloc(N * sizeof(uint32_t));
    char *pool = malloc((size_t)N * 16);
    for (size_t r = 0; r < N; r++) {
        ids[r] = (int64_t)(r * 2654435761u % 4000000007u) - 2000000000; /* distinct, scattered, some negative */
        text[r] = pool + 16 * r;
        len[r] = (uint32_t)snprintf(pool + 16 * r, 16, "k%zu", r % 1000);
    }
    for (size_t k = 0; k < PLANTED; k++) { /* row N-1-k repeats row 1000k+3; the first repeat met is N-PLANTED */
        ids[N - 1 - k] = ids[1000 * k + 3];
        text[N - 1 - k] = text[1000 * k + 3];
        len[N - 1 - k] = len[1000 * k + 3];
    }
    struct cs_column_policy pol[2] = {{.struct_size = sizeof(pol[0])}, {.struct_size = sizeof(pol[0])}};
    struct cs_column_info info[2] = {{.name = "ID", .type = CS_TYPE_INT64, .is_key = 1, .policy = &pol[0]},
                                     {.name = "S", .type = CS_TYPE_TEXT, .is_key = 1, .policy = &pol[1]}};
    for (int composite = 0; composite < 2; composite++) {
        size_t pk[2] = {composite ? 1 : 0, 0};
        struct cs_table_info ti = {.struct_size = sizeof(ti), .name = "MANY", .mode = CS_MODE_TABLE, .ncols = 2,
                                   .cols = info, .npk = composite ? 2 : 1, .pk = pk};
        void *state = NULL;
        memset(h, 0, sizeof(*h));
        int rc = p->init(&api, h, &ti, &state, &err);
        for (size_t first = 0; rc == 0 && first < N; first += 777) {
            size_t n = N - first < 777 ? N - first : 777;
            struct cs_column cols[2] = {
                {.name = "ID", .type = CS_TYPE_INT64, .nulls = nulls + first, .i64 = ids + first},
                {.name = "S", .type = CS_TYPE_TEXT, .nulls = nulls + first, .text = text + first, .text_len = len + first}};
            struct cs_batch b = {.nrows = n, .ncols = 2, .cols = cols, .first_row = first};
            rc = p->batch(state, &b, &err);
        }
        if (rc == 0)
            rc = p->finish(state, &err);
        p->destroy(state);
        ok(rc == 0 && h->nf == 1 && h->f[0].count == PLANTED && h->f[0].groups == PLANTED &&
               h->f[0].samples[0] == N - PLANTED && h->f[0].samples[PLANTED - 1] == N - 1,
           "duplicate: %d distinct %s keys, exactly the %d planted repeats (count %llu)", N,
           composite ? "(text, integer)" : "integer", PLANTED, h->nf ? (unsigned long long)h->f[0].count : 0ull);
    }
    free(ids);
    free(nulls);
    free(text);
    free(len);
    free(pool);
    free(h);
}

/* Text keys compare by length and bytes: embedded NULs, prefixes and long values. */
static void test_duplicate_text_bytes(const struct cs_check_plugin *p)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = table_new(CS_MODE_TABLE, 9);
    size_t k = add_col(t, "K", CS_TYPE_TEXT, 1);
    set_pk(t, 1, &k);
    static char long_a[5000], long_b[5000];
    memset(long_a, 'x', sizeof(long_a));
    memset(long_b, 'x', sizeof(long_b));
    long_b[sizeof(long_b) - 1] = 'y'; /* differs in the last byte only */
    const char *v[9] = {"a\0b", "a\0c", "a", "a\0", "a\0b", long_a, long_b, long_a, ""};
    const uint32_t l[9] = {3, 3, 1, 2, 3, sizeof(long_a), sizeof(long_b), sizeof(long_a), 0};
    for (size_t r = 0; r < 9; r++) {
        t->c[k].text[r] = v[r];
        t->c[k].len[r] = l[r];
    }
    size_t cuts[] = {0, 3, 4, 7};
    ok(run_cut(p, h, t, cuts, 4, &err) == 0 && h->nf == 1, "duplicate text keys: one finding (%s)", err.msg);
    /* row 4 repeats row 0 ("a\0b"), row 7 repeats row 5 (5000 x 'x'); "a" and "a\0" differ */
    ok(IS(find(h, "K", "key"), 2, 9, 2, 4, 7), "duplicate text keys: embedded NUL and long keys, count 2 [4, 7]");
    free(t);
    free(h);
}

/*
 * Pinned value semantics, for whole rows and for a double key: -0.0 equals
 * 0.0, every NaN equals every NaN (whatever its payload), inf equals inf,
 * and NULL, invalid and NaN are three different things.
 */
static void test_duplicate_float_semantics(const struct cs_check_plugin *p)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    double nan_a = NAN, nan_b;
    uint64_t bits = UINT64_C(0xFFF8000000000123); /* a negative NaN with a payload */
    memcpy(&nan_b, &bits, sizeof(nan_b));
    const double x[10] = {0.0, -0.0, nan_a, nan_b, INFINITY, INFINITY, 0, 0, 0, -INFINITY};
    const uint8_t marks[10] = {0, 0, 0, 0, 0, 0, 1, 2, 1, 0}; /* rows 6, 8: NULL; row 7: invalid */
    for (int keyed = 0; keyed < 2; keyed++) {
        struct table *t = table_new(CS_MODE_TABLE, 10);
        size_t c = add_col(t, "X", CS_TYPE_DOUBLE, keyed);
        if (keyed)
            set_pk(t, 1, &c);
        for (size_t r = 0; r < 10; r++) {
            t->c[c].f64[r] = x[r];
            t->c[c].nulls[r] = marks[r];
        }
        size_t cuts[] = {0, 1, 3, 5, 7};
        ok(run_cut(p, h, t, cuts, 5, &err) == 0 && h->nf == 1, "duplicate %s: one finding (%s)",
           keyed ? "double key" : "rows of doubles", err.msg);
        /* row 1 = row 0 (-0.0), row 3 = row 2 (NaNs), row 5 = row 4 (inf); rows: row 8 = row 6 (NULLs) */
        if (keyed)
            ok(IS(find(h, "X", "key"), 3, 10, 3, 1, 3, 5), "duplicate double key: -0.0 = 0.0, NaN = NaN, inf = inf");
        else
            ok(IS(find(h, "*", "row"), 4, 10, 4, 1, 3, 5, 8),
               "duplicate rows: -0.0 = 0.0, NaN = NaN, inf = inf, NULL = NULL, NULL != invalid");
        free(t);
    }
    free(h);
}

/* The same rows cut into batches in different places give the same finding. */
static void test_duplicate_cuts(const struct cs_check_plugin *p)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = table_new(CS_MODE_TABLE, 200);
    size_t a = add_col(t, "A", CS_TYPE_INT64, 1);
    size_t b = add_col(t, "B", CS_TYPE_TEXT, 1);
    size_t pk[] = {a, b};
    set_pk(t, 2, pk);
    static const char *names[] = {"x", "y", "zz"};
    for (size_t r = 0; r < 200; r++) {
        t->c[a].i64[r] = (int64_t)(r % 70);
        set_text(t, b, r, names[r % 3]);
    }
    t->c[b].nulls[150] = 1; /* skipped */
    /* (r % 70, r % 3) repeats only after 210 rows; rows 180..199 copy the keys of rows 0..19 */
    for (size_t r = 180; r < 200; r++) {
        t->c[a].i64[r] = t->c[a].i64[r - 180];
        set_text(t, b, r, names[(r - 180) % 3]);
    }
    size_t one[] = {0}, many[] = {0, 1, 2, 50, 51, 179, 180, 181, 199};
    ok(run_cut(p, h, t, one, 1, &err) == 0 && IS(find(h, "A,B", "key"), 20, 200, 20, 180, 181, 182, 183, 184, 185,
                                                   186, 187, 188, 189),
       "duplicate composite: one batch, 20 repeats");
    ok(run_cut(p, h, t, many, 9, &err) == 0 && IS(find(h, "A,B", "key"), 20, 200, 20, 180, 181, 182, 183, 184, 185,
                                                     186, 187, 188, 189),
       "duplicate composite: nine uneven batches, the same finding");
    free(t);
    free(h);
}

/* ---- duplicate whole rows within a memory limit ------------------------------ */

/* Cells r and q of column c are equal the way the check defines it (NULL = NULL, -0.0 = 0.0, NaN = NaN). */
static int cell_same(const struct tcol *c, size_t r, size_t q)
{
    if (c->nulls[r] != c->nulls[q])
        return 0;
    if (c->nulls[r])
        return 1;
    if (c->type == CS_TYPE_INT64)
        return c->i64[r] == c->i64[q];
    if (c->type == CS_TYPE_DOUBLE)
        return c->f64[r] == c->f64[q] || (isnan(c->f64[r]) && isnan(c->f64[q]));
    return c->len[r] == c->len[q] && memcmp(c->text[r], c->text[q], c->len[r]) == 0;
}

/* The whole-row finding worked out by comparing every pair of rows: the reference for the check. */
static void naive_rows(const struct table *t, struct finding *want)
{
    memset(want, 0, sizeof(*want));
    want->total = t->nrows;
    for (size_t r = 0; r < t->nrows; r++) {
        size_t earlier = 0;
        for (size_t q = 0; q < r; q++) {
            size_t c = 0;
            while (c < t->ncols && cell_same(&t->c[c], r, q))
                c++;
            earlier += c == t->ncols;
        }
        want->count += earlier > 0;
        if (earlier == 1) { /* the group's first repeat */
            want->groups++;
            if (want->nsamples < 10)
                want->samples[want->nsamples++] = (cs_keyref)r;
        }
    }
}

static int same_finding(const struct host *h, const struct finding *want)
{
    const struct finding *f = find(h, "*", "row");
    if (want->count == 0)
        return h->nf == 0;
    return h->nf == 1 && is(f, want->count, want->total, want->groups, want->nsamples, want->samples);
}

/* Entries left in dir besides . and .. (the spill file must never be visible). */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d != NULL)
        closedir(d);
    return d == NULL ? -1 : n;
}

/*
 * 250 rows over a small domain (4 integers, 6 doubles with NULL, NaN, 0.0
 * and -0.0, 4 texts with NULL and an invalid cell), so groups repeat across
 * many runs and more than 10 groups compete for the samples.  The finding
 * must be the naive one whatever the memory limit: no limit, enough for
 * everything, and limits of a few records that force one sorted run per
 * handful of rows and a merge through 1-record read buffers.
 */
static void test_duplicate_rows_spill(const struct cs_check_plugin *p, const char *dir)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = table_new(CS_MODE_TABLE, 250);
    size_t a = add_col(t, "A", CS_TYPE_INT64, 0), b = add_col(t, "B", CS_TYPE_DOUBLE, 0);
    size_t c = add_col(t, "C", CS_TYPE_TEXT, 0);
    static const char *texts[] = {"x", "y", "", "x\0z"};
    const double doubles[] = {0.0, -0.0, NAN, 1.5, -1.5, 0};
    uint64_t x = 12345;
    for (size_t r = 0; r < 250; r++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        t->c[a].i64[r] = (int64_t)(x >> 60) % 4 - 1;
        t->c[b].f64[r] = doubles[(x >> 40) % 6];
        t->c[b].nulls[r] = (x >> 40) % 6 == 5;
        t->c[c].text[r] = texts[(x >> 20) % 4];
        t->c[c].len[r] = (x >> 20) % 4 == 3 ? 3 : (uint32_t)strlen(texts[(x >> 20) % 4]);
        t->c[c].nulls[r] = (x >> 30) % 7 == 0 ? 1 : (x >> 30) % 11 == 0 ? 2 : 0;
    }
    struct finding want;
    naive_rows(t, &want);
    ok(want.groups > 10 && want.count > want.groups, "duplicate rows spill: the data has %llu groups, %llu repeats",
       (unsigned long long)want.groups, (unsigned long long)want.count);
    const size_t limits[] = {0, 1 << 20, 2, 60, 100, 140, 1000}; /* bytes; a record is 20 */
    size_t cuts[] = {0, 1, 2, 50, 51, 97, 128, 200, 249};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
        for (int hinted = 0; hinted < 2; hinted++) {
            t->ti.memory_limit = limits[i];
            t->ti.spill_dir = dir;
            t->ti.rows_hint = hinted ? 250 : 0;
            int rc = run_cut(p, h, t, cuts, 9, &err);
            ok(rc == 0 && same_finding(h, &want) && dir_entries(dir) == 0,
               "duplicate rows: memory_limit %zu bytes, rows_hint %d: the naive finding, no file left (%s)",
               limits[i], hinted ? 250 : 0, err.msg);
        }
    /* the same in one batch, and one row per batch, spilling every 3 rows */
    t->ti.memory_limit = 60;
    t->ti.rows_hint = 0;
    ok(run_cut(p, h, t, cuts, 1, &err) == 0 && same_finding(h, &want), "duplicate rows spill: one batch (%s)",
       err.msg);
    size_t every[250];
    for (size_t r = 0; r < 250; r++)
        every[r] = r;
    ok(run_cut(p, h, t, every, 250, &err) == 0 && same_finding(h, &want),
       "duplicate rows spill: one row per batch (%s)", err.msg);
    free(t);
    free(h);
}

/* -0.0 = 0.0, NaN = NaN, NULL = NULL, NULL != invalid, also when every row is its own run. */
static void test_duplicate_rows_spill_semantics(const struct cs_check_plugin *p, const char *dir)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    double nan_b;
    uint64_t bits = UINT64_C(0xFFF8000000000123);
    memcpy(&nan_b, &bits, sizeof(nan_b));
    const double x[10] = {0.0, -0.0, NAN, nan_b, INFINITY, INFINITY, 0, 0, 0, -INFINITY};
    const uint8_t marks[10] = {0, 0, 0, 0, 0, 0, 1, 2, 1, 0};
    struct table *t = table_new(CS_MODE_TABLE, 10);
    size_t c = add_col(t, "X", CS_TYPE_DOUBLE, 0);
    for (size_t r = 0; r < 10; r++) {
        t->c[c].f64[r] = x[r];
        t->c[c].nulls[r] = marks[r];
    }
    t->ti.memory_limit = 2; /* below one record: runs of the smallest size */
    t->ti.spill_dir = dir;
    size_t cuts[] = {0, 1, 3, 5, 7};
    ok(run_cut(p, h, t, cuts, 5, &err) == 0 && IS(find(h, "*", "row"), 4, 10, 4, 1, 3, 5, 8),
       "duplicate rows spilled: -0.0 = 0.0, NaN = NaN, inf = inf, NULL = NULL, NULL != invalid (%s)", err.msg);

    /* an empty table: no finding, no file */
    struct table *e = table_new(CS_MODE_TABLE, 0);
    add_col(e, "X", CS_TYPE_DOUBLE, 0);
    e->ti.memory_limit = 2;
    e->ti.spill_dir = dir;
    size_t none[] = {0};
    ok(run_cut(p, h, e, none, 1, &err) == 0 && h->nf == 0 && dir_entries(dir) == 0,
       "duplicate rows: an empty table gives no finding (%s)", err.msg);
    free(e);
    free(t);
    free(h);
}

/* A spill directory that cannot be used is a clear error, not a crash or a wrong count. */
static void test_duplicate_rows_spill_errors(const struct cs_check_plugin *p)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = table_new(CS_MODE_TABLE, 100);
    size_t c = add_col(t, "A", CS_TYPE_INT64, 0);
    for (size_t r = 0; r < 100; r++)
        t->c[c].i64[r] = (int64_t)(r % 40);
    t->ti.memory_limit = 200;
    t->ti.spill_dir = "/nonexistent/creditsense-spill";
    int rc = run(p, h, t, &err);
    ok(rc < 0 && h->nf == 0 && strstr(err.msg, "could not create the spill file") != NULL &&
           strstr(err.msg, "/nonexistent/creditsense-spill") != NULL && strstr(err.msg, "scan.spill_dir") != NULL,
       "duplicate rows: unusable spill_dir: %s", err.msg);
    t->ti.spill_dir = NULL;
    rc = run(p, h, t, &err);
    ok(rc < 0 && h->nf == 0 && strstr(err.msg, "no spill directory") != NULL,
       "duplicate rows: no spill_dir: %s", err.msg);
    /* everything fits: the directory is never touched */
    t->ti.spill_dir = "/nonexistent/creditsense-spill";
    t->ti.memory_limit = 1 << 20;
    ok(run(p, h, t, &err) == 0 && IS(find(h, "*", "row"), 60, 100, 40, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49),
       "duplicate rows: within the limit, no spill file is needed (%s)", err.msg);
    free(t);
    free(h);
}

/* ---- outlier ------------------------------------------------------------- */

/*
 * Rows 0..99 are usable and symmetric: -1 on even rows and 1 on odd rows,
 * except -10 at row 7 and +10 at row 92, so -1 and 1 appear 49 times each.
 * Rows 100..104 (NULL, invalid, the sentinel, NaN, inf) must not count.
 * mean 0; var (98 + 200) / 100 = 2.98; sorted: -10, -1 x49, 1 x49, 10:
 * q1 (pos 24.75) -1, q3 (pos 74.25) 1, median (pos 49.5) 0; |x| -> MAD 1.
 */
static struct table *outlier_table(int method, double thr)
{
    static const double sent[] = {365243};
    struct table *t = table_new(CS_MODE_TABLE, 105);
    size_t v = add_col(t, "V", CS_TYPE_DOUBLE, 0);
    size_t k = add_col(t, "K", CS_TYPE_INT64, 1);
    size_t s = add_col(t, "S", CS_TYPE_TEXT, 0);
    t->pol[v].outlier_method = method, t->pol[v].outlier_threshold = thr;
    t->pol[v].n_sentinels = 1, t->pol[v].sentinels = sent;
    t->pol[k].outlier_method = method; /* keys and text are never judged, whatever the policy says */
    t->pol[s].outlier_method = method;
    for (size_t r = 0; r < 105; r++) {
        t->c[v].f64[r] = r % 2 ? 1 : -1;
        t->c[k].i64[r] = r == 50 ? 1000000 : (int64_t)r;
    }
    t->c[v].f64[7] = -10, t->c[v].f64[92] = 10;
    t->c[v].nulls[100] = 1, t->c[v].f64[100] = 1e9;
    t->c[v].nulls[101] = 2, t->c[v].f64[101] = 1e9;
    t->c[v].f64[102] = 365243;
    t->c[v].f64[103] = NAN;
    t->c[v].f64[104] = INFINITY;
    return t;
}

static void outlier_case(const struct cs_check_plugin *p, int method, double thr, const char *kind, double lo,
                         double hi, double want_thr)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = outlier_table(method, thr);
    size_t cuts[] = {0, 40, 80};
    ok(run_cut(p, h, t, cuts, 3, &err) == 0 && h->nf == 1, "outlier %s: one finding (%s)", kind, err.msg);
    const struct finding *f = find(h, "V", kind);
    /* both +-10 lie the same distance outside: ties put the low one first */
    ok(IS(f, 2, 100, 0, 7, 92), "outlier %s: 2 of 100 usable values, keys [7, 92]", kind);
    ok(f && fabs(f->lower - lo) < 1e-9 && fabs(f->upper - hi) < 1e-9 && f->threshold == want_thr,
       "outlier %s: bounds [%.6f, %.6f] threshold %g (got [%.6f, %.6f] %g)", kind, lo, hi, want_thr,
       f ? f->lower : 0, f ? f->upper : 0, f ? f->threshold : 0);
    if (f != NULL)
        printf("# %s\n", f->message);
    free(t);
    free(h);
}

static void test_outlier_table(const struct cs_check_plugin *p)
{
    double sd = sqrt(2.98);
    outlier_case(p, CS_OUTLIER_ZSCORE, 0, "zscore", -3 * sd, 3 * sd, 3);
    outlier_case(p, CS_OUTLIER_ZSCORE, 2.5, "zscore", -2.5 * sd, 2.5 * sd, 2.5);
    outlier_case(p, CS_OUTLIER_IQR, 0, "iqr", -4, 4, 1.5);
    outlier_case(p, CS_OUTLIER_IQR, 3, "iqr", -7, 7, 3);
    outlier_case(p, CS_OUTLIER_MAD, 0, "mad", -3.5 * 1.4826, 3.5 * 1.4826, 3.5);

    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    struct table *t = outlier_table(CS_OUTLIER_ZSCORE, 0);
    ok(run(p, h, t, &err) == 0 && h->f[0].message[0] != '\0' &&
           strstr(h->f[0].message, "V has 2 of 100 values (2.00%) outside the usual range") == h->f[0].message &&
           strstr(h->f[0].message, "the most extreme is -10.") != NULL,
       "outlier: message '%s'", h->f[0].message);
    t->pol[0].outlier_method = CS_OUTLIER_OFF;
    ok(run(p, h, t, &err) == 0 && h->nf == 0, "outlier: method off, no finding");

    /* 29 usable values: not judged, even with a wild one */
    t->nrows = 29;
    t->pol[0].outlier_method = CS_OUTLIER_MAD;
    t->c[0].f64[5] = 1e12;
    ok(run(p, h, t, &err) == 0 && h->nf == 0 && strstr(h->lastlog, "fewer than 30") != NULL,
       "outlier: under 30 values not judged (log: %s)", h->lastlog);

    /* zero spread: IQR of a column of equal values with one exception */
    t->nrows = 100;
    t->pol[0].outlier_method = CS_OUTLIER_IQR;
    for (size_t r = 0; r < 100; r++)
        t->c[0].f64[r] = r == 60 ? 1000 : 5;
    ok(run(p, h, t, &err) == 0 && h->nf == 0 && strstr(h->lastlog, "zero spread") != NULL,
       "outlier: zero IQR skipped (log: %s)", h->lastlog);
    t->pol[0].outlier_method = CS_OUTLIER_ZSCORE;
    ok(run(p, h, t, &err) == 0 && IS(find(h, "V", "zscore"), 1, 100, 0, 60), "outlier: same column by z-score: [60]");
    ok(h->keys_kept - h->keys_dropped <= 20, "outlier: stats keep at most 20 keys live (%zu kept, %zu dropped)",
       h->keys_kept, h->keys_dropped);

    /* a bad method number is refused at init, naming the column */
    t->pol[0].outlier_method = 9;
    ok(run(p, h, t, &err) < 0 && err.code < 0 && strstr(err.msg, "V") != NULL, "outlier: unknown method: %s",
       err.msg);
    free(t);
    free(h);
}

/* Customer runs judge the customer's values against the table profile. */
static void test_outlier_customer(const struct cs_check_plugin *p)
{
    struct host *h = calloc(1, sizeof(*h));
    struct cs_err err;
    static const double sent[] = {365243};
    struct cs_profile prof = {.struct_size = sizeof(prof), .count = 1000, .mean = 50, .sd = 10, .min = 0, .max = 100,
                              .q1 = 40, .median = 50, .q3 = 60, .mad = 7};
    struct cs_profile small = prof;
    small.count = 29;
    struct table *t = table_new(CS_MODE_CUSTOMER, 7);
    size_t z = add_col(t, "Z", CS_TYPE_DOUBLE, 0);
    size_t q = add_col(t, "Q", CS_TYPE_INT64, 0);
    size_t m = add_col(t, "M", CS_TYPE_DOUBLE, 0);
    size_t none = add_col(t, "NOPROFILE", CS_TYPE_DOUBLE, 0);
    size_t few = add_col(t, "FEW", CS_TYPE_DOUBLE, 0);
    t->pol[z].outlier_method = CS_OUTLIER_ZSCORE;
    t->pol[q].outlier_method = CS_OUTLIER_IQR;
    t->pol[m].outlier_method = CS_OUTLIER_MAD;
    t->pol[none].outlier_method = CS_OUTLIER_ZSCORE;
    t->pol[few].outlier_method = CS_OUTLIER_ZSCORE;
    t->info[z].profile = t->info[q].profile = t->info[m].profile = &prof;
    t->info[few].profile = &small;
    const double vals[7] = {85, 15, 95, 5, 50, 0, 365243};
    for (size_t c = 0; c < 5; c++) {
        t->pol[c].n_sentinels = 1, t->pol[c].sentinels = sent;
        for (size_t r = 0; r < 7; r++) {
            t->c[c].f64[r] = vals[r];
            t->c[c].i64[r] = (int64_t)vals[r];
        }
        t->c[c].nulls[5] = 1;
    }
    size_t cuts[] = {0, 3};
    ok(run_cut(p, h, t, cuts, 2, &err) == 0, "outlier customer: run succeeds (%s)", err.msg);
    ok(h->nf == 3, "outlier customer: 3 findings, none for the columns without a usable profile (got %zu)", h->nf);
    /* zscore [20, 80]: 85 15 95 5; iqr [10, 90]: 95 5; mad 50 -/+ 3.5*1.4826*7 = [13.676, 86.324]: 95 5 */
    const struct finding *f = find(h, "Z", "zscore");
    ok(IS(f, 4, 5, 0, 0, 1, 2, 3) && f->lower == 20 && f->upper == 80, "outlier customer zscore: 4 of 5, [20, 80]");
    f = find(h, "Q", "iqr");
    ok(IS(f, 2, 5, 0, 2, 3) && f->lower == 10 && f->upper == 90, "outlier customer iqr: 2 of 5, [10, 90]");
    f = find(h, "M", "mad");
    ok(IS(f, 2, 5, 0, 2, 3) && fabs(f->lower - (50 - 3.5 * 1.4826 * 7)) < 1e-9 &&
           fabs(f->upper - (50 + 3.5 * 1.4826 * 7)) < 1e-9,
       "outlier customer mad: 2 of 5, [13.676, 86.324]");
    f = find(h, "Z", "zscore");
    ok(f && strncmp(f->message, "This customer's Z has 4 of 5 values", 35) == 0 &&
           strstr(f->message, "the most extreme is 95.") != NULL,
       "outlier customer: message '%s'", f ? f->message : "");
    ok(h->nlogs == 2, "outlier customer: 2 debug lines for the skipped columns (%zu)", h->nlogs);
    free(t);
    free(h);
}

/* ---- init contract ------------------------------------------------------- */

static void test_init_errors(const struct loaded *pl, size_t n)
{
    struct host *h = calloc(1, sizeof(*h));
    struct table *t = table_new(CS_MODE_TABLE, 1);
    add_col(t, "A", CS_TYPE_DOUBLE, 0);
    struct cs_host_api old = api;
    old.abi_version = 0;
    struct cs_host_api nostats = api;
    nostats.stats_new = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct cs_check_plugin *p = pl[i].p;
        struct cs_err err = {0};
        void *state = (void *)&err;
        ok(p->init(&old, h, &t->ti, &state, &err) < 0 && state == NULL && strstr(err.msg, "ABI") != NULL,
           "%s: refuses a host of another ABI: %s", p->name, err.msg);
        t->ti.struct_size = 8;
        ok(p->init(&api, h, &t->ti, &state, &err) < 0 && state == NULL && err.msg[0] != '\0',
           "%s: refuses a short table description: %s", p->name, err.msg);
        t->ti.struct_size = sizeof(t->ti);
        t->pol[0].struct_size = 4;
        ok(p->init(&api, h, &t->ti, &state, &err) < 0 && state == NULL && strstr(err.msg, "policy") != NULL,
           "%s: refuses a short policy: %s", p->name, err.msg);
        t->pol[0].struct_size = sizeof(t->pol[0]);
        if (strcmp(p->name, "outlier") == 0)
            ok(p->init(&nostats, h, &t->ti, &state, &err) < 0 && state == NULL && strstr(err.msg, "stats") != NULL,
               "outlier: refuses a host without stats services: %s", err.msg);
    }
    free(t);
    free(h);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("CS_PLUGIN_DIR");
    if (dir == NULL) {
        printf("Bail out! usage: test_checks <plugin dir> (or set CS_PLUGIN_DIR)\n");
        return 1;
    }
    static const char *const names[] = {"missing", "negative", "duplicate", "outlier"};
    struct loaded pl[4];
    for (size_t i = 0; i < 4; i++) {
        pl[i] = load(dir, names[i]);
        ok(pl[i].p != NULL, "%s.so loads and cs_check_entry returns a plugin", names[i]);
        if (pl[i].p == NULL) {
            printf("Bail out! cannot load %s from %s\n", names[i], dir);
            return 1;
        }
        const struct cs_check_plugin *p = pl[i].p;
        ok(p->abi_version == CS_CHECK_ABI_VERSION && p->struct_size == sizeof(struct cs_check_plugin),
           "%s: abi_version %u, struct_size %u", names[i], p->abi_version, p->struct_size);
        ok(strcmp(p->name, names[i]) == 0 && p->description && p->init && p->batch && p->finish && p->destroy,
           "%s: name and all callbacks set", names[i]);
    }
    test_missing(pl[0].p);
    test_negative(pl[1].p);
    test_duplicate_key(pl[2].p, CS_MODE_TABLE);
    test_duplicate_key(pl[2].p, CS_MODE_CUSTOMER);
    test_duplicate_composite(pl[2].p);
    test_duplicate_rows(pl[2].p);
    test_duplicate_growth(pl[2].p);
    test_duplicate_many_keys(pl[2].p);
    test_duplicate_text_bytes(pl[2].p);
    test_duplicate_float_semantics(pl[2].p);
    test_duplicate_cuts(pl[2].p);
    char spill[] = "/tmp/cs-test-dup-XXXXXX";
    ok(mkdtemp(spill) != NULL, "a spill directory for the duplicate check: %s", spill);
    test_duplicate_rows_spill(pl[2].p, spill);
    test_duplicate_rows_spill_semantics(pl[2].p, spill);
    test_duplicate_rows_spill_errors(pl[2].p);
    ok(rmdir(spill) == 0, "the spill directory is left empty");
    test_outlier_table(pl[3].p);
    test_outlier_customer(pl[3].p);
    test_init_errors(pl, 4);
    for (size_t i = 0; i < 4; i++)
        dlclose(pl[i].handle);
    return tap_done();
}
