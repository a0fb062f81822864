/*
** rules.c -- the rule{...} API, loading rule files, and the catalogue of a
** rules directory.  See rules.h for the contract and lua/README.md for the
** API as rule authors see it.
**
** rule{...} is a C function.  It checks every field of its table (unknown
** fields, types, names, one of row / aggregate / customer, columns per
** table) and raises errors at the caller's line, so a mistake reads
** "file.lua:12: rule 'x': ...".  The validated rule is copied: its
** functions go into a fresh table kept in the registry (later changes to
** the table the file passed have no effect) and its declarations into a
** struct cs_rule_meta.  While the rule is being validated its C-side
** declarations live in the loader's `pending` slot, so an error raised
** half-way leaks nothing.  A row rule's `sql` predicate is parsed here
** already (cs_rule_sql_check), so `rules check` names a bad one at its line.
**
** The catalogue compares what is on disk with its current snapshot on each
** refresh (reading a few small files costs far less than a scan, and
** comparing bytes does not depend on timestamp resolution) and builds a new
** snapshot only when something changed.
*/
#include "rules.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

#ifndef CS_DATA_INSTALL_DIR
#define CS_DATA_INSTALL_DIR "/usr/local/share/creditsense"
#endif

#define MAX_FILE_BYTES (1 << 20)
#define MAX_NAME 64
#define MAX_IDENT 128
#define MAX_DESCRIPTION 1000

static const char LOADER_KEY = 'L'; /* registry key (its address): the file being loaded */

static const char *const RULE_FIELDS[] = {"name",     "description", "table",     "tables",   "columns",
                                          "severity", "row",         "aggregate", "customer", "sql",     NULL};
static const char *const AGGREGATE_FIELDS[] = {"init", "row", "finish", NULL};

struct load_ctx {
    const char *file;
    const char *text;
    size_t len;
    struct cs_rule_list *list;
    size_t first;              /* list->n before this file */
    struct cs_rule_meta pending; /* the rule being validated */
    struct cs_sandbox *sb;
};

/* ---- small helpers -------------------------------------------------------- */

/* The candidate closest to s (within 3 edits), or NULL: for "did you mean". */
static const char *closest(const char *s, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bd = 4;
    for (size_t i = 0; i < n; i++) {
        size_t d = cs_config_edit_distance(s, cands[i]);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    return best;
}

static size_t count_strings(const char *const *v)
{
    size_t n = 0;
    while (v[n] != NULL)
        n++;
    return n;
}

static int valid_ident(const char *s, size_t len, int allow_dot)
{
    if (len == 0 || len > MAX_IDENT || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              (allow_dot && (c == '.' || c == '$'))))
            return 0;
    }
    return 1;
}

static int valid_rule_name(const char *s, size_t len)
{
    if (len == 0 || len > MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return 0;
    }
    return 1;
}

const char *cs_rule_kind_name(int kind)
{
    switch (kind) {
    case CS_RULE_ROW: return "row";
    case CS_RULE_AGGREGATE: return "aggregate";
    case CS_RULE_CUSTOMER: return "customer";
    default: return "unknown";
    }
}

void cs_rule_meta_clear(struct cs_rule_meta *m)
{
    free(m->name);
    free(m->description);
    free(m->file);
    for (size_t i = 0; m->tables != NULL && i < m->ntables; i++) {
        for (size_t c = 0; c < m->tables[i].ncols; c++)
            free(m->tables[i].cols[c]);
        free(m->tables[i].cols);
        free(m->tables[i].name);
    }
    free(m->tables);
    free(m->sql);
    memset(m, 0, sizeof(*m));
    m->ref = LUA_NOREF;
}

void cs_rule_list_clear(struct cs_rule_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        cs_rule_meta_clear(&list->v[i]);
    free(list->v);
    memset(list, 0, sizeof(*list));
}

/* ---- rule{...}: validation -------------------------------------------------- */

/* Raise "rule 'name': <message>" at the caller's line. */
static int rule_error(lua_State *L, const struct cs_rule_meta *m, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (m->name != NULL)
        return luaL_error(L, "rule '%s': %s", m->name, msg);
    return luaL_error(L, "rule: %s", msg);
}

