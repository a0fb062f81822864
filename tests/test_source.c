/*
** test_source.c -- the source layer against real databases (TAP).
**
** Builds a SQLite fixture with the sqlite3 API under $CS_TEST_WORK (or a
** fresh temp dir) and runs the same assertions through both readers:
** native libsqlite3 and ODBC (SQLite ODBC driver).  When CS_PG_ODBC is set
** (tests/pg.sh), a PostgreSQL fixture is loaded through ODBC and the ODBC
** assertions run against it too.  ODBCSYSINI must name a directory whose
** odbcinst.ini has [SQLite3] (and [PostgreSQL Unicode]); when it is unset
** the test writes one.
**
** The fixture holds what a data-quality scan meets: NULLs, text in numeric
** columns ('abc', 'x'), a non-integral REAL in an INTEGER column, NUMERIC
** 'NaN' and out-of-range values (PostgreSQL), a long UTF-8 value that must
** be cut on a character boundary, a mixed-case table name and a look-alike
** table (LoanXBook) that SQLColumns' pattern would also match.
*/
#include <errno.h>
#include <sql.h>
#include <sqlext.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dialect.h"
#include "err.h"
#include "source.h"
#include "source_impl.h"
#include "tap.h"

#define NROWS 30
#define BATCH 7
#define NCOLS 7

enum { C_ID, C_AMT, C_NAME, C_CNT, C_SK, C_CUST, C_SCORE };
static const char *const col_names[NCOLS] = {"Id", "Amt", "Name", "Cnt", "SK_ID_CURR", "Cust", "Score"};
static const int col_types[NCOLS] = {CS_TYPE_INT64, CS_TYPE_DOUBLE, CS_TYPE_TEXT, CS_TYPE_INT64,
                                     CS_TYPE_INT64, CS_TYPE_TEXT,   CS_TYPE_DOUBLE};

/* One expected cell: state 0 value, 1 NULL, 2 invalid. */
struct cell {
    int state;
    int64_t i;
    double d;
    char t[1500];
};

struct backend {
    const char *label;
    struct cs_source_opts opts;
    const char *kind;
    enum cs_dialect dialect;
    int typed;             /* PostgreSQL: the column types hold */
    const char *table;     /* catalog spelling */
    const char *table_alt; /* another spelling that must find it */
};

static char workdir[512];

/* ------------------------------------------------------------------ */
/* Fixture                                                             */
/* ------------------------------------------------------------------ */

/* "a" + 700 x "é": 1401 bytes, whose 1024-byte cut would split a character. */
static void long_text(char *buf)
{
    char *p = buf;
    *p++ = 'a';
    for (int k = 0; k < 700; k++) {
        *p++ = (char)0xC3;
        *p++ = (char)0xA9;
    }
    *p = '\0';
}

static void expect_cell(int row, int col, int typed, struct cell *c)
{
    memset(c, 0, sizeof(*c));
    switch (col) {
    case C_ID: c->i = row; break;
    case C_AMT:
        if (row % 5 == 0)
            c->state = 1;
        else if (row == 3 && !typed)
            c->state = 2; /* 'x' */
        else
            c->d = row * 1.5;
        break;
    case C_NAME:
        if (row % 4 == 1)
            c->state = 1;
        else if (row == 6) {
            long_text(c->t);
            c->t[1023] = '\0'; /* cut at 1024 would split an 'é': 1023 bytes kept */
        } else if (row == 2)
            snprintf(c->t, sizeof(c->t), "gr\xc3\xbc\xc3\x9f" "e");
        else
            snprintf(c->t, sizeof(c->t), "name-%d", row);
        break;
    case C_CNT:
        if (row == 9)
            c->state = 1;
        else if (row == 4 || row == 8)
            c->state = 2; /* SQLite: 'abc', 2.5; PostgreSQL: NaN, 1e19 */
        else if (row == 10)
            c->i = INT64_MAX;
        else
            c->i = row * 10;
        break;
    case C_SK: c->i = 100 + row % 3; break;
    case C_CUST: snprintf(c->t, sizeof(c->t), "C%d", row % 3); break;
    case C_SCORE: c->d = row / 4.0; break;
    }
}

static int sq_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        printf("# sqlite: %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
}

