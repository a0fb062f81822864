/*
** rules_run.c -- running Lua rules inside the engine's passes.  See rules.h
** for the contract.
**
** Speed.  A row rule costs one Lua call per row and nothing per row that
** allocates: each rule of a pass gets one row table, created when the pass
** begins and refilled in place for every row (only the rule's declared
** columns, keyed by interned strings pushed once per batch), and a whole
** batch runs inside one protected call.  A row table's metatable turns a
** read of an undeclared column into an error naming it, while a declared
** column that is NULL simply reads as nil.
**
** Failure.  Everything that calls into Lua goes through cs_sandbox_run.
** When a rule fails, the rule (only) is marked dead for the rest of the pass
** with its "file:line: message", the key of the row it failed on, and a log
** line; at the end it is reported as a finding of kind "error".
**
** Pushdown.  A table checked in the database (pushdown.c) answers the
** rules with a SQL predicate itself: cs_rules_pass_answer takes the count
** and runs the rule's own row function over the (at most 10) sample rows,
** so samples and the first message are what streaming would give; the
** rules still needing rows read only their columns (cs_rules_pass_stream,
** which places them at their schema index so keys and rules find them).
**
** Customer runs.  While a customer's tables are read, the rows of tables
** that customer rules read are kept in C (a customer has few rows); after
** the last table each customer rule gets fresh Lua tables of its own
** columns, so no rule can change what another one sees.
*/
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "log.h"
#include "report.h"
#include "rules.h"

#define MAX_SAMPLES 10
#define MAX_MESSAGE 400

/* ---- customer rows ------------------------------------------------------------ */

struct cell {
    int type; /* enum cs_type, 0 for NULL */
    int64_t i64;
    double f64;
    char *text;
    size_t len;
};

struct cust_table {
    char *name; /* as the database spells it */
    char **cols;
    size_t ncols;
    struct cell *cells; /* nrows x ncols */
    json_t **keys;
    size_t nrows, cap;
};

struct cust_store {
    int active;
    struct cust_table *t;
    size_t n;
};

struct cs_rules_vm {
    const struct cs_config *cfg;
    struct cs_rules *own; /* the catalogue made from cfg */
    struct cs_rules *cat; /* the catalogue in use */
    struct cs_rules_snapshot *snap;
    struct cs_sandbox *sb;
    struct cs_rule_list rules; /* loaded into sb */
    struct cust_store cust;
};

struct pass_rule {
    const struct cs_rule_meta *m;
    const struct cs_rule_table *t; /* the rule's entry for this table */
    size_t *idx;                   /* schema index of each declared column */
    char *column;                  /* the columns as the database spells them, "A,B" */
    int row_ref, state_ref;
    uint64_t count;
    json_t *samples;
    char *first_msg;
    json_t *first_key;
    char *error; /* dead: "file:line: message" */
    json_t *error_key;
    int answered; /* counted in the database (cs_rules_pass_answer): no rows to read */
};

struct cs_rules_pass {
    struct cs_rules_vm *vm;
    struct cs_rules_target t;
    struct pass_rule *r;
    size_t n;
    uint64_t total;
    struct cust_table *collect; /* customer runs: where this table's rows are kept */
};

/* ---- small helpers ------------------------------------------------------------- */

/* "file:line: " in front of a message that does not already start with a location in file. */
static void locate(const struct cs_rule_meta *m, const char *msg, char *out, size_t size)
{
    size_t fl = strlen(m->file);
    if (strncmp(msg, m->file, fl) == 0 && msg[fl] == ':')
        snprintf(out, size, "%s", msg);
    else if (strncmp(msg, "rule '", 6) == 0)
        snprintf(out, size, "%s:%d: %s", m->file, m->line, msg);
    else
        snprintf(out, size, "%s:%d: rule '%s': %s", m->file, m->line, m->name, msg);
}

