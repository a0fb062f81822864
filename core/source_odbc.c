/*
** source_odbc.c -- the ODBC reader (unixODBC).
**
** Contract (source.h, source_impl.h): one environment and one connection
** per source.  SQLDriverConnect with the user's string plus streaming
** options (StepAPI=1 and NoCreat=1 for the SQLite driver, UseDeclareFetch=1
** and Fetch=<batch_rows> for psqlODBC) unless the string sets them.  The
** dialect comes from SQL_DBMS_NAME.  describe uses SQLColumns on the exact
** name, then a case-insensitive match over SQLTables.  A cursor is one
** statement with column-wise bulk fetch into one reused batch.  Pushdown
** queries (od_query) switch psqlODBC's declare/fetch off while they run,
** so that PostgreSQL may plan them in parallel; a PostgreSQL session has
** JIT compilation off (see jit_off).
**
** Values a driver cannot give as the column's C type must not stop a scan:
**   - columns whose values may not fit the C type are fetched as text and
**     parsed strictly (every column on SQLite, which stores anything
**     anywhere and whose driver turns 'abc' into NULL when asked for an
**     integer; NUMERIC/DECIMAL elsewhere, which psqlODBC saturates or
**     zeroes silently);
**   - the others are bound as SQL_C_SBIGINT / SQL_C_DOUBLE; if a fetch
**     still reports a conversion error (SQLSTATE 22xxx, 07006), cells the
**     driver did not write are marked invalid and the numeric columns are
**     re-bound as text for the rest of the scan.
** Unreadable cells get nulls[] = 2.
**
** Secrets: the connection string is never put in a message as is; messages
** carry the redacted form, and driver diagnostics are scrubbed of secret
** values (cs_conn_scrub) before they reach a caller.
*/
#include <sql.h>
#include <sqlext.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "err.h"
#include "source_impl.h"

#define LOGIN_TIMEOUT_S 30
#define NAME_MAX_LEN 1024   /* catalog names, generous for Snowflake's 255 */
#define NUMTXT 128          /* bytes per numeric cell fetched as text */
#define IND_UNSET (-7777)   /* indicator value no driver writes: "cell not written" */

enum bind_mode { BIND_I64, BIND_F64, BIND_TEXT, PARSE_I64, PARSE_F64 };

struct odbc_source {
    struct cs_source base;
    SQLHENV env;
    SQLHDBC dbc;
    int connected;
    char *conn;          /* as connected: a secret, only used to scrub messages */
    char redacted[512];  /* what messages show */
};

struct odbc_col {
    enum bind_mode mode;
    SQLLEN *ind;
    char *scratch; /* PARSE_*: rows * NUMTXT */
};

struct odbc_cursor {
    struct cs_cursor base;
    struct odbc_source *src;
    const struct cs_schema *schema;
    struct cs_plan plan;
    struct cs_batchbuf bb;
    SQLHSTMT st;
    struct odbc_col *oc;
    SQLUSMALLINT *status;
    SQLULEN fetched;
    size_t rows; /* rowset size the driver accepted */
    uint64_t next_row;
    int done;
    /* the bound filter value lives as long as the statement */
    SQLBIGINT w_i64;
    SQLDOUBLE w_f64;
    char *w_text;
    SQLLEN w_ind;
};

static const struct source_ops odbc_ops;

/* ------------------------------------------------------------------ */
/* Diagnostics                                                         */
/* ------------------------------------------------------------------ */

/*
 * Up to three diagnostic records as "[STATE] message; ...", scrubbed of
 * secrets.  state (6 bytes) receives the first SQLSTATE, "" when none.
 */
static void od_diag(SQLSMALLINT htype, SQLHANDLE h, const char *conn, char *buf, size_t size, char *state)
{
    size_t o = 0;
    buf[0] = '\0';
    if (state)
        state[0] = '\0';
    for (SQLSMALLINT rec = 1; rec <= 3 && o + 1 < size; rec++) {
        SQLCHAR st[6] = {0}, msg[1024];
        SQLINTEGER native = 0;
        SQLSMALLINT len = 0;
        if (!SQL_SUCCEEDED(SQLGetDiagRec(htype, h, rec, st, &native, msg, sizeof(msg), &len)))
            break;
        if (rec == 1 && state)
            memcpy(state, st, 6);
        int n = snprintf(buf + o, size - o, "%s[%s] %s", o ? "; " : "", (char *)st, (char *)msg);
        if (n < 0)
            break;
        o += (size_t)n < size - o ? (size_t)n : size - o - 1;
    }
    if (o == 0)
        snprintf(buf, size, "no diagnostic from the driver");
    cs_conn_scrub(conn, buf, size);
}

