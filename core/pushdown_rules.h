/*
** pushdown_rules.h -- private to pushdown.c and pushdown_rules.c: the SQL
** predicates of Lua row rules (rule{sql = "..."}, lua/README.md) compiled
** for one table and dialect.
**
** A predicate is parsed (a small SQL expression grammar, no statements)
** and written out again: the rule's columns as the catalog spells them,
** quoted by the dialect; keywords, functions and operators from fixed
** lists; and every literal of the predicate (numbers and strings) as a
** bound parameter.  So no byte of the rule file reaches the database
** verbatim, and no value from a request ever can.  cs_rule_sql_check
** (rules.h) runs the same parser when a rule file loads.
*/
#ifndef CS_PUSHDOWN_RULES_H
#define CS_PUSHDOWN_RULES_H

#include "pushdown.h"
#include "pushdown_sql.h"

struct pd_rules;

/**
 * Compile the predicates of the row rules in t->rules that have one.
 * A predicate that does not compile for this table stops its rule (an
 * error finding, as the streaming path reports a rule that cannot run).
 * *out is NULL when no rule has a predicate.  CS_ENOMEM only.
 */
int pd_rules_new(const struct cs_pd_table *t, struct pd_rules **out, struct cs_err *err);
void pd_rules_free(struct pd_rules *rs);

/** How many compiled predicates there are. */
size_t pd_rules_count(const struct pd_rules *rs);

/** Rule k's condition appended to q ("(...)"; parameters borrowed from rs). */
void pd_rules_cond(const struct pd_rules *rs, size_t k, struct pd_sql *q);

/** Rule k's sample query: SELECT keys, the rule's columns FROM T WHERE cond LIMIT 10 (no ORDER BY: scan order). */
void pd_rules_sample_sql(const struct pd_rules *rs, size_t k, struct pd_sql *q);

/** The database refused rule k's predicate (probe): the rule goes back to streaming; logged with why. */
void pd_rules_refused(struct pd_rules *rs, size_t k, const char *why);
int pd_rules_is_refused(const struct pd_rules *rs, size_t k);

/**
 * Hand rule k's answer to the rules pass: count offending rows out of the
 * table, and res (the sample query's rows, NULL when count is 0).
 */
int pd_rules_deliver(struct pd_rules *rs, size_t k, uint64_t count, const struct cs_qresult *res,
                     struct cs_err *err);

#endif
