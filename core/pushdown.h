/*
** pushdown.h -- running the built-in checks inside the database.
**
** Instead of reading every row, a pushdown run compiles the four built-in
** checks (missing, negative, duplicate, outlier) into a few aggregate
** SELECTs per table, in the connected database's dialect (dialect.h), and
** only counts, statistics and up to 10 sample keys per finding cross the
** wire.  Findings have the same check, column, kind, count, total, groups,
** message, range and severity as the streaming plugins' (severity through
** cs_severity_of, the same path as the host's emit); the run says
** "mode": "pushdown".  docs/pushdown.md has the SQL per check and dialect.
**
** Lua row rules that declare a SQL predicate (rule{sql = ...}) are counted
** in the same aggregate round, with sample rows by LIMIT 10 that the rule's
** own function reads for the message; the other rules of the table read
** the rows, and only the columns they use (cs_rules_pass_stream).
**
** Where a table cannot be checked exactly in SQL (a check plugin that is
** not one of the four built-ins, SQLite columns holding text in a numeric
** column, a reader without aggregate queries), the table is streamed
** instead and a log line says why.
**
** cs_pushdown_profiles computes the table profiles of customer runs
** (profile.h) with the same statistics rounds as the outlier check.
**
** Why the SQL lives here and not in the plugins: see docs/pushdown.md
** ("Where the SQL lives").
*/
#ifndef CS_PUSHDOWN_H
#define CS_PUSHDOWN_H

#include <stdint.h>

#include "config.h"
#include "creditsense/check.h"
#include "dialect.h"
#include "engine.h"
#include "plugin.h"
#include "source.h"

struct cs_rules_pass;

/** How a table scan reads (cs_scan_opts.scan_mode). */
enum cs_scan_mode { CS_SCAN_STREAM = 0, CS_SCAN_PUSHDOWN = 1, CS_SCAN_AUTO = 2 };

/** "stream", "pushdown", "auto" to the enum; -1 for anything else. */
int cs_scan_mode_parse(const char *s);

/** A table as the engine lends it to a pushdown run (everything borrowed). */
struct cs_pd_table {
    struct cs_source *src;             /* NULL: SQL text only (cs_pushdown_explain) */
    enum cs_dialect dialect;
    const struct cs_config *cfg;       /* may be NULL (explain) */
    const struct cs_tableconf *tc;     /* may be NULL */
    const struct cs_schema *schema;
    const struct cs_column_info *infos; /* schema->ncols entries, with policies */
    const size_t *pk;
    size_t npk;
    const struct cs_registry *reg;     /* the loaded checks; NULL: all four built-ins */
    struct cs_run *run;                /* findings go here */
    struct cs_rules_pass *rules;       /* the table's Lua rules (rules.h), or NULL; finished by a handled run */
    const struct cs_scan_opts *opts;   /* progress and cancellation of the rules' row pass; may be NULL */
};

/**
 * Check the table in the database when `mode` asks for it (auto: a
 * non-SQLite dialect, or more rows than source.pushdown_rows).  On success
 * *handled is 1, the findings are in t->run and *rows is the table's row
 * count; *handled 0 means "stream this table" (a log line said why when
 * pushdown was asked for).  Errors are the database's (CS_ESOURCE) or
 * CS_ENOMEM.
 */
int cs_pushdown_table(const struct cs_pd_table *t, int mode, uint64_t *rows, int *handled, struct cs_err *err);

/**
 * The statements a pushdown run of t would send, in order, separated by
 * ";\n" (placeholders where values are bound; per-column quantile queries
 * of SQLite shown once per column).  For golden tests and --explain-style
 * debugging.  *out is malloc'ed.
 */
int cs_pushdown_explain(const struct cs_pd_table *t, char **out, struct cs_err *err);

/**
 * Profiles (struct cs_profile: count, mean, sd, min, max, quartiles,
 * median, MAD) of the columns cols[0..n-1] of t (numeric, usable values as
 * their policies say), computed in the database when `mode` asks for it
 * (the same rule as cs_pushdown_table's: auto pushes non-SQLite dialects
 * and SQLite tables above source.pushdown_rows).  out has n entries.
 * *handled 0: build them by streaming (a log line says why when pushdown
 * was asked for).  Errors are the database's (CS_ESOURCE) or CS_ENOMEM.
 */
int cs_pushdown_profiles(const struct cs_pd_table *t, int mode, const size_t *cols, size_t n, struct cs_profile *out,
                         int *handled, struct cs_err *err);

#endif
