/*
** report.c -- JSON and text presentation of runs.  See report.h.
*/
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cs_report_iso_time(double t, char *buf, size_t size)
{
    /* Whole milliseconds, rounded: a time read back from the store (kept to the millisecond, see
     * st_ts_from) prints the same as when it was written, whatever the double's last bits. */
    long long ms = llround(t * 1000.0);
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

json_t *cs_report_finding_json(const struct cs_finding *f)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:s, s:s, s:O}", "check", f->check, "source",
                          f->source, "table", f->table, "column", f->column, "kind", f->kind, "count",
                          (json_int_t)f->count, "total", (json_int_t)f->total, "ratio",
                          f->total ? (double)f->count / (double)f->total : 0.0, "severity",
                          cs_severity_name(f->severity), "message", f->message, "sample_keys", f->sample_keys);
    if (o != NULL && strcmp(f->check, "duplicate") == 0)
        json_object_set_new(o, "groups", json_integer((json_int_t)f->groups));
    if (o != NULL && f->has_range) {
        json_object_set_new(o, "threshold", json_real(f->threshold));
        json_object_set_new(o, "lower", json_real(f->lower));
        json_object_set_new(o, "upper", json_real(f->upper));
    }
    return o;
}

/* Most severe first, then table, check, column: a stable, readable order. */
static int finding_order(const void *a, const void *b)
{
    const struct cs_finding *x = *(const struct cs_finding *const *)a, *y = *(const struct cs_finding *const *)b;
    int c = strcmp(x->table, y->table);
    if (c == 0)
        c = y->severity - x->severity;
    if (c == 0)
        c = strcmp(x->check, y->check);
    if (c == 0)
        c = strcmp(x->column, y->column);
    return c;
}

static const struct cs_finding **sorted_findings(const struct cs_run *run)
{
    const struct cs_finding **v = calloc(run->nfindings + 1, sizeof(*v));
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < run->nfindings; i++)
        v[i] = &run->findings[i];
    qsort(v, run->nfindings, sizeof(*v), finding_order);
    return v;
}

static json_t *summary_json(const struct cs_run *run)
{
    json_int_t n[CS_SEV_CRITICAL + 1] = {0};
    for (size_t i = 0; i < run->nfindings; i++)
        n[run->findings[i].severity]++;
    json_t *o = json_object();
    for (int s = CS_SEV_CRITICAL; o != NULL && s >= CS_SEV_INFO; s--)
        json_object_set_new(o, cs_severity_name(s), json_integer(n[s]));
    return o;
}

static json_t *scope_json(const struct cs_run *run, json_t *o)
{
    if (run->scope == CS_SCOPE_TABLE) {
        json_object_set_new(o, "scope", json_string("table"));
        json_object_set_new(o, "table", json_string(run->table));
    } else {
        json_object_set_new(o, "scope", json_string("customer"));
        json_object_set_new(o, "customer_id", run->customer_is_int ? json_integer(strtoll(run->customer_id, NULL, 10))
                                                                   : json_string(run->customer_id));
    }
    return o;
}

json_t *cs_report_json(const struct cs_run *run)
{
    char started[40], finished[40];
    cs_report_iso_time(run->started, started, sizeof(started));
    cs_report_iso_time(run->finished, finished, sizeof(finished));
    const struct cs_finding **v = sorted_findings(run);
    json_t *tables = json_object(), *findings = json_array();
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:s}", "run_id", run->run_id, "rows_scanned",
                          (json_int_t)run->rows_scanned, "started_at", started, "finished_at", finished,
                          "duration_ms", (json_int_t)((run->finished - run->started) * 1000), "config_hash",
                          run->config_hash, "source", run->source_kind);
    if (v == NULL || o == NULL || tables == NULL || findings == NULL) {
        free(v);
        json_decref(o);
        json_decref(tables);
        json_decref(findings);
        return NULL;
    }
    scope_json(run, o);
    for (size_t i = 0; i < run->ntables; i++)
        json_object_set_new(tables, run->tables[i].table, json_integer((json_int_t)run->tables[i].rows));
    for (size_t i = 0; i < run->nfindings; i++)
        json_array_append_new(findings, cs_report_finding_json(v[i]));
    json_object_set_new(o, "tables", tables);
    json_object_set_new(o, "summary", summary_json(run));
    json_object_set_new(o, "stored", json_boolean(run->stored));
    if (run->mode[0] != '\0')
        json_object_set_new(o, "mode", json_string(run->mode));
    json_object_set_new(o, "findings", findings);
    free(v);
    return o;
}

