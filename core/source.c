/*
** source.c -- the source dispatcher and what the two readers share.
**
** Contract (source.h): cs_source_open picks the reader.  Native SQLite is
** used when opts->native_sqlite is set and the connection string's Driver=
** names SQLite (then Database= is the file); everything else goes through
** ODBC.  All other cs_source_* / cs_cursor_* calls dispatch through the
** reader's `source_ops` (source_impl.h).
**
** The shared helpers here are pure functions over their arguments: no
** globals, so sources on different threads never meet.
*/
#include "source.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "source_impl.h"

/* ------------------------------------------------------------------ */
/* Connection strings                                                  */
/* ------------------------------------------------------------------ */

/* Keys whose values are secrets: never shown in messages. */
static const char *const secret_keys[] = {"pwd", "password", "priv_key_file_pwd", "token", "passcode", NULL};

/* One attribute of a connection string: spans into the string. */
struct conn_attr {
    const char *key;
    size_t key_len;
    const char *val; /* raw, braces included */
    size_t val_len;
};

/*
 * Parse the attribute starting at p (after any ';' and blanks).  Returns the
 * position after it, or NULL at the end.  ODBC grammar: key=value pairs
 * separated by ';', a value in {braces} may contain ';' and "}}" for '}'.
 */
static const char *conn_next(const char *p, struct conn_attr *a)
{
    while (*p == ';' || *p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return NULL;
    const char *k = p;
    while (*p && *p != '=' && *p != ';')
        p++;
    const char *kend = p;
    while (kend > k && (kend[-1] == ' ' || kend[-1] == '\t'))
        kend--;
    a->key = k;
    a->key_len = (size_t)(kend - k);
    a->val = p;
    a->val_len = 0;
    if (*p != '=')
        return p; /* a bare word: no value */
    const char *v = ++p;
    if (*v == '{') {
        for (p = v + 1; *p; p++) {
            if (*p == '}' && p[1] == '}')
                p++;
            else if (*p == '}')
                break;
        }
        if (*p == '}')
            p++;
        while (*p && *p != ';') /* junk after the closing brace belongs to this attribute */
            p++;
    } else {
        while (*p && *p != ';')
            p++;
    }
    a->val = v;
    a->val_len = (size_t)(p - v);
    return p;
}

static int key_is(const struct conn_attr *a, const char *key)
{
    return a->key_len == strlen(key) && strncasecmp(a->key, key, a->key_len) == 0;
}

static int key_is_secret(const struct conn_attr *a)
{
    for (const char *const *k = secret_keys; *k; k++)
        if (key_is(a, *k))
            return 1;
    return 0;
}

/* Unescape a raw value: strip {braces}, turn "}}" into '}'. -1 when it does not fit. */
static int value_copy(const struct conn_attr *a, char *buf, size_t size)
{
    const char *v = a->val, *end = a->val + a->val_len;
    size_t o = 0;
    if (v < end && *v == '{') {
        for (v++; v < end; v++) {
            if (*v == '}' && v + 1 < end && v[1] == '}')
                v++;
            else if (*v == '}')
                break;
            if (o + 1 >= size)
                return -1;
            buf[o++] = *v;
        }
    } else {
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - v) >= size)
            return -1;
        memcpy(buf, v, (size_t)(end - v));
        o = (size_t)(end - v);
    }
    if (size == 0)
        return -1;
    buf[o] = '\0';
    return 0;
}

int cs_conn_get(const char *conn, const char *key, char *buf, size_t size)
{
    struct conn_attr a;
    for (const char *p = conn ? conn : ""; (p = conn_next(p, &a)) != NULL;)
        if (key_is(&a, key)) /* ODBC: the first occurrence of a keyword wins */
            return value_copy(&a, buf, size) == 0 ? 1 : -1;
    return 0;
}

int cs_conn_driver_has(const char *conn, const char *needle)
{
    char drv[512];
    return cs_conn_get(conn, "driver", drv, sizeof(drv)) == 1 && strcasestr(drv, needle) != NULL;
}

