/*
** rules.h -- data-quality rules written in Lua (the *.lua files of the rules directory).
**
** Three layers, from disk to findings:
**
**   1. The catalogue (struct cs_rules, rules.c): the rule files of one
**      directory.  cs_rules_refresh() reads every visible *.lua file (sorted
**      by name; dotfiles and dot-directories such as a Kubernetes ConfigMap's
**      ..data and ..2024_01_01_00_00_00.1 are ignored, the visible names are
**      followed, and the listing is retried when ..data is swapped while it
**      is read), and when anything changed builds a new immutable snapshot:
**      each file is run in a scratch sandbox where rule{...} validates and
**      records its rules.  A broken file never unloads the good ones; when a
**      file that loaded before is now broken, its last good version stays in
**      the snapshot (marked stale) and the error is reported.  Snapshots are
**      reference-counted and may be shared by threads.
**
**   2. The machine (struct cs_rules_vm, rules_run.c): one Lua sandbox per
**      engine (so per thread), built from a snapshot and reused run after
**      run; cs_rules_vm_sync() at the start of each run picks up a new
**      snapshot, so a file dropped in between two scans is seen by the
**      second.
**
**   3. The passes (rules_run.c): the engine hands every batch of a table
**      pass to the rules declared for that table (the same batches as the
**      check plugins: one read), and a customer run's rows to the customer
**      rules once every table is read.  Findings go into the run with
**      source "lua"; a rule that fails (error, endless loop, memory, a column
**      the table does not have) is stopped, logged, and reported as a
**      finding of kind "error" naming file:line, and everything else runs.
**
**   4. Pushdown (pushdown.c, pushdown_rules.c): a row rule may declare a SQL
**      predicate (rule{sql = "..."}).  A table checked in the database asks
**      the pass for its rules, answers those with a predicate in SQL
**      (cs_rules_pass_answer: the count, and the sample rows, which the
**      rule's own function reads for the message), streams only the
**      columns the other rules read (cs_rules_pass_stream), and finishes
**      the pass as usual: the findings read the same either way.
**
** The Lua side of the API and its sandbox are documented in lua/README.md.
*/
#ifndef CS_RULES_H
#define CS_RULES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "sandbox.h"
#include "source.h"

enum cs_rule_kind { CS_RULE_ROW = 1, CS_RULE_AGGREGATE = 2, CS_RULE_CUSTOMER = 3 };

/** A table a rule reads and the columns it uses there, as the rule spells them. */
struct cs_rule_table {
    char *name;
    char **cols;
    size_t ncols;
};

/** What a rule declares. */
struct cs_rule_meta {
    char *name;
    char *description;
    char *file; /* file name inside the rules directory */
    int line;   /* line of the rule{...} call */
    int kind;   /* enum cs_rule_kind */
    int severity;
    struct cs_rule_table *tables;
    size_t ntables;
    char *sql; /* row rules: the SQL predicate of rule{sql = ...}, NULL when none */
    int ref; /* registry reference of the rule's functions in the loading state (machines only) */
};

/** A file that could not be loaded. */
struct cs_rule_problem {
    char *file;
    int line; /* 0 when the problem has no line */
    char *message; /* without the "file:line: " prefix */
    int stale;     /* its last good version is still in use */
};

/** One visible rule file as last read from disk. */
struct cs_rule_file {
    char *name;
    char *disk; /* bytes on disk (NULL when unreadable) */
    size_t disk_len;
    int read_errno; /* why disk is NULL */
    const char *used; /* the version whose rules are loaded (disk, or the last good one), NULL if none */
    size_t used_len;
    char *last_good; /* owned copy when used != disk */
};

/** Everything loaded from the directory at one moment.  Immutable. */
struct cs_rules_snapshot {
    int refs; /* atomic */
    uint64_t generation;
    double loaded_at; /* unix seconds when it was built */
    char *dir;
    int dir_errno; /* 0, or why the directory could not be listed (ENOENT: it does not exist) */
    struct cs_rule_file *files;
    size_t nfiles;
    struct cs_rule_meta *rules;
    size_t nrules;
    struct cs_rule_problem *problems;
    size_t nproblems;
};

