/*
** rules_cli.c -- `creditsense rules list` and `creditsense rules check`.
** See rules.h (cs_rules_cli) for the contract.
**
**   rules list   the rules the directory defines, one per line (or JSON),
**                and on stderr the files that are broken; exit 0.
**   rules check  every file loaded afresh (no "last good version" here: the
**                point is to find what is broken), then every table and
**                column the rules name looked up in the database, and for
**                customer rules the table's customer_key in the config.
**                Problems are printed as "path:line: message" on stderr;
**                exit 2 when there is any.
*/
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "log.h"
#include "rules.h"

#define EXIT_ERROR 2

struct problem {
    char file[256];
    int line;
    char msg[CS_ERR_MSG + 64];
};

struct problems {
    struct problem *v;
    size_t n;
};

static void add(struct problems *ps, const char *file, int line, const char *msg)
{
    struct problem *v = realloc(ps->v, (ps->n + 1) * sizeof(*v));
    if (v == NULL)
        return;
    ps->v = v;
    snprintf(v[ps->n].file, sizeof(v[ps->n].file), "%s", file);
    v[ps->n].line = line;
    snprintf(v[ps->n].msg, sizeof(v[ps->n].msg), "%s", msg);
    ps->n++;
}

/* ---- tables and columns ----------------------------------------------------------- */

struct described {
    const char *name;
    int rc;
    struct cs_schema schema;
    char msg[CS_ERR_MSG];
};

struct schema_cache {
    struct cs_source *src;
    struct described *v;
    size_t n;
};

static const struct described *describe(struct schema_cache *sc, const char *table)
{
    for (size_t i = 0; i < sc->n; i++)
        if (strcasecmp(sc->v[i].name, table) == 0)
            return &sc->v[i];
    struct described *v = realloc(sc->v, (sc->n + 1) * sizeof(*v));
    if (v == NULL)
        return NULL;
    sc->v = v;
    struct described *d = &v[sc->n++];
    struct cs_err err = {0};
    memset(d, 0, sizeof(*d));
    d->name = table;
    d->rc = cs_source_describe(sc->src, table, &d->schema, &err);
    snprintf(d->msg, sizeof(d->msg), "%s", err.msg);
    return d;
}

static void check_rule(struct schema_cache *sc, const struct cs_config *cfg, const struct cs_rule_meta *m,
                       struct problems *ps)
{
    char msg[CS_ERR_MSG + 64];
    for (size_t i = 0; i < m->ntables; i++) {
        const struct cs_rule_table *t = &m->tables[i];
        const struct described *d = describe(sc, t->name);
        if (d == NULL)
            return;
        if (d->rc == CS_ENOTFOUND)
            snprintf(msg, sizeof(msg), "rule '%s': table %s does not exist in the database", m->name, t->name);
        else if (d->rc != 0)
            snprintf(msg, sizeof(msg), "rule '%s': cannot look up table %s: %s", m->name, t->name, d->msg);
        else if (cs_rule_resolve_columns(m, t, &d->schema, NULL, msg, sizeof(msg)) == 0)
            msg[0] = '\0';
        if (msg[0] != '\0') {
            add(ps, m->file, m->line, msg);
            continue;
        }
        const struct cs_tableconf *tc = cs_config_table(cfg, t->name);
        if (m->kind == CS_RULE_CUSTOMER && (tc == NULL || tc->customer_key == NULL)) {
            snprintf(msg, sizeof(msg), "rule '%s': table %s has no customer_key in the config, so customer runs "
                     "never read it", m->name, t->name);
            add(ps, m->file, m->line, msg);
        }
    }
}

static int check_schema(const struct cs_config *cfg, const struct cs_rules_snapshot *s, struct problems *ps)
{
    struct schema_cache sc = {0};
    struct cs_err err = {0};
    struct cs_source_opts so = {.conn = cfg->source_odbc, .native_sqlite = cfg->native_sqlite,
                                .batch_rows = cfg->batch_rows};
    if (s->nrules == 0)
        return 0;
    if (cs_source_open(&sc.src, &so, &err) != 0) {
        fprintf(stderr, "creditsense: cannot check the rules' tables and columns: %s\n", err.msg);
        return -1;
    }
    for (size_t i = 0; i < s->nrules; i++)
        check_rule(&sc, cfg, &s->rules[i], ps);
    for (size_t i = 0; i < sc.n; i++)
        if (sc.v[i].rc == 0)
            cs_schema_free(&sc.v[i].schema);
    free(sc.v);
    cs_source_close(sc.src);
    return 0;
}

/* ---- output ------------------------------------------------------------------------ */

static size_t rules_in(const struct cs_rules_snapshot *s, const char *file)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nrules; i++)
        n += strcmp(s->rules[i].file, file) == 0;
    return n;
}

static void print_problem(const char *dir, const struct problem *p)
{
    int in_dir = strchr(p->file, '/') == NULL;
    if (p->line > 0)
        fprintf(stderr, "%s%s%s:%d: %s\n", in_dir ? dir : "", in_dir ? "/" : "", p->file, p->line, p->msg);
    else
        fprintf(stderr, "%s%s%s: %s\n", in_dir ? dir : "", in_dir ? "/" : "", p->file, p->msg);
}