static char *dup_or_raise(lua_State *L, const char *s, size_t len)
{
    char *d = strndup(s, len);
    if (d == NULL)
        luaL_error(L, "out of memory");
    return d;
}

static void check_fields(lua_State *L, int t, const char *const *allowed, const struct cs_rule_meta *m,
                         const char *what)
{
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            rule_error(L, m, "%s: field names must be strings (a list where a table with names was expected?)", what);
        const char *k = lua_tostring(L, -1);
        const char *const *a;
        for (a = allowed; *a != NULL && strcmp(*a, k) != 0; a++)
            ;
        if (*a != NULL)
            continue;
        const char *hint = closest(k, allowed, count_strings(allowed));
        if (hint != NULL)
            rule_error(L, m, "%s: unknown field '%s' (did you mean '%s'?)", what, k, hint);
        rule_error(L, m, "%s: unknown field '%s'", what, k);
    }
}

static void take_name(lua_State *L, int spec, struct load_ctx *c)
{
    struct cs_rule_meta *m = &c->pending;
    size_t len;
    if (lua_getfield(L, spec, "name") != LUA_TSTRING)
        rule_error(L, m, "'name' is required: a string such as \"annuity_above_credit\"");
    const char *name = lua_tolstring(L, -1, &len);
    if (!valid_rule_name(name, len))
        rule_error(L, m, "name \"%s\" must be 1 to %d letters, digits, '_', '-' or '.'", name, MAX_NAME);
    for (size_t i = 0; i < c->list->n; i++)
        if (strcmp(c->list->v[i].name, name) == 0)
            rule_error(L, m, "the name \"%s\" is already used by the rule at %s:%d; rule names must be unique", name,
                       c->list->v[i].file, c->list->v[i].line);
    m->name = dup_or_raise(L, name, len);
    lua_pop(L, 1);
}

static void take_description(lua_State *L, int spec, struct cs_rule_meta *m)
{
    size_t len;
    if (lua_getfield(L, spec, "description") != LUA_TSTRING || lua_rawlen(L, -1) == 0)
        rule_error(L, m, "'description' is required: one sentence a business user understands");
    const char *d = lua_tolstring(L, -1, &len);
    if (len > MAX_DESCRIPTION)
        rule_error(L, m, "'description' is longer than %d bytes", MAX_DESCRIPTION);
    m->description = dup_or_raise(L, d, len);
    lua_pop(L, 1);
}

static void take_severity(lua_State *L, int spec, struct cs_rule_meta *m)
{
    m->severity = CS_SEV_MEDIUM;
    int t = lua_getfield(L, spec, "severity");
    if (t != LUA_TNIL) {
        m->severity = t == LUA_TSTRING ? cs_severity_parse(lua_tostring(L, -1)) : -1;
        if (m->severity < 0)
            rule_error(L, m, "'severity' must be one of \"info\", \"low\", \"medium\", \"high\", \"critical\"");
    }
    lua_pop(L, 1);
}

/* Exactly one of row / aggregate / customer; leaves a table {row=,init=,finish=,customer=} on the stack. */
static void take_functions(lua_State *L, int spec, struct cs_rule_meta *m)
{
    int row = lua_getfield(L, spec, "row"), agg = lua_getfield(L, spec, "aggregate"),
        cust = lua_getfield(L, spec, "customer");
    int n = (row != LUA_TNIL) + (agg != LUA_TNIL) + (cust != LUA_TNIL);
    if (n != 1)
        rule_error(L, m, "give exactly one of 'row' (a function of one row), 'aggregate' ({init, row, finish}) "
                         "or 'customer' (a function of one customer's rows)");
    lua_createtable(L, 0, 3);
    int fns = lua_gettop(L);
    if (row != LUA_TNIL) {
        if (row != LUA_TFUNCTION)
            rule_error(L, m, "'row' must be a function(r) returning nil, true or a message");
        m->kind = CS_RULE_ROW;
        lua_pushvalue(L, fns - 3);
        lua_setfield(L, fns, "row");
    } else if (cust != LUA_TNIL) {
        if (cust != LUA_TFUNCTION)
            rule_error(L, m, "'customer' must be a function(tables, customer_id)");
        m->kind = CS_RULE_CUSTOMER;
        lua_pushvalue(L, fns - 1);
        lua_setfield(L, fns, "customer");
    } else {
        if (agg != LUA_TTABLE)
            rule_error(L, m, "'aggregate' must be a table {init = function, row = function, finish = function}");
        check_fields(L, fns - 2, AGGREGATE_FIELDS, m, "aggregate");
        m->kind = CS_RULE_AGGREGATE;
        for (const char *const *f = AGGREGATE_FIELDS; *f; f++) {
            int t = lua_getfield(L, fns - 2, *f);
            if (t != LUA_TFUNCTION && !(t == LUA_TNIL && strcmp(*f, "init") == 0))
                rule_error(L, m, "aggregate.%s must be a function", *f);
            lua_setfield(L, fns, *f);
        }
    }
    lua_replace(L, fns - 3);
    lua_pop(L, 2);
}

