/*
** config.h -- the JSON configuration.
**
** Contract (outside tests rely on it; see docs/config.md):
**   {"source": {"odbc": "<connection string>", "native_sqlite": true, "batch_rows": 1024},
**    "plugin_dir": "...", "rules_dir": "...", "profile": {"cache_dir": "...", "max_age_s": 86400, "mode": "auto"},
**    "store": {"odbc": "<connection string>", "schema": "...", "enabled": true},
**    "scan": {"memory_mb": 64, "spill_dir": "..."},
**    "advisor": {"backend": "gemini|openai|offline", "model": "...", ...}   (advisor_config.h),
**    "tables": {"<TABLE>": {"customer_key": "...", "primary_key": [...],
**                           "columns": {"<name or glob>": {<column settings>}}}}}
** Unknown keys are rejected with a message naming the key and its path, and
** a wrong type names the expected type.  ${NAME} in source.odbc is replaced
** by the environment variable NAME (so secrets stay out of the file), and
** ${CONFIG_DIR} by the directory of the config file.
**
** A column's settings come from exactly one entry: the entry with its exact
** name if there is one, else the longest matching glob (file order breaks
** ties), else the defaults.  Defaults: every column is checked for missing
** values; numeric columns that are not keys are checked for negatives and
** for outliers (z-score, threshold 3).
**
** Ownership: cs_config_load allocates, cs_config_free releases everything;
** pointers into a config are valid while it lives.  A config is read-only
** after loading and may be shared between threads.
*/
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "creditsense/check.h"

/** Severities, in order. */
enum cs_severity { CS_SEV_INFO = 0, CS_SEV_LOW = 1, CS_SEV_MEDIUM = 2, CS_SEV_HIGH = 3, CS_SEV_CRITICAL = 4 };

/**
 * Drift settings of a table or column ("drift": false | {...}; docs/config.md).
 * metrics is a set of CS_DRIFT_* bits (drift.h); 0 means the defaults.
 */
struct cs_driftconf {
    int set;     /* the entry has a "drift" key */
    int enabled; /* false turns drift checks off */
    double max_change, zscore, min_delta;
    int window, min_runs;
    unsigned metrics;
};

/** Per-column settings as written in the config. */
struct cs_colconf {
    char *pattern;
    int is_glob;
    int has_allow_negative, has_outlier, has_empty_is_missing;
    struct cs_column_policy policy; /* sentinel arrays point into the two members below */
    double *sentinels;
    char **text_sentinels;
    double max_missing; /* missing ratio up to which missing values are expected (info) */
    int severity;       /* forced severity, -1 when not set */
    int sensitive;      /* never sent to an LLM */
    struct cs_driftconf drift;
};

struct cs_advisor_conf;
struct cs_server_conf;

struct cs_tableconf {
    char *name;
    char *customer_key; /* NULL when not set */
    char **pk;
    size_t npk;
    struct cs_colconf *cols;
    size_t ncols;
    struct cs_driftconf drift; /* row count, and the default of the table's columns */
};

struct cs_config {
    char *path;
    char *dir;
    char *source_odbc; /* expanded; contains secrets, never log it (cs_config_redact) */
    int native_sqlite;
    size_t batch_rows;
    char *plugin_dir; /* NULL: next to the binary, else the install dir */
    char *rules_dir;  /* Lua rules; NULL: ../rules beside the binary, else the install datadir (rules.h) */
    char *profile_cache_dir; /* NULL: no on-disk profile cache */
    int64_t profile_max_age_s;
    int profile_mode; /* profile.mode: how profiles are built, enum cs_scan_mode (pushdown.h); default auto */
    struct cs_tableconf *tables;
    size_t ntables;
    char *store_odbc;   /* NULL: the source connection; a secret like source_odbc */
    char *store_schema; /* NULL: the connection's default schema */
    int store_enabled;  /* store runs unless --no-store (default 1) */
    int store_configured; /* a "store" section exists: failing to store is then an error, not a warning */
    struct cs_advisor_conf *advisor; /* "advisor" (advisor_config.h); NULL when absent: defaults */
    struct cs_server_conf *server;   /* "server" (server_conf.h); always set after loading */
    char hash[17]; /* hex FNV-1a of the file's bytes, recorded with every run */
    size_t scan_memory_mb; /* scan.memory_mb: a run's budget for exact statistics (default 64) */
    char *scan_spill_dir;  /* scan.spill_dir, expanded; NULL: $TMPDIR, else /var/tmp (cs_config_spill_dir) */
    uint64_t pushdown_rows; /* source.pushdown_rows: "auto" pushes SQLite tables larger than this down; 0 = never */
};

/** Load and validate a config file. CS_ECONFIG with a message on any problem. */
int cs_config_load(const char *path, struct cs_config **out, struct cs_err *err);

/** Parse a config from memory (path is used for messages and ${CONFIG_DIR}). */
int cs_config_parse(const char *text, size_t len, const char *path, struct cs_config **out, struct cs_err *err);

void cs_config_free(struct cs_config *cfg);

/** The table's settings: exact name first, then ignoring case. NULL when absent. */
const struct cs_tableconf *cs_config_table(const struct cs_config *cfg, const char *name);

/** The entry that governs a column (exact name, else longest glob), or NULL. */
const struct cs_colconf *cs_config_column(const struct cs_tableconf *t, const char *column);

/**
 * The effective policy of a column: the governing entry's settings over the
 * defaults for its type and key-ness.  The sentinel arrays point into cfg.
 */
void cs_config_policy(const struct cs_colconf *cc, int type, int is_key, struct cs_column_policy *out);

/** Where a run spills exact statistics: scan.spill_dir, else $TMPDIR, else /var/tmp. */
const char *cs_config_spill_dir(const struct cs_config *cfg);

/** Copy of a connection string with Pwd/Password/PRIV_KEY_FILE_PWD/Token values masked. */
void cs_config_redact(const char *conn, char *buf, size_t size);

/**
 * For modules that parse their own config section: obj.key as a number in
 * [lo, hi] into *out (left alone when the key is absent).  CS_ECONFIG names
 * path.key and what was expected.
 */
int cs_config_get_number(json_t *obj, const char *key, const char *path, double lo, double hi, double *out,
                         struct cs_err *err);

/**
 * For modules that parse their own config section: CS_ECONFIG naming path and
 * the first key of obj that is not in allowed (NULL-terminated), with a
 * "did you mean" hint when one is close.
 */
int cs_config_check_keys(json_t *obj, const char *path, const char *const *allowed, struct cs_err *err);

/** Case-insensitive edit distance (SIZE_MAX past 64 characters), for "did you mean" hints. */
size_t cs_config_edit_distance(const char *a, const char *b);

/** "info".."critical" and back; -1 for an unknown name. */
const char *cs_severity_name(int sev);
int cs_severity_parse(const char *name);

#endif
