/*
** store_advice.c -- what the advisor reads back from the store: a stored
** run with its anomalies (to advise on it again), a run's suggestion rows,
** and recent good suggestions by signature (the advisor's cache survives
** the process this way: a CLI call for the next customer with the same
** pattern costs no LLM call); and the "pending" rows written while advice
** is asked for (CLI and daemon alike).  Writing suggestions is in
** store_write.c.  See store.h ("advisor support").
*/
#include "store_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advisor.h"
#include "err.h"

/* ---- a stored run ---------------------------------------------------------------- */

static int all_digits(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (const char *p = s[0] == '-' ? s + 1 : s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return 1;
}

static int read_run(SQLHSTMT h, struct cs_run *run)
{
    char *scope = NULL, *hash = NULL, *kind = NULL;
    long long rows;
    int null, rc;
    if ((rc = st_get_text(h, 1, &scope)) || (rc = st_get_text(h, 2, &run->table)) ||
        (rc = st_get_text(h, 3, &run->customer_id)) || (rc = st_get_ts(h, 4, &run->started, &null)) ||
        (rc = st_get_ts(h, 5, &run->finished, &null)) || (rc = st_get_i64(h, 6, &rows, &null)) ||
        (rc = st_get_text(h, 7, &hash)) || (rc = st_get_text(h, 8, &kind)))
        goto out;
    run->scope = scope && strcmp(scope, "customer") == 0 ? CS_SCOPE_CUSTOMER : CS_SCOPE_TABLE;
    run->customer_is_int = all_digits(run->customer_id);
    run->rows_scanned = null ? 0 : (uint64_t)rows;
    snprintf(run->config_hash, sizeof(run->config_hash), "%s", hash ? hash : "");
    snprintf(run->source_kind, sizeof(run->source_kind), "%s", kind ? kind : "");
out:
    free(scope);
    free(hash);
    free(kind);
    return rc;
}

static int read_counts(SQLHSTMT h, struct cs_finding *f)
{
    long long v[3];
    double d[3];
    int null[3], dnull[3] = {1, 1, 1}, rc = 0;
    for (int i = 0; rc == 0 && i < 3; i++)
        rc = st_get_i64(h, (SQLUSMALLINT)(7 + i), &v[i], &null[i]);
    for (int i = 0; rc == 0 && i < 3; i++)
        rc = st_get_f64(h, (SQLUSMALLINT)(10 + i), &d[i], &dnull[i]);
    f->count = null[0] ? 0 : (uint64_t)v[0];
    f->total = null[1] ? 0 : (uint64_t)v[1];
    f->groups = null[2] ? 0 : (uint64_t)v[2];
    f->has_range = !dnull[1] && !dnull[2];
    f->threshold = dnull[0] ? 0 : d[0];
    f->lower = dnull[1] ? 0 : d[1];
    f->upper = dnull[2] ? 0 : d[2];
    return rc;
}

static int read_finding(SQLHSTMT h, struct cs_finding *f)
{
    char *sev = NULL, *keys = NULL;
    int rc;
    if ((rc = st_get_text(h, 1, &f->table)) || (rc = st_get_text(h, 2, &f->column)) ||
        (rc = st_get_text(h, 3, &f->check)) || (rc = st_get_text(h, 4, &f->source)) ||
        (rc = st_get_text(h, 5, &f->kind)) || (rc = st_get_text(h, 6, &sev)) || (rc = read_counts(h, f)) ||
        (rc = st_get_text(h, 13, &f->message)) || (rc = st_get_text(h, 14, &keys)))
        goto out;
    f->severity = cs_severity_parse(sev);
    if (f->severity < 0)
        f->severity = CS_SEV_MEDIUM;
    f->sample_keys = keys ? json_loads(keys, JSON_DECODE_ANY, NULL) : NULL;
    if (f->sample_keys == NULL)
        f->sample_keys = json_array();
    /* Every string a finding carries is non-NULL in a run the engine made; keep that true. */
    char **s[] = {&f->table, &f->column, &f->check, &f->source, &f->kind, &f->message};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        if (*s[i] == NULL && (*s[i] = strdup("")) == NULL)
            rc = CS_ENOMEM;
    if (f->sample_keys == NULL)
        rc = CS_ENOMEM;
out:
    free(sev);
    free(keys);
    return rc;
}

static int load_findings(struct cs_store *st, const char *run_id, struct cs_run *run, struct cs_err *err)
{
    struct st_param p = ST_TEXTP(run_id);
    SQLHSTMT h = NULL;
    int rc = st_exec(st,
                     "SELECT TABLE_NAME, COLUMN_NAME, CHECK_NAME, FINDING_SOURCE, KIND, SEVERITY, HIT_COUNT, "
                     "TOTAL_COUNT, GROUP_COUNT, THRESHOLD, LOWER_BOUND, UPPER_BOUND, MESSAGE, SAMPLE_KEYS "
                     "FROM {P}DQ_ANOMALIES WHERE RUN_ID = ? ORDER BY ANOMALY_SEQ",
                     &p, 1, &h, err);
    while (rc == 0 && SQL_SUCCEEDED(SQLFetch(h))) {
        struct cs_finding *f = cs_run_add_finding(run);
        rc = f ? read_finding(h, f) : CS_ENOMEM;
        if (rc != 0)
            rc = st_read_fail(st, h, rc, err, "reading DQ_ANOMALIES");
    }
    st_close(h);
    return rc;
}

int cs_store_run_load(struct cs_store *st, const char *run_id, struct cs_run **out, struct cs_err *err)
{
    struct st_param p = ST_TEXTP(run_id);
    struct cs_run *run = calloc(1, sizeof(*run));
    SQLHSTMT h = NULL;
    *out = NULL;
    if (run == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    snprintf(run->run_id, sizeof(run->run_id), "%s", run_id);
    int rc = st_exec(st,
                     "SELECT SCOPE, TABLE_NAME, CUSTOMER_ID, STARTED_AT, FINISHED_AT, ROWS_SCANNED, CONFIG_HASH, "
                     "SOURCE_KIND FROM {P}DQ_RUNS WHERE RUN_ID = ?",
                     &p, 1, &h, err);
    if (rc == 0 && !SQL_SUCCEEDED(SQLFetch(h)))
        rc = cs_err_set(err, CS_ENOTFOUND, "run %.40s is not in the store (see creditsense history)", run_id);
    else if (rc == 0 && (rc = read_run(h, run)) != 0)
        rc = st_read_fail(st, h, rc, err, "reading DQ_RUNS");
    st_close(h);
    if (rc == 0)
        rc = load_findings(st, run_id, run, err);
    if (rc != 0) {
        cs_run_free(run);
        return rc;
    }
    *out = run;
    return 0;
}

/* ---- suggestion rows ------------------------------------------------------------------ */

void cs_store_suggestions_free(struct cs_stored_suggestion *s, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        free(s[i].signature);
        free(s[i].backend);
        free(s[i].model);
        free(s[i].status);
        free(s[i].json);
        free(s[i].customer_id);
    }
    free(s);
}

/* Columns: ANOMALY_SEQ, SIGNATURE, BACKEND, MODEL, STATUS, SUGGESTION, PROMPT_TOKENS, COMPLETION_TOKENS,
 * LATENCY_MS, CREATED_AT [, the run's CUSTOMER_ID]. */
static int read_suggestion(SQLHSTMT h, int with_customer, struct cs_stored_suggestion *s)
{
    long long v;
    int null, rc;
    memset(s, 0, sizeof(*s));
    if ((rc = st_get_i64(h, 1, &v, &null)))
        return rc;
    s->anomaly_seq = null ? -1 : (long)v;
    if ((rc = st_get_text(h, 2, &s->signature)) || (rc = st_get_text(h, 3, &s->backend)) ||
        (rc = st_get_text(h, 4, &s->model)) || (rc = st_get_text(h, 5, &s->status)) ||
        (rc = st_get_text(h, 6, &s->json)))
        return rc;
    long long *tok[] = {&s->prompt_tokens, &s->completion_tokens, &s->latency_ms};
    for (int i = 0; i < 3; i++) {
        if ((rc = st_get_i64(h, (SQLUSMALLINT)(7 + i), tok[i], &null)))
            return rc;
        if (null)
            *tok[i] = -1;
    }
    if ((rc = st_get_ts(h, 10, &s->created_at, &null)))
        return rc;
    return with_customer ? st_get_text(h, 11, &s->customer_id) : 0;
}

static int query_suggestions(struct cs_store *st, const char *sql, struct st_param *p, size_t np, int with_customer,
                             struct cs_stored_suggestion **out, size_t *n, struct cs_err *err)
{
    SQLHSTMT h = NULL;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    int rc = st_exec(st, sql, p, np, &h, err);
    while (rc == 0 && SQL_SUCCEEDED(SQLFetch(h))) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct cs_stored_suggestion *v = realloc(*out, cap * sizeof(*v));
            if (v == NULL) {
                rc = st_read_fail(st, h, CS_ENOMEM, err, "");
                break;
            }
            *out = v;
        }
        rc = read_suggestion(h, with_customer, &(*out)[*n]);
        (*n)++;
        if (rc != 0)
            rc = st_read_fail(st, h, rc, err, "reading DQ_AI_SUGGESTIONS");
    }
    st_close(h);
    if (rc != 0) {
        cs_store_suggestions_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int cs_store_suggestions_load(struct cs_store *st, const char *run_id, struct cs_stored_suggestion **out, size_t *n,
                              struct cs_err *err)
{
    struct st_param p = ST_TEXTP(run_id);
    return query_suggestions(st,
                             "SELECT ANOMALY_SEQ, SIGNATURE, BACKEND, MODEL, STATUS, SUGGESTION, PROMPT_TOKENS, "
                             "COMPLETION_TOKENS, LATENCY_MS, CREATED_AT FROM {P}DQ_AI_SUGGESTIONS WHERE RUN_ID = ? "
                             "ORDER BY SUGGESTION_SEQ",
                             &p, 1, 0, out, n, err);
}

int cs_store_suggestions_recent(struct cs_store *st, const char *backend, const char *model, double since,
                                struct cs_stored_suggestion **out, size_t *n, struct cs_err *err)
{
    struct st_param p[] = {ST_TEXTP(backend), ST_TEXTP(model), {.kind = ST_TS, .ts = since}};
    return query_suggestions(st,
                             "SELECT s.ANOMALY_SEQ, s.SIGNATURE, s.BACKEND, s.MODEL, s.STATUS, s.SUGGESTION, "
                             "s.PROMPT_TOKENS, s.COMPLETION_TOKENS, s.LATENCY_MS, s.CREATED_AT, r.CUSTOMER_ID "
                             "FROM {P}DQ_AI_SUGGESTIONS s JOIN {P}DQ_RUNS r ON r.RUN_ID = s.RUN_ID "
                             "WHERE s.STATUS = 'ok' AND s.BACKEND = ? AND s.MODEL = ? AND s.CREATED_AT >= ? "
                             "AND s.SIGNATURE IS NOT NULL ORDER BY s.CREATED_AT DESC",
                             p, 3, 1, out, n, err);
}

/* ---- advice on its way ---------------------------------------------------------------- */

int cs_store_write_pending(struct cs_store *st, const struct cs_run *run, int min_severity, const char *backend,
                           const char *model, const char *reason, struct cs_err *err)
{
    struct cs_suggestion *rows = calloc(run->nfindings + 1, sizeof(*rows));
    char(*sigs)[768] = calloc(run->nfindings + 1, sizeof(*sigs));
    json_t *why = json_pack("{s:s}", "reason", reason ? reason : "");
    char *text = why ? json_dumps(why, JSON_COMPACT) : NULL;
    size_t n = 0;
    int rc = rows && sigs && text ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < run->nfindings; i++) {
        if (run->findings[i].severity < min_severity)
            continue;
        cs_advisor_signature(&run->findings[i], sigs[n], sizeof(sigs[n]));
        rows[n] = (struct cs_suggestion){.anomaly_seq = (long)i, .signature = sigs[n], .backend = backend,
                                         .model = model, .status = "pending", .json = text, .prompt_tokens = -1,
                                         .completion_tokens = -1, .latency_ms = -1};
        n++;
    }
    if (rc == 0 && n > 0)
        rc = cs_store_write_suggestions(st, run->run_id, rows, n, err);
    json_decref(why);
    free(text);
    free(sigs);
    free(rows);
    return rc;
}