static int sq_bind_row(sqlite3_stmt *st, int i)
{
    char buf[1500];
    sqlite3_bind_int64(st, 1, i);
    if (i % 5 == 0)
        sqlite3_bind_null(st, 2);
    else if (i == 3)
        sqlite3_bind_text(st, 2, "x", -1, SQLITE_STATIC);
    else
        sqlite3_bind_double(st, 2, i * 1.5);
    if (i % 4 == 1)
        sqlite3_bind_null(st, 3);
    else {
        if (i == 6)
            long_text(buf);
        else if (i == 2)
            snprintf(buf, sizeof(buf), "gr\xc3\xbc\xc3\x9f" "e");
        else
            snprintf(buf, sizeof(buf), "name-%d", i);
        sqlite3_bind_text(st, 3, buf, -1, SQLITE_TRANSIENT);
    }
    if (i == 9)
        sqlite3_bind_null(st, 4);
    else if (i == 4)
        sqlite3_bind_text(st, 4, "abc", -1, SQLITE_STATIC);
    else if (i == 8)
        sqlite3_bind_double(st, 4, 2.5);
    else
        sqlite3_bind_int64(st, 4, i == 10 ? INT64_MAX : i * 10);
    sqlite3_bind_int64(st, 5, 100 + i % 3);
    snprintf(buf, sizeof(buf), "C%d", i % 3);
    sqlite3_bind_text(st, 6, buf, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 7, i / 4.0);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

static int make_sqlite_fixture(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open(path, &db);
    rc = rc ? rc
            : sq_exec(db, "CREATE TABLE \"Loan_Book\"(Id INTEGER, Amt REAL, Name TEXT, Cnt INTEGER, SK_ID_CURR INTEGER,"
                          " Cust TEXT, Score NUMERIC);"
                          "CREATE TABLE LoanXBook(Other INTEGER);"
                          "CREATE TABLE Types(a INT, b BIGINT, c DECIMAL(10,0), d NUMERIC(10,2), e DOUBLE PRECISION,"
                          " f FLOAT, g VARCHAR(20), h DATE, i BOOLEAN, j, k NUMERIC, l TINYINT, m CHARINT);"
                          "BEGIN");
    if (rc == 0)
        rc = sqlite3_prepare_v2(db, "INSERT INTO \"Loan_Book\" VALUES (?,?,?,?,?,?,?)", -1, &st, NULL);
    for (int i = 0; rc == 0 && i < NROWS; i++) {
        rc = sq_bind_row(st, i);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == 0)
        rc = sq_exec(db, "COMMIT");
    sqlite3_close(db);
    return rc;
}

/* PostgreSQL through ODBC: run one statement. */
static int pg_exec(SQLHDBC dbc, const char *sql)
{
    SQLHSTMT st;
    SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);
    SQLRETURN r = SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS);
    if (!SQL_SUCCEEDED(r) && r != SQL_NO_DATA) {
        SQLCHAR state[6], msg[512];
        SQLINTEGER native;
        SQLSMALLINT len;
        SQLGetDiagRec(SQL_HANDLE_STMT, st, 1, state, &native, msg, sizeof(msg), &len);
        printf("# pg: %.80s: [%s] %s\n", sql, state, msg);
    }
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return SQL_SUCCEEDED(r) || r == SQL_NO_DATA ? 0 : -1;
}

static void pg_row_sql(int i, char *sql, size_t size)
{
    char amt[32], name[1500], cnt[32];
    if (i % 5 == 0)
        snprintf(amt, sizeof(amt), "NULL");
    else
        snprintf(amt, sizeof(amt), "%.17g", i * 1.5);
    if (i % 4 == 1)
        snprintf(name, sizeof(name), "NULL");
    else if (i == 6) {
        name[0] = '\'';
        long_text(name + 1);
        strcat(name, "'");
    } else if (i == 2)
        snprintf(name, sizeof(name), "'gr\xc3\xbc\xc3\x9f" "e'");
    else
        snprintf(name, sizeof(name), "'name-%d'", i);
    if (i == 9)
        snprintf(cnt, sizeof(cnt), "NULL");
    else if (i == 4)
        snprintf(cnt, sizeof(cnt), "'NaN'");
    else if (i == 8)
        snprintf(cnt, sizeof(cnt), "10000000000000000000");
    else
        snprintf(cnt, sizeof(cnt), "%lld", (long long)(i == 10 ? INT64_MAX : i * 10));
    snprintf(sql, size, "INSERT INTO loan_book VALUES (%d, %s, %s, %s, %d, 'C%d', %.2f)", i, amt, name, cnt,
             100 + i % 3, i % 3, i / 4.0);
}

