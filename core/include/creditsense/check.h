/*
** creditsense/check.h -- the check plugin ABI.
**
** This is the only header a check plugin needs, and it includes nothing of
** CreditSense's internals.  A check plugin is a shared module that exports
** one symbol, CS_CHECK_ENTRY_SYMBOL, a function returning a pointer to a
** static, size-stamped `struct cs_check_plugin`.  The host refuses modules
** whose abi_version differs from CS_CHECK_ABI_VERSION or whose struct_size is
** smaller than the host's view of the struct, dlclose()s them and carries on.
**
** The host hands the plugin a `struct cs_host_api` table of services at
** init.  Structs in this file only ever grow at the end; a field added later
** is guarded by struct_size (read it only when struct_size covers it).
**
** Threading and ownership:
**   - One plugin state serves one table run on one thread; a plugin keeps no
**     global mutable state, so many runs may proceed at once.
**   - Every pointer the host passes in is borrowed for the duration of the
**     call unless a comment says otherwise.  Batches are read-only.
**   - Nothing is freed across the boundary: the plugin frees what it
**     allocates (in its free callback), the host frees what it allocates.
**   - A check reads batches and reports findings; its only I/O is a spill
**     file from cs_host_api.spill_open in cs_table_info.spill_dir when it
**     would otherwise hold more than cs_table_info.memory_limit (the
**     duplicate check does).
*/
#ifndef CREDITSENSE_CHECK_H
#define CREDITSENSE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of everything in this header.  Bumped on incompatible change. */
#define CS_CHECK_ABI_VERSION 1u

/** Name of the one symbol a check module exports (a cs_check_entry_fn). */
#define CS_CHECK_ENTRY_SYMBOL "cs_check_entry"

/** Column value types of a batch. */
enum cs_type { CS_TYPE_INT64 = 1, CS_TYPE_DOUBLE = 2, CS_TYPE_TEXT = 3 };

/** Outlier methods (see docs/checks.md for the formulas). */
enum cs_outlier_method { CS_OUTLIER_OFF = 0, CS_OUTLIER_ZSCORE = 1, CS_OUTLIER_IQR = 2, CS_OUTLIER_MAD = 3 };

/** Run modes: a whole-table scan or one customer's rows. */
enum cs_mode { CS_MODE_TABLE = 1, CS_MODE_CUSTOMER = 2 };

/** Log levels, syslog style. */
enum cs_log_level { CS_LOG_ERROR = 3, CS_LOG_WARNING = 4, CS_LOG_INFO = 6, CS_LOG_DEBUG = 7 };

/** Message buffer size of struct cs_err. */
#define CS_ERR_MSG 512

/** Error report: a message a user can act on.  Filled by failing calls. */
struct cs_err {
    int code;              /**< negative error code, 0 when no error */
    char msg[CS_ERR_MSG];  /**< NUL-terminated message */
};

/**
 * One column of a batch.  Exactly one of i64 / f64 / text is set, by type.
 * nulls[i] is CS_CELL_VALUE (0) for a value, CS_CELL_NULL (1) for SQL NULL and
 * CS_CELL_INVALID (2) for a value that cannot be read as the column's type
 * (text in a numeric column, a non-integral number in an integer column);
 * the value slot of a NULL or invalid cell is undefined.
 * For text, text[i] is NUL-terminated UTF-8 of text_len[i] bytes.
 */
struct cs_column {
    const char *name;
    int type; /**< enum cs_type */
    const uint8_t *nulls;
    const int64_t *i64;
    const double *f64;
    const char *const *text;
    const uint32_t *text_len;
};

/** Cell states in struct cs_column.nulls. */
enum cs_cell { CS_CELL_VALUE = 0, CS_CELL_NULL = 1, CS_CELL_INVALID = 2 };

/** A batch of rows, column-wise.  Read-only; valid for one batch() call. */
struct cs_batch {
    size_t nrows;
    size_t ncols;
    const struct cs_column *cols; /**< ncols entries, in table-info order */
    uint64_t first_row;           /**< 0-based position of row 0 in the run */
};

