/*
** engine.h -- running checks over a table or over one customer's rows.
**
** An engine is per thread: it owns one source connection and a profile
** cache, and borrows the (immutable, shareable) config and plugin registry.
** The daemon gives each worker thread its own engine; the CLI makes one.
**
** A run produces a struct cs_run: the findings of every check (plugins,
** and Lua rules through the same finding type: rules.h) with severity and
** sample keys, and the number of rows scanned.  Runs never write to the
** source database.
**
** Ownership: cs_engine_new/cs_engine_free; a run returned by a scan is the
** caller's and is released with cs_run_free.
*/
#ifndef CS_ENGINE_H
#define CS_ENGINE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "plugin.h"

/** One finding, the same type for every check and rule. */
struct cs_finding {
    char *check;   /* "missing", "negative", "duplicate", "outlier", or a rule name */
    char *source;  /* "builtin" or "lua" */
    char *table;
    char *column;
    char *kind;
    char *message;
    uint64_t count, total, groups;
    int severity;        /* enum cs_severity */
    json_t *sample_keys; /* JSON array, owned */
    int has_range;
    double threshold, lower, upper;
};

enum cs_scope { CS_SCOPE_TABLE = 1, CS_SCOPE_CUSTOMER = 2 };

/** Rows read per table in a run. */
struct cs_table_rows {
    char *table;
    uint64_t rows;
};

struct cs_run {
    char run_id[37];
    int scope;
    char *table;        /* CS_SCOPE_TABLE */
    char *customer_id;  /* CS_SCOPE_CUSTOMER, as given */
    int customer_is_int;
    uint64_t rows_scanned;
    double started, finished; /* unix seconds */
    struct cs_table_rows *tables;
    size_t ntables;
    struct cs_finding *findings;
    size_t nfindings, cap;
    char config_hash[17];
    char source_kind[16];
    struct cs_colmetrics *metrics; /* whole-table runs with cs_scan_opts.metrics; "*" first (metrics.h) */
    size_t nmetrics;
    int stored;                    /* written to the run store (report: "stored") */
    char mode[12];                 /* "pushdown" when the checks ran in the database (report: "mode"), else "" */
};

/** Progress callback: rows done out of total (total 0 when unknown). */
typedef void (*cs_progress_fn)(void *ctx, const char *table, uint64_t done, uint64_t total);

struct cs_scan_opts {
    cs_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    int count_rows;          /* ask the database for the row count first (for progress) */
    int metrics;             /* whole-table runs: collect per-column metrics (for the store) */
    const atomic_int *cancel; /* may be NULL; once non-zero the run stops between batches with CS_ECANCELED */
    int scan_mode;            /* whole-table runs: enum cs_scan_mode (pushdown.h); 0 = stream */
};

struct cs_engine;
struct cs_colmetrics;
struct cs_store;

/** Connect to the configured source. */
int cs_engine_new(struct cs_engine **out, const struct cs_config *cfg, const struct cs_registry *reg,
                  struct cs_err *err);
void cs_engine_free(struct cs_engine *eng);

struct cs_source;
/**
 * The engine's source connection, borrowed and used on the engine's thread
 * only: for reads beside the checks (the daemon's raw rows of a customer).
 */
struct cs_source *cs_engine_source(struct cs_engine *eng);

/** Is the source still there?  A cheap catalog lookup of the first configured table; CS_ESOURCE when not. */
int cs_engine_ping(struct cs_engine *eng, struct cs_err *err);

struct cs_rules;
/**
 * Read Lua rules from a catalogue shared by several engines (rules.h)
 * instead of the engine's own one from the config's rules_dir.  Borrowed:
 * it must outlive the engine.
 */
void cs_engine_use_rules(struct cs_engine *eng, struct cs_rules *rules);

/** A customer id as the filter value of a key column of the given cs_type (an integer key wants an integer id). */
struct cs_keyval;
int cs_engine_parse_customer(const char *id, int type, struct cs_keyval *kv, struct cs_err *err);

/** Wall-clock time in unix seconds. */
double cs_run_now(void);
/** A random (version 4) UUID, as run and job ids are. */
void cs_run_new_id(char out[37]);

/** Append a zeroed finding to a run (the store fills it from a row); NULL when out of memory. */
struct cs_finding *cs_run_add_finding(struct cs_run *run);

/** The text of a new finding (kind and message may be NULL: ""). */
struct cs_finding_text {
    const char *check, *source, *table, *column, *kind, *message;
};
/**
 * Append a finding with copies of t and the sample keys (a JSON array, taken
 * over; NULL for none).  The caller sets the counts and the severity.  NULL
 * when out of memory: then nothing was appended and samples is released.
 */
struct cs_finding *cs_run_add(struct cs_run *run, const struct cs_finding_text *t, json_t *samples);

/** Keep table profiles in the run store too (shared across processes); st is borrowed. */
void cs_engine_set_store(struct cs_engine *eng, struct cs_store *st);

/** Whole-table run: every row of the table. CS_ENOTFOUND for an unknown table. */
int cs_engine_scan_table(struct cs_engine *eng, const char *table, const struct cs_scan_opts *opts,
                         struct cs_run **out, struct cs_err *err);

/**
 * Per-customer run: the customer's rows in every configured table with a
 * customer_key, outliers judged against cached table profiles.
 * CS_EUSAGE for a malformed id, CS_ENOTFOUND when no table has the customer.
 */
int cs_engine_scan_customer(struct cs_engine *eng, const char *customer_id, const struct cs_scan_opts *opts,
                            struct cs_run **out, struct cs_err *err);

void cs_run_free(struct cs_run *run);

/** Highest severity among the run's findings, -1 when there are none. */
int cs_run_max_severity(const struct cs_run *run);

#endif