static int make_pg_fixture(const char *conn)
{
    SQLHENV env;
    SQLHDBC dbc;
    char sql[2000];
    int rc = 0;
    SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env);
    SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
    SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc);
    if (!SQL_SUCCEEDED(SQLDriverConnect(dbc, NULL, (SQLCHAR *)conn, SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT))) {
        SQLCHAR state[6] = "", msg[512] = "";
        SQLINTEGER native;
        SQLSMALLINT len;
        SQLGetDiagRec(SQL_HANDLE_DBC, dbc, 1, state, &native, msg, sizeof(msg), &len);
        printf("# pg connect: [%s] %s\n", state, msg);
        rc = -1;
    }
    if (rc == 0)
        rc = pg_exec(dbc, "DROP TABLE IF EXISTS loan_book, loanxbook");
    if (rc == 0)
        rc = pg_exec(dbc, "CREATE TABLE loan_book(id integer, amt double precision, name text, cnt numeric(20,0),"
                          " sk_id_curr bigint, cust text, score numeric(10,2))");
    if (rc == 0)
        rc = pg_exec(dbc, "CREATE TABLE loanxbook(other integer)");
    for (int i = 0; rc == 0 && i < NROWS; i++) {
        pg_row_sql(i, sql, sizeof(sql));
        rc = pg_exec(dbc, sql);
    }
    SQLDisconnect(dbc);
    SQLFreeHandle(SQL_HANDLE_DBC, dbc);
    SQLFreeHandle(SQL_HANDLE_ENV, env);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

/* Does batch row r, column k (schema column col) hold the expected cell? */
static int cell_matches(const struct cs_batch *b, size_t k, size_t r, int row, int col, int typed)
{
    struct cell e;
    const struct cs_column *c = &b->cols[k];
    expect_cell(row, col, typed, &e);
    if (c->nulls[r] != e.state) {
        printf("# row %d col %s: state %d, expected %d\n", row, c->name, c->nulls[r], e.state);
        return 0;
    }
    if (e.state != 0)
        return 1;
    int same = c->type == CS_TYPE_INT64    ? c->i64[r] == e.i
               : c->type == CS_TYPE_DOUBLE ? c->f64[r] == e.d
                                           : c->text_len[r] == strlen(e.t) && strcmp(c->text[r], e.t) == 0 &&
                                                 c->text[r][c->text_len[r]] == '\0';
    if (!same)
        printf("# row %d col %s: value differs\n", row, c->name);
    return same;
}

/* Read everything from a cursor; count rows, batches, bad cells against expectations. */
struct scan {
    size_t rows, batches, bad, bad_first_row;
    int rc;
};

static void scan_all(struct cs_source *src, const struct cs_select *sel, const int *cols_of_k, int typed,
                     struct scan *out)
{
    struct cs_cursor *cur = NULL;
    struct cs_err err = {0};
    const struct cs_batch *b;
    memset(out, 0, sizeof(*out));
    out->rc = cs_source_select(src, sel, &cur, &err);
    if (out->rc != 0) {
        printf("# select: %s\n", err.msg);
        return;
    }
    while ((out->rc = cs_cursor_next(cur, &b, &err)) == 1) {
        if (b->first_row != out->rows)
            out->bad_first_row++;
        for (size_t r = 0; r < b->nrows; r++) {
            int row = (int)b->cols[0].i64[r]; /* every select here leads with Id */
            for (size_t k = 0; k < b->ncols; k++)
                if (!cell_matches(b, k, r, row, cols_of_k[k], typed))
                    out->bad++;
        }
        out->rows += b->nrows;
        out->batches++;
    }
    if (out->rc < 0)
        printf("# next: %s\n", err.msg);
    cs_cursor_close(cur);
}

/* Rows a customer filter returns; -1 on error (message in err). */
static long count_where(struct cs_source *src, const struct cs_schema *s, const char *col, struct cs_keyval v,
                        struct cs_err *err)
{
    struct cs_cursor *cur = NULL;
    const struct cs_batch *b;
    struct cs_select sel = {.schema = s, .where_col = col, .where_val = v};
    long n = 0;
    int rc = cs_source_select(src, &sel, &cur, err);
    while (rc == 0 && (rc = cs_cursor_next(cur, &b, err)) == 1) {
        n += (long)b->nrows;
        rc = 0;
    }
    cs_cursor_close(cur);
    return rc < 0 ? -1 : n;
}

