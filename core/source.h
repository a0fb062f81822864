/*
** source.h -- reading rows from a database into column batches.
**
** A source is one connection, used by one thread at a time.  Two
** implementations sit behind this interface:
**   - ODBC (source_odbc.c): any driver named by an ODBC connection string;
**     tested with Debian's SQLite ODBC driver and psqlODBC, written for
**     Snowflake's.  Column-wise bulk fetch with SQL_ATTR_ROW_ARRAY_SIZE.
**     Streaming is forced where a driver would buffer the whole result:
**     StepAPI=1 is appended for SQLite, UseDeclareFetch=1;Fetch=N for
**     psqlODBC, unless the connection string already sets them.
**   - native SQLite (source_sqlite.c): when the connection string names the
**     SQLite ODBC driver and native reading is allowed, the same file is read
**     through libsqlite3 directly (about five times faster), read-only.
**
** Memory is bounded by batch_rows x row width; a cursor reuses one batch.
** Every user value (a customer id) is a bound parameter; identifiers come
** from the database's own catalog and are quoted per dialect (dialect.h).
**
** Ownership: cs_source_open/cs_source_close, cs_source_select/
** cs_cursor_close and cs_source_describe/cs_schema_free pair up.  A batch
** returned by cs_cursor_next belongs to the cursor and is valid until the
** next call on that cursor.
*/
#ifndef CS_SOURCE_H
#define CS_SOURCE_H

#include <stdint.h>

#include "creditsense/check.h"
#include "dialect.h"

struct cs_source;
struct cs_cursor;

struct cs_source_opts {
    const char *conn;   /* ODBC connection string (a secret: never logged as is) */
    int native_sqlite;  /* read SQLite files through libsqlite3 when possible */
    size_t batch_rows;  /* rows per batch; 0 = default (1024) */
};

/** A column as the database describes it. */
struct cs_colmeta {
    char *name; /* exact spelling in the database */
    int type;   /* enum cs_type */
};

/** A table as the database describes it. */
struct cs_schema {
    char *table; /* exact spelling in the database */
    size_t ncols;
    struct cs_colmeta *cols;
};

/** Index of column name in s: the exact spelling first, else the first match ignoring case; -1 when absent. */
long cs_schema_find(const struct cs_schema *s, const char *name);

/** A customer-key filter value: exactly one of i64 / text is meaningful, by type. */
struct cs_keyval {
    int type; /* CS_TYPE_INT64 or CS_TYPE_TEXT */
    int64_t i64;
    const char *text;
};

/** What to read: some columns of a table, optionally one customer's rows. */
struct cs_select {
    const struct cs_schema *schema;
    size_t ncols;            /* 0 = every column of the schema */
    const size_t *cols;      /* indexes into schema->cols when ncols > 0 */
    const char *where_col;   /* NULL, or a column name: WHERE col = ? */
    struct cs_keyval where_val;
};

/** Connect.  Errors name the driver problem with the password redacted. */
int cs_source_open(struct cs_source **out, const struct cs_source_opts *opts, struct cs_err *err);
void cs_source_close(struct cs_source *src);

/** The SQL dialect of the connected database. */
enum cs_dialect cs_source_dialect(const struct cs_source *src);

/** "sqlite-native" or "odbc": which path reads the rows. */
const char *cs_source_kind(const struct cs_source *src);

/**
 * Describe a table.  The name is matched exactly first, then without regard
 * to case (so SAMPLE_BUREAU finds sample_bureau on PostgreSQL).
 * CS_ENOTFOUND when the table does not exist.
 */
int cs_source_describe(struct cs_source *src, const char *table, struct cs_schema *out, struct cs_err *err);
void cs_schema_free(struct cs_schema *s);

/** Row count of a table (for progress); CS_ESOURCE on failure. */
int cs_source_count(struct cs_source *src, const struct cs_schema *s, uint64_t *out, struct cs_err *err);

/** Start reading. */
int cs_source_select(struct cs_source *src, const struct cs_select *sel, struct cs_cursor **out, struct cs_err *err);

/**
 * Next batch: returns 1 and sets *out, 0 at the end, <0 on error.
 * Batch column i is selected column i.  nulls[] holds 0 for a value, 1 for
 * SQL NULL, 2 for a value that cannot be read as the column's type (text in
 * a numeric column, a non-integral number in an integer column); the value
 * slot of such a row is undefined.
 */
int cs_cursor_next(struct cs_cursor *cur, const struct cs_batch **out, struct cs_err *err);
void cs_cursor_close(struct cs_cursor *cur);

/* ---- aggregate queries (pushdown.c) --------------------------------------- */

/** A bound parameter of cs_source_query: exactly one of i64 / f64 / text, by type. */
struct cs_qparam {
    int type; /* CS_TYPE_INT64, CS_TYPE_DOUBLE or CS_TYPE_TEXT */
    int64_t i64;
    double f64;
    const char *text;
};

/** One result cell: type 0 for SQL NULL, else the CS_TYPE_* it was read as. */
struct cs_qval {
    int type;
    int64_t i64;
    double f64;
    char *text; /* CS_TYPE_TEXT, owned by the result */
};

/** A small, fully fetched result (row-major: v[row * ncols + col]). */
struct cs_qresult {
    size_t nrows, ncols;
    struct cs_qval *v;
};

/**
 * Run one SELECT with `np` bound parameters and fetch at most max_rows rows
 * (aggregates and sample keys: small results).  CS_ESOURCE with the
 * driver's message on failure.  Release with cs_qresult_free.
 */
int cs_source_query(struct cs_source *src, const char *sql, const struct cs_qparam *p, size_t np, size_t max_rows,
                    struct cs_qresult *out, struct cs_err *err);
void cs_qresult_free(struct cs_qresult *r);

#endif