/* CS_ESOURCE with "<what>: <driver diagnostics>[; <hint>]". */
static int od_fail(struct odbc_source *s, SQLSMALLINT htype, SQLHANDLE h, struct cs_err *err, const char *hint,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int od_fail(struct odbc_source *s, SQLSMALLINT htype, SQLHANDLE h, struct cs_err *err, const char *hint,
                   const char *fmt, ...)
{
    char what[256], diag[CS_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    od_diag(htype, h, s->conn, diag, sizeof(diag), NULL);
    return cs_err_set(err, CS_ESOURCE, "%s: %s%s%s", what, diag, hint ? "; " : "", hint ? hint : "");
}

/* A data exception (22xxx) or restricted data type (07006): a value, not the query, failed. */
static int is_conversion_state(const char *state)
{
    return strncmp(state, "22", 2) == 0 || strcmp(state, "07006") == 0;
}

/* ------------------------------------------------------------------ */
/* Connect                                                             */
/* ------------------------------------------------------------------ */

/* Append "key=value" unless conn already sets key. */
static int add_opt(char **conn, const char *key, const char *value)
{
    char probe[8];
    if (cs_conn_get(*conn, key, probe, sizeof(probe)) != 0)
        return 0; /* the user's choice wins */
    size_t len = strlen(*conn);
    int semi = len > 0 && (*conn)[len - 1] != ';';
    char *p = realloc(*conn, len + semi + strlen(key) + strlen(value) + 3);
    if (p == NULL)
        return CS_ENOMEM;
    sprintf(p + len, "%s%s=%s;", semi ? ";" : "", key, value);
    *conn = p;
    return 0;
}

/* The connection string with the streaming options of drivers we know. */
static int effective_conn(const char *user, size_t batch_rows, char **out)
{
    char fetch[32];
    int rc = 0;
    if ((*out = strdup(user)) == NULL)
        return CS_ENOMEM;
    if (cs_conn_driver_has(user, "sqlite")) {
        rc = add_opt(out, "StepAPI", "1"); /* stream rows instead of sqlite3_get_table of all of them */
        if (rc == 0)
            rc = add_opt(out, "NoCreat", "1"); /* a wrong path must fail, not create an empty database */
    } else if (cs_conn_driver_has(user, "postgres") || cs_conn_driver_has(user, "psqlodbc")) {
        snprintf(fetch, sizeof(fetch), "%zu", batch_rows);
        rc = add_opt(out, "UseDeclareFetch", "1"); /* a server cursor, not libpq buffering everything */
        if (rc == 0)
            rc = add_opt(out, "Fetch", fetch);
    }
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* A better word than the SQLite driver's "connect failed" when the file is missing. */
static const char *sqlite_hint(const char *conn, char *buf, size_t size)
{
    char path[1024];
    if (!cs_conn_driver_has(conn, "sqlite") || cs_conn_get(conn, "database", path, sizeof(path)) != 1)
        return NULL;
    if (access(path, R_OK) != 0)
        snprintf(buf, size, "SQLite file %s does not exist or is not readable; check the path in source.odbc", path);
    else
        snprintf(buf, size, "check that %s is a SQLite database", path);
    return buf;
}

static void od_close(struct cs_source *base)
{
    struct odbc_source *s = (struct odbc_source *)base;
    if (s->connected)
        SQLDisconnect(s->dbc);
    if (s->dbc)
        SQLFreeHandle(SQL_HANDLE_DBC, s->dbc);
    if (s->env)
        SQLFreeHandle(SQL_HANDLE_ENV, s->env);
    free(s->conn);
    free(s);
}

/*
 * PostgreSQL's JIT compiles a statement whose estimated cost passes
 * jit_above_cost.  The pushdown's statements are wide (hundreds of aggregates),
 * run once, and spend longer compiled than computing: measured on 600,000 x
 * 122 rows, 29.4 s with JIT against 10.0 s without.  So the source's session
 * turns it off; a server without JIT (before PostgreSQL 11) refuses the SET,
 * which changes nothing.
 */
static void jit_off(struct odbc_source *s)
{
    SQLHSTMT h = SQL_NULL_HSTMT;
    if (SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, s->dbc, &h))) {
        SQLExecDirect(h, (SQLCHAR *)"SET jit = off", SQL_NTS);
        SQLFreeHandle(SQL_HANDLE_STMT, h);
    }
}

static int od_connect(struct odbc_source *s, struct cs_err *err)
{
    char hintbuf[1200];
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &s->env)))
        return cs_err_set(err, CS_ESOURCE, "cannot start ODBC: is unixODBC installed?");
    SQLSetEnvAttr(s->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, s->env, &s->dbc)))
        return od_fail(s, SQL_HANDLE_ENV, s->env, err, NULL, "cannot start ODBC");
    SQLSetConnectAttr(s->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(uintptr_t)LOGIN_TIMEOUT_S, 0);
    SQLRETURN rc = SQLDriverConnect(s->dbc, NULL, (SQLCHAR *)s->conn, SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT);
    if (!SQL_SUCCEEDED(rc)) {
        const char *hint = sqlite_hint(s->conn, hintbuf, sizeof(hintbuf));
        return od_fail(s, SQL_HANDLE_DBC, s->dbc, err,
                       hint ? hint : "check the driver name (odbcinst.ini), server, database and credentials",
                       "cannot connect with source.odbc \"%s\"", s->redacted);
    }
    s->connected = 1;
    char dbms[128] = "";
    SQLSMALLINT len = 0;
    if (SQL_SUCCEEDED(SQLGetInfo(s->dbc, SQL_DBMS_NAME, dbms, sizeof(dbms), &len)))
        s->base.dialect = cs_dialect_from_dbms(dbms);
    if (s->base.dialect == CS_DIALECT_POSTGRES)
        jit_off(s);
    return 0;
}