static void check_describe(struct cs_source *src, const struct backend *be, struct cs_schema *s)
{
    struct cs_err err = {0};
    struct cs_schema alt = {0}, none = {0};
    int rc = cs_source_describe(src, be->table, s, &err);
    ok(rc == 0 && s->table && strcmp(s->table, be->table) == 0, "%s: describe %s (%s)", be->label, be->table,
       rc ? err.msg : "ok");
    ok(s->ncols == NCOLS, "%s: %zu columns, no look-alike table's", be->label, s->ncols);
    int names = s->ncols == NCOLS, types = names;
    for (size_t i = 0; names && i < NCOLS; i++) {
        names &= strcasecmp(s->cols[i].name, col_names[i]) == 0;
        types &= s->cols[i].type == col_types[i];
    }
    ok(names, "%s: column names in table order", be->label);
    ok(types, "%s: column types INTEGER/REAL/TEXT/NUMERIC mapped", be->label);
    rc = cs_source_describe(src, be->table_alt, &alt, &err);
    ok(rc == 0 && alt.table && strcmp(alt.table, be->table) == 0 && alt.ncols == NCOLS,
       "%s: describe %s finds %s regardless of case (%s)", be->label, be->table_alt, be->table, rc ? err.msg : "ok");
    cs_schema_free(&alt);
    rc = cs_source_describe(src, "no_such_table", &none, &err);
    ok(rc == CS_ENOTFOUND && strstr(err.msg, "no_such_table") && none.ncols == 0,
       "%s: missing table is CS_ENOTFOUND: %s", be->label, err.msg);
}

static void check_scans(struct cs_source *src, const struct backend *be, const struct cs_schema *s)
{
    struct cs_err err = {0};
    struct scan sc;
    uint64_t n = 0;
    int rc = cs_source_count(src, s, &n, &err);
    ok(rc == 0 && n == NROWS, "%s: count %llu (%s)", be->label, (unsigned long long)n, rc ? err.msg : "ok");

    int all[NCOLS] = {C_ID, C_AMT, C_NAME, C_CNT, C_SK, C_CUST, C_SCORE};
    struct cs_select sel = {.schema = s};
    scan_all(src, &sel, all, be->typed, &sc);
    ok(sc.rc == 0 && sc.rows == NROWS, "%s: full scan reads %zu rows", be->label, sc.rows);
    ok(sc.batches == (NROWS + BATCH - 1) / BATCH, "%s: %zu batches of at most %d", be->label, sc.batches, BATCH);
    ok(sc.bad_first_row == 0, "%s: first_row counts across batches", be->label);
    ok(sc.bad == 0, "%s: values, NULLs, invalid marks and text cut as expected (%zu bad cells)", be->label, sc.bad);

    size_t pick[3] = {C_ID, C_CNT, C_NAME};
    int pick_cols[3] = {C_ID, C_CNT, C_NAME};
    struct cs_select sub = {.schema = s, .ncols = 3, .cols = pick};
    scan_all(src, &sub, pick_cols, be->typed, &sc);
    ok(sc.rc == 0 && sc.rows == NROWS && sc.bad == 0, "%s: column subset in the asked order", be->label);

    struct cs_cursor *cur = NULL;
    const struct cs_batch *b = NULL;
    rc = cs_source_select(src, &sub, &cur, &err);
    rc = rc == 0 ? cs_cursor_next(cur, &b, &err) : rc;
    ok(rc == 1 && b->ncols == 3 && b->cols[1].name == s->cols[C_CNT].name && b->cols[1].type == CS_TYPE_INT64,
       "%s: batch columns carry the schema's names and types", be->label);
    while (rc == 1)
        rc = cs_cursor_next(cur, &b, &err);
    ok(rc == 0 && cs_cursor_next(cur, &b, &err) == 0, "%s: end of data stays the end", be->label);
    cs_cursor_close(cur);
}

