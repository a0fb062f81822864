/*
** source_sqlite.c -- the native SQLite reader (libsqlite3, read-only).
**
** Contract (source.h, source_impl.h): opens the file named by Database=
** with SQLITE_OPEN_READONLY (file: URIs allowed) and a 5 s busy timeout,
** describes tables from sqlite_master / pragma_table_info (exact name
** first, then case-insensitive), and reads rows with one prepared statement
** per cursor into one reused batch.  The connection carries the aggregate
** functions of sqlite_funcs.h (cs_stats, cs_outliers) for pushdown runs.
**
** Per-source caches, for the daemon's customer runs (a few rows from every
** table, hundreds of times a second, on one worker's source):
**   - described schemas, by the name asked for, dropped whenever the
**     database's schema cookie (PRAGMA schema_version) has moved;
**   - closed keyed cursors (WHERE key = ?), kept with their prepared
**     statement and batch buffers, and reused by a select with the same SQL
**     and column types (statements are reset when parked, so no read lock
**     is held between runs; SQLite re-prepares them itself after a schema
**     change).
** Both live and die with the source, which is one thread's (source.h); a
** config reload builds new sources, so nothing outlives the config.
**
** SQLite stores any value in any column, so every cell is judged by its
** storage class against the column's type: a value that is not a number of
** the right kind (text 'abc', a non-integral REAL in an INTEGER column) is
** marked nulls[] = 2 and the scan goes on.  Text is cut at CS_TEXT_CAP
** bytes on a UTF-8 boundary.
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "source_impl.h"
#include "sqlite_funcs.h"

#define BUSY_TIMEOUT_MS 5000
/* A customer run reads each configured table once: room for a few configs' worth. */
#define SCHEMA_CACHE 16
#define CURSOR_CACHE 16

struct cached_schema {
    char *asked; /* the name the caller used */
    struct cs_schema s;
};

struct sqlite_cursor;

struct sqlite_source {
    struct cs_source base;
    sqlite3 *db;
    char *path; /* for messages: a file name is not a secret */
    sqlite3_stmt *cookie_st; /* PRAGMA schema_version, kept prepared */
    int cookie;              /* the schema version the cached schemas were read at */
    struct cached_schema schemas[SCHEMA_CACHE];
    size_t nschemas;
    struct sqlite_cursor *idle[CURSOR_CACHE]; /* parked keyed cursors, owned */
    size_t nidle;
};

struct sqlite_cursor {
    struct cs_cursor base;
    struct sqlite_source *src;
    const struct cs_schema *schema;
    struct cs_plan plan;
    struct cs_batchbuf bb;
    sqlite3_stmt *st;
    uint64_t next_row; /* first_row of the next batch */
    int done;
    int keyed; /* WHERE key = ?: parked for reuse when closed */
};

static const struct source_ops sqlite_ops;

/* "reading table T from SQLite file F: <sqlite message>" */
static int sq_fail(struct sqlite_source *s, struct cs_err *err, const char *what, const char *table)
{
    return cs_err_set(err, CS_ESOURCE, "%s %s from SQLite file %s: %s", what, table, s->path, sqlite3_errmsg(s->db));
}

/* ---- caches ---- */

static void cursor_free(struct sqlite_cursor *c)
{
    sqlite3_finalize(c->st);
    cs_plan_free(&c->plan);
    cs_batchbuf_free(&c->bb);
    free(c);
}

static void schemas_drop(struct sqlite_source *s)
{
    for (size_t i = 0; i < s->nschemas; i++) {
        free(s->schemas[i].asked);
        cs_schema_free(&s->schemas[i].s);
    }
    s->nschemas = 0;
}