void cs_conn_redact(const char *conn, char *buf, size_t size)
{
    struct conn_attr a;
    size_t o = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    for (const char *p = conn ? conn : ""; (p = conn_next(p, &a)) != NULL;) {
        int secret = key_is_secret(&a);
        int n = snprintf(buf + o, size - o, "%s%.*s%s%.*s", o ? ";" : "", (int)a.key_len, a.key,
                         a.val_len || secret ? "=" : "", secret ? 3 : (int)a.val_len, secret ? "***" : a.val);
        if (n < 0 || (size_t)n >= size - o) {
            buf[o] = '\0'; /* cut at an attribute boundary, never inside a value */
            return;
        }
        o += (size_t)n;
    }
}

/* Replace every occurrence of `what` in msg by "***", in place (cut to size). */
static void scrub_one(char *msg, size_t size, const char *what)
{
    size_t wl = strlen(what), o = 0;
    if (wl == 0 || size == 0 || strstr(msg, what) == NULL)
        return;
    char *tmp = malloc(size);
    if (tmp == NULL) {
        snprintf(msg, size, "(message withheld: it contained a secret)");
        return;
    }
    for (const char *p = msg; *p && o + 1 < size;) {
        if (strncmp(p, what, wl) == 0) {
            for (int k = 0; k < 3 && o + 1 < size; k++)
                tmp[o++] = '*';
            p += wl;
        } else {
            tmp[o++] = *p++;
        }
    }
    tmp[o] = '\0';
    memcpy(msg, tmp, o + 1);
    free(tmp);
}