static void check_filters(struct cs_source *src, const struct backend *be, const struct cs_schema *s)
{
    struct cs_err err = {0};
    const char *sk = s->cols[C_SK].name, *cust = s->cols[C_CUST].name;
    long n = count_where(src, s, sk, (struct cs_keyval){.type = CS_TYPE_INT64, .i64 = 101}, &err);
    ok(n == NROWS / 3, "%s: integer filter SK_ID_CURR = 101 gives %ld rows", be->label, n);
    n = count_where(src, s, "sk_id_curr", (struct cs_keyval){.type = CS_TYPE_TEXT, .text = "101"}, &err);
    ok(n == NROWS / 3, "%s: text \"101\" on an integer column, column named in another case: %ld rows", be->label, n);
    n = count_where(src, s, sk, (struct cs_keyval){.type = CS_TYPE_TEXT, .text = "1 OR 1=1"}, &err);
    ok(n == 0, "%s: \"1 OR 1=1\" is a value, not SQL: %ld rows", be->label, n);
    n = count_where(src, s, cust, (struct cs_keyval){.type = CS_TYPE_TEXT, .text = "C2"}, &err);
    ok(n == NROWS / 3, "%s: text filter Cust = 'C2' gives %ld rows", be->label, n);
    n = count_where(src, s, cust, (struct cs_keyval){.type = CS_TYPE_TEXT, .text = "C2' OR '1'='1"}, &err);
    ok(n == 0, "%s: quote injection in a text filter finds nothing: %ld rows", be->label, n);
    n = count_where(src, s, "NoSuchColumn", (struct cs_keyval){.type = CS_TYPE_INT64, .i64 = 1}, &err);
    ok(n == -1 && err.code == CS_ENOTFOUND, "%s: filter on a missing column: %s", be->label, err.msg);
}

static void run_backend(const struct backend *be)
{
    struct cs_source *src = NULL;
    struct cs_err err = {0};
    struct cs_schema s = {0};
    int rc = cs_source_open(&src, &be->opts, &err);
    ok(rc == 0, "%s: open (%s)", be->label, rc ? err.msg : "ok");
    if (rc != 0)
        return;
    ok(strcmp(cs_source_kind(src), be->kind) == 0, "%s: kind %s", be->label, cs_source_kind(src));
    ok(cs_source_dialect(src) == be->dialect, "%s: dialect %s", be->label, cs_dialect_name(cs_source_dialect(src)));
    check_describe(src, be, &s);
    if (s.ncols == NCOLS) {
        check_scans(src, be, &s);
        check_filters(src, be, &s);
    }
    cs_schema_free(&s);
    cs_source_close(src);
}

/* The same declared types give the same cs_types through both readers. */
static void check_types(const char *db)
{
    static const int want[] = {CS_TYPE_INT64,  CS_TYPE_INT64, CS_TYPE_DOUBLE, CS_TYPE_DOUBLE, CS_TYPE_DOUBLE,
                               CS_TYPE_DOUBLE, CS_TYPE_TEXT,  CS_TYPE_TEXT,   CS_TYPE_TEXT,   CS_TYPE_TEXT,
                               CS_TYPE_DOUBLE, CS_TYPE_INT64, CS_TYPE_INT64};
    char conn[700];
    snprintf(conn, sizeof(conn), "Driver=SQLite3;Database=%s", db);
    for (int native = 1; native >= 0; native--) {
        struct cs_source *src = NULL;
        struct cs_schema s = {0};
        struct cs_err err = {0};
        struct cs_source_opts o = {.conn = conn, .native_sqlite = native};
        int same = cs_source_open(&src, &o, &err) == 0 && cs_source_describe(src, "types", &s, &err) == 0 &&
                   s.ncols == sizeof(want) / sizeof(want[0]);
        for (size_t i = 0; same && i < s.ncols; i++)
            if (s.cols[i].type != want[i]) {
                printf("# %s: column %s type %d, want %d\n", native ? "native" : "odbc", s.cols[i].name,
                       s.cols[i].type, want[i]);
                same = 0;
            }
        ok(same, "%s: declared types map by SQLite affinity (DECIMAL(10,0) -> double, DATE -> text) %s",
           native ? "native" : "odbc", err.msg);
        cs_schema_free(&s);
        cs_source_close(src);
    }
}

/* An open that must fail: code, a hint in the message, and no secret in it. */
static void check_open_fails(const char *label, const char *conn, int native, int code, const char *must,
                             const char *secret)
{
    struct cs_source *src = NULL;
    struct cs_err err = {0};
    struct cs_source_opts o = {.conn = conn, .native_sqlite = native};
    int rc = cs_source_open(&src, &o, &err);
    ok(rc == code && src == NULL && strstr(err.msg, must) != NULL, "%s: fails with %d: %s", label, rc, err.msg);
    if (secret)
        ok(strstr(err.msg, secret) == NULL, "%s: the password is not in the message", label);
    cs_source_close(src);
}