static json_t *tables_json(const struct cs_rule_meta *m)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < m->ntables; i++) {
        json_t *cols = json_array();
        for (size_t k = 0; cols != NULL && k < m->tables[i].ncols; k++)
            json_array_append_new(cols, json_string(m->tables[i].cols[k]));
        json_object_set_new(o, m->tables[i].name, cols);
    }
    return o;
}

static json_t *problems_json(const struct problems *ps)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < ps->n; i++)
        json_array_append_new(a, json_pack("{s:s, s:i, s:s}", "file", ps->v[i].file, "line", ps->v[i].line,
                                           "message", ps->v[i].msg));
    return a;
}

static void print_json(const struct cs_rules_snapshot *s, const struct problems *ps)
{
    json_t *rules = json_array();
    for (size_t i = 0; rules != NULL && i < s->nrules; i++) {
        const struct cs_rule_meta *m = &s->rules[i];
        json_array_append_new(rules, json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:i, s:s?}", "name", m->name,
                                               "description", m->description, "kind", cs_rule_kind_name(m->kind),
                                               "severity", cs_severity_name(m->severity), "tables", tables_json(m),
                                               "file", m->file, "line", m->line, "sql", m->sql));
    }
    json_t *o = json_pack("{s:s, s:o, s:o, s:b}", "rules_dir", s->dir, "rules", rules, "problems",
                          problems_json(ps), "ok", ps->n == 0);
    if (o != NULL)
        json_dumpf(o, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(o);
}

static void print_list(const struct cs_rules_snapshot *s)
{
    printf("%zu rule%s from %zu file%s in %s\n", s->nrules, s->nrules == 1 ? "" : "s", s->nfiles,
           s->nfiles == 1 ? "" : "s", s->dir);
    for (size_t i = 0; i < s->nrules; i++) {
        const struct cs_rule_meta *m = &s->rules[i];
        char tables[512] = "";
        size_t o = 0;
        for (size_t t = 0; t < m->ntables && o < sizeof(tables); t++)
            o += (size_t)snprintf(tables + o, sizeof(tables) - o, "%s%s", t ? "," : "", m->tables[t].name);
        printf("\n  %-34s %-9s %-8s %s\n    %s\n    %s:%d\n", m->name, cs_rule_kind_name(m->kind),
               cs_severity_name(m->severity), tables, m->description, m->file, m->line);
        if (m->sql != NULL)
            printf("    in the database (--mode pushdown): %s\n", m->sql);
    }
}

static void print_check(const struct cs_rules_snapshot *s, const struct problems *ps)
{
    size_t broken = 0;
    printf("checking %zu rule file%s in %s\n", s->nfiles, s->nfiles == 1 ? "" : "s", s->dir);
    for (size_t i = 0; i < s->nfiles; i++) {
        const char *f = s->files[i].name;
        size_t bad = 0;
        for (size_t k = 0; k < ps->n; k++)
            bad += strcmp(ps->v[k].file, f) == 0;
        broken += bad > 0;
        if (bad == 0)
            printf("  ok      %s (%zu rule%s)\n", f, rules_in(s, f), rules_in(s, f) == 1 ? "" : "s");
        else
            printf("  BROKEN  %s (%zu problem%s)\n", f, bad, bad == 1 ? "" : "s");
    }
    for (size_t k = 0; k < ps->n; k++)
        print_problem(s->dir, &ps->v[k]);
    if (ps->n == 0)
        printf("all %zu rules are good\n", s->nrules);
    else
        fprintf(stderr, "creditsense: %zu problem%s in %zu of %zu rule files\n", ps->n, ps->n == 1 ? "" : "s",
                broken, s->nfiles);
}

/* ---- the command -------------------------------------------------------------------------- */

int cs_rules_cli(const char *sub, const char *config_path, int json)
{
    struct cs_config *cfg = NULL;
    struct cs_err err = {0};
    char dir[4096];
    int check = strcmp(sub, "check") == 0;
    if (getenv("CREDITSENSE_LOG") == NULL)
        cs_log_set_level(CS_LOG_ERROR); /* the problems are the output here, not log lines */
    if (cs_config_load(config_path, &cfg, &err) != 0) {
        fprintf(stderr, "creditsense: %s\n", err.msg);
        return EXIT_ERROR;
    }
    cs_rules_dir(cfg, dir, sizeof(dir));
    struct cs_rules *cat = cs_rules_new(dir, cfg->rules_dir != NULL, NULL);
    struct cs_rules_snapshot *s = cat ? cs_rules_acquire(cat) : NULL;
    struct problems ps = {0};
    int status = 0;
    if (s == NULL) {
        fprintf(stderr, "creditsense: out of memory loading the rules\n");
        status = EXIT_ERROR;
    } else {
        for (size_t i = 0; i < s->nproblems; i++)
            add(&ps, s->problems[i].file, s->problems[i].line, s->problems[i].message);
        if (check && check_schema(cfg, s, &ps) != 0)
            status = EXIT_ERROR;
        if (json)
            print_json(s, &ps);
        else if (check)
            print_check(s, &ps);
        else
            print_list(s);
        if (!json && !check)
            for (size_t k = 0; k < ps.n; k++)
                print_problem(s->dir, &ps.v[k]);
        if (check && ps.n > 0)
            status = EXIT_ERROR;
    }
    free(ps.v);
    cs_rules_release(s);
    cs_rules_free(cat);
    cs_config_free(cfg);
    return status;
}