/* Deep copy of a schema into *out (the caller's to free). */
static int schema_copy(const struct cs_schema *from, struct cs_schema *out, struct cs_err *err)
{
    memset(out, 0, sizeof(*out));
    if ((out->table = strdup(from->table)) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory describing table %s", from->table);
    for (size_t i = 0; i < from->ncols; i++) {
        int rc = cs_schema_add(out, from->cols[i].name, from->cols[i].type, err);
        if (rc != 0) {
            cs_schema_free(out);
            return rc;
        }
    }
    return 0;
}

/* The database's schema cookie; -1 when it cannot be read (then nothing is cached). */
static int schema_cookie(struct sqlite_source *s)
{
    int v = -1;
    if (s->cookie_st == NULL &&
        sqlite3_prepare_v3(s->db, "PRAGMA schema_version", -1, SQLITE_PREPARE_PERSISTENT, &s->cookie_st, NULL) !=
            SQLITE_OK)
        return -1;
    if (sqlite3_step(s->cookie_st) == SQLITE_ROW)
        v = sqlite3_column_int(s->cookie_st, 0);
    sqlite3_reset(s->cookie_st);
    return v;
}

/* ---- open / close ---- */

static void sq_close(struct cs_source *base)
{
    struct sqlite_source *s = (struct sqlite_source *)base;
    for (size_t i = 0; i < s->nidle; i++)
        cursor_free(s->idle[i]);
    schemas_drop(s);
    sqlite3_finalize(s->cookie_st);
    sqlite3_close_v2(s->db); /* _v2: defers if a cursor was left open */
    free(s->path);
    free(s);
}

/* sqlite3_open_v2 is lazy: a file that is no database fails only at the first read. */
static int sq_probe(sqlite3 *db)
{
    return sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
}

int cs_sqlite_open(struct cs_source **out, const char *path, size_t batch_rows, struct cs_err *err)
{
    struct sqlite_source *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    s->base.ops = &sqlite_ops;
    s->base.dialect = CS_DIALECT_SQLITE;
    s->base.batch_rows = batch_rows;
    /* NOMUTEX: a source is used by one thread at a time (source.h), and the
     * per-call mutex of the serialized mode cost about a tenth of a scan. */
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS); /* a writer holding the lock: wait, don't fail */
        rc = sq_probe(s->db);
    }
    if (rc == SQLITE_OK)
        rc = cs_sqlite_funcs_register(s->db); /* pushdown's statistics (sqlite_funcs.h) */
    if (rc != SQLITE_OK) {
        cs_err_set(err, CS_ESOURCE, "cannot open SQLite file %s: %s; check the path in source.odbc", path,
                   s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sq_close(&s->base);
        return CS_ESOURCE;
    }
    *out = &s->base;
    return 0;
}

/* ---- describe ---- */

/* Catalog spelling of `table`: exact first, then without regard to case. */
static int sq_find_table(struct sqlite_source *s, const char *table, char **name, struct cs_err *err)
{
    static const char *const sql[2] = {
        "SELECT name FROM sqlite_master WHERE type IN ('table','view') AND name = ?1",
        "SELECT name FROM sqlite_master WHERE type IN ('table','view') AND name = ?1 COLLATE NOCASE ORDER BY name",
    };
    *name = NULL;
    for (int pass = 0; pass < 2 && *name == NULL; pass++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, sql[pass], -1, &st, NULL) != SQLITE_OK)
            return sq_fail(s, err, "looking up table", table);
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && (*name = strdup((const char *)sqlite3_column_text(st, 0))) == NULL)
            rc = SQLITE_NOMEM;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            int code = sq_fail(s, err, "looking up table", table);
            sqlite3_finalize(st);
            return code;
        }
        sqlite3_finalize(st);
    }
    if (*name == NULL)
        return cs_err_set(err, CS_ENOTFOUND, "table %s not found in SQLite file %s; check the table name", table,
                          s->path);
    return 0;
}

