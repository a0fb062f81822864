/*
** report.h -- presenting a run: the JSON contract and the text report.
**
** JSON (outside tests rely on it): {"run_id", "table" | "customer_id",
** "rows_scanned", "findings": [{"check", "table", "column", "count",
** "total", "severity", "message", "sample_keys", ...}], ...}.  Duplicate
** findings add "groups"; outlier findings add "threshold", "lower",
** "upper"; every finding has "kind" and "source".  Extra top-level keys:
** "scope", "started_at", "finished_at", "duration_ms", "config_hash",
** "source", "tables" (rows per table), "summary" (findings per severity),
** "stored" (true once the run is in the run store).
*/
#ifndef CS_REPORT_H
#define CS_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "engine.h"

/** The run as a new JSON object (caller owns it), NULL when out of memory. */
json_t *cs_report_json(const struct cs_run *run);

/** One finding as a new JSON object. */
json_t *cs_report_finding_json(const struct cs_finding *f);

/** A report for people, grouped by table, most severe first. */
void cs_report_text(FILE *out, const struct cs_run *run, int color);

/** 1234567 -> "1,234,567" in buf (for messages people read). */
/** t (unix seconds) as "2026-11-25T14:22:44.123Z", rounded to the millisecond; buf >= 25 bytes. */
void cs_report_iso_time(double t, char *buf, size_t size);

const char *cs_report_thousands(uint64_t v, char *buf, size_t size);

#endif