/* 1234567 -> "1,234,567" */
const char *cs_report_thousands(uint64_t v, char *buf, size_t size)
{
    char raw[32];
    int n = snprintf(raw, sizeof(raw), "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

static const char *sev_color(int sev)
{
    static const char *const colors[] = {"\033[2m", "\033[36m", "\033[33m", "\033[31m", "\033[1;31m"};
    return colors[sev];
}

static void text_header(FILE *out, const struct cs_run *run)
{
    char rows[32];
    double secs = run->finished - run->started;
    if (run->scope == CS_SCOPE_TABLE)
        fprintf(out, "CreditSense scan of %s: %s rows in %.2f s, %zu finding%s (run %s)\n", run->table,
                cs_report_thousands(run->rows_scanned, rows, sizeof(rows)), secs, run->nfindings,
                run->nfindings == 1 ? "" : "s", run->run_id);
    else
        fprintf(out, "CreditSense report for customer %s: %s rows in %zu tables, %.2f s, %zu finding%s (run %s)\n",
                run->customer_id, cs_report_thousands(run->rows_scanned, rows, sizeof(rows)), run->ntables, secs,
                run->nfindings, run->nfindings == 1 ? "" : "s", run->run_id);
}

static void text_finding(FILE *out, const struct cs_finding *f, int cw, int color)
{
    char cnt[32], tot[32], share[32];
    snprintf(share, sizeof(share), "%s/%s", cs_report_thousands(f->count, cnt, sizeof(cnt)), cs_report_thousands(f->total, tot, sizeof(tot)));
    fprintf(out, "  %s%-8s%s  %-*s %-28.28s %19s  %s\n", color ? sev_color(f->severity) : "",
            cs_severity_name(f->severity), color ? "\033[0m" : "", cw, f->check, f->column, share, f->message);
}

void cs_report_text(FILE *out, const struct cs_run *run, int color)
{
    const struct cs_finding **v = sorted_findings(run);
    text_header(out, run);
    if (v == NULL)
        return;
    const char *table = NULL;
    int cw = 10; /* the CHECK column fits the longest check or rule name */
    for (size_t i = 0; i < run->nfindings; i++)
        if ((int)strlen(v[i]->check) > cw)
            cw = (int)strlen(v[i]->check);
    for (size_t i = 0; i < run->ntables && run->scope == CS_SCOPE_CUSTOMER; i++) {
        char rows[32];
        fprintf(out, "  %-28s %s rows\n", run->tables[i].table, cs_report_thousands(run->tables[i].rows, rows, sizeof(rows)));
    }
    for (size_t i = 0; i < run->nfindings; i++) {
        if (table == NULL || strcmp(table, v[i]->table) != 0) {
            table = v[i]->table;
            fprintf(out, "\n%s%s%s\n  %-8s  %-*s %-28s %19s  %s\n", color ? "\033[1m" : "", table,
                    color ? "\033[0m" : "", "SEVERITY", cw, "CHECK", "COLUMN", "COUNT/TOTAL", "WHAT");
        }
        text_finding(out, v[i], cw, color);
    }
    if (run->nfindings == 0)
        fprintf(out, "\nNo findings: every check passed.\n");
    free(v);
}