static void check_errors(const char *db)
{
    char conn[800], path[600];
    check_open_fails("native bad path", "Driver=SQLite3;Database=/nonexistent-dir/x.db;PWD=hunter2", 1, CS_ESOURCE,
                     "cannot open SQLite file /nonexistent-dir/x.db", "hunter2");
    check_open_fails("odbc bad path", "Driver=SQLite3;Database=/nonexistent-dir/x.db;PWD=hunter2", 0, CS_ESOURCE,
                     "PWD=***", "hunter2");
    snprintf(path, sizeof(path), "%s/missing.db", workdir);
    snprintf(conn, sizeof(conn), "Driver={SQLite3};Database=%s;Pwd={hunter2;x}", path);
    check_open_fails("odbc missing file", conn, 0, CS_ESOURCE, "does not exist", "hunter2");
    ok(access(path, F_OK) != 0, "odbc missing file: NoCreat=1 kept the driver from creating it");
    check_open_fails("odbc unknown driver", "Driver=NoSuchDriver;Server=db;Uid=u;Password=s3cr3t-pw", 0, CS_ESOURCE,
                     "Password=***", "s3cr3t-pw");
    check_open_fails("native without Database", "Driver=SQLite3;PWD=hunter2", 1, CS_ECONFIG, "Database=", "hunter2");
    snprintf(path, sizeof(path), "%s/notadb.db", workdir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("this is not a database, just text long enough to look like a file header\n", f);
        fclose(f);
    }
    snprintf(conn, sizeof(conn), "Driver=SQLite3;Database=%s", path);
    check_open_fails("native not a database", conn, 1, CS_ESOURCE, "not a database", NULL);
    unlink(path);
    (void)db;
}

/* Rows of t for customer k as "v,v,..." (the text of column `col`), or NULL on failure. */
static char *keyed_values(struct cs_source *src, const struct cs_schema *s, const char *k, size_t col, char *buf,
                          size_t size)
{
    struct cs_select sel = {.schema = s, .where_col = "k", .where_val = {.type = CS_TYPE_TEXT, .text = k}};
    struct cs_cursor *cur = NULL;
    const struct cs_batch *b;
    struct cs_err err = {0};
    size_t o = 0;
    int rc;
    buf[0] = '\0';
    if (cs_source_select(src, &sel, &cur, &err) != 0)
        return NULL;
    while ((rc = cs_cursor_next(cur, &b, &err)) == 1)
        for (size_t r = 0; r < b->nrows && o + 40 < size; r++) {
            const struct cs_column *c = &b->cols[col];
            if (c->type == CS_TYPE_TEXT)
                o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "," : "", c->text[r]);
            else
                o += (size_t)snprintf(buf + o, size - o, "%s%lld", o ? "," : "", (long long)c->i64[r]);
        }
    cs_cursor_close(cur);
    return rc == 0 ? buf : NULL;
}

/* The native reader's caches (schemas, parked keyed cursors) answer as a fresh read would, through
 * repeated keys, an added column and a table re-created with other types. */
static void check_native_caches(void)
{
    char path[600], conn[700], got[256];
    snprintf(path, sizeof(path), "%s/caches.db", workdir);
    unlink(path);
    sqlite3 *db = NULL;
    sqlite3_open(path, &db);
    int rc = sq_exec(db, "CREATE TABLE t (k INTEGER, v TEXT); INSERT INTO t VALUES (1,'a'),(1,'b'),(2,'c');");
    snprintf(conn, sizeof(conn), "Driver=SQLite3;Database=%s", path);
    struct cs_source_opts o = {.conn = conn, .native_sqlite = 1};
    struct cs_source *src = NULL;
    struct cs_err err = {0};
    struct cs_schema s = {0};
    rc = rc == SQLITE_OK ? cs_source_open(&src, &o, &err) : -1;
    ok(rc == 0 && cs_source_describe(src, "t", &s, &err) == 0 && s.ncols == 2, "caches: t described (%s)", err.msg);
    char *v1 = src ? keyed_values(src, &s, "1", 1, got, sizeof(got)) : NULL;
    ok(v1 && strcmp(v1, "a,b") == 0, "caches: customer 1's rows (%s)", v1 ? v1 : "failed");
    char *v2 = src ? keyed_values(src, &s, "2", 1, got, sizeof(got)) : NULL;
    ok(v2 && strcmp(v2, "c") == 0, "caches: the reused statement gives customer 2's rows (%s)", v2 ? v2 : "failed");
    v2 = src ? keyed_values(src, &s, "3", 1, got, sizeof(got)) : NULL;
    ok(v2 && strcmp(v2, "") == 0, "caches: and no rows for an unknown customer");
    cs_schema_free(&s);
    sq_exec(db, "ALTER TABLE t ADD COLUMN w INTEGER; UPDATE t SET w = 7;");
    ok(src && cs_source_describe(src, "t", &s, &err) == 0 && s.ncols == 3, "caches: an added column is seen (%zu)",
       s.ncols);
    v1 = src && s.ncols == 3 ? keyed_values(src, &s, "1", 2, got, sizeof(got)) : NULL;
    ok(v1 && strcmp(v1, "7,7") == 0, "caches: and read (%s)", v1 ? v1 : "failed");
    cs_schema_free(&s);
    sq_exec(db, "DROP TABLE t; CREATE TABLE t (k TEXT, v INTEGER, w INTEGER); INSERT INTO t VALUES ('1', 5, 0);");
    ok(src && cs_source_describe(src, "t", &s, &err) == 0 && s.ncols == 3 && s.cols[1].type == CS_TYPE_INT64,
       "caches: a table re-created with other types is described again");
    v1 = src && s.ncols == 3 ? keyed_values(src, &s, "1", 1, got, sizeof(got)) : NULL;
    ok(v1 && strcmp(v1, "5") == 0, "caches: and read with its new types (%s)", v1 ? v1 : "failed");
    cs_schema_free(&s);
    cs_source_close(src);
    sqlite3_close(db);
    unlink(path);
}

