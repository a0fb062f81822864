/*
** advisor_prompt.c -- what is sent to an LLM: the template file, the facts
** about findings, and the filled prompt.  See advisor_impl.h.
**
** Privacy is decided here, field by field: a fact is built from an allow
** list of aggregate values (counts, ratio, accepted range, whole-table
** column statistics without min/max, config key names and sentinel
** placeholders).  A finding's message and sample keys are never read,
** since messages may quote a value ("the lowest value is -5000") and
** sample keys are customer or record ids.
*/
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advisor_impl.h"
#include "err.h"
#include "source_impl.h"
#include "metrics.h"

#ifndef CS_DATA_INSTALL_DIR
#define CS_DATA_INSTALL_DIR "/usr/local/share/creditsense"
#endif

#define DEFAULT_PROMPT "advice-v1.txt"
#define MAX_TEMPLATE_BYTES (256 * 1024)

/* ---- the template ----------------------------------------------------------------- */

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

void adv_template_locate(const struct cs_advisor_conf *c, char *buf, size_t size)
{
    if (c != NULL && c->prompt_file != NULL) {
        snprintf(buf, size, "%s", c->prompt_file);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
    if (slash != NULL) {
        *slash = '\0';
        snprintf(buf, size, "%s/prompts/%s", exe, DEFAULT_PROMPT);
        if (is_file(buf))
            return;
        snprintf(buf, size, "%s/../prompts/%s", exe, DEFAULT_PROMPT);
        if (is_file(buf))
            return;
    }
    snprintf(buf, size, "%s/prompts/%s", CS_DATA_INSTALL_DIR, DEFAULT_PROMPT);
}

static char *read_file(const char *path, struct cs_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cs_err_set(err, CS_ECONFIG, "cannot open advisor prompt file %s: %m (set advisor.prompt_file)", path);
        return NULL;
    }
    char *buf = malloc(MAX_TEMPLATE_BYTES + 1);
    size_t len = buf ? fread(buf, 1, MAX_TEMPLATE_BYTES + 1, f) : 0;
    fclose(f);
    if (buf == NULL || len > MAX_TEMPLATE_BYTES) {
        free(buf);
        cs_err_set(err, CS_ECONFIG, "advisor prompt file %s is larger than %d bytes", path, MAX_TEMPLATE_BYTES);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Split "[system]" / "[user]" parts, dropping '#' comment lines. */
static int split_parts(char *text, struct adv_template *t)
{
    size_t cap = strlen(text) + 1;
    char *sys = calloc(1, cap), *user = calloc(1, cap), *cur = NULL;
    if (sys == NULL || user == NULL) {
        free(sys);
        free(user);
        return CS_ENOMEM;
    }
    for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n'); /* not strtok: blank lines are part of the text */
        if (next != NULL)
            *next++ = '\0';
        if (line[0] == '#')
            continue;
        if (strcmp(line, "[system]") == 0)
            cur = sys;
        else if (strcmp(line, "[user]") == 0)
            cur = user;
        else if (cur != NULL)
            strcat(strcat(cur, line), "\n");
    }
    t->system_text = sys;
    t->user_text = user;
    return 0;
}

static int load_schema(const char *path, struct adv_template *t, struct cs_err *err)
{
    char spath[PATH_MAX + 16];
    size_t n = strlen(path);
    snprintf(spath, sizeof(spath), "%.*s.schema.json", (int)(n > 4 && strcmp(path + n - 4, ".txt") == 0 ? n - 4 : n),
             path);
    json_error_t jerr;
    t->schema = json_load_file(spath, 0, &jerr);
    if (t->schema == NULL)
        return cs_err_set(err, CS_ECONFIG, "advisor schema %s: %s (line %d)", spath, jerr.text, jerr.line);
    if (!json_is_object(t->schema) || (t->schema_text = json_dumps(t->schema, JSON_COMPACT)) == NULL)
        return cs_err_set(err, CS_ECONFIG, "advisor schema %s: expected a JSON Schema object", spath);
    return 0;
}

int adv_template_load(const char *path, struct adv_template *t, struct cs_err *err)
{
    memset(t, 0, sizeof(*t));
    char *text = read_file(path, err);
    if (text == NULL)
        return err ? err->code : CS_ECONFIG;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t bl = strlen(base);
    snprintf(t->version, sizeof(t->version), "%.*s", (int)(bl > 4 && strcmp(base + bl - 4, ".txt") == 0 ? bl - 4 : bl),
             base);
    int rc = (t->path = strdup(path)) ? split_parts(text, t) : CS_ENOMEM;
    free(text);
    if (rc != 0) {
        adv_template_clear(t);
        return cs_err_set(err, rc, "out of memory");
    }
    if (t->user_text[0] == '\0' || strstr(t->user_text, "{{anomalies}}") == NULL) {
        adv_template_clear(t);
        return cs_err_set(err, CS_ECONFIG, "advisor prompt file %s: needs a [user] part with {{anomalies}}", path);
    }
    if ((rc = load_schema(path, t, err)) != 0)
        adv_template_clear(t);
    return rc;
}

void adv_template_clear(struct adv_template *t)
{
    free(t->path);
    free(t->system_text);
    free(t->user_text);
    free(t->schema_text);
    json_decref(t->schema);
    memset(t, 0, sizeof(*t));
}

/* ---- facts --------------------------------------------------------------------------- */

const char *adv_dialect_guess(const char *odbc)
{
    if (odbc == NULL)
        return "sqlite";
    /* The Driver= value only: a path such as Database=/x/postgres_export.db says nothing. */
    if (cs_conn_driver_has(odbc, "snowflake"))
        return "snowflake";
    if (cs_conn_driver_has(odbc, "postgres") || cs_conn_driver_has(odbc, "psql"))
        return "postgresql";
    return "sqlite";
}

const char *adv_band(int severity)
{
    return severity >= CS_SEV_HIGH ? "high" : severity == CS_SEV_MEDIUM ? "medium" : "low";
}

static int column_sensitive(const struct cs_tableconf *tc, const char *column)
{
    const struct cs_colconf *cc = cs_config_column(tc, column);
    return cc != NULL && cc->sensitive;
}

int adv_sensitive(const struct cs_config *cfg, const struct cs_finding *f)
{
    const struct cs_tableconf *tc = cs_config_table(cfg, f->table);
    char cols[512];
    if (tc == NULL)
        return 0;
    snprintf(cols, sizeof(cols), "%s", f->column);
    for (char *save = NULL, *c = strtok_r(cols, ",", &save); c; c = strtok_r(NULL, ",", &save))
        if (column_sensitive(tc, c))
            return 1;
    return 0;
}

static json_t *key_names(const struct cs_tableconf *tc)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && tc != NULL && i < tc->npk; i++)
        json_array_append_new(a, json_string(tc->pk[i]));
    return a;
}