int cs_odbc_open(struct cs_source **out, const char *conn, size_t batch_rows, struct cs_err *err)
{
    struct odbc_source *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    s->base.ops = &odbc_ops;
    s->base.dialect = CS_DIALECT_GENERIC;
    s->base.batch_rows = batch_rows;
    cs_conn_redact(conn, s->redacted, sizeof(s->redacted));
    if (effective_conn(conn, batch_rows, &s->conn) != 0) {
        free(s);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    int rc = od_connect(s, err);
    if (rc != 0) {
        od_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Describe                                                            */
/* ------------------------------------------------------------------ */

/* A column's SQL type as a cs_type; SQLite's driver reports declared types, so use SQLite's rules there. */
static int od_map_type(enum cs_dialect d, SQLSMALLINT sqltype, const char *type_name, int has_scale, SQLSMALLINT scale)
{
    if (d == CS_DIALECT_SQLITE)
        return cs_type_from_decl(type_name); /* its DECIMAL(10,0) comes as SQL_VARCHAR otherwise */
    switch (sqltype) {
    case SQL_INTEGER:
    case SQL_SMALLINT:
    case SQL_BIGINT:
    case SQL_TINYINT:
    case SQL_BIT: return CS_TYPE_INT64;
    case SQL_NUMERIC:
    case SQL_DECIMAL: return has_scale && scale == 0 ? CS_TYPE_INT64 : CS_TYPE_DOUBLE;
    case SQL_FLOAT:
    case SQL_REAL:
    case SQL_DOUBLE: return CS_TYPE_DOUBLE;
    default: return CS_TYPE_TEXT;
    }
}

/* Text of column `col` of the current row; "" for NULL. */
static void get_text(SQLHSTMT st, SQLUSMALLINT col, char *buf, SQLLEN size)
{
    SQLLEN ind = 0;
    if (!SQL_SUCCEEDED(SQLGetData(st, col, SQL_C_CHAR, buf, size, &ind)) || ind == SQL_NULL_DATA)
        buf[0] = '\0';
}

static int new_stmt(struct odbc_source *s, SQLHSTMT *st, struct cs_err *err)
{
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, s->dbc, st)))
        return od_fail(s, SQL_HANDLE_DBC, s->dbc, err, "check the database connection", "cannot create a statement");
    return 0;
}

/*
 * Columns of exactly `table` (SQLColumns takes a pattern, so rows of other
 * tables are dropped here; rows of a second catalog or schema too).
 * out->ncols == 0 when there is no such table.
 */
static int od_columns(struct odbc_source *s, const char *table, struct cs_schema *out, struct cs_err *err)
{
    SQLHSTMT st;
    char where[2 * NAME_MAX_LEN], first_where[2 * NAME_MAX_LEN] = "", tname[NAME_MAX_LEN], cname[NAME_MAX_LEN],
        type_name[256];
    int rc = new_stmt(s, &st, err), have_where = 0;
    if (rc)
        return rc;
    if (!SQL_SUCCEEDED(SQLColumns(st, NULL, 0, NULL, 0, (SQLCHAR *)table, SQL_NTS, NULL, 0)))
        rc = od_fail(s, SQL_HANDLE_STMT, st, err, NULL, "cannot describe table %s", table);
    while (rc == 0 && SQL_SUCCEEDED(SQLFetch(st))) {
        SQLSMALLINT dtype = 0, scale = 0;
        SQLLEN ind = 0, sind = 0;
        get_text(st, 1, where, NAME_MAX_LEN); /* "catalog.schema" */
        size_t wl = strlen(where);
        where[wl++] = '.';
        get_text(st, 2, where + wl, (SQLLEN)(sizeof(where) - wl));
        get_text(st, 3, tname, sizeof(tname));
        get_text(st, 4, cname, sizeof(cname));
        SQLGetData(st, 5, SQL_C_SSHORT, &dtype, 0, &ind);
        get_text(st, 6, type_name, sizeof(type_name));
        if (!SQL_SUCCEEDED(SQLGetData(st, 9, SQL_C_SSHORT, &scale, 0, &sind)))
            sind = SQL_NULL_DATA;
        if (strcmp(tname, table) != 0)
            continue;
        if (!have_where) {
            memcpy(first_where, where, sizeof(where));
            have_where = 1;
        } else if (strcmp(where, first_where) != 0) {
            continue; /* the same name in another schema: keep the first one's columns */
        }
        if (out->table == NULL && (out->table = strdup(tname)) == NULL)
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
        if (rc == 0)
            rc = cs_schema_add(out, cname, od_map_type(s->base.dialect, dtype, type_name, sind != SQL_NULL_DATA, scale),
                               err);
    }
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return rc;
}