static void add_table(lua_State *L, struct cs_rule_meta *m, const char *name, size_t len)
{
    if (!valid_ident(name, len, 1))
        rule_error(L, m, "\"%s\" is not a table name", name);
    for (size_t i = 0; i < m->ntables; i++)
        if (strcasecmp(m->tables[i].name, name) == 0)
            rule_error(L, m, "table %s is listed twice", name);
    m->tables[m->ntables].name = dup_or_raise(L, name, len);
    m->ntables++;
}

static void take_tables(lua_State *L, int spec, struct cs_rule_meta *m)
{
    int one = lua_getfield(L, spec, "table"), many = lua_getfield(L, spec, "tables");
    if ((one != LUA_TNIL) == (many != LUA_TNIL))
        rule_error(L, m, "give either 'table' (one table name) or 'tables' (a list of table names)");
    size_t n = one != LUA_TNIL ? 1 : (many == LUA_TTABLE ? lua_rawlen(L, -1) : 0);
    if (one != LUA_TNIL && one != LUA_TSTRING)
        rule_error(L, m, "'table' must be a table name");
    if (one == LUA_TNIL && n == 0)
        rule_error(L, m, "'tables' must be a non-empty list of table names");
    if ((m->tables = calloc(n, sizeof(*m->tables))) == NULL)
        luaL_error(L, "out of memory");
    if (one != LUA_TNIL) {
        size_t len;
        const char *s = lua_tolstring(L, -2, &len);
        add_table(L, m, s, len);
    }
    for (size_t i = 1; one == LUA_TNIL && i <= n; i++) {
        size_t len;
        if (lua_rawgeti(L, -1, (lua_Integer)i) != LUA_TSTRING)
            rule_error(L, m, "tables[%zu] must be a table name", i);
        const char *s = lua_tolstring(L, -1, &len);
        add_table(L, m, s, len);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}

/* A list of column names (the value on top) into table t. */
static void take_column_list(lua_State *L, struct cs_rule_meta *m, struct cs_rule_table *t)
{
    size_t n = lua_type(L, -1) == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
    if (n == 0)
        rule_error(L, m, "the columns of %s must be a non-empty list of column names", t->name);
    if ((t->cols = calloc(n, sizeof(char *))) == NULL)
        luaL_error(L, "out of memory");
    for (size_t i = 1; i <= n; i++) {
        size_t len;
        if (lua_rawgeti(L, -1, (lua_Integer)i) != LUA_TSTRING)
            rule_error(L, m, "columns of %s: entry %zu is not a column name", t->name, i);
        const char *s = lua_tolstring(L, -1, &len);
        if (!valid_ident(s, len, 0))
            rule_error(L, m, "\"%s\" is not a column name", s);
        for (size_t k = 0; k < t->ncols; k++)
            if (strcasecmp(t->cols[k], s) == 0)
                rule_error(L, m, "column %s is listed twice for %s", s, t->name);
        t->cols[t->ncols++] = dup_or_raise(L, s, len);
        lua_pop(L, 1);
    }
}

/* columns = {"A", "B"} (for every table) or {T1 = {...}, T2 = {...}}. */
static void take_columns(lua_State *L, int spec, struct cs_rule_meta *m)
{
    if (lua_getfield(L, spec, "columns") != LUA_TTABLE)
        rule_error(L, m, "'columns' is required: the columns the rule reads, e.g. columns = {\"AMT_CREDIT\"}");
    int cols = lua_gettop(L);
    int is_list = lua_rawlen(L, cols) > 0;
    if (is_list && m->kind == CS_RULE_CUSTOMER && m->ntables > 1)
        rule_error(L, m, "'columns' must name the columns of each table: columns = {%s = {...}, ...}",
                   m->tables[0].name);
    if (!is_list) { /* every key must be one of the declared tables */
        lua_pushnil(L);
        while (lua_next(L, cols) != 0) {
            lua_pop(L, 1);
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
            size_t i;
            for (i = 0; i < m->ntables && strcasecmp(m->tables[i].name, k) != 0; i++)
                ;
            if (i == m->ntables)
                rule_error(L, m, "columns are given for %s, which is not in the rule's tables", k);
        }
    }
    for (size_t i = 0; i < m->ntables; i++) {
        struct cs_rule_table *t = &m->tables[i];
        if (is_list) {
            lua_pushvalue(L, cols);
        } else {
            lua_pushnil(L); /* find the key ignoring case */
            while (lua_next(L, cols) != 0 && strcasecmp(lua_tostring(L, -2), t->name) != 0)
                lua_pop(L, 1);
            if (lua_gettop(L) == cols)
                rule_error(L, m, "'columns' has no list for table %s", t->name);
            lua_remove(L, -2);
        }
        take_column_list(L, m, t);
        lua_settop(L, cols);
    }
    lua_pop(L, 1);
}

/* sql = "predicate": row rules only, checked against every table's declared columns (pushdown_rules.c). */
static void take_sql(lua_State *L, int spec, struct cs_rule_meta *m)
{
    int t = lua_getfield(L, spec, "sql");
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (t != LUA_TSTRING)
        rule_error(L, m, "'sql' must be a string: a SQL condition true for the rows the row function reports");
    if (m->kind != CS_RULE_ROW)
        rule_error(L, m, "'sql' is for row rules only: an %s rule needs every row in Lua",
                   cs_rule_kind_name(m->kind));
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    char msg[300];
    if (strlen(text) != len)
        rule_error(L, m, "sql: contains a NUL byte");
    for (size_t i = 0; i < m->ntables; i++)
        if (cs_rule_sql_check(text, &m->tables[i], msg, sizeof(msg)) != 0)
            rule_error(L, m, "%s%s%s%s", msg, m->ntables > 1 ? " (table " : "", m->ntables > 1 ? m->tables[i].name : "",
                       m->ntables > 1 ? ")" : "");
    m->sql = dup_or_raise(L, text, len);
    lua_pop(L, 1);
}

static int api_rule(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &LOADER_KEY);
    struct load_ctx *c = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (c == NULL)
        return luaL_error(L, "rule{...} can only be called while its file loads, not while rules run");
    struct cs_rule_meta *m = &c->pending;
    cs_rule_meta_clear(m);
    if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TTABLE)
        return luaL_error(L, "rule expects one table: rule{name = ..., description = ..., ...}");
    check_fields(L, 1, RULE_FIELDS, m, "rule");
    take_name(L, 1, c);
    take_description(L, 1, m);
    take_severity(L, 1, m);
    take_functions(L, 1, m); /* leaves the functions table at index 2 */
    take_tables(L, 1, m);
    take_columns(L, 1, m);
    take_sql(L, 1, m);
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
        m->line = ar.currentline;
    m->file = dup_or_raise(L, c->file, strlen(c->file));
    struct cs_rule_list *list = c->list;
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        struct cs_rule_meta *v = realloc(list->v, cap * sizeof(*v));
        if (v == NULL)
            return luaL_error(L, "out of memory");
        list->v = v;
        list->cap = cap;
    }
    lua_pushvalue(L, 2);
    m->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    list->v[list->n++] = *m;
    memset(m, 0, sizeof(*m));
    m->ref = LUA_NOREF;
    return 0;
}