static json_t *sentinels(const struct cs_colconf *cc)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && cc != NULL && i < cc->policy.n_sentinels; i++)
        json_array_append_new(a, json_real(cc->policy.sentinels[i]));
    for (size_t i = 0; a != NULL && cc != NULL && i < cc->policy.n_text_sentinels; i++)
        json_array_append_new(a, json_string(cc->policy.text_sentinels[i]));
    return a;
}

/* Whole-table statistics of the column from the run's metrics; never min or max (one customer's value). */
static json_t *column_stats(const struct cs_run *run, const char *column)
{
    for (size_t i = 0; i < run->nmetrics; i++) {
        const struct cs_colmetrics *m = &run->metrics[i];
        if (m->column == NULL || strcmp(m->column, column) != 0)
            continue;
        json_t *o = json_pack("{s:I}", "rows", (json_int_t)m->rows);
        if (o != NULL && m->has_counts && m->rows > 0)
            json_object_set_new(o, "null_ratio", json_real((double)m->nulls / (double)m->rows));
        if (o != NULL && m->has_stats)
            json_object_update_new(o, json_pack("{s:f, s:f, s:f, s:f, s:f}", "mean", m->mean, "sd", m->sd, "q1", m->q1,
                                                "median", m->median, "q3", m->q3));
        return o;
    }
    return NULL;
}