/* Pure helpers: quoting, dialect names, connection string parsing, redaction. */
static void check_helpers(void)
{
    char buf[64];
    ok(cs_dialect_from_dbms("SQLite") == CS_DIALECT_SQLITE && cs_dialect_from_dbms("PostgreSQL") == CS_DIALECT_POSTGRES &&
           cs_dialect_from_dbms("Snowflake") == CS_DIALECT_SNOWFLAKE && cs_dialect_from_dbms("postgres 15") == CS_DIALECT_POSTGRES &&
           cs_dialect_from_dbms("Oracle") == CS_DIALECT_GENERIC && cs_dialect_from_dbms(NULL) == CS_DIALECT_GENERIC,
       "dialect from DBMS names");
    ok(strcmp(cs_dialect_name(CS_DIALECT_POSTGRES), "postgresql") == 0 && strcmp(cs_dialect_name(99), "generic") == 0,
       "dialect names");
    int n = cs_dialect_quote(CS_DIALECT_POSTGRES, "a\"b", buf, sizeof(buf));
    ok(n == 6 && strcmp(buf, "\"a\"\"b\"") == 0, "quote doubles embedded quotes: %s", buf);
    ok(cs_dialect_quote(CS_DIALECT_SQLITE, "abc", buf, 5) == -1 && cs_dialect_quote(CS_DIALECT_SQLITE, "abc", buf, 6) == 5,
       "quote reports -1 when it does not fit");
    ok(cs_conn_get("DRIVER={PostgreSQL Unicode};server=h;PWD={a;b}}c}", "Driver", buf, sizeof(buf)) == 1 &&
           strcmp(buf, "PostgreSQL Unicode") == 0,
       "connection string: braced Driver value, key any case");
    ok(cs_conn_get("Driver=x;PWD={a;b}}c};Port=5", "pwd", buf, sizeof(buf)) == 1 && strcmp(buf, "a;b}c") == 0 &&
           cs_conn_get("Driver=x;PWD={a;b}}c};Port=5", "port", buf, sizeof(buf)) == 1 && strcmp(buf, "5") == 0,
       "connection string: ';' and '}}' inside braces");
    char red[128];
    cs_conn_redact("Driver=x;Uid=u;PWD={a;b}}c};Password=p2;Port=5", red, sizeof(red));
    ok(strcmp(red, "Driver=x;Uid=u;PWD=***;Password=***;Port=5") == 0, "redaction: %s", red);
    char msg[128] = "login failed for secret-pw (secret-pw)";
    cs_conn_scrub("Driver=x;pwd=secret-pw", msg, sizeof(msg));
    ok(strcmp(msg, "login failed for *** (***)") == 0, "scrub: %s", msg);
}

/* ------------------------------------------------------------------ */
/* Set-up                                                              */
/* ------------------------------------------------------------------ */