/* A key as the report shows it: 100123, "abc" or [1,2]. */
static void key_text(const json_t *key, char *buf, size_t size)
{
    char *s = key ? json_dumps(key, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    snprintf(buf, size, "%s", s ? s : "?");
    free(s);
}

/* ---- machines -------------------------------------------------------------------- */

struct cs_rules_vm *cs_rules_vm_new(const struct cs_config *cfg)
{
    char dir[4096];
    struct cs_rules_vm *vm = calloc(1, sizeof(*vm));
    if (vm == NULL)
        return NULL;
    cs_rules_dir(cfg, dir, sizeof(dir));
    vm->cfg = cfg;
    vm->own = vm->cat = cs_rules_new(dir, cfg->rules_dir != NULL, NULL);
    if (vm->own == NULL) {
        free(vm);
        return NULL;
    }
    return vm;
}

static void unload(struct cs_rules_vm *vm)
{
    cs_rule_list_clear(&vm->rules);
    cs_sandbox_free(vm->sb);
    vm->sb = NULL;
    cs_rules_release(vm->snap);
    vm->snap = NULL;
}

static void cust_clear(struct cust_store *cs);

void cs_rules_vm_free(struct cs_rules_vm *vm)
{
    if (vm == NULL)
        return;
    cust_clear(&vm->cust);
    unload(vm);
    cs_rules_free(vm->own);
    free(vm);
}

void cs_rules_vm_use(struct cs_rules_vm *vm, struct cs_rules *shared)
{
    unload(vm);
    vm->cat = shared != NULL ? shared : vm->own;
}

/* Load the snapshot's files into a new sandbox and make it current. */
static void load_snapshot(struct cs_rules_vm *vm, struct cs_rules_snapshot *s)
{
    struct cs_sandbox_limits limits = cs_rules_limits(vm->cat);
    struct cs_sandbox *sb = cs_sandbox_new(&limits);
    struct cs_rule_list list = {0};
    if (sb == NULL) {
        cs_log(CS_LOG_ERROR, "rules", "out of memory creating a Lua state; keeping the rules loaded before");
        cs_rules_release(s);
        return;
    }
    for (size_t i = 0; i < s->nfiles; i++) {
        const struct cs_rule_file *f = &s->files[i];
        char msg[CS_ERR_MSG];
        int line;
        if (f->used != NULL && cs_rules_load_file(sb, f->name, f->used, f->used_len, &list, &line, msg, sizeof(msg)))
            cs_log(CS_LOG_ERROR, "rules", "%s:%d: %s (it loaded when checked, but not now; skipped)", f->name, line,
                   msg);
    }
    unload(vm);
    vm->sb = sb;
    vm->rules = list;
    vm->snap = s;
}

void cs_rules_vm_sync(struct cs_rules_vm *vm)
{
    if (vm == NULL)
        return;
    cs_rules_refresh(vm->cat);
    struct cs_rules_snapshot *s = cs_rules_acquire(vm->cat);
    if (s == NULL || s == vm->snap) {
        cs_rules_release(s);
        return;
    }
    load_snapshot(vm, s);
}

/* ---- findings ---------------------------------------------------------------------- */

static int severity_for(const struct cs_config *cfg, const char *table, const char *column, int dflt)
{
    const struct cs_tableconf *tc = cfg ? cs_config_table(cfg, table) : NULL;
    const struct cs_colconf *cc = strchr(column, ',') == NULL ? cs_config_column(tc, column) : NULL;
    return cc != NULL && cc->severity >= 0 ? cc->severity : dflt;
}

struct emit_in {
    const struct cs_rule_meta *m;
    const char *table, *column, *kind, *message;
    uint64_t count, total;
    json_t *samples; /* stolen; NULL for none */
    int severity;
};

static int emit(struct cs_run *run, const struct emit_in *in)
{
    const struct cs_finding_text t = {in->m->name, "lua", in->table, in->column, in->kind, in->message};
    struct cs_finding *f = cs_run_add(run, &t, in->samples);
    if (f == NULL)
        return CS_ENOMEM;
    f->count = in->count;
    f->total = in->total;
    f->severity = in->severity;
    return 0;
}

/* A rule that could not run: logged, and reported as a high finding. */
static int emit_error(struct cs_run *run, const struct cs_rule_meta *m, const char *table, const char *column,
                      const char *error, json_t *key)
{
    char msg[CS_ERR_MSG + 300], ktext[128];
    if (key != NULL) {
        key_text(key, ktext, sizeof(ktext));
        snprintf(msg, sizeof(msg), "The rule could not run and was stopped (on the row with key %s): %s", ktext,
                 error);
    } else {
        snprintf(msg, sizeof(msg), "The rule could not run and was stopped: %s", error);
    }
    json_t *samples = json_array();
    if (samples != NULL && key != NULL)
        json_array_append(samples, key);
    struct emit_in in = {.m = m, .table = table, .column = column, .kind = "error", .message = msg,
                         .samples = samples, .severity = CS_SEV_HIGH};
    return emit(run, &in);
}

static void log_failure(const struct cs_rule_meta *m, const char *error)
{
    char component[96];
    snprintf(component, sizeof(component), "rule:%s", m->name);
    cs_log(CS_LOG_ERROR, component, "%s (the rule is stopped for this run; every other rule and check goes on)",
           error);
}

/* ---- passes: setting up ----------------------------------------------------------------- */

/* __index of a row table: nil for a declared column (NULL), an error for anything else. */
static int row_index(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 0;
    return luaL_error(L, "column %s is not in the rule's columns (add it to columns = {...})", lua_tostring(L, 2));
}

/* Push a new row table's metatable for the columns of t. */
static void push_row_meta(lua_State *L, const struct cs_rule_table *t)
{
    lua_createtable(L, 0, 2);
    lua_createtable(L, 0, (int)t->ncols);
    for (size_t i = 0; i < t->ncols; i++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, t->cols[i]);
    }
    lua_pushcclosure(L, row_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "row");
    lua_setfield(L, -2, "__metatable");
}

struct setup_ctx {
    struct pass_rule *pr;
};

/* The rule's reused row table and, for aggregates, its state from init(). */
static int setup_p(lua_State *L)
{
    struct pass_rule *pr = ((struct setup_ctx *)lua_touserdata(L, 1))->pr;
    lua_createtable(L, 0, (int)pr->t->ncols);
    push_row_meta(L, pr->t);
    lua_setmetatable(L, -2);
    pr->row_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (pr->m->kind != CS_RULE_AGGREGATE)
        return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, pr->m->ref);
    if (lua_getfield(L, -1, "init") == LUA_TFUNCTION)
        lua_call(L, 0, 1);
    if (lua_isnil(L, -1)) { /* no init, or init returned nothing: an empty table */
        lua_pop(L, 1);
        lua_newtable(L);
    }
    pr->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static int release_p(lua_State *L)
{
    struct pass_rule *pr = ((struct setup_ctx *)lua_touserdata(L, 1))->pr;
    luaL_unref(L, LUA_REGISTRYINDEX, pr->row_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, pr->state_ref);
    pr->row_ref = pr->state_ref = LUA_NOREF;
    return 0;
}