json_t *adv_fact(const struct cs_config *cfg, const struct cs_run *run, const struct cs_finding *f)
{
    const struct cs_tableconf *tc = cs_config_table(cfg, f->table);
    const struct cs_colconf *cc = tc ? cs_config_column(tc, f->column) : NULL;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f}", "table", f->table, "column", f->column,
                          "check", f->check, "kind", f->kind ? f->kind : "", "source", f->source ? f->source : "builtin",
                          "severity", cs_severity_name(f->severity), "count", (json_int_t)f->count, "total",
                          (json_int_t)f->total, "ratio", f->total ? (double)f->count / (double)f->total : 0.0);
    if (o == NULL)
        return NULL;
    if (f->groups > 0)
        json_object_set_new(o, "groups", json_integer((json_int_t)f->groups));
    if (f->has_range)
        json_object_set_new(o, "range", json_pack("{s:f, s:f, s:f}", "lower", f->lower, "upper", f->upper, "threshold",
                                                  f->threshold));
    if (tc != NULL && tc->customer_key != NULL)
        json_object_set_new(o, "customer_key", json_string(tc->customer_key));
    if (tc != NULL && tc->npk > 0)
        json_object_set_new(o, "primary_key", key_names(tc));
    if (cc != NULL && cc->policy.n_sentinels + cc->policy.n_text_sentinels > 0)
        json_object_set_new(o, "sentinels", sentinels(cc));
    json_t *stats = column_stats(run, f->column);
    if (stats != NULL)
        json_object_set_new(o, "stats", stats);
    return o;
}

json_t *adv_context(const struct cs_config *cfg, const struct cs_run *run, const char *pseudonym)
{
    json_t *tables = json_array();
    for (size_t i = 0; tables != NULL && i < run->ntables; i++) {
        const struct cs_tableconf *tc = cs_config_table(cfg, run->tables[i].table);
        json_t *t = json_pack("{s:s, s:I}", "name", run->tables[i].table, "rows", (json_int_t)run->tables[i].rows);
        if (t != NULL && tc != NULL && tc->customer_key)
            json_object_set_new(t, "customer_key", json_string(tc->customer_key));
        if (t != NULL && tc != NULL && tc->npk > 0)
            json_object_set_new(t, "primary_key", key_names(tc));
        json_array_append_new(tables, t);
    }
    json_t *o = json_pack("{s:s, s:o}", "scope", run->scope == CS_SCOPE_CUSTOMER ? "customer" : "table", "tables",
                          tables);
    if (o != NULL && run->scope == CS_SCOPE_CUSTOMER && pseudonym != NULL)
        json_object_set_new(o, "subject", json_string(pseudonym));
    return o;
}

/* ---- filling the template ------------------------------------------------------------ */

struct buf {
    char *s;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (ns == NULL) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_tables(struct buf *b, json_t *tables)
{
    size_t i, k;
    json_t *t, *key;
    char line[512];
    json_array_foreach(tables, i, t) {
        snprintf(line, sizeof(line), "- %s: customer key %s, primary key ", json_string_value(json_object_get(t, "name")),
                 json_string_value(json_object_get(t, "customer_key")) ? json_string_value(json_object_get(t, "customer_key"))
                                                                        : "none");
        puts_(b, line);
        json_array_foreach(json_object_get(t, "primary_key"), k, key) {
            puts_(b, k ? ", " : "");
            puts_(b, json_string_value(key));
        }
        if (json_array_size(json_object_get(t, "primary_key")) == 0)
            puts_(b, "none");
        snprintf(line, sizeof(line), ", %" JSON_INTEGER_FORMAT " rows read\n",
                 json_integer_value(json_object_get(t, "rows")));
        puts_(b, line);
    }
}

static void put_anomalies(struct buf *b, json_t *anomalies)
{
    size_t i;
    json_t *a;
    json_array_foreach(anomalies, i, a) {
        char *s = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(6));
        if (s == NULL) {
            b->oom = 1;
            return;
        }
        puts_(b, s);
        puts_(b, "\n");
        free(s);
    }
}