/* The one table whose name equals `table` without regard to case; *name NULL when none. */
static int od_find_ci(struct odbc_source *s, const char *table, char **name, struct cs_err *err)
{
    SQLHSTMT st;
    char tname[NAME_MAX_LEN];
    int rc = new_stmt(s, &st, err);
    *name = NULL;
    if (rc)
        return rc;
    if (!SQL_SUCCEEDED(SQLTables(st, NULL, 0, NULL, 0, (SQLCHAR *)"%", SQL_NTS, NULL, 0)))
        rc = od_fail(s, SQL_HANDLE_STMT, st, err, NULL, "cannot list tables looking for %s", table);
    while (rc == 0 && SQL_SUCCEEDED(SQLFetch(st))) {
        get_text(st, 3, tname, sizeof(tname));
        if (strcasecmp(tname, table) != 0 || (*name && strcmp(*name, tname) == 0))
            continue;
        if (*name != NULL)
            rc = cs_err_set(err, CS_ENOTFOUND, "table name %s is ambiguous: both %s and %s exist; use the exact spelling",
                            table, *name, tname);
        else if ((*name = strdup(tname)) == NULL)
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    if (rc) {
        free(*name);
        *name = NULL;
    }
    return rc;
}

static int od_describe(struct cs_source *base, const char *table, struct cs_schema *out, struct cs_err *err)
{
    struct odbc_source *s = (struct odbc_source *)base;
    int rc = od_columns(s, table, out, err);
    if (rc == 0 && out->ncols == 0) {
        char *name = NULL;
        cs_schema_free(out);
        rc = od_find_ci(s, table, &name, err);
        if (rc == 0 && name != NULL)
            rc = od_columns(s, name, out, err);
        free(name);
    }
    if (rc == 0 && out->ncols == 0)
        rc = cs_err_set(err, CS_ENOTFOUND, "table %s not found in the database of source.odbc \"%s\"; check the table name",
                        table, s->redacted);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Count                                                               */
/* ------------------------------------------------------------------ */

static int od_count(struct cs_source *base, const struct cs_schema *sch, uint64_t *out, struct cs_err *err)
{
    struct odbc_source *s = (struct odbc_source *)base;
    SQLHSTMT st;
    char *sql = NULL;
    SQLBIGINT n = 0;
    SQLLEN ind = 0;
    int rc = cs_count_sql(base->dialect, sch, &sql, err);
    if (rc == 0)
        rc = new_stmt(s, &st, err);
    if (rc) {
        free(sql);
        return rc;
    }
    if (!SQL_SUCCEEDED(SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS)) || !SQL_SUCCEEDED(SQLFetch(st)) ||
        !SQL_SUCCEEDED(SQLGetData(st, 1, SQL_C_SBIGINT, &n, 0, &ind)))
        rc = od_fail(s, SQL_HANDLE_STMT, st, err, NULL, "cannot count rows of table %s", sch->table);
    else
        *out = ind == SQL_NULL_DATA || n < 0 ? 0 : (uint64_t)n;
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    free(sql);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Select                                                              */
/* ------------------------------------------------------------------ */

static void od_cursor_close(struct cs_cursor *base)
{
    struct odbc_cursor *c = (struct odbc_cursor *)base;
    if (c->st)
        SQLFreeHandle(SQL_HANDLE_STMT, c->st); /* closes the cursor, ends psqlODBC's declare/fetch */
    for (size_t i = 0; c->oc && i < c->plan.ncols; i++) {
        free(c->oc[i].ind);
        free(c->oc[i].scratch);
    }
    free(c->oc);
    free(c->status);
    free(c->w_text);
    cs_plan_free(&c->plan);
    cs_batchbuf_free(&c->bb);
    free(c);
}

/* Rowset attributes; the driver may lower the array size (01S02), so read it back. */
static int od_rowset(struct odbc_cursor *c, struct cs_err *err)
{
    SQLULEN got = 0;
    SQLSetStmtAttr(c->st, SQL_ATTR_ROW_BIND_TYPE, (SQLPOINTER)SQL_BIND_BY_COLUMN, 0);
    if (!SQL_SUCCEEDED(SQLSetStmtAttr(c->st, SQL_ATTR_ROW_ARRAY_SIZE, (SQLPOINTER)(uintptr_t)c->bb.cap, 0)) ||
        !SQL_SUCCEEDED(SQLGetStmtAttr(c->st, SQL_ATTR_ROW_ARRAY_SIZE, &got, 0, NULL)) || got == 0)
        return od_fail(c->src, SQL_HANDLE_STMT, c->st, err, "the driver does not support block cursors",
                       "cannot read table %s in batches", c->schema->table);
    c->rows = got < c->bb.cap ? got : c->bb.cap;
    SQLSetStmtAttr(c->st, SQL_ATTR_ROWS_FETCHED_PTR, &c->fetched, 0);
    SQLSetStmtAttr(c->st, SQL_ATTR_ROW_STATUS_PTR, c->status, 0);
    return 0;
}

/* Bind a text filter value (a copy: it must live until the statement is gone). */
static int bind_where_text(struct odbc_cursor *c, const char *text)
{
    size_t len = strlen(text);
    if ((c->w_text = strdup(text)) == NULL)
        return CS_ENOMEM;
    c->w_ind = (SQLLEN)len;
    return SQL_SUCCEEDED(SQLBindParameter(c->st, 1, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, len ? len : 1, 0,
                                          c->w_text, (SQLLEN)len + 1, &c->w_ind))
               ? 0
               : CS_ESOURCE;
}

/*
 * Bind the customer value as the filter column's type: "42" finds 42 and a
 * number finds text '42'.  Text that is no number cannot equal a number in
 * a typed database, so the cursor is simply empty (*empty = 1); SQLite
 * compares it as text, since its numeric columns may hold text.
 */
static int od_bind_where(struct odbc_cursor *c, const struct cs_keyval *v, int *empty, struct cs_err *err)
{
    int coltype = c->schema->cols[c->plan.where_idx].type, rc = 0;
    int sqlite = c->src->base.dialect == CS_DIALECT_SQLITE;
    SQLRETURN r = SQL_SUCCESS;
    *empty = 0;
    if (coltype == CS_TYPE_TEXT) {
        char num[32];
        if (v->type == CS_TYPE_INT64)
            snprintf(num, sizeof(num), "%lld", (long long)v->i64);
        rc = bind_where_text(c, v->type == CS_TYPE_INT64 ? num : v->text);
    } else if (v->type == CS_TYPE_INT64 || (coltype == CS_TYPE_INT64 && cs_parse_i64(v->text, strlen(v->text), &c->w_i64))) {
        if (v->type == CS_TYPE_INT64)
            c->w_i64 = v->i64;
        r = SQLBindParameter(c->st, 1, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0, &c->w_i64, 0, NULL);
    } else if (coltype == CS_TYPE_DOUBLE && cs_parse_f64(v->text, strlen(v->text), &c->w_f64)) {
        r = SQLBindParameter(c->st, 1, SQL_PARAM_INPUT, SQL_C_DOUBLE, SQL_DOUBLE, 0, 0, &c->w_f64, 0, NULL);
    } else if (sqlite) {
        rc = bind_where_text(c, v->text);
    } else {
        *empty = 1;
    }
    if (rc == CS_ENOMEM)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    if (rc != 0 || !SQL_SUCCEEDED(r))
        return od_fail(c->src, SQL_HANDLE_STMT, c->st, err, NULL, "cannot bind the customer value for table %s",
                       c->schema->table);
    return 0;
}

/* (Re)bind result column i in `mode`; PARSE_* modes get their text buffer here. */
static int od_bind_col(struct odbc_cursor *c, size_t i, enum bind_mode mode, struct cs_err *err)
{
    struct odbc_col *oc = &c->oc[i];
    struct cs_colbuf *cb = &c->bb.cb[i];
    SQLRETURN r;
    if ((mode == PARSE_I64 || mode == PARSE_F64) && oc->scratch == NULL &&
        (oc->scratch = malloc(c->bb.cap * NUMTXT)) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    oc->mode = mode;
    SQLUSMALLINT n = (SQLUSMALLINT)(i + 1);
    switch (mode) {
    case BIND_I64: r = SQLBindCol(c->st, n, SQL_C_SBIGINT, cb->i64, sizeof(int64_t), oc->ind); break;
    case BIND_F64: r = SQLBindCol(c->st, n, SQL_C_DOUBLE, cb->f64, sizeof(double), oc->ind); break;
    case BIND_TEXT: r = SQLBindCol(c->st, n, SQL_C_CHAR, cb->slots, CS_TEXT_CAP + 1, oc->ind); break;
    default: r = SQLBindCol(c->st, n, SQL_C_CHAR, oc->scratch, NUMTXT, oc->ind); break;
    }
    if (!SQL_SUCCEEDED(r))
        return od_fail(c->src, SQL_HANDLE_STMT, c->st, err, NULL, "cannot bind column %s of table %s",
                       c->bb.cols[i].name, c->schema->table);
    return 0;
}

/* Numeric result types the C types hold exactly; anything else is read as text and parsed. */
static int fits_c_type(int cstype, SQLSMALLINT sqltype)
{
    switch (sqltype) {
    case SQL_INTEGER:
    case SQL_SMALLINT:
    case SQL_TINYINT:
    case SQL_BIGINT:
    case SQL_BIT: return 1;
    case SQL_FLOAT:
    case SQL_REAL:
    case SQL_DOUBLE: return cstype == CS_TYPE_DOUBLE;
    default: return 0;
    }
}

/* How to fetch result column i, from the schema type and the driver's result type. */
static enum bind_mode choose_mode(struct odbc_cursor *c, size_t i)
{
    int type = c->bb.cols[i].type;
    if (type == CS_TYPE_TEXT)
        return BIND_TEXT;
    enum bind_mode parse = type == CS_TYPE_INT64 ? PARSE_I64 : PARSE_F64;
    if (c->src->base.dialect == CS_DIALECT_SQLITE)
        return parse;
    SQLSMALLINT sqltype = 0, namelen, digits, nullable;
    SQLULEN size;
    SQLCHAR name[8];
    if (!SQL_SUCCEEDED(SQLDescribeCol(c->st, (SQLUSMALLINT)(i + 1), name, sizeof(name), &namelen, &sqltype, &size,
                                      &digits, &nullable)))
        return parse;
    if (!fits_c_type(type, sqltype))
        return parse;
    return type == CS_TYPE_INT64 ? BIND_I64 : BIND_F64;
}

static int od_bind_all(struct odbc_cursor *c, struct cs_err *err)
{
    for (size_t i = 0; i < c->plan.ncols; i++) {
        if ((c->oc[i].ind = calloc(c->bb.cap, sizeof(SQLLEN))) == NULL)
            return cs_err_set(err, CS_ENOMEM, "out of memory");
        int rc = od_bind_col(c, i, choose_mode(c, i), err);
        if (rc)
            return rc;
    }
    return 0;
}

static int od_select(struct cs_source *base, const struct cs_select *sel, struct cs_cursor **out, struct cs_err *err)
{
    struct odbc_source *s = (struct odbc_source *)base;
    struct odbc_cursor *c = calloc(1, sizeof(*c));
    int rc, empty = 0;
    if (c == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    c->base.ops = &odbc_ops;
    c->src = s;
    c->schema = sel->schema;
    rc = cs_plan_make(base->dialect, sel, &c->plan, err);
    if (rc == 0)
        rc = cs_batchbuf_init(&c->bb, sel->schema, &c->plan, cs_select_cap(base, sel), err);
    if (rc == 0 && ((c->oc = calloc(c->plan.ncols, sizeof(*c->oc))) == NULL ||
                    (c->status = calloc(c->bb.cap, sizeof(SQLUSMALLINT))) == NULL))
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    if (rc == 0)
        rc = new_stmt(s, &c->st, err);
    if (rc == 0)
        rc = od_rowset(c, err);
    if (rc == 0 && c->plan.where_idx >= 0)
        rc = od_bind_where(c, &sel->where_val, &empty, err);
    if (rc == 0 && empty)
        c->done = 1;
    else if (rc == 0 && !SQL_SUCCEEDED(SQLExecDirect(c->st, (SQLCHAR *)c->plan.sql, SQL_NTS)))
        rc = od_fail(s, SQL_HANDLE_STMT, c->st, err, NULL, "cannot read table %s", sel->schema->table);
    if (rc == 0 && !empty)
        rc = od_bind_all(c, err);
    if (rc != 0) {
        od_cursor_close(&c->base);
        return rc;
    }
    *out = &c->base;
    return 0;
}

/* ---- fetching ---- */

/* Cell r of a text column; the driver cut long values to CS_TEXT_CAP bytes. */
static void text_cell(struct odbc_cursor *c, size_t i, size_t r, SQLLEN ind)
{
    struct cs_colbuf *cb = &c->bb.cb[i];
    char *t = cb->text[r];
    size_t n;
    if (ind >= 0 && ind <= CS_TEXT_CAP) {
        n = (size_t)ind;
    } else { /* longer than the buffer, or SQL_NO_TOTAL: what arrived, on a UTF-8 boundary */
        n = cs_utf8_whole(t, strnlen(t, CS_TEXT_CAP));
    }
    t[n] = '\0';
    cb->text_len[r] = (uint32_t)n;
}

/* Cell r of a numeric column fetched as text: nulls[] value (0 or 2). */
static uint8_t parsed_cell(struct odbc_cursor *c, size_t i, size_t r, SQLLEN ind)
{
    struct odbc_col *oc = &c->oc[i];
    struct cs_colbuf *cb = &c->bb.cb[i];
    const char *t = oc->scratch + r * NUMTXT;
    double d;
    if (ind < 0 || ind >= NUMTXT)
        return 2; /* too long to be a number (or length unknown) */
    if (oc->mode == PARSE_F64)
        return cs_parse_f64(t, (size_t)ind, &cb->f64[r]) ? 0 : 2;
    if (cs_parse_i64(t, (size_t)ind, &cb->i64[r]))
        return 0;
    /* the SQLite driver prints an integral REAL as "3.0": still the integer 3 */
    return cs_parse_f64(t, (size_t)ind, &d) && cs_f64_to_i64(d, &cb->i64[r]) ? 0 : 2;
}

/* Turn the rowset into batch rows: nulls from indicators, text lengths, parsed numbers. */
static void od_fill(struct odbc_cursor *c, size_t nrows)
{
    for (size_t i = 0; i < c->plan.ncols; i++) {
        struct odbc_col *oc = &c->oc[i];
        struct cs_colbuf *cb = &c->bb.cb[i];
        for (size_t r = 0; r < nrows; r++) {
            SQLLEN ind = oc->ind[r];
            if (ind == SQL_NULL_DATA || ind == IND_UNSET) {
                cb->nulls[r] = ind == SQL_NULL_DATA ? 1 : 2; /* unset: the driver could not convert it */
                if (oc->mode == BIND_TEXT) {
                    cb->text[r][0] = '\0';
                    cb->text_len[r] = 0;
                }
            } else if (oc->mode == BIND_TEXT) {
                cb->nulls[r] = 0;
                text_cell(c, i, r, ind);
            } else if (oc->mode == PARSE_I64 || oc->mode == PARSE_F64) {
                cb->nulls[r] = parsed_cell(c, i, r, ind);
            } else {
                cb->nulls[r] = 0;
            }
        }
    }
}

/* After a conversion error: read typed numeric columns as text from the next batch on. */
static int od_rebind_as_text(struct odbc_cursor *c, struct cs_err *err)
{
    for (size_t i = 0; i < c->plan.ncols; i++) {
        enum bind_mode m = c->oc[i].mode;
        int rc = 0;
        if (m == BIND_I64)
            rc = od_bind_col(c, i, PARSE_I64, err);
        else if (m == BIND_F64)
            rc = od_bind_col(c, i, PARSE_F64, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int od_next(struct cs_cursor *base, const struct cs_batch **out, struct cs_err *err)
{
    struct odbc_cursor *c = (struct odbc_cursor *)base;
    char state[6] = "", diag[CS_ERR_MSG];
    if (c->done)
        return 0;
    for (size_t i = 0; i < c->plan.ncols; i++)
        for (size_t r = 0; r < c->rows; r++)
            c->oc[i].ind[r] = IND_UNSET;
    c->fetched = 0;
    SQLRETURN r = SQLFetch(c->st);
    if (r == SQL_NO_DATA) {
        c->done = 1;
        return 0;
    }
    int conversion = 0;
    if (r == SQL_ERROR || r == SQL_SUCCESS_WITH_INFO) {
        od_diag(SQL_HANDLE_STMT, c->st, c->src->conn, diag, sizeof(diag), state);
        conversion = is_conversion_state(state);
        for (size_t k = 0; r == SQL_SUCCESS_WITH_INFO && k < c->fetched; k++)
            if (c->status[k] == SQL_ROW_ERROR)
                conversion = 1;
    }
    if (r == SQL_ERROR && (!conversion || c->fetched == 0)) {
        c->done = 1;
        return cs_err_set(err, CS_ESOURCE, "cannot read table %s after row %llu: %s; check the connection and retry",
                          c->schema->table, (unsigned long long)c->next_row, diag);
    }
    size_t n = c->fetched < c->rows ? c->fetched : c->rows;
    if (n == 0) {
        c->done = 1;
        return 0;
    }
    od_fill(c, n);
    int rc = conversion ? od_rebind_as_text(c, err) : 0;
    if (rc != 0) {
        c->done = 1;
        return rc;
    }
    c->bb.batch.nrows = n;
    c->bb.batch.first_row = c->next_row;
    c->next_row += n;
    *out = &c->bb.batch;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Aggregate queries (pushdown)                                        */
/* ------------------------------------------------------------------ */

static int od_is_int(SQLSMALLINT t)
{
    return t == SQL_INTEGER || t == SQL_SMALLINT || t == SQL_TINYINT || t == SQL_BIGINT || t == SQL_BIT;
}

static int od_is_float(SQLSMALLINT t)
{
    return t == SQL_DOUBLE || t == SQL_FLOAT || t == SQL_REAL || t == SQL_NUMERIC || t == SQL_DECIMAL;
}

/* One cell: integers and floats by their C type, everything else as text (numbers parsed when they are). */
static int od_query_cell(SQLHSTMT st, SQLUSMALLINT col, SQLSMALLINT sqltype, struct cs_qval *v)
{
    SQLLEN ind = 0;
    if (od_is_int(sqltype)) {
        SQLBIGINT n = 0;
        if (!SQL_SUCCEEDED(SQLGetData(st, col, SQL_C_SBIGINT, &n, 0, &ind)))
            return -1;
        if (ind != SQL_NULL_DATA)
            v->type = CS_TYPE_INT64, v->i64 = n, v->f64 = (double)n;
        return 0;
    }
    if (od_is_float(sqltype)) {
        SQLDOUBLE d = 0;
        if (!SQL_SUCCEEDED(SQLGetData(st, col, SQL_C_DOUBLE, &d, 0, &ind)))
            return -1;
        if (ind != SQL_NULL_DATA)
            v->type = CS_TYPE_DOUBLE, v->f64 = d;
        return 0;
    }
    char buf[CS_TEXT_CAP + 1];
    if (!SQL_SUCCEEDED(SQLGetData(st, col, SQL_C_CHAR, buf, sizeof(buf), &ind)))
        return -1;
    if (ind == SQL_NULL_DATA)
        return 0;
    size_t len = strnlen(buf, sizeof(buf) - 1);
    int64_t i;
    double d;
    if (cs_parse_i64(buf, len, &i))
        v->type = CS_TYPE_INT64, v->i64 = i, v->f64 = (double)i;
    else if (cs_parse_f64(buf, len, &d))
        v->type = CS_TYPE_DOUBLE, v->f64 = d;
    else if ((v->text = strdup(buf)) != NULL)
        v->type = CS_TYPE_TEXT;
    else
        return -2;
    return 0;
}

/* psqlODBC's connection attribute for UseDeclareFetch (its pgapifunc.h, SQL_ATTR_PGOPT_USE_DECLAREFETCH). */
#define PSQLODBC_USE_DECLAREFETCH 65539

/*
 * psqlODBC with UseDeclareFetch (forced for streaming, source.h) wraps every
 * SELECT in DECLARE CURSOR, and PostgreSQL never plans a cursor's query in
 * parallel.  A pushdown query returns at most a few rows, so declare/fetch
 * is switched off around it (docs/pushdown.md "Costs"); other drivers never
 * see the attribute.
 */
static void od_declare_fetch(struct odbc_source *s, SQLINTEGER on)
{
    if (s->base.dialect == CS_DIALECT_POSTGRES)
        SQLSetConnectAttr(s->dbc, PSQLODBC_USE_DECLAREFETCH, (SQLPOINTER)(intptr_t)on, SQL_IS_INTEGER);
}

/* The connection's UseDeclareFetch, to restore after the query (-1 where unknown or not psqlODBC). */
static SQLINTEGER od_declare_fetch_get(struct odbc_source *s)
{
    SQLINTEGER on = 0;
    if (s->base.dialect != CS_DIALECT_POSTGRES ||
        !SQL_SUCCEEDED(SQLGetConnectAttr(s->dbc, PSQLODBC_USE_DECLAREFETCH, &on, SQL_IS_INTEGER, NULL)))
        return -1;
    return on;
}

static int od_query(struct cs_source *base, const char *sql, const struct cs_qparam *p, size_t np, size_t max_rows,
                    struct cs_qresult *out, struct cs_err *err)
{
    struct odbc_source *s = (struct odbc_source *)base;
    SQLHSTMT st;
    SQLSMALLINT ncols = 0;
    SQLSMALLINT types[1024];
    SQLLEN *ind = calloc(np + 1, sizeof(SQLLEN));
    int rc = ind == NULL ? cs_err_set(err, CS_ENOMEM, "out of memory") : new_stmt(s, &st, err);
    if (rc != 0) {
        free(ind);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < np; i++) {
        SQLRETURN r;
        SQLUSMALLINT n = (SQLUSMALLINT)(i + 1);
        if (p[i].type == CS_TYPE_INT64)
            r = SQLBindParameter(st, n, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0, (SQLPOINTER)&p[i].i64, 0,
                                 &ind[i]);
        else if (p[i].type == CS_TYPE_DOUBLE)
            r = SQLBindParameter(st, n, SQL_PARAM_INPUT, SQL_C_DOUBLE, SQL_DOUBLE, 0, 0, (SQLPOINTER)&p[i].f64, 0,
                                 &ind[i]);
        else {
            size_t len = strlen(p[i].text);
            ind[i] = (SQLLEN)len;
            r = SQLBindParameter(st, n, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, len ? len : 1, 0,
                                 (SQLPOINTER)p[i].text, (SQLLEN)len + 1, &ind[i]);
        }
        if (!SQL_SUCCEEDED(r))
            rc = od_fail(s, SQL_HANDLE_STMT, st, err, NULL, "cannot bind pushdown parameter %zu", i + 1);
    }
    if (rc == 0) {
        SQLINTEGER was = od_declare_fetch_get(s);
        if (was > 0)
            od_declare_fetch(s, 0);
        SQLRETURN r = SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS);
        if (was > 0)
            od_declare_fetch(s, was);
        if (!SQL_SUCCEEDED(r) || !SQL_SUCCEEDED(SQLNumResultCols(st, &ncols)))
            rc = od_fail(s, SQL_HANDLE_STMT, st, err, NULL, "pushdown query failed");
    }
    if (rc == 0 && (ncols <= 0 || (size_t)ncols > sizeof(types) / sizeof(types[0])))
        rc = cs_err_set(err, CS_ESOURCE, "pushdown query returned %d columns", (int)ncols);
    for (SQLSMALLINT c = 0; rc == 0 && c < ncols; c++) {
        SQLCHAR name[256];
        SQLSMALLINT nlen, dec, nullable;
        SQLULEN size;
        if (!SQL_SUCCEEDED(SQLDescribeCol(st, (SQLUSMALLINT)(c + 1), name, sizeof(name), &nlen, &types[c], &size,
                                          &dec, &nullable)))
            types[c] = SQL_VARCHAR;
    }
    if (rc == 0)
        out->ncols = (size_t)ncols;
    while (rc == 0 && out->nrows < max_rows) {
        SQLRETURN r = SQLFetch(st);
        if (r == SQL_NO_DATA)
            break;
        if (!SQL_SUCCEEDED(r)) {
            rc = od_fail(s, SQL_HANDLE_STMT, st, err, NULL, "pushdown query: fetch failed");
            break;
        }
        struct cs_qval *row = cs_qresult_row(out);
        if (row == NULL) {
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
            break;
        }
        for (SQLSMALLINT c = 0; rc == 0 && c < ncols; c++) {
            int cr = od_query_cell(st, (SQLUSMALLINT)(c + 1), types[c], &row[c]);
            if (cr == -2)
                rc = cs_err_set(err, CS_ENOMEM, "out of memory");
            else if (cr != 0)
                rc = od_fail(s, SQL_HANDLE_STMT, st, err, NULL, "pushdown query: cannot read column %d", c + 1);
        }
    }
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    free(ind);
    return rc;
}

static const struct source_ops odbc_ops = {
    .kind = "odbc",
    .close = od_close,
    .describe = od_describe,
    .count = od_count,
    .select = od_select,
    .next = od_next,
    .cursor_close = od_cursor_close,
    .query = od_query,
};