/* ---- loading a file ------------------------------------------------------------- */

static void set_loader(lua_State *L, struct load_ctx *c)
{
    if (c != NULL)
        lua_pushlightuserdata(L, c);
    else
        lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &LOADER_KEY);
}

static int load_file_p(lua_State *L)
{
    struct load_ctx *c = lua_touserdata(L, 1);
    char chunk[PATH_MAX];
    snprintf(chunk, sizeof(chunk), "@%s", c->file);
    cs_sandbox_push_env(L, c->file);
    int env = lua_gettop(L);
    lua_pushcfunction(L, api_rule);
    lua_setfield(L, env, "rule");
    if (luaL_loadbufferx(L, c->text, c->len, chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_pushvalue(L, env);
    lua_setupvalue(L, -2, 1);
    set_loader(L, c);
    lua_call(L, 0, 0);
    set_loader(L, NULL);
    if (c->list->n == c->first)
        return luaL_error(L, "%s:1: the file defines no rule (call rule{...}: see lua/README.md)", c->file);
    cs_sandbox_freeze_env(L, env);
    return 0;
}

/* Undo a failed file: forget its rules, in the state and in the list. */
static int unload_p(lua_State *L)
{
    struct load_ctx *c = lua_touserdata(L, 1);
    set_loader(L, NULL);
    for (size_t i = c->first; i < c->list->n; i++)
        luaL_unref(L, LUA_REGISTRYINDEX, c->list->v[i].ref);
    return 0;
}

/* "file:12: message" -> line 12 and "message"; other texts stay whole. */
static void split_location(const char *file, char *msg, int *line)
{
    size_t fl = strlen(file);
    *line = 0;
    if (strncmp(msg, file, fl) != 0 || msg[fl] != ':')
        return;
    char *end;
    long l = strtol(msg + fl + 1, &end, 10);
    if (end == msg + fl + 1 || end[0] != ':' || end[1] != ' ')
        return;
    *line = (int)l;
    memmove(msg, end + 2, strlen(end + 2) + 1);
}

int cs_rules_load_file(struct cs_sandbox *sb, const char *file, const char *text, size_t len,
                       struct cs_rule_list *list, int *line, char *msg, size_t size)
{
    struct load_ctx c = {.file = file, .text = text, .len = len, .list = list, .first = list->n, .sb = sb};
    c.pending.ref = LUA_NOREF;
    *line = 0;
    int status = cs_sandbox_run(sb, load_file_p, &c, msg, size);
    cs_rule_meta_clear(&c.pending); /* a rule{} whose error the file caught with pcall */
    if (status == LUA_OK)
        return 0;
    split_location(file, msg, line);
    cs_sandbox_run(sb, unload_p, &c, NULL, 0);
    for (size_t i = c.first; i < list->n; i++)
        cs_rule_meta_clear(&list->v[i]);
    list->n = c.first;
    return -1;
}

/* ---- schema ------------------------------------------------------------------------ */

int cs_rule_resolve_columns(const struct cs_rule_meta *rule, const struct cs_rule_table *t,
                            const struct cs_schema *schema, size_t *idx, char *msg, size_t size)
{
    for (size_t i = 0; i < t->ncols; i++) {
        ssize_t c = cs_schema_find(schema, t->cols[i]);
        if (c >= 0) {
            if (idx != NULL)
                idx[i] = (size_t)c;
            continue;
        }
        const char *best = NULL;
        size_t bd = 4;
        for (size_t k = 0; k < schema->ncols; k++) {
            size_t d = cs_config_edit_distance(t->cols[i], schema->cols[k].name);
            if (d < bd) {
                bd = d;
                best = schema->cols[k].name;
            }
        }
        snprintf(msg, size, "rule '%s': table %s has no column %s%s%s%s", rule->name, schema->table, t->cols[i],
                 best ? " (did you mean " : "", best ? best : "", best ? "?)" : "");
        return -1;
    }
    return 0;
}

/* ---- the rules directory ------------------------------------------------------------ */

void cs_rules_dir(const struct cs_config *cfg, char *buf, size_t size)
{
    if (cfg != NULL && cfg->rules_dir != NULL) {
        snprintf(buf, size, "%s", cfg->rules_dir);
        return;
    }
    char exe[PATH_MAX], cand[PATH_MAX + 16], real[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
    struct stat st;
    if (slash != NULL) {
        *slash = '\0';
        snprintf(cand, sizeof(cand), "%s/../rules", exe);
        if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode) && realpath(cand, real) != NULL) {
            snprintf(buf, size, "%s", real);
            return;
        }
    }
    snprintf(buf, size, "%s/rules", CS_DATA_INSTALL_DIR);
}

/* ---- reading the directory ----------------------------------------------------------- */

struct cs_rules {
    pthread_mutex_t lock;
    char *dir;
    int required;
    struct cs_sandbox_limits limits;
    struct cs_rules_snapshot *cur; /* NULL until the directory was read once */
    uint64_t generation;
};

struct listing {
    int dir_errno;
    struct cs_rule_file *files;
    size_t n;
};

static void file_clear(struct cs_rule_file *f)
{
    free(f->name);
    free(f->disk);
    free(f->last_good);
}

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        file_clear(&l->files[i]);
    free(l->files);
    memset(l, 0, sizeof(*l));
}

