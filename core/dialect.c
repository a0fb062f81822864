/*
** dialect.c -- SQL dialect names and identifier quoting.  See dialect.h.
**
** Contract: pure functions, no state.  Quoting is the same for all three
** dialects we speak (SQL standard double quotes); what differs is how a
** database folds unquoted names, which is why callers always pass the
** catalog's exact spelling.
*/
#include "dialect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum cs_dialect cs_dialect_from_dbms(const char *dbms_name)
{
    if (dbms_name == NULL)
        return CS_DIALECT_GENERIC;
    if (strcasestr(dbms_name, "sqlite") != NULL)
        return CS_DIALECT_SQLITE;
    if (strcasestr(dbms_name, "postgres") != NULL)
        return CS_DIALECT_POSTGRES;
    if (strcasestr(dbms_name, "snowflake") != NULL)
        return CS_DIALECT_SNOWFLAKE;
    return CS_DIALECT_GENERIC;
}

const char *cs_dialect_name(enum cs_dialect d)
{
    switch (d) {
    case CS_DIALECT_SQLITE: return "sqlite";
    case CS_DIALECT_POSTGRES: return "postgresql";
    case CS_DIALECT_SNOWFLAKE: return "snowflake";
    default: return "generic";
    }
}

int cs_dialect_quote(enum cs_dialect d, const char *ident, char *buf, size_t size)
{
    (void)d; /* all supported dialects quote with "..." and double embedded quotes */
    size_t o = 0;
    if (ident == NULL || buf == NULL || size == 0)
        return -1;
    if (o + 1 >= size)
        return -1;
    buf[o++] = '"';
    for (const char *p = ident; *p; p++) {
        size_t need = (*p == '"') ? 2 : 1;
        if (o + need + 1 >= size) /* room for this, the closing quote and NUL */
            return -1;
        buf[o++] = *p;
        if (*p == '"')
            buf[o++] = '"';
    }
    if (o + 2 > size)
        return -1;
    buf[o++] = '"';
    buf[o] = '\0';
    return (int)o;
}

/* ==== store DDL and DML (store.c; added by the store work) ================
**
** The store's own tables use plain upper-case names, written unquoted so
** that every database folds them its usual way (dq_runs on PostgreSQL,
** DQ_RUNS on Snowflake) and users query them without quotes.  Names a user
** chose (the store schema) go through cs_dialect_ident: unquoted when the
** database would fold them to themselves, quoted otherwise, so any case
** survives.  JSON values are bound as text and converted in SQL: Snowflake
** refuses PARSE_JSON inside VALUES, so its inserts are INSERT ... SELECT.
*/

const char *cs_dialect_type(enum cs_dialect d, enum cs_sqltype t)
{
    static const char *const types[4][CS_SQLT_COUNT] = {
        /* ID, NAME, SHORT, TEXT, JSON, INT, BIGINT, DOUBLE, TIMESTAMP */
        [CS_DIALECT_GENERIC] = {"VARCHAR(36)", "VARCHAR(1024)", "VARCHAR(64)", "VARCHAR(8000)", "VARCHAR(8000)",
                                "INTEGER", "BIGINT", "DOUBLE PRECISION", "TIMESTAMP"},
        [CS_DIALECT_SQLITE] = {"VARCHAR(36)", "VARCHAR(1024)", "VARCHAR(64)", "TEXT", "TEXT", "INTEGER", "BIGINT",
                               "REAL", "TIMESTAMP"},
        [CS_DIALECT_POSTGRES] = {"VARCHAR(36)", "VARCHAR(1024)", "VARCHAR(64)", "TEXT", "JSONB", "INTEGER",
                                 "BIGINT", "DOUBLE PRECISION", "TIMESTAMP"},
        [CS_DIALECT_SNOWFLAKE] = {"VARCHAR(36)", "VARCHAR(1024)", "VARCHAR(64)", "VARCHAR", "VARIANT", "INTEGER",
                                  "BIGINT", "DOUBLE", "TIMESTAMP_NTZ"},
    };
    if ((int)d < 0 || d > CS_DIALECT_SNOWFLAKE || (int)t < 0 || t >= CS_SQLT_COUNT)
        return NULL;
    return types[d][t];
}

/* Does the database fold this unquoted name to exactly itself? */
static int folds_to_itself(enum cs_dialect d, const char *ident)
{
    if (ident[0] == '\0' || !(ident[0] == '_' || (ident[0] >= 'a' && ident[0] <= 'z') ||
                              (ident[0] >= 'A' && ident[0] <= 'Z')))
        return 0;
    for (const char *p = ident; *p; p++) {
        int lower = *p >= 'a' && *p <= 'z', upper = *p >= 'A' && *p <= 'Z', other = *p == '_' || (*p >= '0' && *p <= '9');
        if (!lower && !upper && !other)
            return 0;
        if (d == CS_DIALECT_POSTGRES && upper)
            return 0; /* PostgreSQL folds to lower case */
        if ((d == CS_DIALECT_SNOWFLAKE || d == CS_DIALECT_GENERIC) && lower)
            return 0; /* Snowflake (and the standard) fold to upper case */
    }
    return 1; /* SQLite: names are case-insensitive, any plain name is fine */
}

int cs_dialect_ident(enum cs_dialect d, const char *ident, char *buf, size_t size)
{
    if (ident == NULL || buf == NULL || size == 0)
        return -1;
    if (!folds_to_itself(d, ident))
        return cs_dialect_quote(d, ident, buf, size);
    size_t n = strlen(ident);
    if (n + 1 > size)
        return -1;
    memcpy(buf, ident, n + 1);
    return (int)n;
}

/* The placeholder for a value of column i: JSON columns are converted from text. */
static const char *placeholder(enum cs_dialect d, int json)
{
    if (!json)
        return "?";
    switch (d) {
    case CS_DIALECT_POSTGRES: return "CAST(? AS JSONB)";
    case CS_DIALECT_SNOWFLAKE: return "PARSE_JSON(?)";
    default: return "?";
    }
}

char *cs_dialect_insert(enum cs_dialect d, const char *table, const char *const *cols, const int *json, size_t n)
{
    size_t size = strlen(table) + 64;
    for (size_t i = 0; i < n; i++)
        size += strlen(cols[i]) + 24;
    char *sql = malloc(size);
    if (sql == NULL)
        return NULL;
    int any_json = 0;
    for (size_t i = 0; json != NULL && i < n; i++)
        any_json |= json[i] != 0;
    /* Snowflake: PARSE_JSON is not a constant, so it may not appear in VALUES. */
    int select_form = d == CS_DIALECT_SNOWFLAKE && any_json;
    size_t o = (size_t)snprintf(sql, size, "INSERT INTO %s (", table);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(sql + o, size - o, "%s%s", i ? ", " : "", cols[i]);
    o += (size_t)snprintf(sql + o, size - o, ") %s", select_form ? "SELECT " : "VALUES (");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(sql + o, size - o, "%s%s", i ? ", " : "", placeholder(d, json != NULL && json[i]));
    if (!select_form)
        snprintf(sql + o, size - o, ")");
    return sql;
}

int cs_dialect_limit_bindable(enum cs_dialect d)
{
    /* Verified with the SQLite ODBC driver and psqlODBC; Snowflake's LIMIT
     * documentation asks for a constant, so the (validated) number is written. */
    return d == CS_DIALECT_SQLITE || d == CS_DIALECT_POSTGRES;
}

int cs_dialect_has_indexes(enum cs_dialect d)
{
    return d != CS_DIALECT_SNOWFLAKE; /* Snowflake has no CREATE INDEX on standard tables */
}
