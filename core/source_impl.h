/*
** source_impl.h -- private to source.c, source_odbc.c and source_sqlite.c.
**
** A reader embeds `struct cs_source` / `struct cs_cursor` as its first
** member and points `ops` at its table of functions; source.c dispatches
** through it.  The helpers below are what both readers share: connection
** string parsing and redaction, SQL text for a select, the batch buffers
** and the strict text-to-number parsers that decide nulls[] == 2.
**
** Lifetimes: a cursor borrows its select's schema (column names in the
** batch point at the schema's strings), so the schema outlives the cursor.
*/
#ifndef CS_SOURCE_IMPL_H
#define CS_SOURCE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "source.h"

/** Longest text value kept, in bytes (longer values are cut on a UTF-8 boundary). */
#define CS_TEXT_CAP 1024
/** Rows per batch when the options say 0. */
#define CS_BATCH_DEFAULT 1024

struct source_ops {
    const char *kind;
    void (*close)(struct cs_source *src);
    int (*describe)(struct cs_source *src, const char *table, struct cs_schema *out, struct cs_err *err);
    int (*count)(struct cs_source *src, const struct cs_schema *s, uint64_t *out, struct cs_err *err);
    int (*select)(struct cs_source *src, const struct cs_select *sel, struct cs_cursor **out, struct cs_err *err);
    int (*next)(struct cs_cursor *cur, const struct cs_batch **out, struct cs_err *err);
    void (*cursor_close)(struct cs_cursor *cur);
    /** Aggregate query (source.h cs_source_query); NULL when the reader has none. */
    int (*query)(struct cs_source *src, const char *sql, const struct cs_qparam *p, size_t np, size_t max_rows,
                 struct cs_qresult *out, struct cs_err *err);
};

struct cs_source {
    const struct source_ops *ops;
    enum cs_dialect dialect;
    size_t batch_rows;
};

struct cs_cursor {
    const struct source_ops *ops;
};

/* ---- the readers ---- */

/** ODBC reader; conn is the user's connection string. */
int cs_odbc_open(struct cs_source **out, const char *conn, size_t batch_rows, struct cs_err *err);
/** Native SQLite reader of `path` (a file name or file: URI); conn only for messages. */
int cs_sqlite_open(struct cs_source **out, const char *path, size_t batch_rows, struct cs_err *err);

/* ---- connection strings ---- */

/**
 * Value of `key` (case-insensitive) in an ODBC connection string, braces
 * removed.  Returns 1 when found, 0 when absent, -1 when it does not fit.
 */
int cs_conn_get(const char *conn, const char *key, char *buf, size_t size);
/** 1 when the Driver= value contains `needle` (case-insensitive). */
int cs_conn_driver_has(const char *conn, const char *needle);
/** Copy conn with every secret value (PWD, Password, ...) replaced by ***. */
void cs_conn_redact(const char *conn, char *buf, size_t size);
/** Replace, in msg, every occurrence of a secret value of conn by ***. */
void cs_conn_scrub(const char *conn, char *msg, size_t size);

/* ---- describe and select helpers ---- */

/** cs_type of a SQLite declared type, by SQLite's affinity rules. */
int cs_type_from_decl(const char *decl);
/** Append a column to s (name copied); CS_ENOMEM on failure. */
int cs_schema_add(struct cs_schema *s, const char *name, int type, struct cs_err *err);

/** The columns a select reads, resolved against its schema. */
struct cs_plan {
    size_t ncols;
    size_t *cols;      /* indexes into schema->cols */
    long where_idx;    /* schema index of where_col, -1 when no filter */
    char *sql;         /* SELECT ... [WHERE ... = ?] */
};
/** Resolve sel and write its SQL; frees nothing of sel. */
int cs_plan_make(enum cs_dialect d, const struct cs_select *sel, struct cs_plan *p, struct cs_err *err);
void cs_plan_free(struct cs_plan *p);
/** SELECT COUNT(*) FROM "T" into a malloc'ed string. */
int cs_count_sql(enum cs_dialect d, const struct cs_schema *s, char **out, struct cs_err *err);

/* ---- batch buffers ---- */

/** One reusable batch: arrays sized for `cap` rows, text slots CS_TEXT_CAP+1 bytes. */
struct cs_batchbuf {
    struct cs_batch batch;
    struct cs_column *cols;
    size_t cap;
    struct cs_colbuf {
        uint8_t *nulls;
        int64_t *i64;
        double *f64;
        char **text;       /* text[i] = slots + i * (CS_TEXT_CAP + 1) */
        uint32_t *text_len;
        char *slots;
    } *cb;
};
/*
 * Rows per batch of a select.  A keyed select (one customer's rows) returns
 * a handful of rows, and a full batch costs about 1 MB of zeroed memory per
 * text column, which dominated the daemon's per-customer requests; so keyed
 * selects use small batches (more rows simply take more batches).
 */
#define CS_KEYED_BATCH_ROWS 64
static inline size_t cs_select_cap(const struct cs_source *src, const struct cs_select *sel)
{
    return sel->where_col != NULL && src->batch_rows > CS_KEYED_BATCH_ROWS ? CS_KEYED_BATCH_ROWS : src->batch_rows;
}

int cs_batchbuf_init(struct cs_batchbuf *bb, const struct cs_schema *s, const struct cs_plan *p, size_t cap,
                     struct cs_err *err);
void cs_batchbuf_free(struct cs_batchbuf *bb);
/** Store text of `len` bytes in row `row` of column `col`, cut to CS_TEXT_CAP on a UTF-8 boundary. */
void cs_batchbuf_text(struct cs_batchbuf *bb, size_t col, size_t row, const char *s, size_t len);
/** Length of s[0..len) after the CS_TEXT_CAP cut, never splitting a UTF-8 sequence. */
size_t cs_text_cut(const char *s, size_t len);
/** n, or less so that s[0..n) does not end inside a UTF-8 sequence (for text a driver cut). */
size_t cs_utf8_whole(const char *s, size_t n);

/** Append a row of ncols zeroed cells to r; NULL when out of memory (pushdown_query.c). */
struct cs_qval *cs_qresult_row(struct cs_qresult *r);

/* ---- strict number parsing ---- */

/** Whole string (surrounding blanks allowed) is a base-10 int64: 1 and *out, else 0. */
int cs_parse_i64(const char *s, size_t len, int64_t *out);
/** Whole string (surrounding blanks allowed) is a decimal number, inf or nan: 1 and *out, else 0. */
int cs_parse_f64(const char *s, size_t len, double *out);
/** A double that is integral and fits int64: 1 and *out, else 0. */
int cs_f64_to_i64(double v, int64_t *out);

#endif
