/*
** advisor_cli.h -- advice for the command line, and the store rows of advice.
**
**   creditsense customer|scan ... --advise   adds "advisor" and "suggestions" to the report
**   creditsense advise --config FILE --run RUN_ID [--format json|text]
**
** Order of events, so that no anomaly is ever lost to the LLM: the run and
** its anomalies are stored first (by the caller); then every anomaly to be
** advised gets a "pending" row; then the advisor runs; then the rows are
** replaced by the outcomes (ok, pending, failed, blocked, with the reason).
** A process killed half-way leaves pending rows, which `advise --run` picks
** up later.  A failure of the advisor never fails the run: it is reported
** as a warning and in the rows.
*/
#ifndef CS_ADVISOR_CLI_H
#define CS_ADVISOR_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "advisor.h"
#include "config.h"
#include "engine.h"
#include "store.h"

/**
 * Advise on a run (st may be NULL, and is ignored unless run->stored:
 * suggestion rows are only written for a stored run).  Returns the members to
 * merge into the report (new reference): "advisor" (backend, model, prompt,
 * offline, note, stored, error when the advisor could not start) and
 * "suggestions".  NULL only when out of memory.
 */
json_t *cs_advise_run(const struct cs_config *cfg, struct cs_store *st, const struct cs_run *run);

/** `creditsense advise`: re-advise a stored run's anomalies that have no "ok" suggestion. */
int cs_advise_command(const char *config_path, const char *run_id, int text, FILE *out, struct cs_err *err);

/**
 * Write the run's DQ_AI_SUGGESTIONS rows: one per anomaly the handle
 * covers, plus the rows in keep (earlier outcomes left as they were).
 */
int cs_advice_store(struct cs_store *st, const struct cs_advisor *adv, const struct cs_run *run,
                    const struct cs_advice *a, const struct cs_stored_suggestion *keep, size_t nkeep,
                    struct cs_err *err);

/** Load recent "ok" rows of the advisor's backend and model into its cache. Returns how many. */
size_t cs_advice_preload(struct cs_advisor *adv, struct cs_store *st);

/** The "advisor"/"suggestions" members of a report, for people. */
void cs_advice_print_text(FILE *out, json_t *report);

#endif