struct cs_rules;

/**
 * A catalogue of the rule files in dir (not read yet: the first
 * cs_rules_refresh or cs_rules_acquire reads it).  NULL when out of memory.
 * required: a missing directory is reported as a problem (a configured
 * rules_dir) instead of meaning "no rules" (the default directory).
 */
struct cs_rules *cs_rules_new(const char *dir, int required, const struct cs_sandbox_limits *limits);
void cs_rules_free(struct cs_rules *r);

/**
 * Re-read the directory; when any file was added, removed or changed (or
 * nothing was read yet), build a new snapshot and log its problems.
 * Returns 1 when a new snapshot was made, 0 when nothing changed, <0 when
 * out of memory.  Thread-safe.
 */
int cs_rules_refresh(struct cs_rules *r);

/**
 * Rebuild from disk even when nothing seems to have changed: what the daemon
 * calls when it is told the directory changed.  Broken files keep their last
 * good version.  Returns 0 or <0 when out of memory.  Thread-safe.
 */
int cs_rules_reload(struct cs_rules *r);

/** The sandbox limits of the catalogue (machines reading it use them too). */
struct cs_sandbox_limits cs_rules_limits(const struct cs_rules *r);

/** The current snapshot, with a reference the caller must release. */
struct cs_rules_snapshot *cs_rules_acquire(struct cs_rules *r);
void cs_rules_release(struct cs_rules_snapshot *s);

/** The directory of a config: rules_dir, else ../rules beside the binary, else the install datadir. */
void cs_rules_dir(const struct cs_config *cfg, char *buf, size_t size);

/** "row", "aggregate" or "customer". */
const char *cs_rule_kind_name(int kind);

/**
 * Check one table of a rule against a table's schema: every declared column
 * must exist (exact name, else ignoring case).  Returns 0, or -1 with
 * "rule 'x': table T has no column C (did you mean D?)" in msg.
 * idx (may be NULL) receives the schema index of each column.
 */
int cs_rule_resolve_columns(const struct cs_rule_meta *rule, const struct cs_rule_table *t,
                            const struct cs_schema *schema, size_t *idx, char *msg, size_t size);

/**
 * Check a rule's SQL predicate for table t of the rule (pushdown_rules.c):
 * one boolean expression over t's declared columns, with numbers, 'text',
 * comparisons, + - * /, AND OR NOT, IS [NOT] NULL, [NOT] IN (...),
 * [NOT] BETWEEN, CASE and the functions ABS and COALESCE; no statement,
 * ';' or comment.  Returns 0, or -1 with "sql: ..." in msg.
 */
int cs_rule_sql_check(const char *sql, const struct cs_rule_table *t, char *msg, size_t size);

/* ---- loading files into a sandbox (rules.c; used by snapshots and machines) ---- */

struct cs_rule_list {
    struct cs_rule_meta *v;
    size_t n, cap;
};

/**
 * Run one rule file in its own environment in sb, appending its rules to
 * list.  Names already in list are refused.  Returns 0, or -1 with the
 * problem (line, message) in *line / msg; the list is then as before.
 */
int cs_rules_load_file(struct cs_sandbox *sb, const char *file, const char *text, size_t len,
                       struct cs_rule_list *list, int *line, char *msg, size_t size);

void cs_rule_meta_clear(struct cs_rule_meta *m);
void cs_rule_list_clear(struct cs_rule_list *list);

/* ---- machines and passes (rules_run.c) ------------------------------------- */

struct cs_rules_vm;

/**
 * A machine for one engine, reading the catalogue of cfg (its own, until
 * cs_rules_vm_use gives it a shared one).  NULL when out of memory.
 */
struct cs_rules_vm *cs_rules_vm_new(const struct cs_config *cfg);
void cs_rules_vm_free(struct cs_rules_vm *vm);

/** Read rules from a shared catalogue (borrowed; it must outlive vm). */
void cs_rules_vm_use(struct cs_rules_vm *vm, struct cs_rules *shared);