/* Read a whole file; 0 or an errno value. */
static int read_text(const char *path, char **out, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = 0;
    char *buf = NULL;
    if (fstat(fd, &st) != 0)
        e = errno;
    else if (!S_ISREG(st.st_mode))
        e = EISDIR;
    else if (st.st_size > MAX_FILE_BYTES)
        e = EFBIG;
    else if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
        e = ENOMEM;
    size_t n = 0;
    while (e == 0 && n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = r < 0 ? errno : 0;
            break; /* shrank while we read: take what is there */
        }
        n += (size_t)r;
    }
    close(fd);
    if (e != 0) {
        free(buf);
        return e;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct cs_rule_file *)a)->name, ((const struct cs_rule_file *)b)->name);
}

static int is_rule_file(const char *dir, const char *name)
{
    size_t len = strlen(name);
    if (name[0] == '.' || len <= 4 || strcmp(name + len - 4, ".lua") != 0)
        return 0; /* dotfiles also cover a ConfigMap's ..data and ..<timestamp> */
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode); /* follows the ConfigMap's symlinks */
}

static int add_name(struct listing *l, size_t *cap, const char *name)
{
    if (l->n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        struct cs_rule_file *f = realloc(l->files, c * sizeof(*f));
        if (f == NULL)
            return CS_ENOMEM;
        l->files = f;
        *cap = c;
    }
    memset(&l->files[l->n], 0, sizeof(l->files[0]));
    if ((l->files[l->n].name = strdup(name)) == NULL)
        return CS_ENOMEM;
    l->n++;
    return 0;
}