static void kill_rule(struct cs_rules_pass *p, struct pass_rule *pr, const char *msg, const struct cs_batch *b,
                      size_t row)
{
    char where[CS_ERR_MSG + 100];
    locate(pr->m, msg, where, sizeof(where));
    pr->error = strdup(where);
    if (b != NULL && row < b->nrows)
        pr->error_key = p->t.row_key(p->t.key_ctx, b, row);
    log_failure(pr->m, where);
    struct setup_ctx c = {pr};
    cs_sandbox_run(p->vm->sb, release_p, &c, NULL, 0); /* let its memory go */
}

static const struct cs_rule_table *table_entry(const struct cs_rule_meta *m, const char *table)
{
    for (size_t i = 0; i < m->ntables; i++)
        if (strcasecmp(m->tables[i].name, table) == 0)
            return &m->tables[i];
    return NULL;
}

/* The database's spelling of the columns, "A,B". */
static char *join_columns(const struct cs_schema *s, const size_t *idx, const struct cs_rule_table *t, int ok)
{
    size_t len = 1;
    for (size_t i = 0; i < t->ncols; i++)
        len += strlen(ok ? s->cols[idx[i]].name : t->cols[i]) + 1;
    char *out = malloc(len), *o = out;
    for (size_t i = 0; out != NULL && i < t->ncols; i++)
        o += sprintf(o, "%s%s", i ? "," : "", ok ? s->cols[idx[i]].name : t->cols[i]);
    if (out != NULL)
        *o = '\0';
    return out;
}

static int add_rule(struct cs_rules_pass *p, const struct cs_rule_meta *m, const struct cs_rule_table *t)
{
    struct pass_rule *pr = &p->r[p->n++];
    char msg[CS_ERR_MSG];
    pr->m = m;
    pr->t = t;
    pr->row_ref = pr->state_ref = LUA_NOREF;
    pr->samples = json_array();
    pr->idx = calloc(t->ncols, sizeof(size_t));
    if (pr->samples == NULL || pr->idx == NULL)
        return CS_ENOMEM;
    int ok = cs_rule_resolve_columns(m, t, p->t.schema, pr->idx, msg, sizeof(msg)) == 0;
    if ((pr->column = join_columns(p->t.schema, pr->idx, t, ok)) == NULL)
        return CS_ENOMEM;
    if (!ok) {
        kill_rule(p, pr, msg, NULL, 0);
        return 0;
    }
    struct setup_ctx c = {pr};
    if (cs_sandbox_run(p->vm->sb, setup_p, &c, msg, sizeof(msg)) != LUA_OK)
        kill_rule(p, pr, msg, NULL, 0);
    return 0;
}

static struct cust_table *cust_table_for(struct cs_rules_vm *vm, const struct cs_schema *s);

struct cs_rules_pass *cs_rules_pass_begin(struct cs_rules_vm *vm, const struct cs_rules_target *t)
{
    if (vm == NULL || vm->sb == NULL || vm->rules.n == 0)
        return NULL;
    struct cs_rules_pass *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->r = calloc(vm->rules.n, sizeof(*p->r))) == NULL) {
        free(p);
        return NULL;
    }
    p->vm = vm;
    p->t = *t;
    int customer = 0;
    for (size_t i = 0; i < vm->rules.n; i++) {
        const struct cs_rule_meta *m = &vm->rules.v[i];
        const struct cs_rule_table *e = table_entry(m, t->schema->table);
        if (e != NULL && m->kind == CS_RULE_CUSTOMER)
            customer = 1;
        else if (e != NULL && add_rule(p, m, e) != 0)
            cs_log(CS_LOG_ERROR, "rules", "out of memory setting up rule %s", m->name);
    }
    if (customer && t->mode == CS_MODE_CUSTOMER && vm->cust.active)
        p->collect = cust_table_for(vm, t->schema);
    if (p->n == 0 && p->collect == NULL) {
        cs_rules_pass_free(p);
        return NULL;
    }
    return p;
}

/* ---- passes: rows ------------------------------------------------------------------ */

struct rows_ctx {
    struct cs_rules_pass *p;
    struct pass_rule *pr;
    const struct cs_batch *b;
    size_t row;
};

static void push_cell(lua_State *L, const struct cs_column *c, size_t row)
{
    if (c->nulls[row]) /* NULL, and values unreadable as the column's type */
        lua_pushnil(L);
    else if (c->type == CS_TYPE_INT64)
        lua_pushinteger(L, c->i64[row]);
    else if (c->type == CS_TYPE_DOUBLE)
        lua_pushnumber(L, c->f64[row]);
    else
        lua_pushlstring(L, c->text[row], c->text_len[row]);
}

