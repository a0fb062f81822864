/*
** store_impl.h -- private to store.c, store_write.c and store_read.c.
**
** The connection handle, the statement helpers every store file uses
** (bound scalar parameters, typed column reads, diagnostics that never
** carry a secret) and the transaction bracket.  Autocommit is on between
** transactions, so a read never leaves a transaction open on the server.
*/
#ifndef CS_STORE_IMPL_H
#define CS_STORE_IMPL_H

#include <sql.h>
#include <sqlext.h>

#include "store.h"

/** Longest SQL text the store writes (a qualified INSERT of ~20 columns). */
#define ST_SQL_MAX 4096

struct cs_store {
    SQLHENV env;
    SQLHDBC dbc;
    int connected;
    enum cs_dialect dialect;
    char *conn;          /* as connected: a secret, only used to scrub messages */
    char redacted[512];  /* what messages show */
    char prefix[300];    /* "<schema>." or "" */
    int no_arrays;       /* the driver cannot execute parameter arrays: one execute per row */
    int transient;       /* the last failure was a lock conflict worth retrying */
    char fault[32];      /* CS_STORE_FAULT */
};

/** A scalar bound parameter. */
enum st_kind { ST_I64, ST_F64, ST_TEXT, ST_TS };
struct st_param {
    enum st_kind kind;
    int null;
    long long i64;
    double f64;
    const char *s;
    double ts; /* unix seconds, written as a UTC timestamp */
    /* filled by the binder */
    SQLBIGINT b_i64;
    SQLDOUBLE b_f64;
    SQL_TIMESTAMP_STRUCT b_ts;
    SQLLEN ind;
};

#define ST_TEXTP(v) ((struct st_param){.kind = ST_TEXT, .s = (v), .null = (v) == NULL})
#define ST_I64P(v) ((struct st_param){.kind = ST_I64, .i64 = (v)})

/** CS_ESOURCE "store <redacted>: <what>: <diagnostics>"; sets st->transient. */
int st_fail(struct cs_store *st, SQLSMALLINT htype, SQLHANDLE h, struct cs_err *err, const char *what);
/** A failed read: "out of memory" for CS_ENOMEM, else st_fail on statement h. */
int st_read_fail(struct cs_store *st, SQLHSTMT h, int rc, struct cs_err *err, const char *what);

/** Expand "{P}" in tmpl to the table prefix.  Returns 0, or -1 when it does not fit. */
int st_sql(const struct cs_store *st, const char *tmpl, char *buf, size_t size);

/** Bind p[0..n) to h (values must stay put until execute). */
int st_bind(struct cs_store *st, SQLHSTMT h, struct st_param *p, size_t n, struct cs_err *err);

/** Prepare-free execute of sql (with {P} expanded) with scalar params; *out keeps the statement when not NULL. */
int st_exec(struct cs_store *st, const char *tmpl, struct st_param *p, size_t n, SQLHSTMT *out, struct cs_err *err);

/** Column readers for the current row.  *null set when SQL NULL. */
int st_get_text(SQLHSTMT h, SQLUSMALLINT col, char **out);
int st_get_i64(SQLHSTMT h, SQLUSMALLINT col, long long *v, int *null);
int st_get_f64(SQLHSTMT h, SQLUSMALLINT col, double *v, int *null);
int st_get_ts(SQLHSTMT h, SQLUSMALLINT col, double *v, int *null);

/** Free a statement handle (NULL allowed). */
void st_close(SQLHSTMT h);

/** Transactions: autocommit off / commit or roll back and autocommit on. */
int st_begin(struct cs_store *st, struct cs_err *err);
int st_commit(struct cs_store *st, struct cs_err *err);
void st_rollback(struct cs_store *st);

/** Sleep before retry number `attempt` (0-based): 20 ms doubling, with jitter, at most 1 s. */
void st_backoff(int attempt);

/** Times a transaction is tried before a lock conflict is reported. */
#define ST_ATTEMPTS 8

/** UTC timestamp struct of unix seconds (millisecond precision) and back. */
void st_ts_from(double t, SQL_TIMESTAMP_STRUCT *ts);
double st_ts_to(const SQL_TIMESTAMP_STRUCT *ts);

#endif