/* One listing and read of the directory. */
static int list_once(const char *dir, struct listing *l)
{
    DIR *d = opendir(dir);
    size_t cap = 0;
    int rc = 0;
    if (d == NULL) {
        l->dir_errno = errno;
        return 0;
    }
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (is_rule_file(dir, e->d_name))
            rc = add_name(l, &cap, e->d_name);
    closedir(d);
    if (rc != 0)
        return rc;
    if (l->n > 1) /* an empty directory has no array: qsort(NULL, 0) is undefined */
        qsort(l->files, l->n, sizeof(l->files[0]), by_name);
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++) {
        char path[PATH_MAX];
        struct cs_rule_file *f = &l->files[i];
        snprintf(path, sizeof(path), "%s/%s", dir, f->name);
        f->read_errno = read_text(path, &f->disk, &f->disk_len);
        if (f->read_errno == ENOMEM)
            rc = CS_ENOMEM;
        if (f->read_errno == ENOENT) { /* gone since the listing: replaced or removed */
            file_clear(f);
            continue;
        }
        l->files[kept++] = *f;
    }
    l->n = kept;
    return rc;
}

static void data_link(const char *dir, char *buf, size_t size)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/..data", dir);
    ssize_t n = readlink(path, buf, size - 1);
    buf[n > 0 ? n : 0] = '\0';
}

/* Read the directory.  A Kubernetes ConfigMap is updated by pointing the
 * ..data symlink at a new directory; when that happens while we read, the
 * files may be a mix of two versions, so read again. */