/**
 * Per-column statistics of a whole table, used to judge rows when the run
 * cannot (one customer's rows) and built by the host's stats service.
 * sd is the population standard deviation (divisor n, numpy ddof=0).
 * Quantiles are exact, linear interpolation between order statistics
 * (numpy's default, PostgreSQL's percentile_cont).
 */
struct cs_profile {
    uint32_t struct_size;
    uint64_t count; /**< non-null, non-NaN, non-sentinel values */
    double mean, sd, min, max;
    double q1, median, q3;
    double mad; /**< median of |x - median| */
};

/** What the configuration says about one column. */
struct cs_column_policy {
    uint32_t struct_size;
    int allow_negative;   /**< negative values are legitimate */
    int empty_is_missing; /**< '' (and blanks) count as missing in text columns */
    int outlier_method;   /**< enum cs_outlier_method; OFF disables the check */
    double outlier_threshold;
    size_t n_sentinels;       /**< placeholder values meaning "no value" */
    const double *sentinels;  /**< e.g. 365243 in DAYS_* columns */
    size_t n_text_sentinels;  /**< placeholder strings meaning "no value" */
    const char *const *text_sentinels; /**< e.g. "XNA" */
};

/** One column as a check sees it. */
struct cs_column_info {
    const char *name;
    int type; /**< enum cs_type */
    int is_key; /**< part of the primary key or the customer key */
    const struct cs_column_policy *policy;
    /** Table profile for customer runs (NULL in table runs, or when none could be built). */
    const struct cs_profile *profile;
};

/** The table a plugin instance checks. */
struct cs_table_info {
    uint32_t struct_size;
    const char *name;
    int mode; /**< enum cs_mode */
    size_t ncols;
    const struct cs_column_info *cols;
    size_t npk;          /**< number of primary-key columns (0: none configured) */
    const size_t *pk;    /**< indexes into cols */
    uint64_t rows_hint;  /**< expected rows, 0 when unknown */
    /** Added in ABI 1 after rows_hint (check struct_size): the bytes a check may hold for this
     *  run beyond a constant (scan.memory_mb), and the directory where it may spill the rest
     *  (scan.spill_dir; borrowed for the run).  memory_limit 0: no limit. */
    size_t memory_limit;
    const char *spill_dir;
};

/** Opaque handle to a key the host captured (see cs_host_api.keep_key). */
typedef uint32_t cs_keyref;
/** The keyref keep_key returns when it could not capture a key (out of memory). */
#define CS_KEYREF_NONE UINT32_MAX

/** Status codes a plugin may return (the host's full list is larger). */
#define CS_CHECK_OK 0
#define CS_CHECK_ENOMEM (-6)  /**< out of memory */
#define CS_CHECK_EPLUGIN (-7) /**< the plugin cannot work on this table; say why in err */

/** A finding as a check reports it; the host adds severity and table. */
struct cs_finding_in {
    uint32_t struct_size;
    const char *column;  /**< column name; "A,B" for composite keys; "*" for whole rows */
    const char *kind;    /**< sub-kind, e.g. "null", "nan", "empty", "sentinel", "key", "row", "zscore" */
    uint64_t count;      /**< offending rows */
    uint64_t total;      /**< rows the check looked at */
    uint64_t groups;     /**< duplicate groups; 0 otherwise */
    const char *message; /**< one sentence for people; copied by the host */
    size_t nsamples;
    const cs_keyref *samples; /**< up to 10 keys of offending rows */
    double threshold;    /**< method threshold, when meaningful (else 0) */
    double lower, upper; /**< accepted range for outliers (else 0) */
};

/** Streaming statistics accumulator, owned by whoever called stats_new. */
struct cs_stats;

/**
 * Services the host lends to a plugin.  Every function takes the opaque
 * host context `hctx` given to init.  Append-only; check struct_size before
 * using a member added after version 1.
 */
