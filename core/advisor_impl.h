/*
** advisor_impl.h -- private to advisor.c, advisor_prompt.c and
** advisor_schema.c: the prompt template, the facts sent about findings, and
** checking an answer against the schema.
**
** The pieces here are pure functions of their arguments (no threads, no
** I/O except reading the template file), so tests/test_advisor.c can test
** them directly.
*/
#ifndef CS_ADVISOR_IMPL_H
#define CS_ADVISOR_IMPL_H

#include <jansson.h>
#include <stddef.h>

#include "advisor_config.h"
#include "config.h"
#include "engine.h"

/* ---- the prompt template (advisor_prompt.c) ------------------------------------ */

struct adv_template {
    char version[64];   /* file name without .txt, e.g. "advice-v1" */
    char *path;
    char *system_text;  /* the [system] part */
    char *user_text;    /* the [user] part, with {{placeholders}} */
    char *schema_text;  /* <version>.schema.json, compact */
    json_t *schema;
};

/**
 * Where the template is: advisor.prompt_file, else prompts/advice-v1.txt
 * beside the binary (build tree), else ../prompts beside the binary (a
 * checkout), else <datadir>/creditsense/prompts.
 */
void adv_template_locate(const struct cs_advisor_conf *c, char *buf, size_t size);

/** Read the template and the schema beside it (<name>.schema.json). */
int adv_template_load(const char *path, struct adv_template *t, struct cs_err *err);
void adv_template_clear(struct adv_template *t);

/** "sqlite", "postgresql" or "snowflake" from a connection string ("sqlite" when unknown). */
const char *adv_dialect_guess(const char *odbc);

/** Severity band of a signature: "low" (info, low), "medium", "high" (high, critical). */
const char *adv_band(int severity);

/**
 * The facts about one finding, as sent (new reference): check, source,
 * kind, table, column, severity, count, total, ratio, groups, range,
 * sentinels, customer_key, primary_key and, for whole-table runs, stats
 * from the run's metrics (mean, sd, quartiles, null ratio; never min/max).
 * No message, no sample keys.
 */
json_t *adv_fact(const struct cs_config *cfg, const struct cs_run *run, const struct cs_finding *f);

/** Whether the finding's column is marked sensitive in the config. */
int adv_sensitive(const struct cs_config *cfg, const struct cs_finding *f);

/**
 * The run-level context (new reference): {"scope": "customer"|"table",
 * "subject": "customer-1" (customer runs), "tables": [{"name",
 * "customer_key", "primary_key", "rows"}]}.
 */
json_t *adv_context(const struct cs_config *cfg, const struct cs_run *run, const char *pseudonym);

/**
 * The user prompt: the template's user part with {{prompt_version}},
 * {{dialect}}, {{scope}}, {{subject}}, {{tables}} and {{anomalies}} filled.
 * anomalies is the array of facts with their ids.  malloc'ed; NULL when
 * out of memory.
 */
char *adv_prompt_fill(const struct adv_template *t, json_t *context, json_t *anomalies, const char *dialect);

/** 1 when text holds id as a whole token (not inside a longer number or word). */
int adv_contains_token(const char *text, const char *id);

/** Replace every occurrence of from by to in every string of v (in place). */
int adv_map_back(json_t *v, const char *from, const char *to);

/* ---- answers (advisor_schema.c) ------------------------------------------------- */

/**
 * The JSON inside text: the text itself, or the content of its first
 * markdown code fence (```json ... ``` or ``` ... ```).  malloc'ed.
 */
char *adv_strip_fences(const char *text);

/**
 * Validate v against a JSON Schema subset: type, properties, required,
 * additionalProperties false, items, enum, minItems, maxItems.  0 when
 * valid, else -1 with "$.anomalies[2].priority: ..." in why.
 */
int adv_schema_validate(json_t *schema, json_t *v, char *why, size_t size);

/**
 * Parse and check an answer: fences stripped, JSON, schema, and one entry
 * for each of ids[0..n).  On success *items gets an object mapping id to its
 * entry (new reference).  On failure -1 and why.
 */
int adv_answer_check(json_t *schema, const char *text, const char *const *ids, size_t n, json_t **items, char *why,
                     size_t size);

#endif