static int setup_dirs(void)
{
    const char *base = getenv("CS_TEST_WORK");
    snprintf(workdir, sizeof(workdir), "%s/source-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(workdir) == NULL) {
        printf("# mkdtemp %s: %s\n", workdir, strerror(errno));
        return -1;
    }
    if (getenv("ODBCSYSINI") == NULL) {
        char dir[600], ini[700];
        snprintf(dir, sizeof(dir), "%s/odbc", workdir);
        snprintf(ini, sizeof(ini), "%s/odbcinst.ini", dir);
        mkdir(dir, 0755);
        FILE *f = fopen(ini, "w");
        if (f == NULL)
            return -1;
        fprintf(f, "[SQLite3]\nDriver=/usr/lib/x86_64-linux-gnu/odbc/libsqlite3odbc.so\n"
                   "[PostgreSQL Unicode]\nDriver=/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so\nCommLog=0\nDebug=0\n");
        fclose(f);
        setenv("ODBCSYSINI", dir, 1);
    }
    return 0;
}

static void cleanup_dirs(void)
{
    char p[700];
    const char *files[] = {"fixture.db", "fixture.db-journal", "odbc/odbcinst.ini", "missing.db", NULL};
    for (const char **f = files; *f; f++) {
        snprintf(p, sizeof(p), "%s/%s", workdir, *f);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/odbc", workdir);
    rmdir(p);
    rmdir(workdir);
}

/* The source's PostgreSQL session has JIT off: the pushdown's wide statements run 3x slower compiled. */
static void check_pg_jit_off(const char *conn)
{
    struct cs_source *src = NULL;
    struct cs_err err = {0};
    struct cs_qresult res = {0};
    struct cs_source_opts o = {.conn = conn, .batch_rows = BATCH};
    int rc = cs_source_open(&src, &o, &err);
    if (rc == 0)
        rc = cs_source_query(src, "SHOW jit", NULL, 0, 1, &res, &err);
    ok(rc == 0 && res.nrows == 1 && res.v[0].type == CS_TYPE_TEXT && strcmp(res.v[0].text, "off") == 0,
       "postgresql: the source session runs with jit = off (%s)", rc == 0 && res.nrows ? res.v[0].text : err.msg);
    cs_qresult_free(&res);
    cs_source_close(src);
}

static void run_pg(void)
{
    const char *pg = getenv("CS_PG_ODBC");
    if (pg == NULL || *pg == '\0') {
        printf("ok %d # SKIP no PostgreSQL\n", ++tap_n);
        return;
    }
    int rc = make_pg_fixture(pg);
    ok(rc == 0, "postgresql: fixture loaded through ODBC");
    if (rc != 0)
        return;
    struct backend be = {.label = "odbc-postgresql",
                         .opts = {.conn = pg, .native_sqlite = 1, .batch_rows = BATCH},
                         .kind = "odbc",
                         .dialect = CS_DIALECT_POSTGRES,
                         .typed = 1,
                         .table = "loan_book",
                         .table_alt = "LOAN_BOOK"};
    run_backend(&be);
    check_pg_jit_off(pg);
    /* a real driver error: nothing listens on port 1 */
    char conn[600];
    snprintf(conn, sizeof(conn), "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=1;Database=x;Uid=postgres;Pwd=hunter2");
    check_open_fails("postgresql refused", conn, 0, CS_ESOURCE, "Pwd=***", "hunter2");
}

int main(void)
{
    char db[600], conn[700];
    if (setup_dirs() != 0) {
        ok(0, "set up a work directory");
        return tap_done();
    }
    snprintf(db, sizeof(db), "%s/fixture.db", workdir);
    int rc = make_sqlite_fixture(db);
    ok(rc == 0, "SQLite fixture %s", db);
    check_helpers();
    if (rc == 0) {
        snprintf(conn, sizeof(conn), "Driver=SQLite3;Database=%s", db);
        struct backend native = {.label = "sqlite-native",
                                 .opts = {.conn = conn, .native_sqlite = 1, .batch_rows = BATCH},
                                 .kind = "sqlite-native",
                                 .dialect = CS_DIALECT_SQLITE,
                                 .table = "Loan_Book",
                                 .table_alt = "LOAN_BOOK"};
        struct backend odbc = native;
        odbc.label = "odbc-sqlite";
        odbc.opts.native_sqlite = 0;
        odbc.kind = "odbc";
        run_backend(&native);
        run_backend(&odbc);
        check_types(db);
    }
    check_errors(db);
    check_native_caches();
    run_pg();
    cleanup_dirs();
    return tap_done();
}
