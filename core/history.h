/*
** history.h -- `creditsense history`: past runs and their findings, read
** back from the run store.
**
** JSON (stdout): {"store": "<dialect>", "runs": [{"run_id", "scope",
** "table" | "customer_id", "started_at", "finished_at", "status",
** "rows_scanned", "findings", "max_severity", "config_hash", "source",
** "anomalies": [{"table", "column", "check", "kind", "severity", "count",
** "total", "message", "sample_keys"}]}]}, newest run first.  Text: one
** line per run and one indented line per finding.
*/
#ifndef CS_HISTORY_H
#define CS_HISTORY_H

#include <jansson.h>
#include <stdio.h>

#include "err.h"
#include "store.h"

/** Load the config, open its store and print the runs q selects. */
int cs_history_command(const char *config_path, const struct cs_history_query *q, int text, FILE *out,
                       struct cs_err *err);

/** Print runs (as returned by cs_store_history) for people. */
void cs_history_text(FILE *out, json_t *runs, int color);

#endif