static int read_listing(const char *dir, struct listing *l)
{
    for (int attempt = 0;; attempt++) {
        char before[PATH_MAX], after[PATH_MAX];
        data_link(dir, before, sizeof(before));
        int rc = list_once(dir, l);
        data_link(dir, after, sizeof(after));
        if (rc != 0 || strcmp(before, after) == 0 || attempt == 4)
            return rc;
        listing_free(l);
    }
}

static int listing_same(const struct listing *l, const struct cs_rules_snapshot *s)
{
    if (s == NULL || l->dir_errno != s->dir_errno || l->n != s->nfiles)
        return 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct cs_rule_file *a = &l->files[i], *b = &s->files[i];
        if (strcmp(a->name, b->name) != 0 || a->read_errno != b->read_errno || a->disk_len != b->disk_len ||
            (a->disk_len > 0 && memcmp(a->disk, b->disk, a->disk_len) != 0))
            return 0;
    }
    return 1;
}

/* ---- snapshots ------------------------------------------------------------------------ */

static void snapshot_free(struct cs_rules_snapshot *s)
{
    for (size_t i = 0; i < s->nfiles; i++)
        file_clear(&s->files[i]);
    free(s->files);
    for (size_t i = 0; i < s->nrules; i++)
        cs_rule_meta_clear(&s->rules[i]);
    free(s->rules);
    for (size_t i = 0; i < s->nproblems; i++) {
        free(s->problems[i].file);
        free(s->problems[i].message);
    }
    free(s->problems);
    free(s->dir);
    free(s);
}

void cs_rules_release(struct cs_rules_snapshot *s)
{
    if (s != NULL && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        snapshot_free(s);
}

static int add_problem(struct cs_rules_snapshot *s, const char *file, int line, const char *msg, int stale)
{
    struct cs_rule_problem *p = realloc(s->problems, (s->nproblems + 1) * sizeof(*p));
    if (p == NULL)
        return CS_ENOMEM;
    s->problems = p;
    p = &p[s->nproblems];
    p->file = strdup(file);
    p->message = strdup(msg);
    p->line = line;
    p->stale = stale;
    if (p->file == NULL || p->message == NULL) {
        free(p->file);
        free(p->message);
        return CS_ENOMEM;
    }
    s->nproblems++;
    return 0;
}

static const struct cs_rule_file *find_file(const struct cs_rules_snapshot *s, const char *name)
{
    for (size_t i = 0; s != NULL && i < s->nfiles; i++)
        if (strcmp(s->files[i].name, name) == 0)
            return &s->files[i];
    return NULL;
}

/* The file is broken now: load the version the previous snapshot used, if any. */
static int keep_last_good(struct cs_sandbox *sb, const struct cs_rules_snapshot *prev, struct cs_rule_file *f,
                          struct cs_rule_list *list)
{
    const struct cs_rule_file *pf = find_file(prev, f->name);
    char msg[CS_ERR_MSG];
    int line;
    if (pf == NULL || pf->used == NULL || (f->last_good = malloc(pf->used_len + 1)) == NULL)
        return 0;
    memcpy(f->last_good, pf->used, pf->used_len);
    f->last_good[pf->used_len] = '\0';
    if (cs_rules_load_file(sb, f->name, f->last_good, pf->used_len, list, &line, msg, sizeof(msg)) != 0) {
        free(f->last_good);
        f->last_good = NULL;
        return 0;
    }
    f->used = f->last_good;
    f->used_len = pf->used_len;
    return 1;
}

static int load_files(struct cs_rules_snapshot *s, const struct cs_rules_snapshot *prev,
                      const struct cs_sandbox_limits *limits)
{
    struct cs_sandbox *sb = cs_sandbox_new(limits);
    struct cs_rule_list list = {0};
    int rc = sb == NULL ? CS_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < s->nfiles; i++) {
        struct cs_rule_file *f = &s->files[i];
        char msg[CS_ERR_MSG];
        int line = 0;
        if (f->disk != NULL &&
            cs_rules_load_file(sb, f->name, f->disk, f->disk_len, &list, &line, msg, sizeof(msg)) == 0) {
            f->used = f->disk;
            f->used_len = f->disk_len;
            continue;
        }
        if (f->disk == NULL)
            snprintf(msg, sizeof(msg), "cannot read the file: %s", strerror(f->read_errno));
        rc = add_problem(s, f->name, line, msg, keep_last_good(sb, prev, f, &list));
    }
    cs_sandbox_free(sb);
    for (size_t i = 0; i < list.n; i++)
        list.v[i].ref = LUA_NOREF; /* the state is gone */
    s->rules = list.v;
    s->nrules = list.n;
    return rc;
}