/* A row the rule reported. */
static void hit(struct rows_ctx *c, const char *msg)
{
    struct pass_rule *pr = c->pr;
    const struct cs_rules_target *t = &c->p->t;
    pr->count++;
    if (json_array_size(pr->samples) < MAX_SAMPLES)
        json_array_append_new(pr->samples, t->row_key(t->key_ctx, c->b, c->row));
    if (msg != NULL && pr->first_msg == NULL && (pr->first_msg = strndup(msg, MAX_MESSAGE)) != NULL)
        pr->first_key = t->row_key(t->key_ctx, c->b, c->row);
}

/* What a row function returned: nil/false fine, true or a message reported. */
static void verdict(lua_State *L, struct rows_ctx *c)
{
    int t = lua_type(L, -1);
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
        lua_pop(L, 1);
        return;
    }
    if (t != LUA_TBOOLEAN && t != LUA_TSTRING)
        luaL_error(L, "%s:%d: rule '%s': the row function returned a %s; return nil or false when the row is "
                      "fine, true or a message when it is not", c->pr->m->file, c->pr->m->line, c->pr->m->name,
                   lua_typename(L, t));
    hit(c, t == LUA_TSTRING ? lua_tostring(L, -1) : NULL);
    lua_pop(L, 1);
}

/* One batch through one rule, in one protected call. */
static int rows_p(lua_State *L)
{
    struct rows_ctx *c = lua_touserdata(L, 1);
    struct pass_rule *pr = c->pr;
    const struct cs_batch *b = c->b;
    struct cs_sandbox *sb = c->p->vm->sb;
    int nc = (int)pr->t->ncols, agg = pr->m->kind == CS_RULE_AGGREGATE;
    luaL_checkstack(L, nc + 8, "too many columns");
    lua_rawgeti(L, LUA_REGISTRYINDEX, pr->m->ref);
    lua_getfield(L, -1, "row");
    int fn = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, pr->state_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, pr->row_ref);
    int state = fn + 1, r = fn + 2, keys = fn + 3;
    for (int k = 0; k < nc; k++)
        lua_pushstring(L, pr->t->cols[k]);
    for (c->row = 0; c->row < b->nrows; c->row++) {
        for (int k = 0; k < nc; k++) {
            lua_pushvalue(L, keys + k);
            push_cell(L, &b->cols[pr->idx[k]], c->row);
            lua_rawset(L, r);
        }
        cs_sandbox_budget(sb);
        lua_pushvalue(L, fn);
        if (agg)
            lua_pushvalue(L, state);
        lua_pushvalue(L, r);
        lua_call(L, 1 + agg, 1);
        verdict(L, c);
    }
    return 0;
}

static void keep_customer_rows(struct cust_table *ct, const struct cs_rules_target *t, const struct cs_batch *b);

void cs_rules_pass_batch(struct cs_rules_pass *p, const struct cs_batch *b)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct pass_rule *pr = &p->r[i];
        char msg[CS_ERR_MSG];
        if (pr->error != NULL || pr->answered)
            continue;
        struct rows_ctx c = {.p = p, .pr = pr, .b = b};
        if (cs_sandbox_run(p->vm->sb, rows_p, &c, msg, sizeof(msg)) != LUA_OK)
            kill_rule(p, pr, msg, b, c.row);
    }
    if (p->collect != NULL)
        keep_customer_rows(p->collect, &p->t, b);
    p->total += b->nrows;
}

/* ---- passes: finishing ----------------------------------------------------------------- */

struct finish_ctx {
    struct cs_rules_pass *p;
    struct pass_rule *pr;
    char *message; /* NULL: no finding */
    int has_count;
    uint64_t count;
};

/* finish(state, rows) -> nil | true | message [, count] */
static int finish_p(lua_State *L)
{
    struct finish_ctx *c = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->pr->m->ref);
    lua_getfield(L, -1, "finish");
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->pr->state_ref);
    lua_pushinteger(L, (lua_Integer)c->p->total);
    lua_call(L, 2, 2);
    int t = lua_type(L, -2);
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -2)))
        return 0;
    if (t != LUA_TBOOLEAN && t != LUA_TSTRING)
        return luaL_error(L, "%s:%d: rule '%s': finish returned a %s; return nil, true or a message",
                          c->pr->m->file, c->pr->m->line, c->pr->m->name, lua_typename(L, t));
    if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0) {
        c->has_count = 1;
        c->count = (uint64_t)lua_tointeger(L, -1);
    }
    const char *msg = t == LUA_TSTRING ? lua_tostring(L, -2) : c->pr->m->description;
    if ((c->message = strndup(msg, MAX_MESSAGE * 2)) == NULL)
        return luaL_error(L, "out of memory");
    return 0;
}

/* "<description>: 12 of 30,000 rows (0.04%). First case, key 100123: <message>" */
static void row_message(const struct cs_rules_pass *p, const struct pass_rule *pr, char *out, size_t size)
{
    char cnt[32], tot[32], key[128];
    size_t dl = strlen(pr->m->description);
    while (dl > 0 && (pr->m->description[dl - 1] == '.' || pr->m->description[dl - 1] == ' '))
        dl--;
    int n = snprintf(out, size, "%.*s: %s of %s rows (%.2f%%).", (int)dl, pr->m->description,
                     cs_report_thousands(pr->count, cnt, sizeof(cnt)), cs_report_thousands(p->total, tot, sizeof(tot)),
                     p->total ? 100.0 * (double)pr->count / (double)p->total : 0.0);
    if (pr->first_msg != NULL && pr->first_key == NULL && n > 0 && (size_t)n < size) {
        snprintf(out + n, size - (size_t)n, " First case: %s", pr->first_msg); /* counted in SQL, no key */
    } else if (pr->first_msg != NULL && n > 0 && (size_t)n < size) {
        key_text(pr->first_key, key, sizeof(key));
        snprintf(out + n, size - (size_t)n, " First case, key %s: %s", key, pr->first_msg);
    }
}

