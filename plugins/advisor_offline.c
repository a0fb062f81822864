/*
** advisor_offline.c -- the offline backend: deterministic suggestions built
** from each anomaly's check, kind, table and column, with no network at all.
**
** It is what the advisor uses when no API key is configured, in air-gapped
** installs, and for findings on sensitive columns (which never leave the
** machine whatever the backend).  It reads the structured facts the host
** sends every backend (req->facts_json: the same aggregated findings the
** prompt carries) and answers with JSON that follows the same schema an LLM
** must follow, so everything downstream (validation, cache, store, report)
** is the same.  Every answer says "offline" in its business_impact text,
** and the model name is "offline-v1", so nobody mistakes it for an LLM's.
**
** Rule templates: the SQL counts the rows that break the finding's rule in
** the configured dialect (conditional counts: SUM(CASE ...) in SQLite,
** COUNT(*) FILTER (WHERE ...) in PostgreSQL, COUNT_IF in Snowflake;
** identifiers double-quoted, which all three accept); the Lua is a rule{...}
** for lua/README.md's API: a row function returning nil when the row is
** fine and a message when it is not.
*/
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creditsense/advisor.h"

struct offline {
    const struct cs_advisor_host *api;
    void *hctx;
};

static int off_init(const struct cs_advisor_host *api, void *hctx, void **state, struct cs_advisor_err *err)
{
    struct offline *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        err->code = -6;
        snprintf(err->msg, sizeof(err->msg), "offline: out of memory");
        return err->code;
    }
    o->api = api;
    o->hctx = hctx;
    *state = o;
    return 0;
}

static void off_destroy(void *state)
{
    free(state);
}

static int off_call(void *state, const struct cs_advisor_request *req, struct cs_advisor_response *resp);

static const struct cs_advisor_plugin plugin = {
    .abi_version = CS_ADVISOR_ABI_VERSION,
    .struct_size = sizeof(struct cs_advisor_plugin),
    .name = "offline",
    .description = "deterministic suggestions from the finding kind, table and column; no network",
    .default_model = "offline-v1",
    .default_base_url = NULL,
    .default_key_env = NULL,
    .needs_key = 0,
    .init = off_init,
    .call = off_call,
    .destroy = off_destroy,
};

CS_ADVISOR_DECLARE(plugin)

/* ---- one anomaly, as the facts describe it ----------------------------------- */

struct anomaly {
    const char *id, *table, *column, *check, *kind, *severity, *source;
    const char *customer_key;
    json_t *pk, *sentinels, *range;
    const char *dialect;
};

static const char *s_of(json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : dflt;
}

static void read_anomaly(json_t *a, const char *dialect, struct anomaly *x)
{
    x->id = s_of(a, "id", "");
    x->table = s_of(a, "table", "?");
    x->column = s_of(a, "column", "?");
    x->check = s_of(a, "check", "?");
    x->kind = s_of(a, "kind", "");
    x->severity = s_of(a, "severity", "medium");
    x->source = s_of(a, "source", "builtin");
    x->customer_key = s_of(a, "customer_key", NULL);
    x->pk = json_object_get(a, "primary_key");
    x->sentinels = json_object_get(a, "sentinels");
    x->range = json_object_get(a, "range");
    x->dialect = dialect;
}

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- SQL ------------------------------------------------------------------------ */

struct sb {
    char buf[2048];
    size_t len;
};