static void put_var(struct buf *b, const char *name, size_t n, const struct adv_template *t, json_t *ctx,
                    json_t *anomalies, const char *dialect)
{
    const char *scope = json_string_value(json_object_get(ctx, "scope"));
    const char *subject = json_string_value(json_object_get(ctx, "subject"));
    if (n == 14 && strncmp(name, "prompt_version", n) == 0)
        puts_(b, t->version);
    else if (n == 7 && strncmp(name, "dialect", n) == 0)
        puts_(b, dialect);
    else if (n == 5 && strncmp(name, "scope", n) == 0)
        puts_(b, scope && strcmp(scope, "customer") == 0 ? "one customer's rows in every table" : "whole-table scan");
    else if (n == 7 && strncmp(name, "subject", n) == 0 && subject != NULL)
        puts_(b, " ("), puts_(b, subject), puts_(b, ")");
    else if (n == 6 && strncmp(name, "tables", n) == 0)
        put_tables(b, json_object_get(ctx, "tables"));
    else if (n == 9 && strncmp(name, "anomalies", n) == 0)
        put_anomalies(b, anomalies);
}

char *adv_prompt_fill(const struct adv_template *t, json_t *context, json_t *anomalies, const char *dialect)
{
    struct buf b = {0};
    const char *p = t->user_text;
    while (*p) {
        const char *open = strstr(p, "{{"), *close = open ? strstr(open + 2, "}}") : NULL;
        if (open == NULL || close == NULL) {
            puts_(&b, p);
            break;
        }
        put(&b, p, (size_t)(open - p));
        put_var(&b, open + 2, (size_t)(close - open - 2), t, context, anomalies, dialect);
        p = close + 2;
    }
    if (b.oom || b.s == NULL) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- pseudonyms -------------------------------------------------------------------------- */

int adv_contains_token(const char *text, const char *id)
{
    size_t n = strlen(id);
    if (n == 0)
        return 0;
    for (const char *p = strstr(text, id); p != NULL; p = strstr(p + 1, id)) {
        int before = p > text && isalnum((unsigned char)p[-1]);
        int after = isalnum((unsigned char)p[n]);
        if (!before && !after)
            return 1;
    }
    return 0;
}

/* from -> to in s, whole tokens only ("customer-1" is not "customer-12", 103065 is not 1103065). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    struct buf b = {0};
    size_t fl = strlen(from);
    const char *p = s;
    for (const char *hit = strstr(p, from); hit != NULL; hit = strstr(hit + 1, from)) {
        if (isalnum((unsigned char)hit[fl]) || (hit > s && isalnum((unsigned char)hit[-1])))
            continue;
        put(&b, p, (size_t)(hit - p));
        puts_(&b, to);
        p = hit + fl;
        hit = p - 1;
    }
    puts_(&b, p);
    if (b.oom)
        free(b.s);
    return b.oom ? NULL : b.s;
}

int adv_map_back(json_t *v, const char *from, const char *to)
{
    size_t i;
    json_t *x;
    const char *k;
    if (json_is_string(v) && strstr(json_string_value(v), from) != NULL) {
        char *s = replace_all(json_string_value(v), from, to);
        int rc = s ? json_string_set(v, s) : -1;
        free(s);
        return rc;
    }
    if (json_is_array(v))
        json_array_foreach(v, i, x)
            if (adv_map_back(x, from, to) != 0)
                return -1;
    if (json_is_object(v))
        json_object_foreach(v, k, x)
            if (adv_map_back(x, from, to) != 0)
                return -1;
    return 0;
}
