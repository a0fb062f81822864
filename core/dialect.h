/*
** dialect.h -- what differs between SQLite, PostgreSQL and Snowflake SQL.
**
** Every piece of SQL text the engine writes takes its identifier quoting
** and dialect-specific syntax from here, so dialect differences live in one
** module.  Identifiers always come from the database catalog or the config,
** never from request input; values are always bound parameters.
*/
#ifndef CS_DIALECT_H
#define CS_DIALECT_H

#include <stddef.h>

enum cs_dialect { CS_DIALECT_GENERIC = 0, CS_DIALECT_SQLITE = 1, CS_DIALECT_POSTGRES = 2, CS_DIALECT_SNOWFLAKE = 3 };

/** Dialect from an ODBC DBMS name (SQLGetInfo SQL_DBMS_NAME), e.g. "PostgreSQL". */
enum cs_dialect cs_dialect_from_dbms(const char *dbms_name);

/** "sqlite", "postgresql", "snowflake" or "generic". */
const char *cs_dialect_name(enum cs_dialect d);

/**
 * Append the quoted identifier to buf (always double quotes, embedded
 * quotes doubled; Snowflake resolves quoted names exactly, so callers pass
 * catalog spellings).  Returns the length written, or -1 when it does not fit.
 */
int cs_dialect_quote(enum cs_dialect d, const char *ident, char *buf, size_t size);

/* ---- store DDL and DML (used by store.c) ---------------------------------- */

/** Column kinds of the store's tables; cs_dialect_type names them per dialect. */
enum cs_sqltype {
    CS_SQLT_ID,        /* a run id (uuid text) */
    CS_SQLT_NAME,      /* table, column, check names */
    CS_SQLT_SHORT,     /* scope, status, severity, kind */
    CS_SQLT_TEXT,      /* messages */
    CS_SQLT_JSON,      /* TEXT / JSONB / VARIANT */
    CS_SQLT_INT,
    CS_SQLT_BIGINT,
    CS_SQLT_DOUBLE,
    CS_SQLT_TIMESTAMP, /* UTC, without time zone */
    CS_SQLT_COUNT
};

/** The SQL type of a store column in dialect d (a static string). */
const char *cs_dialect_type(enum cs_dialect d, enum cs_sqltype t);

/**
 * Append a user-chosen identifier: unquoted when the database folds the
 * plain name to exactly itself (lower case on PostgreSQL, upper case on
 * Snowflake, any plain name on SQLite), else quoted with cs_dialect_quote.
 * Returns the length written, or -1 when it does not fit.
 */
int cs_dialect_ident(enum cs_dialect d, const char *ident, char *buf, size_t size);

/**
 * INSERT INTO table (cols...) with one placeholder per column, as a
 * malloc'ed string (NULL when out of memory).  json[i] (json may be NULL)
 * marks columns bound as JSON text: CAST(? AS JSONB) on PostgreSQL; on
 * Snowflake PARSE_JSON(?) in the form INSERT ... SELECT, since Snowflake
 * rejects PARSE_JSON inside VALUES.  table and cols are SQL text as is.
 */
char *cs_dialect_insert(enum cs_dialect d, const char *table, const char *const *cols, const int *json, size_t n);

/** 1 when LIMIT may take a bound parameter (LIMIT ?). */
int cs_dialect_limit_bindable(enum cs_dialect d);

/** 1 when the dialect has CREATE INDEX for ordinary tables. */
int cs_dialect_has_indexes(enum cs_dialect d);

#endif
