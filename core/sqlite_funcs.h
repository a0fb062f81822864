/*
** sqlite_funcs.h -- SQL functions registered on the native SQLite
** connection (source_sqlite.c), so that a pushdown run on SQLite gets an
** outlier column's statistics, and later its count beyond the bounds with
** sample keys, from one aggregate each in a single scan of the table.
** SQLite has no stddev or percentile; a DBA would load an extension for
** them, and these are that extension.  The SQLite ODBC driver cannot
** register functions, so pushdown keeps its pure-SQL forms for it.
**
** Values are read as the native reader reads them (source_sqlite.c): an
** INTEGER column takes integers, integral REALs and integer text; a REAL
** column takes any number and numeric text; anything else is not a value.
** A value is usable when finite and not one of the bound sentinels
** (cs_stats_usable).  Statistics are stats.c's own (Welford in arrival
** order, numpy-linear quantiles, MAD), so they equal streaming's bit for bit.
**
**   cs_stats(x, type, full, sentinel...)  -> text, NULL when no usable value
**       type: CS_TYPE_INT64 or CS_TYPE_DOUBLE (the column's).  full 0: moments
**       only, constant memory; full 1: quantiles too (8 bytes per value, as
**       stats.c).  Text: "n min max mean sd q1 median q3 mad", numbers as
**       C99 hex floats (exact), quantiles 0 when full is 0.
**   cs_outliers(x, type, lower, upper, nsent, sentinel..., key...) -> text
**       usable values < lower or > upper: "count<TAB>[keys]", the JSON keys
**       (a scalar per row for one key column, else an array) of the
**       CS_SQLF_SAMPLES farthest outside, farthest first, ties in scan order.
*/
#ifndef CS_SQLITE_FUNCS_H
#define CS_SQLITE_FUNCS_H

#include <sqlite3.h>
#include <stdint.h>

#define CS_SQLF_SAMPLES 10

/** Register the functions on db.  Returns an SQLite result code. */
int cs_sqlite_funcs_register(sqlite3 *db);

/** The statistics cs_stats returns, parsed from its text. */
struct cs_sqlf_stats {
    uint64_t n;
    double min, max, mean, sd, q1, median, q3, mad;
};

/** Parse cs_stats's text (NULL: no values, all zero).  Returns 0, or -1 when malformed. */
int cs_sqlf_stats_parse(const char *text, struct cs_sqlf_stats *out);

#endif