static int sq_describe_db(struct sqlite_source *s, const char *table, struct cs_schema *out, struct cs_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sq_find_table(s, table, &out->table, err);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->db, "SELECT name, type FROM pragma_table_info(?1)", -1, &st, NULL) != SQLITE_OK)
        return sq_fail(s, err, "describing table", out->table);
    sqlite3_bind_text(st, 1, out->table, -1, SQLITE_STATIC);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *decl = (const char *)sqlite3_column_text(st, 1);
        rc = cs_schema_add(out, (const char *)sqlite3_column_text(st, 0), cs_type_from_decl(decl), err);
    }
    if (rc == SQLITE_DONE)
        rc = 0;
    else if (rc > 0)
        rc = sq_fail(s, err, "describing table", out->table);
    sqlite3_finalize(st);
    if (rc == 0 && out->ncols == 0)
        rc = cs_err_set(err, CS_ENOTFOUND, "table %s in SQLite file %s has no columns", out->table, s->path);
    return rc;
}

/* From the cache while the schema cookie has not moved, else from the catalog (and cached). */
static int sq_describe(struct cs_source *base, const char *table, struct cs_schema *out, struct cs_err *err)
{
    struct sqlite_source *s = (struct sqlite_source *)base;
    int cookie = schema_cookie(s);
    if (cookie < 0 || cookie != s->cookie)
        schemas_drop(s);
    s->cookie = cookie;
    for (size_t i = 0; cookie >= 0 && i < s->nschemas; i++)
        if (strcmp(s->schemas[i].asked, table) == 0)
            return schema_copy(&s->schemas[i].s, out, err);
    int rc = sq_describe_db(s, table, out, err);
    if (rc != 0 || cookie < 0 || s->nschemas == SCHEMA_CACHE)
        return rc;
    struct cached_schema *c = &s->schemas[s->nschemas];
    struct cs_err ignored = {0}; /* a schema that cannot be cached is read again next time: no harm */
    if ((c->asked = strdup(table)) == NULL)
        return 0;
    if (schema_copy(out, &c->s, &ignored) != 0) {
        free(c->asked);
        return 0;
    }
    s->nschemas++;
    return 0;
}

/* ---- count ---- */

static int sq_count(struct cs_source *base, const struct cs_schema *sch, uint64_t *out, struct cs_err *err)
{
    struct sqlite_source *s = (struct sqlite_source *)base;
    sqlite3_stmt *st = NULL;
    char *sql = NULL;
    int rc = cs_count_sql(CS_DIALECT_SQLITE, sch, &sql, err);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        rc = sq_fail(s, err, "counting rows of table", sch->table);
    else
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    free(sql);
    return rc;
}

/* ---- select ---- */

/* Bind the customer value as the filter column's type, so "42" finds 42 and text stays text. */
static void sq_bind_where(sqlite3_stmt *st, int coltype, const struct cs_keyval *v)
{
    int64_t i;
    double d;
    if (v->type == CS_TYPE_INT64) {
        if (coltype == CS_TYPE_TEXT) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%lld", (long long)v->i64);
            sqlite3_bind_text(st, 1, buf, -1, SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_int64(st, 1, v->i64);
        }
    } else if (coltype == CS_TYPE_INT64 && cs_parse_i64(v->text, strlen(v->text), &i)) {
        sqlite3_bind_int64(st, 1, i);
    } else if (coltype == CS_TYPE_DOUBLE && cs_parse_f64(v->text, strlen(v->text), &d)) {
        sqlite3_bind_double(st, 1, d);
    } else {
        sqlite3_bind_text(st, 1, v->text, -1, SQLITE_TRANSIENT); /* may match text stored in a numeric column */
    }
}

/* A keyed cursor is parked (reset: no read lock kept) for the next select of the same SQL. */
static void sq_cursor_close(struct cs_cursor *base)
{
    struct sqlite_cursor *c = (struct sqlite_cursor *)base;
    struct sqlite_source *s = c->src;
    if (c->keyed && c->st != NULL && s->nidle < CURSOR_CACHE && sqlite3_reset(c->st) == SQLITE_OK) {
        sqlite3_clear_bindings(c->st);
        c->schema = NULL;
        s->idle[s->nidle++] = c;
        return;
    }
    cursor_free(c);
}