struct cs_host_api {
    uint32_t abi_version;
    uint32_t struct_size;
    /** Log a line prefixed with [check:<name>]; rate-limited by the host. */
    void (*log)(void *hctx, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
    /** Report a finding; everything is copied.  Returns 0, or <0 when out of memory. */
    int (*emit)(void *hctx, const struct cs_finding_in *f);
    /** Capture the primary key of row `row` of batch `b`; the ref stays valid for the run.
     *  For a table without a primary key the key is the row's 1-based number in the run,
     *  b->first_row + row + 1, and nothing else of the batch is read: a check that no longer
     *  has the batch may pass a batch with nrows 1, ncols 0 and first_row set, and row 0. */
    cs_keyref (*keep_key)(void *hctx, const struct cs_batch *b, size_t row);
    /** New statistics accumulator for exact profiles (NULL when out of memory). */
    struct cs_stats *(*stats_new)(void *hctx);
    /** Add the usable values of column `col` of batch `b` (skips NULL, NaN, +-inf and the policy's sentinels). */
    int (*stats_add)(struct cs_stats *s, const struct cs_batch *b, size_t col, const struct cs_column_policy *pol);
    /** Compute the profile of everything added so far. */
    int (*stats_profile)(struct cs_stats *s, struct cs_profile *out);
    /** Count values outside [lower, upper] and keep up to `max` keys of the most extreme ones. */
    uint64_t (*stats_count_outside)(struct cs_stats *s, double lower, double upper, cs_keyref *keys, size_t max, size_t *nkeys);
    void (*stats_free)(struct cs_stats *s);
    /** Added in ABI 1 after stats_free (check struct_size): count, mean, sd, min and max
     *  only, without the passes over the values quantiles need; q1, median, q3 and mad are left 0. */
    int (*stats_moments)(struct cs_stats *s, struct cs_profile *out);
    /** Added in ABI 1 after stats_moments (check struct_size): why the last stats_* call on s
     *  failed (e.g. its spill directory is full), or NULL.  Valid until the next call on s.
     *  stats_count_outside returns 0 on such a failure: check this after it. */
    const char *(*stats_error)(const struct cs_stats *s);
    /** Added in ABI 1 after stats_error (check struct_size): a new read-write file in dir
     *  (cs_table_info.spill_dir) that no name points to, for data beyond memory_limit.  Returns
     *  the descriptor, which the plugin closes, or -errno.  No hctx: it keeps no state. */
    int (*spill_open)(const char *dir);
};

/** The callbacks a check module provides. */
struct cs_check_plugin {
    uint32_t abi_version; /**< CS_CHECK_ABI_VERSION */
    uint32_t struct_size; /**< sizeof(struct cs_check_plugin) */
    const char *name;     /**< check name, e.g. "missing" */
    const char *description;
    /** Prepare for one table run.  *state is the plugin's; freed by destroy. */
    int (*init)(const struct cs_host_api *api, void *hctx, const struct cs_table_info *t, void **state, struct cs_err *err);
    /** Look at one batch.  Batches come in row order, one call at a time per instance, but in a
     *  table scan possibly on another thread than init and finish (the host splits the checks over
     *  two threads): keep state in *state only, and call only log, keep_key and stats_* from here. */
    int (*batch)(void *state, const struct cs_batch *b, struct cs_err *err);
    /** All rows seen: report findings through api->emit. */
    int (*finish)(void *state, struct cs_err *err);
    /** Release the state: called after finish, or after a failed batch or finish.  Not called
     *  when init fails: init frees what it allocated and leaves *state NULL. */
    void (*destroy)(void *state);
};

/** Type of the exported entry symbol. host_abi is the host's CS_CHECK_ABI_VERSION. */
typedef const struct cs_check_plugin *(*cs_check_entry_fn)(uint32_t host_abi);

/** Define the entry symbol in a plugin: CS_CHECK_DECLARE(my_plugin_struct). */
#define CS_CHECK_DECLARE(plugin)                                                                  \
    __attribute__((visibility("default"))) const struct cs_check_plugin *cs_check_entry(uint32_t host_abi) \
    {                                                                                             \
        (void)host_abi;                                                                           \
        return &(plugin);                                                                         \
    }

#ifdef __cplusplus
}
#endif
#endif