static void sb_add(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sb *b, const char *fmt, ...)
{
    if (b->len >= sizeof(b->buf) - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, sizeof(b->buf) - b->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n < sizeof(b->buf) - b->len ? (size_t)n : sizeof(b->buf) - b->len - 1;
}

/* "name" with embedded quotes doubled. */
static void sb_ident(struct sb *b, const char *name)
{
    sb_add(b, "\"");
    for (const char *p = name; *p; p++)
        sb_add(b, *p == '"' ? "\"\"" : "%c", *p);
    sb_add(b, "\"");
}

static void sb_literal(struct sb *b, json_t *v)
{
    if (json_is_string(v)) {
        sb_add(b, "'");
        for (const char *p = json_string_value(v); *p; p++)
            sb_add(b, *p == '\'' ? "''" : "%c", *p);
        sb_add(b, "'");
    } else {
        sb_add(b, "%.17g", json_number_value(v));
    }
}

/* The condition a violating row meets, on column c. */
static void violation(struct sb *b, const struct anomaly *x)
{
    size_t i;
    json_t *v;
    if (is(x->check, "negative")) {
        sb_ident(b, x->column), sb_add(b, " < 0");
    } else if (is(x->check, "outlier") && json_is_object(x->range)) {
        sb_ident(b, x->column), sb_add(b, " < %.17g OR ", json_number_value(json_object_get(x->range, "lower")));
        sb_ident(b, x->column), sb_add(b, " > %.17g", json_number_value(json_object_get(x->range, "upper")));
    } else if (is(x->kind, "sentinel") && json_array_size(x->sentinels) > 0) {
        sb_ident(b, x->column), sb_add(b, " IN (");
        json_array_foreach(x->sentinels, i, v) {
            sb_add(b, i ? ", " : "");
            sb_literal(b, v);
        }
        sb_add(b, ")");
    } else if (is(x->kind, "empty")) {
        sb_add(b, "TRIM("), sb_ident(b, x->column), sb_add(b, ") = ''");
    } else if (is(x->kind, "nan") && !is(x->dialect, "sqlite")) {
        sb_ident(b, x->column), sb_add(b, is(x->dialect, "snowflake") ? " = 'NaN'::FLOAT" : " = 'NaN'::float8");
    } else {
        sb_ident(b, x->column), sb_add(b, " IS NULL");
    }
}

static void conditional_count(struct sb *b, const struct anomaly *x)
{
    if (is(x->dialect, "snowflake")) {
        sb_add(b, "COUNT_IF(");
        violation(b, x);
        sb_add(b, ")");
    } else if (is(x->dialect, "postgresql")) {
        sb_add(b, "COUNT(*) FILTER (WHERE ");
        violation(b, x);
        sb_add(b, ")");
    } else {
        sb_add(b, "SUM(CASE WHEN ");
        violation(b, x);
        sb_add(b, " THEN 1 ELSE 0 END)");
    }
}

/* Duplicates: keys seen more than once ("A,B" is a composite key; "*" whole rows). */
static void duplicate_sql(struct sb *b, const struct anomaly *x)
{
    if (is(x->column, "*")) {
        sb_add(b, "SELECT (SELECT COUNT(*) FROM "), sb_ident(b, x->table);
        sb_add(b, ") - (SELECT COUNT(*) FROM (SELECT DISTINCT * FROM "), sb_ident(b, x->table);
        sb_add(b, ") AS d) AS duplicate_rows");
        return;
    }
    struct sb cols = {.len = 0};
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", x->column);
    for (char *save = NULL, *c = strtok_r(tmp, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        sb_add(&cols, cols.len ? ", " : "");
        sb_ident(&cols, c);
    }
    sb_add(b, "SELECT %s, COUNT(*) AS copies FROM ", cols.buf), sb_ident(b, x->table);
    sb_add(b, " GROUP BY %s HAVING COUNT(*) > 1 ORDER BY copies DESC", cols.buf);
}

static json_t *sql_template(const struct anomaly *x)
{
    struct sb b = {.len = 0};
    if (is(x->check, "duplicate")) {
        duplicate_sql(&b, x);
    } else if (is(x->column, "*") || !(is(x->check, "missing") || is(x->check, "negative") || is(x->check, "outlier"))) {
        sb_add(&b, "SELECT COUNT(*) AS total_rows FROM "), sb_ident(&b, x->table);
    } else {
        sb_add(&b, "SELECT ");
        conditional_count(&b, x);
        sb_add(&b, " AS violations, COUNT(*) AS total_rows FROM "), sb_ident(&b, x->table);
    }
    return json_string(b.buf);
}

/* ---- Lua ------------------------------------------------------------------------ */

/* Rule names: letters, digits and '_' only, at most 64 (the rules API's limit); the table keeps them unique. */
static void rule_name(char *buf, size_t size, const struct anomaly *x)
{
    size_t o = 0;
    char src[400];
    snprintf(src, sizeof(src), "%s_%s_%s_%s", x->table, x->column, x->check, x->kind[0] ? x->kind : "check");
    for (const char *p = src; *p && o + 1 < size && o < 64; p++)
        buf[o++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    buf[o] = '\0';
}

/* The columns a rule reads: the finding's ("A,B" is two), else the table's keys for whole-row findings. */
static void lua_columns(struct sb *b, const struct anomaly *x)
{
    char tmp[512];
    size_t n = 0, i;
    json_t *k;
    sb_add(b, "{");
    if (!is(x->column, "*")) {
        snprintf(tmp, sizeof(tmp), "%s", x->column);
        for (char *save = NULL, *c = strtok_r(tmp, ",", &save); c; c = strtok_r(NULL, ",", &save))
            sb_add(b, "%s\"%s\"", n++ ? ", " : "", c);
    } else {
        json_array_foreach(x->pk, i, k)
            sb_add(b, "%s\"%s\"", n++ ? ", " : "", json_string_value(k));
        if (n == 0)
            sb_add(b, "\"%s\"", x->customer_key ? x->customer_key : "SK_ID_CURR");
    }
    sb_add(b, "}");
}

static void lua_condition(struct sb *b, const struct anomaly *x)
{
    size_t i;
    json_t *v;
    const char *c = x->column;
    if (is(x->check, "negative")) {
        sb_add(b, "r.%s ~= nil and r.%s < 0", c, c);
    } else if (is(x->check, "outlier") && json_is_object(x->range)) {
        sb_add(b, "r.%s ~= nil and (r.%s < %.17g or r.%s > %.17g)", c, c,
               json_number_value(json_object_get(x->range, "lower")), c,
               json_number_value(json_object_get(x->range, "upper")));
    } else if (is(x->kind, "sentinel") && json_array_size(x->sentinels) > 0) {
        json_array_foreach(x->sentinels, i, v) {
            sb_add(b, "%sr.%s == ", i ? " or " : "", c);
            if (json_is_string(v))
                sb_add(b, "\"%s\"", json_string_value(v));
            else
                sb_add(b, "%.17g", json_number_value(v));
        }
    } else if (is(x->kind, "empty")) {
        sb_add(b, "r.%s ~= nil and r.%s:match(\"^%%s*$\") ~= nil", c, c);
    } else {
        sb_add(b, "r.%s == nil", c);
    }
}

static void lua_head(struct sb *b, const struct anomaly *x, const char *what)
{
    char name[80];
    rule_name(name, sizeof(name), x);
    sb_add(b, "rule{\n  name = \"%s\",\n  description = \"%s.%s: %s\",\n  table = \"%s\",\n  columns = ", name,
           x->table, x->column, what, x->table);
    lua_columns(b, x);
    sb_add(b, ",\n  severity = \"%s\",\n", x->severity);
}

/* Duplicates are a property of the table: an aggregate that counts rows repeating a key. */
static void lua_duplicate(struct sb *b, const struct anomaly *x)
{
    sb_add(b, "-- Keeps every key in memory: fine for thousands of rows; for big tables use the SQL template.\n");
    lua_head(b, x, "each key appears once");
    sb_add(b, "  aggregate = {\n    init = function() return {seen = {}, repeats = 0} end,\n"
              "    row = function(s, r)\n      local key = table.concat({");
    char tmp[512];
    size_t n = 0;
    snprintf(tmp, sizeof(tmp), "%s", x->column);
    for (char *save = NULL, *c = strtok_r(tmp, ",", &save); c && !is(x->column, "*"); c = strtok_r(NULL, ",", &save))
        sb_add(b, "%stostring(r.%s)", n++ ? ", " : "", c);
    if (n == 0)
        sb_add(b, "tostring(r.%s)", x->customer_key ? x->customer_key : "SK_ID_CURR");
    sb_add(b, "}, \"|\")\n      if s.seen[key] then s.repeats = s.repeats + 1 else s.seen[key] = true end\n    end,\n"
              "    finish = function(s)\n      if s.repeats > 0 then return s.repeats .. \" rows repeat a key\", "
              "s.repeats end\n    end,\n  },\n}\n");
}

static json_t *lua_template(const struct anomaly *x)
{
    struct sb b = {.len = 0};
    int simple = (is(x->check, "missing") || is(x->check, "negative") || is(x->check, "outlier")) &&
                 !is(x->column, "*") && strchr(x->column, ',') == NULL;
    if (is(x->check, "duplicate")) {
        lua_duplicate(&b, x);
    } else if (simple) {
        lua_head(&b, x, is(x->check, "missing") ? "must not be missing" : is(x->check, "negative") ? "must not be negative"
                                                                                                 : "must stay in range");
        sb_add(&b, "  row = function(r)\n    if ");
        lua_condition(&b, x);
        sb_add(&b, " then\n      return \"%s breaks the %s rule\"\n    end\n  end,\n}\n", x->column, x->check);
    } else {
        sb_add(&b, "-- %s finding (%s%s%s): write the condition a bad row meets.\n", x->check,
               is(x->source, "lua") ? "already a Lua rule, " : "", "kind ", x->kind);
        lua_head(&b, x, "describe the expectation for business users");
        sb_add(&b, "  row = function(r)\n    return nil -- a message when the row breaks the rule\n  end,\n}\n");
    }
    return json_string(b.buf);
}

/* ---- words -------------------------------------------------------------------------- */

static json_t *fixes(const struct anomaly *x)
{
    json_t *a = json_array();
    char buf[400];
    if (is(x->check, "missing") && is(x->kind, "sentinel")) {
        snprintf(buf, sizeof(buf), "Convert the placeholder values of %s.%s to NULL at load time so they are not "
                 "mistaken for real values.", x->table, x->column);
        json_array_append_new(a, json_string(buf));
        json_array_append_new(a, json_string("Keep a separate flag column when the placeholder itself carries meaning "
                                             "(e.g. 365243 in DAYS_EMPLOYED: not employed)."));
    } else if (is(x->check, "missing")) {
        snprintf(buf, sizeof(buf), "Make %s mandatory at the source (form validation or NOT NULL) if the business "
                 "process always knows it.", x->column);
        json_array_append_new(a, json_string(buf));
        snprintf(buf, sizeof(buf), "Otherwise document %s as optional and set max_missing for it in the config so "
                 "the expected share of gaps is not reported as an anomaly.", x->column);
        json_array_append_new(a, json_string(buf));
    } else if (is(x->check, "negative")) {
        snprintf(buf, sizeof(buf), "Reject negative %s values at ingestion, or set allow_negative if the sign is "
                 "meaningful (DAYS_* columns count back from the application date).", x->column);
        json_array_append_new(a, json_string(buf));
    } else if (is(x->check, "duplicate")) {
        snprintf(buf, sizeof(buf), "Enforce a unique constraint on %s of %s and deduplicate with a MERGE/upsert in "
                 "the load job.", x->column, x->table);
        json_array_append_new(a, json_string(buf));
    } else if (is(x->check, "outlier")) {
        snprintf(buf, sizeof(buf), "Route %s values outside the accepted range to manual review before they reach "
                 "scoring.", x->column);
        json_array_append_new(a, json_string(buf));
        json_array_append_new(a, json_string("Check the unit and currency of the source field: a factor of 10, 100 "
                                             "or 1000 points at a conversion error."));
    } else {
        snprintf(buf, sizeof(buf), "Review the %s finding on %s.%s with the data owner and turn the agreed "
                 "expectation into a rule.", x->check, x->table, x->column);
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

static json_t *causes(const struct anomaly *x)
{
    json_t *a = json_array();
    if (is(x->check, "missing") && is(x->kind, "sentinel"))
        json_array_append_new(a, json_string("The source system writes a placeholder code instead of NULL."));
    else if (is(x->check, "missing")) {
        json_array_append_new(a, json_string("The field is optional in the capture form or not collected for this "
                                             "product."));
        json_array_append_new(a, json_string("A join or extract step dropped the value (e.g. a failed lookup)."));
    } else if (is(x->check, "negative"))
        json_array_append_new(a, json_string("Sign convention differs between systems (refunds, reversals, "
                                             "days counted backwards)."));
    else if (is(x->check, "duplicate"))
        json_array_append_new(a, json_string("The load job was re-run without idempotent writes, or two sources "
                                             "deliver the same record."));
    else if (is(x->check, "outlier"))
        json_array_append_new(a, json_string("A unit or currency mismatch, a typing error, or a genuinely unusual "
                                             "customer."));
    else
        json_array_append_new(a, json_string("A business rule is not enforced where the data is captured."));
    return a;
}

/* SK_ID_CURR ties the customer tables together; SK_ID_PREV ties a previous application to its installments. */
static json_t *lineage(const struct anomaly *x)
{
    json_t *a = json_array();
    char buf[400];
    const char *ck = x->customer_key ? x->customer_key : "SK_ID_CURR";
    snprintf(buf, sizeof(buf), "%s joins %s to the application, bureau and previous-application tables, so a gap "
             "here shows up in every customer-level feature built from it.", ck, x->table);
    json_array_append_new(a, json_string(buf));
    int prev = 0;
    size_t i;
    json_t *k;
    json_array_foreach(x->pk, i, k)
        if (json_is_string(k) && is(json_string_value(k), "SK_ID_PREV"))
            prev = 1;
    if (prev || strstr(x->table, "INSTALMENT") || strstr(x->table, "INSTALLMENT") || strstr(x->table, "PREVIOUS"))
        json_array_append_new(a, json_string("SK_ID_PREV joins previous applications to their installment payments; "
                                             "check both sides of that join."));
    return a;
}

static json_t *impact(const struct anomaly *x)
{
    char buf[500];
    const char *what = starts(x->column, "AMT_")         ? "amounts that drive affordability and credit limits"
                       : starts(x->column, "DAYS_")      ? "dates that drive age, tenure and payment-delay features"
                       : starts(x->column, "EXT_SOURCE") ? "external scores that weigh heavily in the credit model"
                       : starts(x->column, "SK_ID")      ? "keys that link a customer's records together"
                                                         : "an input to credit decisions and reporting";
    /* No counts: an answer is cached by the anomaly's signature and shown for other runs and
     * customers with the same kind of problem, each with its own counts in its finding. */
    snprintf(buf, sizeof(buf), "(offline suggestion, no LLM consulted) %s.%s holds %s; the affected rows can skew "
             "scoring and regulatory reports until fixed.", x->table, x->column, what);
    return json_string(buf);
}

static const char *priority(const char *severity)
{
    if (is(severity, "critical") || is(severity, "high") || is(severity, "medium") || is(severity, "low"))
        return severity;
    return "low";
}

static json_t *advise_one(json_t *a, const char *dialect)
{
    struct anomaly x;
    read_anomaly(a, dialect, &x);
    return json_pack("{s:s, s:s, s:o, s:{s:o, s:o}, s:o, s:o, s:o}", "id", x.id, "priority", priority(x.severity),
                     "fix_suggestions", fixes(&x), "rule_templates", "sql", sql_template(&x), "lua", lua_template(&x),
                     "root_cause_hypotheses", causes(&x), "lineage_insights", lineage(&x), "business_impact",
                     impact(&x));
}

static int off_call(void *state, const struct cs_advisor_request *req, struct cs_advisor_response *resp)
{
    struct offline *o = state;
    json_error_t jerr;
    json_t *facts = json_loads(req->facts_json ? req->facts_json : "", 0, &jerr);
    json_t *list = json_object_get(facts, "anomalies"), *a, *out = json_array();
    const char *dialect = s_of(facts, "dialect", req->dialect ? req->dialect : "sqlite");
    size_t i;
    resp->retry_after_s = -1;
    resp->tokens_in = resp->tokens_out = 0;
    snprintf(resp->model_version, sizeof(resp->model_version), "offline-v1");
    if (!json_is_array(list)) {
        resp->status = CS_ADVISOR_FAILED;
        snprintf(resp->reason, sizeof(resp->reason), "offline: the request carries no anomalies");
        json_decref(facts);
        json_decref(out);
        return 0;
    }
    json_array_foreach(list, i, a)
        json_array_append_new(out, advise_one(a, dialect));
    json_t *answer = json_pack("{s:o}", "anomalies", out);
    char *text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
    int rc = text ? o->api->set_text(o->hctx, resp, text, strlen(text)) : -1;
    resp->status = rc == 0 ? CS_ADVISOR_OK : CS_ADVISOR_FAILED;
    free(text);
    json_decref(answer);
    json_decref(facts);
    return rc;
}