static int finish_rule(struct cs_rules_pass *p, struct pass_rule *pr)
{
    const char *table = p->t.schema->table;
    if (pr->error != NULL)
        return emit_error(p->t.run, pr->m, table, pr->column, pr->error, pr->error_key);
    char msg[2 * MAX_MESSAGE + 600];
    struct emit_in in = {.m = pr->m, .table = table, .column = pr->column, .kind = "rule", .message = msg,
                         .count = pr->count, .total = p->total,
                         .severity = severity_for(p->t.cfg, table, pr->column, pr->m->severity)};
    if (pr->m->kind == CS_RULE_ROW) {
        if (pr->count == 0)
            return 0;
        row_message(p, pr, msg, sizeof(msg));
    } else {
        struct finish_ctx c = {.p = p, .pr = pr};
        char err[CS_ERR_MSG];
        if (cs_sandbox_run(p->vm->sb, finish_p, &c, err, sizeof(err)) != LUA_OK) {
            free(c.message);
            kill_rule(p, pr, err, NULL, 0);
            return emit_error(p->t.run, pr->m, table, pr->column, pr->error, NULL);
        }
        if (c.message == NULL)
            return 0;
        snprintf(msg, sizeof(msg), "%s", c.message);
        free(c.message);
        if (c.has_count)
            in.count = c.count;
    }
    in.samples = json_incref(pr->samples);
    return emit(p->t.run, &in);
}

int cs_rules_pass_finish(struct cs_rules_pass *p)
{
    int rc = 0;
    for (size_t i = 0; p != NULL && i < p->n; i++)
        if (finish_rule(p, &p->r[i]) != 0)
            rc = CS_ENOMEM;
    return rc;
}

void cs_rules_pass_free(struct cs_rules_pass *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct pass_rule *pr = &p->r[i];
        struct setup_ctx c = {pr};
        if (pr->row_ref != LUA_NOREF || pr->state_ref != LUA_NOREF)
            cs_sandbox_run(p->vm->sb, release_p, &c, NULL, 0);
        free(pr->idx);
        free(pr->column);
        free(pr->first_msg);
        free(pr->error);
        json_decref(pr->samples);
        json_decref(pr->first_key);
        json_decref(pr->error_key);
    }
    free(p->r);
    free(p);
}

/* ---- passes answered in the database ----------------------------------------------------- */

size_t cs_rules_pass_size(const struct cs_rules_pass *p)
{
    return p != NULL ? p->n : 0;
}

const struct cs_rule_meta *cs_rules_pass_rule(const struct cs_rules_pass *p, size_t i,
                                              const struct cs_rule_table **t, const size_t **idx)
{
    const struct pass_rule *pr = &p->r[i];
    if (pr->error != NULL || pr->answered)
        return NULL;
    *t = pr->t;
    *idx = pr->idx;
    return pr->m;
}

void cs_rules_pass_stop(struct cs_rules_pass *p, size_t i, const char *msg)
{
    if (p->r[i].error == NULL)
        kill_rule(p, &p->r[i], msg, NULL, 0);
}

int cs_rules_pass_answer(struct cs_rules_pass *p, size_t i, uint64_t count, const struct cs_batch *rows, int keyed)
{
    struct pass_rule *pr = &p->r[i];
    pr->answered = 1;
    if (rows != NULL && rows->nrows > 0 && pr->error == NULL) {
        /* The function reads the sample rows as it would while streaming: samples and the first message. */
        struct rows_ctx c = {.p = p, .pr = pr, .b = rows};
        char msg[CS_ERR_MSG];
        if (cs_sandbox_run(p->vm->sb, rows_p, &c, msg, sizeof(msg)) != LUA_OK)
            kill_rule(p, pr, msg, keyed ? rows : NULL, c.row);
        else if (pr->count < rows->nrows)
            cs_log(CS_LOG_WARNING, "rules", "%s:%d: rule '%s': its row function does not report %llu of the %zu "
                   "sample rows its sql predicate matches in %s; the two disagree (the count is the predicate's)",
                   pr->m->file, pr->m->line, pr->m->name, (unsigned long long)(rows->nrows - pr->count), rows->nrows,
                   p->t.schema->table);
    }
    pr->count = count;
    if (!keyed) { /* without a key the samples would be positions in the sample query, not in the table */
        if (json_array_clear(pr->samples) != 0)
            return CS_ENOMEM;
        json_decref(pr->first_key);
        pr->first_key = NULL;
    }
    return 0;
}

int cs_rules_pass_needs_rows(const struct cs_rules_pass *p)
{
    for (size_t i = 0; p != NULL && i < p->n; i++)
        if (p->r[i].error == NULL && !p->r[i].answered)
            return 1;
    return 0;
}