/* A parked cursor for this plan and schema (taken out of the cache), or NULL. */
static struct sqlite_cursor *take_parked(struct sqlite_source *s, const struct cs_plan *p, const struct cs_schema *sch,
                                         size_t cap)
{
    for (size_t i = 0; i < s->nidle; i++) {
        struct sqlite_cursor *c = s->idle[i];
        if (c->bb.cap != cap || c->plan.ncols != p->ncols || strcmp(c->plan.sql, p->sql) != 0)
            continue;
        size_t k = 0;
        while (k < p->ncols && c->bb.cols[k].type == sch->cols[p->cols[k]].type)
            k++;
        if (k < p->ncols) /* same SQL, other types: the table was re-created */
            continue;
        s->idle[i] = s->idle[--s->nidle];
        for (k = 0; k < p->ncols; k++) /* batch columns borrow the caller's schema strings */
            c->bb.cols[k].name = sch->cols[p->cols[k]].name;
        return c;
    }
    return NULL;
}

static int sq_select(struct cs_source *base, const struct cs_select *sel, struct cs_cursor **out, struct cs_err *err)
{
    struct sqlite_source *s = (struct sqlite_source *)base;
    struct cs_plan plan;
    size_t cap = cs_select_cap(base, sel);
    int rc = cs_plan_make(CS_DIALECT_SQLITE, sel, &plan, err);
    if (rc != 0)
        return rc;
    struct sqlite_cursor *c = sel->where_col != NULL ? take_parked(s, &plan, sel->schema, cap) : NULL;
    if (c != NULL) {
        cs_plan_free(&plan);
        c->next_row = 0;
        c->done = 0;
    } else {
        if ((c = calloc(1, sizeof(*c))) == NULL) {
            cs_plan_free(&plan);
            return cs_err_set(err, CS_ENOMEM, "out of memory");
        }
        c->base.ops = &sqlite_ops;
        c->src = s;
        c->plan = plan;
        c->keyed = sel->where_col != NULL;
        rc = cs_batchbuf_init(&c->bb, sel->schema, &c->plan, cap, err);
        if (rc == 0 && sqlite3_prepare_v3(s->db, c->plan.sql, -1, c->keyed ? SQLITE_PREPARE_PERSISTENT : 0, &c->st,
                                          NULL) != SQLITE_OK)
            rc = sq_fail(s, err, "reading table", sel->schema->table);
    }
    c->schema = sel->schema;
    if (rc == 0 && c->plan.where_idx >= 0)
        sq_bind_where(c->st, sel->schema->cols[c->plan.where_idx].type, &sel->where_val);
    if (rc != 0) {
        cursor_free(c);
        return rc;
    }
    *out = &c->base;
    return 0;
}

/* An INTEGER column: integers, integral REALs and integer text are values, the rest invalid. */
static uint8_t sq_int_cell(sqlite3_stmt *st, int i, int64_t *out)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: *out = sqlite3_column_int64(st, i); return 0;
    case SQLITE_FLOAT: return cs_f64_to_i64(sqlite3_column_double(st, i), out) ? 0 : 2;
    case SQLITE_TEXT:
        return cs_parse_i64((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i), out) ? 0 : 2;
    default: return 2; /* BLOB */
    }
}

/* A REAL column: any number, or text that is a number; the rest invalid. */
static uint8_t sq_double_cell(sqlite3_stmt *st, int i, double *out)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: *out = (double)sqlite3_column_int64(st, i); return 0;
    case SQLITE_FLOAT: *out = sqlite3_column_double(st, i); return 0;
    case SQLITE_TEXT:
        return cs_parse_f64((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i), out) ? 0 : 2;
    default: return 2;
    }
}

