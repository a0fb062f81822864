/*
** common.h -- small helpers shared by the built-in check plugins.
**
** Everything here is static inline and depends only on creditsense/check.h
** and libc, so each plugin stays a self-contained module: nothing is linked
** between plugins and nothing of the host's internals is used.  Names carry
** no cs_ prefix because nothing here is exported.
**
** Contents: error filling (plug_err), ABI checks for init (plug_check_init),
** the plugin's own deep copy of the table description (struct plug_table:
** the host lends cs_table_info for the init call only), the per-batch shape
** check (plug_check_batch), sentinel tests, a sample-key collector (struct
** samples), number/percentage formatting for messages, and plug_emit.
*/
#ifndef CS_PLUGINS_COMMON_H
#define CS_PLUGINS_COMMON_H

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creditsense/check.h"

/* Error codes.  check.h publishes none, so these mirror core/err.h's
 * CS_ENOMEM and CS_EPLUGIN; the host treats any negative value as failure. */
#define PLUG_ENOMEM CS_CHECK_ENOMEM
#define PLUG_EFAIL CS_CHECK_EPLUGIN

/* Sample keys per finding, as the ABI allows (cs_finding_in.samples). */
#define PLUG_SAMPLES 10

/* Fill err (may be NULL) and return code, like the host's cs_err_set. */
static inline int plug_err(struct cs_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int plug_err(struct cs_err *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

/*
 * What every init must verify before touching the host's structs: a host
 * speaking our ABI with all the services we call, a table description at
 * least as large as ours, and per-column policies we can read.
 */
static inline int plug_check_init(const struct cs_host_api *api, const struct cs_table_info *t, void **state,
                                  struct cs_err *err)
{
    if (state == NULL)
        return plug_err(err, PLUG_EFAIL, "init called without a state pointer (host bug)");
    *state = NULL;
    if (api == NULL || api->abi_version != CS_CHECK_ABI_VERSION || api->struct_size < sizeof(struct cs_host_api))
        return plug_err(err, PLUG_EFAIL, "host speaks check ABI version %u, this plugin needs version %u",
                        api ? api->abi_version : 0u, CS_CHECK_ABI_VERSION);
    if (api->emit == NULL || api->keep_key == NULL)
        return plug_err(err, PLUG_EFAIL, "host lacks the emit or keep_key service");
    if (t == NULL || t->struct_size < sizeof(struct cs_table_info) || (t->ncols > 0 && t->cols == NULL))
        return plug_err(err, PLUG_EFAIL, "host passed no usable table description");
    if (t->mode != CS_MODE_TABLE && t->mode != CS_MODE_CUSTOMER)
        return plug_err(err, PLUG_EFAIL, "table %s: unknown run mode %d", t->name ? t->name : "?", t->mode);
    for (size_t i = 0; i < t->ncols; i++) {
        const struct cs_column_policy *p = t->cols[i].policy;
        if (t->cols[i].name == NULL)
            return plug_err(err, PLUG_EFAIL, "table %s: column %zu has no name", t->name ? t->name : "?", i);
        if (p == NULL || p->struct_size < sizeof(struct cs_column_policy))
            return plug_err(err, PLUG_EFAIL, "table %s: column %s has no usable policy (host bug)",
                            t->name ? t->name : "?", t->cols[i].name);
    }
    return 0;
}

/*
 * The plugin's own copy of the table description.  The host lends
 * struct cs_table_info (and everything it points to) for the init call
 * only -- the engine builds it on its stack -- so a plugin that needs it
 * later must copy it.  Policies are copied with their sentinel arrays;
 * a profile, when the host supplied one, is copied by value.
 */
struct plug_col {
    char *name;
    int type;
    int is_key;
    struct cs_column_policy pol; /* sentinels / text_sentinels point into the copies below */
    double *sentinels;
    char **text_sentinels;
    int has_profile;
    struct cs_profile profile;
};

struct plug_table {
    char *name;
    int mode;
    size_t ncols;
    struct plug_col *cols;
    size_t npk;
    size_t *pk;
};

static inline char *plug_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

static inline void plug_table_free(struct plug_table *pt)
{
    for (size_t i = 0; pt->cols != NULL && i < pt->ncols; i++) {
        struct plug_col *c = &pt->cols[i];
        free(c->name);
        free(c->sentinels);
        for (size_t j = 0; c->text_sentinels != NULL && j < c->pol.n_text_sentinels; j++)
            free(c->text_sentinels[j]);
        free(c->text_sentinels);
    }
    free(pt->cols);
    free(pt->pk);
    free(pt->name);
    memset(pt, 0, sizeof(*pt));
}

static inline int plug_col_copy(struct plug_col *c, const struct cs_column_info *ci)
{
    const struct cs_column_policy *p = ci->policy;
    c->type = ci->type;
    c->is_key = ci->is_key;
    c->pol = *p;
    c->pol.struct_size = sizeof(c->pol);
    c->pol.sentinels = NULL;
    c->pol.text_sentinels = NULL;
    c->pol.n_text_sentinels = 0; /* counts up as strings are copied, so free() sees only copies */
    if ((c->name = plug_strdup(ci->name)) == NULL)
        return PLUG_ENOMEM;
    if (p->n_sentinels > 0) {
        if (p->sentinels == NULL || (c->sentinels = malloc(p->n_sentinels * sizeof(double))) == NULL)
            return PLUG_ENOMEM;
        memcpy(c->sentinels, p->sentinels, p->n_sentinels * sizeof(double));
        c->pol.sentinels = c->sentinels;
    }
    if (p->n_text_sentinels > 0) {
        if (p->text_sentinels == NULL || (c->text_sentinels = calloc(p->n_text_sentinels, sizeof(char *))) == NULL)
            return PLUG_ENOMEM;
        for (size_t j = 0; j < p->n_text_sentinels; j++) {
            if ((c->text_sentinels[j] = plug_strdup(p->text_sentinels[j] ? p->text_sentinels[j] : "")) == NULL)
                return PLUG_ENOMEM;
            c->pol.n_text_sentinels++;
        }
        c->pol.text_sentinels = (const char *const *)c->text_sentinels;
    }
    /* A profile the host built with an older, shorter struct is not trusted. */
    if (ci->profile != NULL && ci->profile->struct_size >= sizeof(struct cs_profile)) {
        c->profile = *ci->profile;
        c->has_profile = 1;
    }
    return 0;
}

/* Copy t into pt (zeroed by the caller).  On failure pt is released and err says why. */
static inline int plug_table_copy(struct plug_table *pt, const struct cs_table_info *t, struct cs_err *err)
{
    pt->mode = t->mode;
    pt->ncols = t->ncols;
    pt->npk = t->npk;
    if ((pt->name = plug_strdup(t->name ? t->name : "?")) == NULL ||
        (pt->cols = calloc(t->ncols + 1, sizeof(*pt->cols))) == NULL ||
        (pt->pk = calloc(t->npk + 1, sizeof(size_t))) == NULL)
        goto nomem;
    for (size_t i = 0; i < t->npk; i++) {
        if (t->pk == NULL || t->pk[i] >= t->ncols) {
            plug_table_free(pt);
            return plug_err(err, PLUG_EFAIL, "table %s: primary key column index out of range (host bug)",
                            t->name ? t->name : "?");
        }
        pt->pk[i] = t->pk[i];
    }
    for (size_t i = 0; i < t->ncols; i++)
        if (plug_col_copy(&pt->cols[i], &t->cols[i]) != 0)
            goto nomem;
    return 0;
nomem:
    plug_table_free(pt);
    return plug_err(err, PLUG_ENOMEM, "out of memory copying the description of table %s", t->name ? t->name : "?");
}

/* A batch must have the columns and types of the table description. */
static inline int plug_check_batch(const struct plug_table *t, const struct cs_batch *b, struct cs_err *err)
{
    if (b == NULL || b->ncols != t->ncols)
        return plug_err(err, PLUG_EFAIL, "table %s: batch has %zu columns, expected %zu", t->name,
                        b ? b->ncols : 0, t->ncols);
    for (size_t i = 0; i < b->ncols; i++)
        if (b->cols[i].type != t->cols[i].type || b->cols[i].nulls == NULL)
            return plug_err(err, PLUG_EFAIL, "table %s: batch column %s does not match the table description",
                            t->name, t->cols[i].name);
    return 0;
}

static inline int plug_is_numeric(int type)
{
    return type == CS_TYPE_INT64 || type == CS_TYPE_DOUBLE;
}

/* Value of numeric cell `row` (the caller checked nulls[row] == 0). */
static inline double plug_num(const struct cs_column *c, size_t row)
{
    return c->type == CS_TYPE_INT64 ? (double)c->i64[row] : c->f64[row];
}

/* Is v one of the policy's numeric placeholders?  Exact comparison: 365243 is exact in a double. */
static inline int plug_is_sentinel(const struct cs_column_policy *p, double v)
{
    for (size_t i = 0; i < p->n_sentinels; i++)
        if (v == p->sentinels[i])
            return 1;
    return 0;
}

/* Is the text one of the policy's text placeholders (exact, case-sensitive bytes)? */
/* Empty, or only blanks (what empty_is_missing counts as missing). */
static inline int plug_is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' && s[i] != '\f' && s[i] != '\v')
            return 0;
    return 1;
}

static inline int plug_is_text_sentinel(const struct cs_column_policy *p, const char *s, size_t len)
{
    for (size_t i = 0; i < p->n_text_sentinels; i++) {
        const char *t = p->text_sentinels[i];
        if (t != NULL && strlen(t) == len && memcmp(t, s, len) == 0)
            return 1;
    }
    return 0;
}

/* Up to PLUG_SAMPLES keys of offending rows, captured as they are met. */
struct samples {
    cs_keyref keys[PLUG_SAMPLES];
    size_t n;
};

static inline void samples_take(struct samples *s, const struct cs_host_api *api, void *hctx,
                                const struct cs_batch *b, size_t row)
{
    if (s->n >= PLUG_SAMPLES)
        return;
    cs_keyref k = api->keep_key(hctx, b, row);
    if (k != CS_KEYREF_NONE) /* out of memory: skip rather than emit a dangling ref */
        s->keys[s->n++] = k;
}

/*
 * A number for a sentence: plain digits with up to `decimals` decimals and
 * no trailing zeros (117000000, 0.0205, -1648.5); %g only for magnitudes
 * where digits would be unreadable.
 */
static inline const char *plug_fmt_num(char *buf, size_t size, double v)
{
    double a = fabs(v);
    if (a != 0 && (a < 1e-4 || a >= 1e15)) {
        snprintf(buf, size, "%.4g", v);
        return buf;
    }
    int decimals = a >= 100 ? 2 : 4;
    snprintf(buf, size, "%.*f", decimals, v);
    char *dot = strchr(buf, '.');
    if (dot != NULL) {
        char *end = buf + strlen(buf) - 1;
        while (end > dot && *end == '0')
            *end-- = '\0';
        if (end == dot)
            *end = '\0';
    }
    if (strcmp(buf, "-0") == 0)
        snprintf(buf, size, "0");
    return buf;
}

/* count/total as a percentage for a sentence: "0.04%", "<0.01%", "100%". */
static inline const char *plug_fmt_pct(char *buf, size_t size, uint64_t count, uint64_t total)
{
    if (total == 0) {
        snprintf(buf, size, "0%%");
        return buf;
    }
    double pct = 100.0 * (double)count / (double)total;
    if (count == total)
        snprintf(buf, size, "100%%");
    else if (count > 0 && pct < 0.01)
        snprintf(buf, size, "<0.01%%");
    else if (pct > 99.99)
        snprintf(buf, size, ">99.99%%");
    else
        snprintf(buf, size, "%.2f%%", pct);
    return buf;
}

/* Emit one finding; fills struct_size and turns an emit failure into a message. */
static inline int plug_emit(const struct cs_host_api *api, void *hctx, struct cs_finding_in *f, struct cs_err *err)
{
    f->struct_size = sizeof(*f);
    int rc = api->emit(hctx, f);
    if (rc != 0)
        return plug_err(err, rc < 0 ? rc : PLUG_EFAIL, "could not report the %s finding on %s (out of memory?)",
                        f->kind, f->column);
    return 0;
}

#endif