void cs_rules_pass_set_total(struct cs_rules_pass *p, uint64_t total)
{
    if (p != NULL)
        p->total = total;
}

/* The columns the unanswered rules read, plus the keys, in schema order. */
static size_t stream_columns(const struct cs_rules_pass *p, const size_t *keys, size_t nkeys, size_t *sel)
{
    size_t ncols = p->t.schema->ncols, n = 0;
    uint8_t *want = calloc(ncols + 1, 1);
    if (want == NULL)
        return 0;
    for (size_t k = 0; k < nkeys; k++)
        want[keys[k]] = 1;
    for (size_t i = 0; i < p->n; i++)
        for (size_t k = 0; p->r[i].error == NULL && !p->r[i].answered && k < p->r[i].t->ncols; k++)
            want[p->r[i].idx[k]] = 1;
    for (size_t i = 0; i < ncols; i++)
        if (want[i])
            sel[n++] = i;
    free(want);
    return n;
}

int cs_rules_pass_stream(struct cs_rules_pass *p, struct cs_source *src, const size_t *keys, size_t nkeys,
                         const struct cs_scan_opts *o, uint64_t *rows, struct cs_err *err)
{
    const struct cs_schema *schema = p->t.schema;
    size_t *sel = calloc(schema->ncols + 1, sizeof(size_t));
    struct cs_column *view = calloc(schema->ncols + 1, sizeof(*view)); /* batch columns at their schema index */
    struct cs_cursor *cur = NULL;
    const struct cs_batch *b;
    *rows = 0;
    int rc = sel && view ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
    struct cs_select s = {.schema = schema, .cols = sel};
    if (rc == 0 && (s.ncols = stream_columns(p, keys, nkeys, sel)) == 0)
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
    if (rc == 0)
        rc = cs_source_select(src, &s, &cur, err);
    while (rc == 0 && (rc = cs_cursor_next(cur, &b, err)) == 1) {
        rc = 0;
        for (size_t j = 0; j < s.ncols; j++)
            view[sel[j]] = b->cols[j];
        struct cs_batch full = {.nrows = b->nrows, .ncols = schema->ncols, .cols = view, .first_row = b->first_row};
        cs_rules_pass_batch(p, &full);
        *rows += b->nrows;
        if (o != NULL && o->progress)
            o->progress(o->progress_ctx, schema->table, *rows, 0);
        if (o != NULL && o->cancel && atomic_load(o->cancel))
            rc = cs_err_set(err, CS_ECANCELED, "the run was cancelled (the server is shutting down)");
    }
    cs_cursor_close(cur);
    free(sel);
    free(view);
    return rc < 0 ? rc : 0;
}

/* ---- customer rules ------------------------------------------------------------------- */

static void cust_table_free(struct cust_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i].text);
    for (size_t i = 0; i < t->nrows; i++)
        json_decref(t->keys[i]);
    for (size_t i = 0; i < t->ncols; i++)
        free(t->cols[i]);
    free(t->cols);
    free(t->cells);
    free(t->keys);
    free(t->name);
}

static void cust_clear(struct cust_store *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        cust_table_free(&cs->t[i]);
    free(cs->t);
    memset(cs, 0, sizeof(*cs));
}

void cs_rules_customer_begin(struct cs_rules_vm *vm)
{
    if (vm == NULL)
        return;
    cust_clear(&vm->cust);
    vm->cust.active = 1;
}

static struct cust_table *find_cust_table(struct cust_store *cs, const char *name)
{
    for (size_t i = 0; i < cs->n; i++)
        if (strcasecmp(cs->t[i].name, name) == 0)
            return &cs->t[i];
    return NULL;
}

static struct cust_table *cust_table_for(struct cs_rules_vm *vm, const struct cs_schema *s)
{
    struct cust_store *cs = &vm->cust;
    struct cust_table *t = find_cust_table(cs, s->table);
    if (t != NULL)
        return t;
    if ((t = realloc(cs->t, (cs->n + 1) * sizeof(*t))) == NULL)
        return NULL;
    cs->t = t;
    t = &t[cs->n];
    memset(t, 0, sizeof(*t));
    t->name = strdup(s->table);
    t->cols = calloc(s->ncols + 1, sizeof(char *));
    for (size_t i = 0; t->cols != NULL && i < s->ncols; i++)
        if ((t->cols[t->ncols] = strdup(s->cols[i].name)) != NULL)
            t->ncols++;
    if (t->name == NULL || t->cols == NULL || t->ncols != s->ncols) {
        cust_table_free(t);
        return NULL;
    }
    cs->n++;
    return t;
}

static int cust_grow(struct cust_table *ct)
{
    if (ct->nrows < ct->cap)
        return 0;
    size_t cap = ct->cap ? ct->cap * 2 : 16;
    struct cell *cells = realloc(ct->cells, cap * ct->ncols * sizeof(*cells));
    if (cells == NULL)
        return CS_ENOMEM;
    ct->cells = cells;
    json_t **keys = realloc(ct->keys, cap * sizeof(*keys));
    if (keys == NULL)
        return CS_ENOMEM;
    ct->keys = keys;
    ct->cap = cap;
    return 0;
}

