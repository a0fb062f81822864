/*
** store.h -- the run store: runs, anomalies, AI suggestions, metrics and
** profiles written to (and read back from) a database through ODBC.
**
** Contract (docs/store.md):
**   - cs_store_open connects (by default to the source database; the
**     store writes through its own connection, the source stays
**     read-only) and creates or migrates the schema (DQ_SCHEMA carries the
**     version).  A schema newer than this program is refused.
**   - cs_store_write_run writes one run in one transaction: DQ_RUNS,
**     DQ_ANOMALIES, DQ_METRICS, with array-bound inserts
**     (SQL_ATTR_PARAMSET_SIZE, column-wise).  The run id is DQ_RUNS's
**     primary key; writing a run again first deletes its rows inside the
**     same transaction, so a run is either entirely there once or not at
**     all.  Lock conflicts (SQLite "database is locked", PostgreSQL
**     serialization failures and deadlocks) are retried with back-off.
**   - Every user value is a bound parameter.  Messages carry the redacted
**     connection string and scrubbed driver diagnostics, never a secret.
**
** A store is one connection, used by one thread at a time.
** Ownership: cs_store_open/cs_store_close; cs_metric_history_free and
** cs_store_profiles_free release what the readers return; JSON returned by
** cs_store_history and cs_store_anomalies is the caller's.
**
** Test hook: CS_STORE_FAULT=after_runs|after_anomalies|after_metrics makes
** cs_store_write_run fail at that point (the transaction is rolled back),
** kill_after_anomalies kills the process there with SIGKILL, and
** no_arrays forces one execute per row.
*/
#ifndef CS_STORE_H
#define CS_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "dialect.h"
#include "engine.h"
#include "metrics.h"

/** Version of the schema this program writes (DQ_SCHEMA.VERSION). */
#define CS_STORE_SCHEMA_VERSION 1

struct cs_store;

/**
 * Connect to conn and create or migrate the schema.  schema (may be NULL)
 * qualifies every store table (PostgreSQL/Snowflake schema, created when
 * missing).  CS_ESOURCE with a message naming the redacted connection.
 */
int cs_store_open(struct cs_store **out, const char *conn, const char *schema, struct cs_err *err);

/** Open the store a config asks for (store.odbc, else source.odbc). */
int cs_store_open_config(struct cs_store **out, const struct cs_config *cfg, struct cs_err *err);

void cs_store_close(struct cs_store *st);

/** The CREATE statements of the current schema for dialect d, ";\n"-separated (docs, tests). */
int cs_store_ddl(enum cs_dialect d, const char *schema, char *buf, size_t size, struct cs_err *err);

enum cs_dialect cs_store_dialect(const struct cs_store *st);

/** Write a run (see the contract above). */
int cs_store_write_run(struct cs_store *st, const struct cs_run *run, struct cs_err *err);

/** One AI suggestion (DQ_AI_SUGGESTIONS). */
struct cs_suggestion {
    long anomaly_seq;      /* index of the finding in the run, -1 when keyed by signature */
    const char *signature; /* may be NULL */
    const char *backend, *model;
    const char *status;    /* pending | ok | failed | blocked */
    const char *json;      /* the structured suggestion, JSON text; may be NULL */
    long long prompt_tokens, completion_tokens, latency_ms; /* -1 when unknown */
};

/** Replace the suggestions of a run (one transaction; idempotent). */
int cs_store_write_suggestions(struct cs_store *st, const char *run_id, const struct cs_suggestion *s, size_t n,
                               struct cs_err *err);

/* ---- reading ------------------------------------------------------------ */

/** A past run's metrics. */
struct cs_hist_run {
    char run_id[37];
    double started; /* unix seconds */
    struct cs_colmetrics *m;
    size_t n;
};

/** A drift finding recorded earlier: that run's point is left out of baselines. */
struct cs_hist_flag {
    char run_id[37];
    char *column, *kind;
};

/** Metric history of one table, oldest run first. */
struct cs_metric_history {
    struct cs_hist_run *runs;
    size_t nruns;
    struct cs_hist_flag *flags;
    size_t nflags;
};

/** The last max_runs whole-table runs of table (exact name) with their metrics and drift flags. */
int cs_store_metric_history(struct cs_store *st, const char *table, size_t max_runs, struct cs_metric_history *out,
                            struct cs_err *err);
void cs_metric_history_free(struct cs_metric_history *h);

/** What `creditsense history` asks for. */
struct cs_history_query {
    const char *table;    /* NULL or a table name (any case) */
    const char *customer; /* NULL or a customer id */
    size_t limit;         /* newest first; 0 = 20 */
    size_t offset;        /* runs skipped before the first one returned */
    int runs_only;        /* leave out each run's anomalies (one query instead of one per run) */
};