static void log_snapshot(const struct cs_rules_snapshot *s)
{
    for (size_t i = 0; i < s->nproblems; i++) {
        const struct cs_rule_problem *p = &s->problems[i];
        char where[300];
        snprintf(where, sizeof(where), p->line > 0 ? "%s:%d" : "%s", p->file, p->line);
        cs_log(CS_LOG_WARNING, "rules", "%s: %s (%s)", where, p->message,
               p->stale ? "its last good version stays loaded" : "the file is skipped");
    }
    cs_log(CS_LOG_INFO, "rules", "%zu rules from %zu files in %s", s->nrules, s->nfiles, s->dir);
}

/* A new snapshot from a listing (whose files it takes over), as the current one. */
static int install(struct cs_rules *r, struct listing *l)
{
    struct cs_rules_snapshot *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->dir = strdup(r->dir)) == NULL) {
        free(s);
        listing_free(l);
        return CS_ENOMEM;
    }
    s->refs = 1;
    s->generation = ++r->generation;
    s->loaded_at = (double)time(NULL);
    s->dir_errno = l->dir_errno;
    s->files = l->files;
    s->nfiles = l->n;
    memset(l, 0, sizeof(*l));
    int rc = 0;
    if (s->dir_errno != 0 && (r->required || s->dir_errno != ENOENT)) {
        char msg[CS_ERR_MSG];
        snprintf(msg, sizeof(msg), "cannot read the rules directory: %s", strerror(s->dir_errno));
        rc = add_problem(s, r->dir, 0, msg, 0);
    }
    if (rc == 0)
        rc = load_files(s, r->cur, &r->limits);
    if (rc != 0) {
        snapshot_free(s);
        return rc;
    }
    log_snapshot(s);
    cs_rules_release(r->cur);
    r->cur = s;
    return 0;
}

/* ---- the catalogue ------------------------------------------------------------------- */

struct cs_rules *cs_rules_new(const char *dir, int required, const struct cs_sandbox_limits *limits)
{
    struct cs_rules *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->dir = strdup(dir)) == NULL) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    r->required = required;
    if (limits != NULL)
        r->limits = *limits;
    return r;
}

struct cs_sandbox_limits cs_rules_limits(const struct cs_rules *r)
{
    return r->limits;
}

void cs_rules_free(struct cs_rules *r)
{
    if (r == NULL)
        return;
    cs_rules_release(r->cur);
    pthread_mutex_destroy(&r->lock);
    free(r->dir);
    free(r);
}

static int refresh(struct cs_rules *r, int force)
{
    struct listing l = {0};
    pthread_mutex_lock(&r->lock);
    int rc = read_listing(r->dir, &l);
    if (rc == 0 && !force && listing_same(&l, r->cur)) {
        listing_free(&l);
        pthread_mutex_unlock(&r->lock);
        return 0;
    }
    if (rc == 0)
        rc = install(r, &l);
    listing_free(&l);
    pthread_mutex_unlock(&r->lock);
    return rc == 0 ? 1 : rc;
}

int cs_rules_refresh(struct cs_rules *r)
{
    return refresh(r, 0);
}

int cs_rules_reload(struct cs_rules *r)
{
    int rc = refresh(r, 1);
    return rc < 0 ? rc : 0;
}

struct cs_rules_snapshot *cs_rules_acquire(struct cs_rules *r)
{
    pthread_mutex_lock(&r->lock);
    int fresh = r->cur == NULL;
    pthread_mutex_unlock(&r->lock);
    if (fresh)
        refresh(r, 0);
    pthread_mutex_lock(&r->lock);
    struct cs_rules_snapshot *s = r->cur;
    if (s != NULL)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&r->lock);
    return s;
}