static void keep_customer_rows(struct cust_table *ct, const struct cs_rules_target *t, const struct cs_batch *b)
{
    for (size_t row = 0; row < b->nrows && b->ncols == ct->ncols; row++) {
        if (cust_grow(ct) != 0) {
            cs_log(CS_LOG_ERROR, "rules", "out of memory keeping the customer's rows of %s", ct->name);
            return;
        }
        struct cell *cells = &ct->cells[ct->nrows * ct->ncols];
        for (size_t i = 0; i < ct->ncols; i++) {
            const struct cs_column *c = &b->cols[i];
            memset(&cells[i], 0, sizeof(cells[i]));
            if (c->nulls[row])
                continue;
            cells[i].type = c->type;
            if (c->type == CS_TYPE_INT64)
                cells[i].i64 = c->i64[row];
            else if (c->type == CS_TYPE_DOUBLE)
                cells[i].f64 = c->f64[row];
            else if ((cells[i].text = strndup(c->text[row], c->text_len[row])) != NULL)
                cells[i].len = c->text_len[row];
            else
                cells[i].type = 0;
        }
        ct->keys[ct->nrows++] = t->row_key(t->key_ctx, b, row);
    }
}

/* One customer rule's view of the kept rows. */
struct cust_call {
    struct cs_rules_vm *vm;
    const struct cs_rule_meta *m;
    struct cs_run *run;
    struct cust_table **tabs; /* per declared table */
    size_t **idx;             /* per declared table: column indexes into tabs[i] */
    json_t **keys;            /* all rows given to the rule, in order */
    size_t *table_of;         /* the declared table each of those rows comes from */
    size_t nkeys;
    ssize_t first_table;      /* table of the first row the rule reported, -1 for none */
    char *message;
    json_t *samples;
    uint64_t count;
};

static void push_stored(lua_State *L, const struct cell *c)
{
    if (c->type == CS_TYPE_INT64)
        lua_pushinteger(L, c->i64);
    else if (c->type == CS_TYPE_DOUBLE)
        lua_pushnumber(L, c->f64);
    else if (c->type == CS_TYPE_TEXT)
        lua_pushlstring(L, c->text, c->len);
    else
        lua_pushnil(L);
}

/* {TABLE = {row, row, ...}, ...} with fresh row tables; ids maps each row table to its key index. */
static void push_customer_input(lua_State *L, struct cust_call *c, int ids)
{
    const struct cs_rule_meta *m = c->m;
    lua_createtable(L, 0, (int)m->ntables);
    for (size_t i = 0; i < m->ntables; i++) {
        const struct cs_rule_table *e = &m->tables[i];
        const struct cust_table *ct = c->tabs[i];
        lua_createtable(L, (int)ct->nrows, 0);
        push_row_meta(L, e);
        int meta = lua_gettop(L);
        for (size_t r = 0; r < ct->nrows; r++) {
            lua_createtable(L, 0, (int)e->ncols);
            for (size_t k = 0; k < e->ncols; k++) {
                push_stored(L, &ct->cells[r * ct->ncols + c->idx[i][k]]);
                lua_setfield(L, -2, e->cols[k]);
            }
            lua_pushvalue(L, meta);
            lua_setmetatable(L, -2);
            lua_pushvalue(L, -1);
            lua_pushinteger(L, (lua_Integer)c->nkeys);
            lua_rawset(L, ids);
            c->table_of[c->nkeys] = i;
            c->keys[c->nkeys++] = ct->keys[r];
            lua_rawseti(L, meta - 1, (lua_Integer)r + 1);
        }
        lua_pop(L, 1);
        lua_setfield(L, -2, e->name);
    }
}

static void push_customer_id(lua_State *L, const struct cs_run *run)
{
    if (run->customer_is_int)
        lua_pushinteger(L, strtoll(run->customer_id, NULL, 10));
    else
        lua_pushstring(L, run->customer_id);
}

