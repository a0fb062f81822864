/*
** dialect.c -- SQL dialect names and identifier quoting.  See dialect.h.
**
** Contract: pure functions, no state.  Quoting is the same for all three
** dialects we speak (SQL standard double quotes); what differs is how a
** database folds unquoted names, which is why callers always pass the
** catalog's exact spelling.
*/
#include "dialect.h"

#include <string.h>
#include <strings.h>

/* Case-insensitive strstr: DBMS names come as "SQLite", "PostgreSQL", "Snowflake". */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

enum cs_dialect cs_dialect_from_dbms(const char *dbms_name)
{
    if (dbms_name == NULL)
        return CS_DIALECT_GENERIC;
    if (contains_ci(dbms_name, "sqlite"))
        return CS_DIALECT_SQLITE;
    if (contains_ci(dbms_name, "postgres"))
        return CS_DIALECT_POSTGRES;
    if (contains_ci(dbms_name, "snowflake"))
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