/* Fill row `row` of the batch from the statement's current row. */
static void sq_read_row(struct sqlite_cursor *c, size_t row)
{
    for (size_t i = 0; i < c->plan.ncols; i++) {
        struct cs_colbuf *cb = &c->bb.cb[i];
        int type = c->bb.cols[i].type;
        if (sqlite3_column_type(c->st, (int)i) == SQLITE_NULL) {
            cb->nulls[row] = 1;
            if (type == CS_TYPE_TEXT)
                cs_batchbuf_text(&c->bb, i, row, "", 0);
            continue;
        }
        if (type == CS_TYPE_INT64) {
            cb->i64[row] = 0;
            cb->nulls[row] = sq_int_cell(c->st, (int)i, &cb->i64[row]);
        } else if (type == CS_TYPE_DOUBLE) {
            cb->f64[row] = 0;
            cb->nulls[row] = sq_double_cell(c->st, (int)i, &cb->f64[row]);
        } else {
            const char *t = (const char *)sqlite3_column_text(c->st, (int)i);
            cs_batchbuf_text(&c->bb, i, row, t ? t : "", t ? (size_t)sqlite3_column_bytes(c->st, (int)i) : 0);
            cb->nulls[row] = 0;
        }
    }
}

static int sq_next(struct cs_cursor *base, const struct cs_batch **out, struct cs_err *err)
{
    struct sqlite_cursor *c = (struct sqlite_cursor *)base;
    size_t n = 0;
    while (!c->done && n < c->bb.cap) {
        int rc = sqlite3_step(c->st);
        if (rc == SQLITE_DONE) {
            c->done = 1;
        } else if (rc == SQLITE_ROW) {
            sq_read_row(c, n++);
        } else {
            c->done = 1;
            return sq_fail(c->src, err, "reading table", c->schema->table);
        }
    }
    if (n == 0)
        return 0;
    c->bb.batch.nrows = n;
    c->bb.batch.first_row = c->next_row;
    c->next_row += n;
    *out = &c->bb.batch;
    return 1;
}

/* ---- aggregate queries (pushdown) ---- */

static int sq_query(struct cs_source *base, const char *sql, const struct cs_qparam *p, size_t np, size_t max_rows,
                    struct cs_qresult *out, struct cs_err *err)
{
    struct sqlite_source *s = (struct sqlite_source *)base;
    sqlite3_stmt *st = NULL;
    int rc = 0, step = SQLITE_DONE;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return cs_err_set(err, CS_ESOURCE, "pushdown query on SQLite file %s: %s", s->path, sqlite3_errmsg(s->db));
    for (size_t i = 0; i < np; i++) {
        if (p[i].type == CS_TYPE_INT64)
            sqlite3_bind_int64(st, (int)i + 1, p[i].i64);
        else if (p[i].type == CS_TYPE_DOUBLE)
            sqlite3_bind_double(st, (int)i + 1, p[i].f64);
        else
            sqlite3_bind_text(st, (int)i + 1, p[i].text, -1, SQLITE_TRANSIENT);
    }
    out->ncols = (size_t)sqlite3_column_count(st);
    while (out->nrows < max_rows && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct cs_qval *row = cs_qresult_row(out);
        if (row == NULL) {
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
            break;
        }
        for (size_t c = 0; c < out->ncols; c++) {
            switch (sqlite3_column_type(st, (int)c)) {
            case SQLITE_NULL: break;
            case SQLITE_INTEGER:
                row[c].type = CS_TYPE_INT64;
                row[c].i64 = sqlite3_column_int64(st, (int)c);
                row[c].f64 = (double)row[c].i64;
                break;
            case SQLITE_FLOAT:
                row[c].type = CS_TYPE_DOUBLE;
                row[c].f64 = sqlite3_column_double(st, (int)c);
                break;
            default:
                row[c].type = CS_TYPE_TEXT;
                row[c].text = strdup((const char *)sqlite3_column_text(st, (int)c));
                if (row[c].text == NULL)
                    rc = cs_err_set(err, CS_ENOMEM, "out of memory");
                break;
            }
        }
        if (rc != 0)
            break;
    }
    if (rc == 0 && out->nrows < max_rows && step != SQLITE_DONE)
        rc = cs_err_set(err, CS_ESOURCE, "pushdown query on SQLite file %s: %s", s->path, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc;
}

static const struct source_ops sqlite_ops = {
    .kind = "sqlite-native",
    .close = sq_close,
    .describe = sq_describe,
    .count = sq_count,
    .select = sq_select,
    .next = sq_next,
    .cursor_close = sq_cursor_close,
    .query = sq_query,
};