/* customer(tables, id) -> nil | true | message [, rows] */
static int customer_p(lua_State *L)
{
    struct cust_call *c = lua_touserdata(L, 1);
    lua_newtable(L);
    int ids = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->m->ref);
    lua_getfield(L, -1, "customer");
    push_customer_input(L, c, ids);
    push_customer_id(L, c->run);
    cs_sandbox_budget(c->vm->sb);
    lua_call(L, 2, 2);
    int t = lua_type(L, -2);
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -2)))
        return 0;
    if (t != LUA_TBOOLEAN && t != LUA_TSTRING)
        return luaL_error(L, "%s:%d: rule '%s': the customer function returned a %s; return nil, true or a message",
                          c->m->file, c->m->line, c->m->name, lua_typename(L, t));
    if ((c->message = strndup(t == LUA_TSTRING ? lua_tostring(L, -2) : c->m->description, 2 * MAX_MESSAGE)) == NULL)
        return luaL_error(L, "out of memory");
    for (lua_Integer i = 1; lua_type(L, -1) == LUA_TTABLE && lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
        if (lua_rawget(L, ids) == LUA_TNUMBER) { /* one of the rows the rule was given */
            if (c->count++ == 0)
                c->first_table = (ssize_t)c->table_of[lua_tointeger(L, -1)];
            if (json_array_size(c->samples) < MAX_SAMPLES)
                json_array_append(c->samples, c->keys[lua_tointeger(L, -1)]);
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* "T1.A,T2.B": the columns of every table the rule reads. */
static char *customer_columns(const struct cs_rule_meta *m)
{
    size_t len = 1;
    for (size_t i = 0; i < m->ntables; i++)
        for (size_t k = 0; k < m->tables[i].ncols; k++)
            len += strlen(m->tables[i].name) + strlen(m->tables[i].cols[k]) + 2;
    char *out = malloc(len), *o = out;
    for (size_t i = 0; out != NULL && i < m->ntables; i++)
        for (size_t k = 0; k < m->tables[i].ncols; k++)
            o += sprintf(o, "%s%s.%s", o == out ? "" : ",", m->tables[i].name, m->tables[i].cols[k]);
    if (out != NULL)
        *o = '\0';
    return out;
}

/* Find the kept rows and the columns of every table the rule reads; a message when one is missing. */
static int resolve_customer(struct cust_call *c, char *msg, size_t size)
{
    const struct cs_rule_meta *m = c->m;
    size_t total = 0;
    for (size_t i = 0; i < m->ntables; i++) {
        const struct cs_rule_table *e = &m->tables[i];
        struct cust_table *ct = find_cust_table(&c->vm->cust, e->name);
        if (ct == NULL) {
            snprintf(msg, size, "%s:%d: rule '%s' reads table %s, which customer runs do not read "
                     "(give it a customer_key in the config)", m->file, m->line, m->name, e->name);
            return -1;
        }
        c->tabs[i] = ct;
        if ((c->idx[i] = calloc(e->ncols, sizeof(size_t))) == NULL)
            return CS_ENOMEM;
        for (size_t k = 0; k < e->ncols; k++) {
            size_t j;
            for (j = 0; j < ct->ncols && strcasecmp(ct->cols[j], e->cols[k]) != 0; j++)
                ;
            if (j == ct->ncols) {
                snprintf(msg, size, "%s:%d: rule '%s': table %s has no column %s", m->file, m->line, m->name,
                         ct->name, e->cols[k]);
                return -1;
            }
            c->idx[i][k] = j;
        }
        total += ct->nrows;
    }
    if ((c->keys = calloc(total + 1, sizeof(json_t *))) == NULL ||
        (c->table_of = calloc(total + 1, sizeof(size_t))) == NULL)
        return CS_ENOMEM;
    return 0;
}

static json_t *customer_key_json(const struct cs_run *run)
{
    return run->customer_is_int ? json_integer(strtoll(run->customer_id, NULL, 10)) : json_string(run->customer_id);
}

static int run_customer_rule(struct cs_rules_vm *vm, struct cs_run *run, const struct cs_rule_meta *m)
{
    struct cust_call c = {.vm = vm, .m = m, .run = run, .first_table = -1};
    char msg[CS_ERR_MSG + 200];
    char *column = customer_columns(m);
    c.tabs = calloc(m->ntables, sizeof(*c.tabs));
    c.idx = calloc(m->ntables, sizeof(*c.idx));
    c.samples = json_array();
    int rc = column && c.tabs && c.idx && c.samples ? resolve_customer(&c, msg, sizeof(msg)) : CS_ENOMEM;
    const char *table = c.tabs && c.tabs[0] ? c.tabs[0]->name : m->tables[0].name;
    uint64_t total = 0;
    for (size_t i = 0; c.tabs != NULL && i < m->ntables; i++)
        total += c.tabs[i] ? c.tabs[i]->nrows : 0;
    if (rc == 0 && cs_sandbox_run(vm->sb, customer_p, &c, msg, sizeof(msg)) != LUA_OK)
        rc = -1;
    if (rc == -1) {
        char where[sizeof(msg) + 100];
        locate(m, msg, where, sizeof(where));
        log_failure(m, where);
        rc = emit_error(run, m, table, column, where, NULL);
    } else if (rc == 0 && c.message != NULL) {
        if (c.first_table >= 0) /* the samples are keys of that table */
            table = c.tabs[c.first_table]->name;
        if (json_array_size(c.samples) == 0)
            json_array_append_new(c.samples, customer_key_json(run));
        struct emit_in in = {.m = m, .table = table, .column = column, .kind = "rule", .message = c.message,
                             .count = c.count ? c.count : 1, .total = total, .samples = json_incref(c.samples),
                             .severity = m->ntables == 1 ? severity_for(vm->cfg, table, column, m->severity)
                                                         : m->severity};
        rc = emit(run, &in);
    }
    for (size_t i = 0; c.idx != NULL && i < m->ntables; i++)
        free(c.idx[i]);
    free(c.idx);
    free(c.tabs);
    free(c.keys);
    free(c.table_of);
    free(c.message);
    free(column);
    json_decref(c.samples);
    return rc;
}

int cs_rules_customer_end(struct cs_rules_vm *vm, struct cs_run *run, int run_rules)
{
    int rc = 0;
    if (vm == NULL)
        return 0;
    for (size_t i = 0; run_rules && vm->sb != NULL && i < vm->rules.n; i++)
        if (vm->rules.v[i].kind == CS_RULE_CUSTOMER && run_customer_rule(vm, run, &vm->rules.v[i]) != 0)
            rc = CS_ENOMEM;
    cust_clear(&vm->cust);
    return rc;
}