/** Refresh the catalogue and load its newest snapshot (at the start of a run). */
void cs_rules_vm_sync(struct cs_rules_vm *vm);

/** What a table pass tells the rules. */
struct cs_rules_target {
    struct cs_run *run;
    const struct cs_config *cfg;
    const struct cs_tableconf *tc; /* may be NULL */
    const struct cs_schema *schema;
    int mode; /* enum cs_mode */
    /** The row's key as the engine reports it (new reference). */
    json_t *(*row_key)(void *ctx, const struct cs_batch *b, size_t row);
    void *key_ctx;
};

struct cs_rules_pass;

/** Rules for the target's table; NULL when none apply (the other calls accept NULL). */
struct cs_rules_pass *cs_rules_pass_begin(struct cs_rules_vm *vm, const struct cs_rules_target *t);
/** Run the rules over one batch (all columns of the schema, in order). */
void cs_rules_pass_batch(struct cs_rules_pass *p, const struct cs_batch *b);
/** Finish the rules and add their findings to the run.  0, or CS_ENOMEM. */
int cs_rules_pass_finish(struct cs_rules_pass *p);
void cs_rules_pass_free(struct cs_rules_pass *p);

/* ---- passes answered in the database (pushdown.c) ---- */

/** Number of rules in the pass (index i below is 0 .. size-1). */
size_t cs_rules_pass_size(const struct cs_rules_pass *p);
/**
 * Rule i: its declaration; *t its entry for the pass's table and *idx the
 * schema index of each of t's columns.  NULL when the rule is already
 * stopped or answered.
 */
const struct cs_rule_meta *cs_rules_pass_rule(const struct cs_rules_pass *p, size_t i,
                                              const struct cs_rule_table **t, const size_t **idx);
/** Stop rule i: it is reported as a rule error with msg (file:line is added). */
void cs_rules_pass_stop(struct cs_rules_pass *p, size_t i, const char *msg);
/**
 * Rule i was answered in SQL: `count` rows of the table offend.  rows (may
 * be NULL) holds up to 10 of them, in schema layout (every column the
 * rule and the key need is filled): the rule's row function reads them as
 * it would while streaming, which gives the samples and the first case's
 * message.  keyed 0: the table has no key, so no samples.  A row the
 * function does not report is logged (the predicate and the function
 * disagree); the count stays the database's.  0, or CS_ENOMEM.
 */
int cs_rules_pass_answer(struct cs_rules_pass *p, size_t i, uint64_t count, const struct cs_batch *rows, int keyed);
/** Does any rule of the pass still need the table's rows? */
int cs_rules_pass_needs_rows(const struct cs_rules_pass *p);
/**
 * Read only the columns the rules still needing rows use (plus the key
 * columns keys[0..nkeys-1]) and run those rules over them.  *rows: rows
 * read.  Progress and cancellation as cs_scan_opts says (o may be NULL).
 */
int cs_rules_pass_stream(struct cs_rules_pass *p, struct cs_source *src, const size_t *keys, size_t nkeys,
                         const struct cs_scan_opts *o, uint64_t *rows, struct cs_err *err);
/** The table's row count, for a pass whose rules were all answered in SQL (messages say "of N rows"). */
void cs_rules_pass_set_total(struct cs_rules_pass *p, uint64_t total);

/** Start collecting a customer's rows for customer rules. */
void cs_rules_customer_begin(struct cs_rules_vm *vm);
/**
 * After every table of a customer run: when run_rules, run the customer
 * rules and add their findings to run.  Always drops the collected rows.
 * 0, or CS_ENOMEM.
 */
int cs_rules_customer_end(struct cs_rules_vm *vm, struct cs_run *run, int run_rules);

/* ---- the command line (rules_cli.c) ----------------------------------------- */

/**
 * `creditsense rules list` (sub "list") or `rules check` ("check") for the
 * config file at config_path, as text or JSON on stdout.  Returns the exit
 * status: 0, or 2 when the config cannot be used or (check) any rule file
 * is broken or refers to a table or column the database does not have.
 */
int cs_rules_cli(const char *sub, const char *config_path, int json);

#endif
