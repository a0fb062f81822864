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

#endif