void cs_conn_scrub(const char *conn, char *msg, size_t size)
{
    struct conn_attr a;
    char val[512];
    for (const char *p = conn ? conn : ""; (p = conn_next(p, &a)) != NULL;) {
        if (!key_is_secret(&a))
            continue;
        if (value_copy(&a, val, sizeof(val)) == 0)
            scrub_one(msg, size, val);
        /* the raw spelling too, in case a driver echoes the braces */
        if (a.val_len > 0 && a.val_len < sizeof(val)) {
            memcpy(val, a.val, a.val_len);
            val[a.val_len] = '\0';
            scrub_one(msg, size, val);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Describe helpers                                                    */
/* ------------------------------------------------------------------ */

int cs_type_from_decl(const char *decl)
{
    /* SQLite's affinity rules (datatype3.html 3.1), in their order. */
    if (decl == NULL || *decl == '\0')
        return CS_TYPE_TEXT;
    if (strcasestr(decl, "int") != NULL)
        return CS_TYPE_INT64;
    if (strcasestr(decl, "char") != NULL || strcasestr(decl, "clob") != NULL || strcasestr(decl, "text") != NULL ||
        strcasestr(decl, "blob") != NULL)
        return CS_TYPE_TEXT;
    if (strcasestr(decl, "real") != NULL || strcasestr(decl, "floa") != NULL || strcasestr(decl, "doub") != NULL)
        return CS_TYPE_DOUBLE;
    if (strcasestr(decl, "numeric") != NULL || strcasestr(decl, "decimal") != NULL)
        return CS_TYPE_DOUBLE;
    return CS_TYPE_TEXT; /* DATE, BOOLEAN, ...: read as text, checks treat them as strings */
}

long cs_schema_find(const struct cs_schema *s, const char *name)
{
    for (size_t i = 0; i < s->ncols; i++)
        if (strcmp(s->cols[i].name, name) == 0)
            return (long)i;
    for (size_t i = 0; i < s->ncols; i++)
        if (strcasecmp(s->cols[i].name, name) == 0)
            return (long)i;
    return -1;
}

int cs_schema_add(struct cs_schema *s, const char *name, int type, struct cs_err *err)
{
    struct cs_colmeta *c = realloc(s->cols, (s->ncols + 1) * sizeof(*c));
    if (c == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory describing table %s", s->table ? s->table : "?");
    s->cols = c;
    if ((c[s->ncols].name = strdup(name)) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory describing table %s", s->table ? s->table : "?");
    c[s->ncols].type = type;
    s->ncols++;
    return 0;
}

void cs_schema_free(struct cs_schema *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ncols; i++)
        free(s->cols[i].name);
    free(s->cols);
    free(s->table);
    memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------ */
/* SQL text                                                            */
/* ------------------------------------------------------------------ */

/* A growing string; `failed` sticks after the first allocation failure. */
struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sb_add(struct sbuf *b, const char *s)
{
    size_t n = strlen(s);
    sb_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void sb_ident(struct sbuf *b, enum cs_dialect d, const char *ident)
{
    size_t room = 2 * strlen(ident) + 3; /* every char a quote, plus the quotes and NUL */
    sb_reserve(b, room);
    if (b->failed)
        return;
    int n = cs_dialect_quote(d, ident, b->p + b->len, b->cap - b->len);
    if (n < 0)
        b->failed = 1;
    else
        b->len += (size_t)n;
}

/* Hand the text over, or report out of memory. */
static int sb_finish(struct sbuf *b, char **out, struct cs_err *err)
{
    if (b->failed || b->p == NULL) {
        free(b->p);
        *out = NULL;
        return cs_err_set(err, CS_ENOMEM, "out of memory building a query");
    }
    *out = b->p;
    return 0;
}

int cs_count_sql(enum cs_dialect d, const struct cs_schema *s, char **out, struct cs_err *err)
{
    struct sbuf b = {0};
    sb_add(&b, "SELECT COUNT(*) FROM ");
    sb_ident(&b, d, s->table);
    return sb_finish(&b, out, err);
}

int cs_plan_make(enum cs_dialect d, const struct cs_select *sel, struct cs_plan *p, struct cs_err *err)
{
    const struct cs_schema *s = sel->schema;
    memset(p, 0, sizeof(*p));
    p->where_idx = -1;
    p->ncols = sel->ncols ? sel->ncols : s->ncols;
    if (p->ncols == 0)
        return cs_err_set(err, CS_EINTERNAL, "table %s: no columns to read", s->table);
    if ((p->cols = calloc(p->ncols, sizeof(size_t))) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->ncols; i++) {
        p->cols[i] = sel->ncols ? sel->cols[i] : i;
        if (p->cols[i] >= s->ncols) {
            cs_plan_free(p);
            return cs_err_set(err, CS_EINTERNAL, "table %s: column index %zu out of range", s->table, p->cols[i]);
        }
    }
    if (sel->where_col != NULL && (p->where_idx = cs_schema_find(s, sel->where_col)) < 0) {
        cs_plan_free(p);
        return cs_err_set(err, CS_ENOTFOUND, "table %s has no column %s; check the customer key in the configuration",
                          s->table, sel->where_col);
    }
    struct sbuf b = {0};
    sb_add(&b, "SELECT ");
    for (size_t i = 0; i < p->ncols; i++) {
        if (i)
            sb_add(&b, ",");
        sb_ident(&b, d, s->cols[p->cols[i]].name);
    }
    sb_add(&b, " FROM ");
    sb_ident(&b, d, s->table);
    if (p->where_idx >= 0) {
        sb_add(&b, " WHERE ");
        sb_ident(&b, d, s->cols[p->where_idx].name);
        sb_add(&b, " = ?");
    }
    int rc = sb_finish(&b, &p->sql, err);
    if (rc)
        cs_plan_free(p);
    return rc;
}

void cs_plan_free(struct cs_plan *p)
{
    free(p->cols);
    free(p->sql);
    p->cols = NULL;
    p->sql = NULL;
}

/* ------------------------------------------------------------------ */
/* Batch buffers                                                       */
/* ------------------------------------------------------------------ */

int cs_batchbuf_init(struct cs_batchbuf *bb, const struct cs_schema *s, const struct cs_plan *p, size_t cap,
                     struct cs_err *err)
{
    memset(bb, 0, sizeof(*bb));
    bb->cap = cap;
    bb->cols = calloc(p->ncols, sizeof(*bb->cols));
    bb->cb = calloc(p->ncols, sizeof(*bb->cb));
    if (bb->cols == NULL || bb->cb == NULL)
        goto fail;
    for (size_t i = 0; i < p->ncols; i++) {
        const struct cs_colmeta *m = &s->cols[p->cols[i]];
        struct cs_colbuf *c = &bb->cb[i];
        struct cs_column *col = &bb->cols[i];
        col->name = m->name;
        col->type = m->type;
        if ((c->nulls = calloc(cap, 1)) == NULL)
            goto fail;
        col->nulls = c->nulls;
        if (m->type == CS_TYPE_INT64) {
            if ((c->i64 = calloc(cap, sizeof(int64_t))) == NULL)
                goto fail;
            col->i64 = c->i64;
        } else if (m->type == CS_TYPE_DOUBLE) {
            if ((c->f64 = calloc(cap, sizeof(double))) == NULL)
                goto fail;
            col->f64 = c->f64;
        } else {
            c->text = calloc(cap, sizeof(char *));
            c->text_len = calloc(cap, sizeof(uint32_t));
            c->slots = calloc(cap, CS_TEXT_CAP + 1);
            if (c->text == NULL || c->text_len == NULL || c->slots == NULL)
                goto fail;
            for (size_t r = 0; r < cap; r++)
                c->text[r] = c->slots + r * (CS_TEXT_CAP + 1);
            col->text = (const char *const *)c->text;
            col->text_len = c->text_len;
        }
    }
    bb->batch.ncols = p->ncols;
    bb->batch.cols = bb->cols;
    return 0;
fail:
    bb->batch.ncols = p->ncols; /* so free walks the columns */
    cs_batchbuf_free(bb);
    return cs_err_set(err, CS_ENOMEM, "out of memory allocating a batch of %zu rows for table %s", cap, s->table);
}

void cs_batchbuf_free(struct cs_batchbuf *bb)
{
    for (size_t i = 0; bb->cb && i < bb->batch.ncols; i++) {
        free(bb->cb[i].nulls);
        free(bb->cb[i].i64);
        free(bb->cb[i].f64);
        free(bb->cb[i].text);
        free(bb->cb[i].text_len);
        free(bb->cb[i].slots);
    }
    free(bb->cb);
    free(bb->cols);
    memset(bb, 0, sizeof(*bb));
}

size_t cs_utf8_whole(const char *s, size_t n)
{
    size_t j = n;
    /* find the lead byte of the last sequence: skip up to 3 continuation bytes (10xxxxxx) */
    for (int k = 0; k < 3 && j > 0 && ((unsigned char)s[j - 1] & 0xC0) == 0x80; k++)
        j--;
    if (j == 0)
        return n;
    unsigned char lead = (unsigned char)s[j - 1];
    size_t want = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 1;
    return (j - 1) + want > n ? j - 1 : n;
}

size_t cs_text_cut(const char *s, size_t len)
{
    return len <= CS_TEXT_CAP ? len : cs_utf8_whole(s, CS_TEXT_CAP);
}

void cs_batchbuf_text(struct cs_batchbuf *bb, size_t col, size_t row, const char *s, size_t len)
{
    struct cs_colbuf *c = &bb->cb[col];
    size_t n = cs_text_cut(s, len);
    memcpy(c->text[row], s, n);
    c->text[row][n] = '\0';
    c->text_len[row] = (uint32_t)n;
}

/* ------------------------------------------------------------------ */
/* Strict number parsing                                               */
/* ------------------------------------------------------------------ */

/* Copy s[0..len) without surrounding blanks into buf; 0 when empty or too long. */
static int trimmed(const char *s, size_t len, char *buf, size_t size)
{
    while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len == 0 || len >= size)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 1;
}

int cs_parse_i64(const char *s, size_t len, int64_t *out)
{
    char buf[64], *end;
    if (!trimmed(s, len, buf, sizeof(buf)))
        return 0;
    for (const char *p = buf + (buf[0] == '-' || buf[0] == '+'); *p; p++)
        if (*p < '0' || *p > '9')
            return 0; /* strtoll would take "0x1A" or " 12" pieces; we want digits only */
    if ((buf[0] == '-' || buf[0] == '+') && buf[1] == '\0')
        return 0;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return 0;
    *out = (int64_t)v;
    return 1;
}

int cs_parse_f64(const char *s, size_t len, double *out)
{
    char buf[512], *end;
    if (!trimmed(s, len, buf, sizeof(buf)))
        return 0;
    for (const char *p = buf; *p; p++)
        if (*p == 'x' || *p == 'X')
            return 0; /* no hexadecimal floats: not how databases print numbers */
    errno = 0;
    double v = strtod(buf, &end);
    if (*end != '\0' || end == buf)
        return 0;
    /* ERANGE on underflow still gives the nearest double; on overflow no double holds it */
    if (errno == ERANGE && fabs(v) >= 1.0)
        return 0;
    *out = v;
    return 1;
}

int cs_f64_to_i64(double v, int64_t *out)
{
    /* [-2^63, 2^63) are exactly the doubles that convert without overflow */
    if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0) || v != floor(v))
        return 0;
    *out = (int64_t)v;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

/* Native SQLite applies: it is allowed and the Driver names SQLite. */
static int wants_native(const struct cs_source_opts *opts)
{
    return opts->native_sqlite && cs_conn_driver_has(opts->conn, "sqlite");
}

int cs_source_open(struct cs_source **out, const struct cs_source_opts *opts, struct cs_err *err)
{
    *out = NULL;
    if (opts == NULL || opts->conn == NULL || opts->conn[0] == '\0')
        return cs_err_set(err, CS_ECONFIG, "no connection string; set source.odbc in the configuration");
    size_t rows = opts->batch_rows ? opts->batch_rows : CS_BATCH_DEFAULT;
    if (!wants_native(opts))
        return cs_odbc_open(out, opts->conn, rows, err);
    char path[4096];
    int found = cs_conn_get(opts->conn, "database", path, sizeof(path));
    if (found <= 0 || path[0] == '\0') {
        char red[512];
        cs_conn_redact(opts->conn, red, sizeof(red));
        return cs_err_set(err, CS_ECONFIG, "source.odbc \"%s\" names the SQLite driver but %s; add Database=/path/file.db",
                          red, found < 0 ? "its Database= value is too long" : "has no Database=");
    }
    return cs_sqlite_open(out, path, rows, err);
}

void cs_source_close(struct cs_source *src)
{
    if (src != NULL)
        src->ops->close(src);
}

enum cs_dialect cs_source_dialect(const struct cs_source *src)
{
    return src ? src->dialect : CS_DIALECT_GENERIC;
}

const char *cs_source_kind(const struct cs_source *src)
{
    return src ? src->ops->kind : "none";
}

int cs_source_describe(struct cs_source *src, const char *table, struct cs_schema *out, struct cs_err *err)
{
    memset(out, 0, sizeof(*out));
    if (table == NULL || table[0] == '\0')
        return cs_err_set(err, CS_ECONFIG, "empty table name; check the tables section of the configuration");
    int rc = src->ops->describe(src, table, out, err);
    if (rc != 0)
        cs_schema_free(out);
    return rc;
}

int cs_source_count(struct cs_source *src, const struct cs_schema *s, uint64_t *out, struct cs_err *err)
{
    *out = 0;
    return src->ops->count(src, s, out, err);
}

int cs_source_select(struct cs_source *src, const struct cs_select *sel, struct cs_cursor **out, struct cs_err *err)
{
    *out = NULL;
    if (sel == NULL || sel->schema == NULL)
        return cs_err_set(err, CS_EINTERNAL, "select without a schema");
    if (sel->where_col != NULL && sel->where_val.type == CS_TYPE_TEXT && sel->where_val.text == NULL)
        return cs_err_set(err, CS_EINTERNAL, "select with a NULL text filter value");
    return src->ops->select(src, sel, out, err);
}

int cs_cursor_next(struct cs_cursor *cur, const struct cs_batch **out, struct cs_err *err)
{
    *out = NULL;
    return cur->ops->next(cur, out, err);
}

void cs_cursor_close(struct cs_cursor *cur)
{
    if (cur != NULL)
        cur->ops->cursor_close(cur);
}