/**
 * Past runs, newest first, as a JSON array of objects: run_id, scope,
 * table | customer_id, started_at, finished_at, status, rows_scanned,
 * findings (count), max_severity, config_hash, source, anomalies (array of
 * {table, column, check, kind, severity, count, total, message, sample_keys}).
 */
int cs_store_history(struct cs_store *st, const struct cs_history_query *q, json_t **out, struct cs_err *err);

/** What GET /api/v1/anomalies asks for.  NULL members (and min_severity < 0) do not filter. */
struct cs_anomaly_query {
    const char *table;    /* table name, any case */
    const char *column;   /* column name, any case */
    const char *check;    /* check or rule name, exact */
    int min_severity;     /* enum cs_severity: this severity or worse; -1 = any */
    const char *customer; /* findings of this customer's runs (integer ids normalised, 007 is 7) */
    const char *run_id;
    int has_since, has_until;
    double since, until;  /* unix seconds: since <= run start < until */
    size_t limit;         /* 0 = 50 */
    size_t offset;
};

/**
 * Stored findings that match q, newest run first (the run's STARTED_AT
 * descending, then RUN_ID descending, then ANOMALY_SEQ), a page of limit
 * from offset, as a JSON array of objects: run_id, started_at, scope,
 * customer_id (null for table runs), anomaly (the finding's ANOMALY_SEQ),
 * check, kind, table, column, count, total, ratio, severity, message,
 * sample_keys.  *more (may be NULL) is set when rows follow the page.
 * Every filter value is a bound parameter.
 */
int cs_store_anomalies(struct cs_store *st, const struct cs_anomaly_query *q, json_t **out, int *more,
                       struct cs_err *err);

/**
 * The SELECT cs_store_anomalies runs for dialect d (no schema prefix), and
 * the number of '?' parameters it binds (docs, tests: the values never
 * appear in the text).  -1 when it does not fit in size.
 */
int cs_store_anomalies_sql(enum cs_dialect d, const struct cs_anomaly_query *q, char *buf, size_t size,
                           size_t *nparams);

/* ---- profiles ----------------------------------------------------------- */

/** One column profile of a table. */
struct cs_store_profile {
    char *column;
    struct cs_profile p;
};

/**
 * The profiles of (table, config_hash) built at or after min_built_at.
 * Returns 0 with *n == 0 when there are none.
 */
int cs_store_profiles_load(struct cs_store *st, const char *table, const char *config_hash, double min_built_at,
                           struct cs_store_profile **out, size_t *n, double *built_at, struct cs_err *err);

/** Replace the profiles of (table, config_hash) in one transaction. */
int cs_store_profiles_save(struct cs_store *st, const char *table, const char *config_hash, double built_at,
                           const char *const *columns, const struct cs_profile *p, size_t n, struct cs_err *err);

void cs_store_profiles_free(struct cs_store_profile *p, size_t n);

/* ---- advisor support (store_advice.c; written for the advisor, issue 5) ---- */

/** A stored run with its anomalies as findings, in ANOMALY_SEQ order.  CS_ENOTFOUND when absent. */
int cs_store_run_load(struct cs_store *st, const char *run_id, struct cs_run **out, struct cs_err *err);

/** One DQ_AI_SUGGESTIONS row as read back. */
struct cs_stored_suggestion {
    long anomaly_seq; /* -1 when NULL */
    char *signature, *backend, *model, *status, *json;
    long long prompt_tokens, completion_tokens, latency_ms; /* -1 when NULL */
    double created_at;
    char *customer_id; /* the run's customer (cs_store_suggestions_recent only), NULL otherwise */
};

/** The suggestion rows of a run, in SUGGESTION_SEQ order. */
int cs_store_suggestions_load(struct cs_store *st, const char *run_id, struct cs_stored_suggestion **out, size_t *n,
                              struct cs_err *err);

/** The "ok" rows of backend and model created at or after since, newest first (the advisor's cache). */
int cs_store_suggestions_recent(struct cs_store *st, const char *backend, const char *model, double since,
                                struct cs_stored_suggestion **out, size_t *n, struct cs_err *err);

void cs_store_suggestions_free(struct cs_stored_suggestion *s, size_t n);

/**
 * Say that advice is on its way: one "pending" DQ_AI_SUGGESTIONS row per
 * finding of at least min_severity (its signature, backend, model, and
 * {"reason": reason}), replacing the run's rows.  Written after the run and
 * before the LLM is asked, so that readers see advice pending while calls
 * are out and a process that dies meanwhile leaves rows for `advise --run`.
 * Writes nothing when no finding qualifies.  model may be NULL.
 */
int cs_store_write_pending(struct cs_store *st, const struct cs_run *run, int min_severity, const char *backend,
                           const char *model, const char *reason, struct cs_err *err);

#endif
