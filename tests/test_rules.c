/*
** test_rules.c -- Lua rules in process: the rule{} API and its messages, the
** sandbox (escape attempts at load time and while rules run), isolation
** between rule files, the catalogue (broken files, last good version,
** Kubernetes ConfigMap layout), and the engine (one pass, findings with
** source "lua", rule errors as findings, a file dropped between two scans,
** a missing column, aggregate and customer rules), and SQL predicates
** (rule{sql = ...}: refused text at load, the text each dialect receives,
** and a pushdown scan agreeing with a streamed one).  Fixtures are SQLite
** files under $CS_TEST_WORK.  TAP output.
*/
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "err.h"
#include "plugin.h"
#include "pushdown.h"
#include "pushdown_rules.h"
#include "rules.h"
#include "sandbox.h"
#include "tap.h"

static char work[4096];

/* ---- fixtures -------------------------------------------------------------- */

static void make_work(void)
{
    const char *base = getenv("CS_TEST_WORK");
    snprintf(work, sizeof(work), "%s/rules.XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(work) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
}

static void path_of(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void path_of(char *buf, size_t size, const char *fmt, ...)
{
    char rel[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof(rel), fmt, ap);
    va_end(ap);
    snprintf(buf, size, "%s/%s", work, rel);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* dir/name with the text */
static void put_rule(const char *dir, const char *name, const char *text)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    write_file(p, text);
}

static void new_dir(char *buf, size_t size, const char *name)
{
    path_of(buf, size, "%s", name);
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        perror(buf);
        exit(1);
    }
}

static void sql(sqlite3 *db, const char *s)
{
    char *msg = NULL;
    if (sqlite3_exec(db, s, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", s, msg);
        exit(1);
    }
}

/* T: 20 rows, ID 1..20, A = ID, B 'x' or NULL for even IDs, C customer 100 + ID % 3.
 * PAY: two rows per customer 100..102, plus one for customer 101 pointing at a missing loan. */
static void make_db(const char *path)
{
    sqlite3 *db;
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        exit(1);
    sql(db, "CREATE TABLE T (ID INTEGER, A REAL, B TEXT, C INTEGER)");
    sql(db, "CREATE TABLE PAY (PAY_ID INTEGER, CUST INTEGER, LOAN INTEGER, AMT REAL)");
    sql(db, "CREATE TABLE LOANS (LOAN INTEGER, CUST INTEGER)");
    char s[256];
    for (int i = 1; i <= 20; i++) {
        snprintf(s, sizeof(s), "INSERT INTO T VALUES (%d, %d.0, %s, %d)", i, i, i % 2 ? "'x'" : "NULL", 100 + i % 3);
        sql(db, s);
    }
    sql(db, "INSERT INTO LOANS VALUES (1, 100), (2, 101), (3, 102)");
    sql(db, "INSERT INTO PAY VALUES (1, 100, 1, 10), (2, 100, 1, 10), (3, 101, 2, 10), (4, 101, 9, 99), "
            "(5, 102, 3, 10), (6, 102, 3, 10)");
    sqlite3_close(db);
}

static struct cs_config *config_for(const char *db, const char *rules_dir)
{
    char text[8192];
    struct cs_err err = {0};
    struct cs_config *cfg = NULL;
    snprintf(text, sizeof(text),
             "{\"source\": {\"odbc\": \"Driver=SQLite3;Database=%s\", \"batch_rows\": 7},"
             " \"rules_dir\": \"%s\","
             " \"tables\": {\"T\": {\"primary_key\": \"ID\", \"customer_key\": \"C\","
             "                      \"columns\": {\"B\": {\"severity\": \"critical\"}}},"
             "              \"PAY\": {\"primary_key\": \"PAY_ID\", \"customer_key\": \"CUST\"},"
             "              \"LOANS\": {\"primary_key\": \"LOAN\"}}}",
             db, rules_dir);
    if (cs_config_parse(text, strlen(text), "/tmp/test.json", &cfg, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        exit(1);
    }
    return cfg;
}

static const struct cs_finding *finding(const struct cs_run *run, const char *check)
{
    for (size_t i = 0; run != NULL && i < run->nfindings; i++)
        if (strcmp(run->findings[i].check, check) == 0)
            return &run->findings[i];
    return NULL;
}

static int has(const char *s, const char *needle)
{
    return s != NULL && strstr(s, needle) != NULL;
}

/* A scan of T with a new engine (no check plugins: only rules). */
static struct cs_run *scan(struct cs_engine *eng, const char *table)
{
    struct cs_err err = {0};
    struct cs_run *run = NULL;
    if (cs_engine_scan_table(eng, table, NULL, &run, &err) != 0)
        printf("# scan failed: %s\n", err.msg);
    return run;
}

static struct cs_registry no_plugins;

static struct cs_engine *engine(const struct cs_config *cfg)
{
    struct cs_engine *eng = NULL;
    struct cs_err err = {0};
    if (cs_engine_new(&eng, cfg, &no_plugins, &err) != 0) {
        printf("# engine: %s\n", err.msg);
        exit(1);
    }
    return eng;
}

/* ---- the API: loading single files ------------------------------------------- */

struct loaded {
    int rc, line;
    char msg[CS_ERR_MSG];
    struct cs_rule_list list;
};

static void load_text(struct cs_sandbox *sb, const char *file, const char *text, struct loaded *l)
{
    l->rc = cs_rules_load_file(sb, file, text, strlen(text), &l->list, &l->line, l->msg, sizeof(l->msg));
}

static void expect_load_error(const char *text, int line, const char *needle, const char *what)
{
    struct cs_sandbox *sb = cs_sandbox_new(NULL);
    struct loaded l = {0};
    load_text(sb, "t.lua", text, &l);
    ok(l.rc != 0 && l.list.n == 0 && (line == 0 || l.line == line) && has(l.msg, needle), "%s (line %d: %s)", what,
       l.line, l.msg);
    cs_rule_list_clear(&l.list);
    cs_sandbox_free(sb);
}

#define GOOD_HEAD "rule {name = 'r', description = 'd', table = 'T', columns = {'A'}, "

static void test_api(void)
{
    struct cs_sandbox *sb = cs_sandbox_new(NULL);
    struct loaded l = {0};
    load_text(sb, "ok.lua",
              "local function big(x) return x > 5 end\n"
              "rule {name = 'a', description = 'A is big', table = 'T', columns = {'A'}, severity = 'high',\n"
              "      row = function(r) return big(r.A) end}\n"
              "rule {name = 'b', description = 'agg', tables = {'T', 'U'}, columns = {T = {'A'}, U = {'X', 'Y'}},\n"
              "      aggregate = {row = function(s, r) end, finish = function(s, n) end}}\n"
              "rule {name = 'c', description = 'cust', tables = {'T', 'PAY'},\n"
              "      columns = {T = {'A'}, PAY = {'AMT'}}, customer = function(t, id) end}\n",
              &l);
    ok(l.rc == 0 && l.list.n == 3, "a file with three rules loads (%s)", l.msg);
    if (l.list.n == 3) {
        const struct cs_rule_meta *a = &l.list.v[0], *b = &l.list.v[1], *c = &l.list.v[2];
        ok(strcmp(a->name, "a") == 0 && a->kind == CS_RULE_ROW && a->severity == CS_SEV_HIGH && a->line == 2 &&
               strcmp(a->file, "ok.lua") == 0 && a->ntables == 1 && strcmp(a->tables[0].cols[0], "A") == 0,
           "row rule declarations recorded (line %d)", a->line);
        ok(b->kind == CS_RULE_AGGREGATE && b->severity == CS_SEV_MEDIUM && b->ntables == 2 &&
               b->tables[1].ncols == 2 && strcmp(b->tables[1].cols[1], "Y") == 0,
           "aggregate rule with per-table columns, default severity medium");
        ok(c->kind == CS_RULE_CUSTOMER && c->ntables == 2, "customer rule recorded");
    }
    load_text(sb, "dup.lua", GOOD_HEAD "row = function(r) end}\nrule {name = 'a', description = 'x', table = 'T', "
                             "columns = {'A'}, row = function(r) end}\n", &l);
    ok(l.rc != 0 && l.line == 2 && has(l.msg, "already used by the rule at ok.lua:2") && l.list.n == 3,
       "a name used by another file is refused and the file adds nothing (%s)", l.msg);
    cs_rule_list_clear(&l.list);
    cs_sandbox_free(sb);

    expect_load_error("rule {name = 'r', description = 'd', table = 'T', colums = {'A'}, row = function() end}", 1,
                      "unknown field 'colums' (did you mean 'columns'?)", "an unknown field is named with a hint");
    expect_load_error("\n\nrule {description = 'd', table = 'T', columns = {'A'}, row = function() end}", 3,
                      "'name' is required", "a missing name is reported at its line");
    expect_load_error(GOOD_HEAD "severity = 'hgh', row = function() end}", 1, "'severity' must be one of",
                      "an unknown severity is refused");
    expect_load_error(GOOD_HEAD "row = function() end, customer = function() end}", 1, "exactly one of",
                      "row and customer together are refused");
    expect_load_error("rule {name = 'r', description = 'd', table = 'T', row = function() end}", 1,
                      "'columns' is required", "missing columns are refused");
    expect_load_error("rule {name = 'r', description = 'd', table = 'T', tables = {'U'}, columns = {'A'}, "
                      "row = function() end}", 1, "either 'table'", "table and tables together are refused");
    expect_load_error("rule {name = 'r', description = 'd', tables = {'T', 'U'}, columns = {'A'}, "
                      "customer = function() end}", 1, "columns of each table",
                      "a customer rule over two tables must say which columns of each");
    expect_load_error("rule {name = 'r', description = 'd', table = 'T', columns = {'A'}, "
                      "aggregate = {row = function() end}}", 1, "aggregate.finish must be a function",
                      "an aggregate without finish is refused");
    expect_load_error("rule {name = 'bad name!', description = 'd', table = 'T', columns = {'A'}, row = print}", 1,
                      "must be 1 to 64", "a name with spaces is refused");
    expect_load_error("local x = \nrule {", 2, "expected", "a syntax error is reported with its line");
    expect_load_error("local x = 1\n", 1, "defines no rule", "a file without rules is an error");
}

/* ---- the sandbox while a file loads ------------------------------------------- */

/* The binary chunk of `return 1`, as a Lua string literal, made in a plain state. */
static int dump_writer(lua_State *L, const void *p, size_t n, void *ud)
{
    (void)L;
    char *out = ud;
    for (size_t i = 0; i < n && strlen(out) + 5 < 4096; i++)
        sprintf(out + strlen(out), "\\%d", ((const unsigned char *)p)[i]);
    return 0;
}

static void binary_chunk_literal(char *out)
{
    lua_State *L = luaL_newstate();
    out[0] = '\0';
    luaL_loadstring(L, "return 1");
    lua_dump(L, dump_writer, out, 0);
    lua_close(L);
}

static void test_sandbox_load(void)
{
    char bin[4096], text[4400];
    binary_chunk_literal(bin);
    snprintf(text, sizeof(text), "local f, e = load(\"%s\")\nassert(f, e)\n", bin);
    expect_load_error(text, 2, "attempt to load a binary chunk", "load of a binary chunk is refused");
    snprintf(text, sizeof(text), "local f = load(\"%s\", 'b', 'b')\nassert(f, 'refused')\n", bin);
    expect_load_error(text, 2, "refused", "load with mode 'b' is refused too");
    expect_load_error("assert(string.dump == nil, 'has dump')\nstring.dump(print)", 2, "field 'dump'",
                      "string.dump does not exist");
    expect_load_error("os.execute('touch /tmp/cs-pwned')", 1, "field 'execute'", "os.execute does not exist");
    expect_load_error("local f = io.open('/etc/passwd')", 1, "'io' is not available", "io is not available");
    expect_load_error("local os2 = require('os')", 1, "'require' is not available", "require is not available");
    expect_load_error("debug.sethook(function() end, '', 0)", 1, "'debug' is not available",
                      "debug.sethook is not available");
    expect_load_error("setmetatable(_G, {__index = function() return 1 end})", 1, "protected metatable",
                      "setmetatable(_G, ...) is refused");
    expect_load_error("collectgarbage('stop')", 1, "not allowed", "collectgarbage('stop') is refused");
    expect_load_error("dofile('/etc/passwd')", 1, "'dofile' is not available", "dofile is not available");
    expect_load_error("local n = 0\nwhile true do n = n + 1 end", 2, "rule stopped",
                      "while true do end is stopped by the instruction budget");
    expect_load_error("while true do pcall(function() while true do end end) end", 1, "rule stopped",
                      "pcall cannot swallow the budget");
    expect_load_error("local s = ('x'):rep(4e6)\nfor i = 1, 1e6 do local u = s:upper() end", 2, "longer than 2 s",
                      "a loop of slow library calls is stopped by the time limit");
    expect_load_error("local s = string.rep('x', 2^40)", 1, "memory limit", "string.rep bomb refused");
    expect_load_error("local s = 'x'\nfor i = 1, 40 do s = s .. s end", 0, "not enough memory",
                      "doubling a string until memory runs out is stopped");
    expect_load_error("local ok = pcall(function() local s = 'x' for i = 1, 40 do s = s .. s end end)", 0,
                      "not enough memory", "pcall cannot swallow running out of memory");
    expect_load_error("local function f(n) return f(n + 1) + 1 end\nf(1)", 0, "",
                      "deep recursion is stopped (stack overflow or memory)");
    expect_load_error("setmetatable({}, {__gc = function() end})", 1, "__gc", "__gc finalizers are refused");
    expect_load_error("local x = ('a'):rep(3000):find('.-.-.-b')", 1, "pattern too complex",
                      "a catastrophic pattern is refused");
    expect_load_error("table.move({}, 1, 1e15, 2)", 1, "range too large", "a runaway table.move is refused");
    expect_load_error("local x = getmetatable('').__index.upper", 1, "",
                      "the string metatable is hidden");
    expect_load_error("print(undefined_name.x)", 1, "unknown global variable 'undefined_name'",
                      "reading an unknown global is an error");
}

/* ---- findings -------------------------------------------------------------------- */

static void test_scan(const char *db)
{
    char dir[4096];
    new_dir(dir, sizeof(dir), "scan");
    put_rule(dir, "big.lua",
             "rule {name = 'big', description = 'A is above 15.', table = 'T', columns = {'A'}, severity = 'high',\n"
             "      row = function(r) if r.A > 15 then return 'A is ' .. r.A end end}\n");
    put_rule(dir, "null_b.lua",
             "rule {name = 'null_b', description = 'B is missing', table = 'T', columns = {'B'}, severity = 'low',\n"
             "      row = function(r) return r.B == nil end}\n");
    put_rule(dir, "other.lua",
             "rule {name = 'other', description = 'never here', table = 'NOT_T', columns = {'A'},\n"
             "      row = function(r) return true end}\n");
    put_rule(dir, "agg.lua",
             "rule {name = 'sum_a', description = 'sum', table = 'T', columns = {'A', 'B'},\n"
             "  aggregate = {init = function() return {sum = 0} end,\n"
             "               row = function(s, r) s.sum = s.sum + r.A; return r.A == 3 end,\n"
             "               finish = function(s, n) return 'sum ' .. math.tointeger(s.sum) .. ' of ' .. n, 42 end}}\n");
    struct cs_config *cfg = config_for(db, dir);
    struct cs_engine *eng = engine(cfg);
    struct cs_run *run = scan(eng, "T");
    const struct cs_finding *f = finding(run, "big");
    ok(f != NULL && f->count == 5 && f->total == 20 && strcmp(f->source, "lua") == 0 && strcmp(f->kind, "rule") == 0 &&
           f->severity == CS_SEV_HIGH && strcmp(f->column, "A") == 0 && strcmp(f->table, "T") == 0,
       "a row rule reports 5 of 20 rows with source lua and its severity");
    ok(f != NULL && json_array_size(f->sample_keys) == 5 &&
           json_integer_value(json_array_get(f->sample_keys, 0)) == 16,
       "sample keys are the primary keys of the offending rows");
    ok(f != NULL && has(f->message, "A is above 15: 5 of 20 rows (25.00%). First case, key 16: A is 16"),
       "the message has the description, the share and the first row's message (%s)", f ? f->message : "");
    f = finding(run, "null_b");
    ok(f != NULL && f->count == 10 && f->severity == CS_SEV_CRITICAL,
       "NULL reads as nil, and the config's column severity overrides the rule's");
    ok(finding(run, "other") == NULL, "a rule for another table does not run");
    f = finding(run, "sum_a");
    ok(f != NULL && strcmp(f->message, "sum 210 of 20") == 0 && f->count == 42 &&
           json_integer_value(json_array_get(f->sample_keys, 0)) == 3,
       "an aggregate rule: init, row, finish with message and count, flagged rows as samples (%s)",
       f ? f->message : "");
    cs_run_free(run);

    /* a rule dropped in between two scans of the same engine */
    put_rule(dir, "late.lua",
             "rule {name = 'late', description = 'dropped in later', table = 'T', columns = {'ID'},\n"
             "      row = function(r) return r.ID == 1 end}\n");
    run = scan(eng, "T");
    f = finding(run, "late");
    ok(f != NULL && f->count == 1 && finding(run, "big") != NULL, "a rule file dropped between two scans is picked up");
    cs_run_free(run);
    put_rule(dir, "late.lua", "this is not lua (\n");
    run = scan(eng, "T");
    ok(finding(run, "late") != NULL, "after the file breaks, its last good version still runs");
    cs_run_free(run);
    char p[4096];
    snprintf(p, sizeof(p), "%s/late.lua", dir);
    unlink(p);
    run = scan(eng, "T");
    ok(finding(run, "late") == NULL && finding(run, "big") != NULL, "a removed file's rules are gone");
    cs_run_free(run);
    cs_engine_free(eng);
    cs_config_free(cfg);
}

/* Hostile or broken rules while rows are checked: each becomes an error finding, the rest runs. */
static void test_run_failures(const char *db)
{
    char dir[4096];
    new_dir(dir, sizeof(dir), "hostile");
    put_rule(dir, "good.lua",
             "rule {name = 'good', description = 'A is big', table = 'T', columns = {'A'},\n"
             "      row = function(r) return r.A > 15 end}\n");
    static const struct {
        const char *name, *body, *needle;
    } cases[] = {
        {"loop", "while true do end", "rule stopped"},
        {"pcall_loop", "while true do pcall(function() while true do end end) end", "rule stopped"},
        {"memory", "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1e6) .. i end", "not enough memory"},
        {"rep_bomb", "return #string.rep('x', 1e12) > 0", "memory limit"},
        {"recursion", "local function f() return f() + 1 end return f()", ""},
        {"os_execute", "os.execute('touch /tmp/cs-pwned')", "field 'execute'"},
        {"io_open", "return io.open('/etc/passwd') ~= nil", "'io' is not available"},
        {"require", "return require('io') ~= nil", "'require' is not available"},
        {"debug_hook", "debug.sethook(function() end, '', 0)", "'debug' is not available"},
        {"set_global", "counter = 1", "cannot set global"},
        {"protect_g", "setmetatable(_G, {})", "protected metatable"},
        {"gc_stop", "collectgarbage('stop')", "not allowed"},
        {"bad_return", "return 42", "returned a number"},
        {"undeclared", "return r.B == nil", "column B is not in the rule's columns"},
        {"error", "error('boom')", "boom"},
        {"rule_at_run", "rule {name = 'x'}", "only be called while its file loads"},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        char file[128], text[1024];
        snprintf(file, sizeof(file), "%s.lua", cases[i].name);
        snprintf(text, sizeof(text),
                 "rule {name = '%s', description = 'hostile', table = 'T', columns = {'A'},\n"
                 "      row = function(r)\n        %s\n      end}\n",
                 cases[i].name, cases[i].body);
        put_rule(dir, file, text);
    }
    struct cs_config *cfg = config_for(db, dir);
    struct cs_engine *eng = engine(cfg);
    for (int round = 1; round <= 2; round++) {
        struct cs_run *run = scan(eng, "T");
        for (size_t i = 0; i < n; i++) {
            const struct cs_finding *f = finding(run, cases[i].name);
            char where[64]; /* errors without a position (memory) are placed at the rule{} line */
            snprintf(where, sizeof(where), "%s.lua:%d:", cases[i].name,
                     has(f ? f->message : "", "not enough memory") || strcmp(cases[i].name, "bad_return") == 0 ? 1 : 3);
            ok(f != NULL && strcmp(f->kind, "error") == 0 && f->severity == CS_SEV_HIGH && has(f->message, where) &&
                   has(f->message, cases[i].needle) && json_integer_value(json_array_get(f->sample_keys, 0)) == 1,
               "round %d: %s is stopped and reported as an error at file:line on row key 1 (%s)", round,
               cases[i].name, f ? f->message : "no finding");
        }
        const struct cs_finding *g = finding(run, "good");
        ok(g != NULL && g->count == 5 && strcmp(g->kind, "rule") == 0, "round %d: the good rule still runs", round);
        cs_run_free(run);
    }
    ok(access("/tmp/cs-pwned", F_OK) != 0, "no rule ran a command");
    cs_engine_free(eng);
    cs_config_free(cfg);
}

/* One rule file cannot change what another sees. */
static void test_isolation(const char *db)
{
    char dir[4096];
    new_dir(dir, sizeof(dir), "isolation");
    put_rule(dir, "a.lua",
             "function helper(x) return 'helper says ' .. string.format('%d', x) end\n"
             "rule {name = 'a', description = 'a', table = 'T', columns = {'ID'},\n"
             "      row = function(r) if r.ID == 1 then return helper(r.ID) .. ' ' .. cs.amount(1234) end end}\n");
    put_rule(dir, "b.lua",
             "helper = function() return 'pwned' end\n"           /* its own global only */
             "string.format = function() return 'pwned' end\n"    /* its own copy of string */
             "cs.amount = function() return 'pwned' end\n"        /* its own copy of cs */
             "rawset(_G, 'x', 1)\n"
             "rule {name = 'b', description = 'b', table = 'T', columns = {'ID'},\n"
             "      row = function(r) if r.ID == 2 then\n"
             "        local mt = getmetatable('')\n"                /* the shared string metatable is hidden */
             "        if type(mt) == 'table' then mt.__index.format = function() return 'pwned' end end\n"
             "        return helper() end end}\n");
    put_rule(dir, "c.lua",
             "rule {name = 'a', description = 'steal a', table = 'T', columns = {'ID'}, row = function() return 'pwned' end}\n");
    struct cs_config *cfg = config_for(db, dir);
    struct cs_engine *eng = engine(cfg);
    struct cs_run *run = scan(eng, "T");
    const struct cs_finding *a = finding(run, "a"), *b = finding(run, "b");
    ok(a != NULL && has(a->message, "helper says 1 1,234") && !has(a->message, "pwned"),
       "another file's globals, string and cs changes do not reach a rule (%s)", a ? a->message : "");
    ok(b != NULL && has(b->message, "pwned"), "a file's own changes do apply to itself");
    ok(a != NULL && a->count == 1, "a rule with another file's name did not replace it");
    cs_run_free(run);
    struct cs_rules *cat = cs_rules_new(dir, 1, NULL);
    struct cs_rules_snapshot *s = cs_rules_acquire(cat);
    ok(s != NULL && s->nproblems == 1 && strcmp(s->problems[0].file, "c.lua") == 0 &&
           has(s->problems[0].message, "already used"),
       "the file reusing a rule name is reported as broken");
    cs_rules_release(s);
    cs_rules_free(cat);
    cs_engine_free(eng);
    cs_config_free(cfg);
}

static void test_missing_column(const char *db)
{
    char dir[4096];
    new_dir(dir, sizeof(dir), "missing_column");
    put_rule(dir, "typo.lua",
             "-- a typo in a column name\n"
             "rule {name = 'typo', description = 'd', table = 'T', columns = {'ID', 'AA'},\n"
             "      row = function(r) return true end}\n");
    put_rule(dir, "fine.lua",
             "rule {name = 'fine', description = 'd', table = 't', columns = {'id'}, row = function(r) return r.id == 2 end}\n");
    struct cs_config *cfg = config_for(db, dir);
    struct cs_engine *eng = engine(cfg);
    struct cs_run *run = scan(eng, "T");
    const struct cs_finding *f = finding(run, "typo");
    ok(f != NULL && strcmp(f->kind, "error") == 0 &&
           has(f->message, "typo.lua:2: rule 'typo': table T has no column AA (did you mean A?)"),
       "a column the table does not have is a clear error with file:line (%s)", f ? f->message : "");
    f = finding(run, "fine");
    ok(f != NULL && f->count == 1 && strcmp(f->column, "ID") == 0,
       "table and column names match ignoring case; the finding uses the database's spelling");
    cs_run_free(run);
    cs_engine_free(eng);
    cs_config_free(cfg);
}

static void test_customer(const char *db)
{
    char dir[4096];
    new_dir(dir, sizeof(dir), "customer");
    put_rule(dir, "orphans.lua",
             "rule {name = 'orphans', description = 'payments without a loan', tables = {'LOANS', 'PAY'},\n"
             "  columns = {LOANS = {'LOAN'}, PAY = {'LOAN', 'AMT'}}, severity = 'high',\n"
             "  customer = function(t, id)\n"
             "    local known, bad = {}, {}\n"
             "    for _, l in ipairs(t.LOANS) do known[l.LOAN] = true end\n"
             "    for _, p in ipairs(t.PAY) do if not known[p.LOAN] then bad[#bad + 1] = p end end\n"
             "    if #bad > 0 then return 'customer ' .. id .. ': ' .. #bad .. ' orphan payments', bad end\n"
             "  end}\n");
    put_rule(dir, "count.lua",
             "rule {name = 'count_t', description = 'rows of T', tables = {'T'}, columns = {T = {'A'}},\n"
             "  customer = function(t, id) return 'T rows: ' .. #t.T end}\n");
    put_rule(dir, "rows.lua",
             "rule {name = 'row_in_customer', description = 'A is 4', table = 'T', columns = {'A'},\n"
             "  row = function(r) return r.A == 4 end}\n");
    /* LOANS has no customer_key in the config here: customer runs do not read it */
    struct cs_config *cfg = config_for(db, dir);
    struct cs_engine *eng = engine(cfg);
    struct cs_err err = {0};
    struct cs_run *run = NULL;
    int rc = cs_engine_scan_customer(eng, "101", NULL, &run, &err);
    ok(rc == 0, "customer run (%s)", err.msg);
    const struct cs_finding *f = finding(run, "orphans");
    ok(f != NULL && strcmp(f->kind, "error") == 0 && has(f->message, "customer_key"),
       "a customer rule reading a table customer runs do not read is an error naming customer_key (%s)",
       f ? f->message : "");
    f = finding(run, "count_t");
    ok(f != NULL && has(f->message, "T rows: 7") && f->total == 7 &&
           json_integer_value(json_array_get(f->sample_keys, 0)) == 101,
       "a customer rule sees the customer's rows; the customer id is the sample (%s)", f ? f->message : "");
    f = finding(run, "row_in_customer");
    ok(f != NULL && f->count == 1 && f->total == 7, "row rules run over the customer's rows too");
    cs_run_free(run);
    cs_engine_free(eng);
    cs_config_free(cfg);

    char text[4096];
    snprintf(text, sizeof(text),
             "{\"source\": {\"odbc\": \"Driver=SQLite3;Database=%s\"}, \"rules_dir\": \"%s\","
             " \"tables\": {\"PAY\": {\"primary_key\": \"PAY_ID\", \"customer_key\": \"CUST\"},"
             "              \"LOANS\": {\"primary_key\": \"LOAN\", \"customer_key\": \"CUST\"}}}",
             db, dir);
    cfg = NULL;
    if (cs_config_parse(text, strlen(text), "/tmp/c.json", &cfg, &err) != 0)
        exit(1);
    eng = engine(cfg);
    run = NULL;
    cs_engine_scan_customer(eng, "101", NULL, &run, &err);
    f = finding(run, "orphans");
    ok(f != NULL && strcmp(f->kind, "rule") == 0 && f->count == 1 && f->severity == CS_SEV_HIGH &&
           strcmp(f->message, "customer 101: 1 orphan payments") == 0 &&
           json_integer_value(json_array_get(f->sample_keys, 0)) == 4 && has(f->column, "PAY.AMT"),
       "a cross-table customer rule reports the rows it returned by their keys (%s)", f ? f->message : "");
    cs_run_free(run);
    run = NULL;
    cs_engine_scan_customer(eng, "100", NULL, &run, &err);
    ok(run != NULL && finding(run, "orphans") == NULL, "and stays silent for a customer without the problem");
    cs_run_free(run);
    cs_engine_free(eng);
    cs_config_free(cfg);
}

/* ---- the catalogue ----------------------------------------------------------------- */

static size_t count_rules(struct cs_rules *cat, const char *name)
{
    struct cs_rules_snapshot *s = cs_rules_acquire(cat);
    size_t n = 0;
    for (size_t i = 0; s != NULL && i < s->nrules; i++)
        n += strcmp(s->rules[i].name, name) == 0;
    cs_rules_release(s);
    return n;
}

static void test_catalogue(void)
{
    char dir[4096], p[4200];
    new_dir(dir, sizeof(dir), "catalogue");
    put_rule(dir, "a.lua", "rule {name = 'a', description = 'd', table = 'T', columns = {'A'}, row = function() end}\n");
    put_rule(dir, "b.lua", "rule {name = 'b', description = 'd', table = 'T', columns = {'A'}, row = function() end}\n");
    put_rule(dir, "broken.lua", "\n\nrule {name = 'z', table = 'T'}\n");
    put_rule(dir, ".hidden.lua", "rule {name = 'hidden', description = 'd', table = 'T', columns = {'A'}, row = print}\n");
    put_rule(dir, "notes.txt", "not a rule");
    snprintf(p, sizeof(p), "%s/dir.lua", dir);
    mkdir(p, 0755);
    struct cs_rules *cat = cs_rules_new(dir, 1, NULL);
    struct cs_rules_snapshot *s = cs_rules_acquire(cat);
    ok(s != NULL && s->nrules == 2 && s->nfiles == 3 && s->nproblems == 1 &&
           strcmp(s->problems[0].file, "broken.lua") == 0 && s->problems[0].line == 3 &&
           has(s->problems[0].message, "'description' is required"),
       "a broken file is reported with its line and the good files load (%zu rules, %zu files)",
       s ? s->nrules : 0, s ? s->nfiles : 0);
    ok(count_rules(cat, "hidden") == 0, "dotfiles, directories and other files are ignored");
    uint64_t gen = s ? s->generation : 0;
    cs_rules_release(s);
    ok(cs_rules_refresh(cat) == 0, "nothing changed: no new snapshot");
    put_rule(dir, "a.lua", "rule {name = 'a', description = 'd', table = 'T', columns = {'A'}, row = }\n");
    ok(cs_rules_refresh(cat) == 1, "a changed file makes a new snapshot");
    s = cs_rules_acquire(cat);
    int stale = 0;
    for (size_t i = 0; s != NULL && i < s->nproblems; i++)
        stale += strcmp(s->problems[i].file, "a.lua") == 0 && s->problems[i].stale;
    ok(s != NULL && s->generation > gen && stale == 1 && count_rules(cat, "a") == 1,
       "a file that breaks keeps its last good version, marked stale");
    cs_rules_release(s);
    ok(cs_rules_reload(cat) == 0 && count_rules(cat, "a") == 1, "a forced reload still keeps the last good version");
    put_rule(dir, "a.lua", "rule {name = 'a2', description = 'd', table = 'T', columns = {'A'}, row = print}\n");
    cs_rules_refresh(cat);
    ok(count_rules(cat, "a2") == 1 && count_rules(cat, "a") == 0, "a fixed file replaces its last good version");
    snprintf(p, sizeof(p), "%s/b.lua", dir);
    unlink(p);
    cs_rules_refresh(cat);
    ok(count_rules(cat, "b") == 0, "a removed file's rules go");
    cs_rules_free(cat);

    cat = cs_rules_new("/nonexistent/rules", 1, NULL);
    s = cs_rules_acquire(cat);
    ok(s != NULL && s->nrules == 0 && s->nproblems == 1 && has(s->problems[0].message, "No such file"),
       "a configured directory that does not exist is a problem");
    cs_rules_release(s);
    cs_rules_free(cat);
    cat = cs_rules_new("/nonexistent/rules", 0, NULL);
    s = cs_rules_acquire(cat);
    ok(s != NULL && s->nproblems == 0, "the default directory may be absent (no rules)");
    cs_rules_release(s);
    cs_rules_free(cat);
}

/* How Kubernetes mounts a ConfigMap: files are symlinks into ..data, itself a
 * symlink to a timestamped directory that an update replaces atomically. */
static void configmap_version(const char *dir, const char *version, const char *const *files, size_t n)
{
    char p[4200], t[4200];
    snprintf(p, sizeof(p), "%s/%s", dir, version);
    mkdir(p, 0755);
    for (size_t i = 0; i < n; i += 2) {
        snprintf(t, sizeof(t), "%s/%s", p, files[i]);
        write_file(t, files[i + 1]);
        snprintf(t, sizeof(t), "%s/%s", dir, files[i]);
        char target[256];
        snprintf(target, sizeof(target), "..data/%s", files[i]);
        if (symlink(target, t) != 0 && errno != EEXIST)
            perror("symlink");
    }
    snprintf(t, sizeof(t), "%s/..data_tmp", dir);
    unlink(t);
    if (symlink(version, t) != 0)
        perror("symlink");
    snprintf(p, sizeof(p), "%s/..data", dir);
    if (rename(t, p) != 0)
        perror("rename");
}

static void test_configmap(void)
{
    char dir[4096];
    new_dir(dir, sizeof(dir), "configmap");
    const char *v1[] = {"a.lua", "rule {name = 'a1', description = 'd', table = 'T', columns = {'A'}, row = print}\n"};
    configmap_version(dir, "..2024_01_01_00_00_00.1", v1, 2);
    struct cs_rules *cat = cs_rules_new(dir, 1, NULL);
    struct cs_rules_snapshot *s = cs_rules_acquire(cat);
    ok(s != NULL && s->nrules == 1 && s->nfiles == 1 && s->nproblems == 0 && count_rules(cat, "a1") == 1,
       "a ConfigMap mount loads through its visible names only");
    cs_rules_release(s);
    const char *v2[] = {"a.lua", "rule {name = 'a2', description = 'd', table = 'T', columns = {'A'}, row = print}\n",
                        "b.lua", "rule {name = 'b', description = 'd', table = 'T', columns = {'A'}, row = print}\n"};
    configmap_version(dir, "..2024_01_02_00_00_00.2", v2, 4);
    ok(cs_rules_refresh(cat) == 1 && count_rules(cat, "a2") == 1 && count_rules(cat, "a1") == 0 &&
           count_rules(cat, "b") == 1,
       "swapping ..data to a new version is picked up whole");
    const char *v3[] = {"a.lua", "rule {name = 'a3', description = 'd', table = 'T' columns}\n", "b.lua",
                        "rule {name = 'b', description = 'd', table = 'T', columns = {'A'}, row = print}\n"};
    configmap_version(dir, "..2024_01_03_00_00_00.3", v3, 4);
    cs_rules_refresh(cat);
    ok(count_rules(cat, "a2") == 1 && count_rules(cat, "b") == 1,
       "a broken update keeps the last good version of the file");
    cs_rules_free(cat);
}

static void test_config_key(void)
{
    struct cs_err err = {0};
    struct cs_config *cfg = NULL;
    const char *t = "{\"source\": {\"odbc\": \"x\"}, \"rules_dir\": \"${CONFIG_DIR}/rules\", \"tables\": {}}";
    ok(cs_config_parse(t, strlen(t), "/etc/cs/c.json", &cfg, &err) == 0 && cfg->rules_dir != NULL &&
           strcmp(cfg->rules_dir, "/etc/cs/rules") == 0,
       "rules_dir expands ${CONFIG_DIR} (%s)", cfg && cfg->rules_dir ? cfg->rules_dir : err.msg);
    char buf[4096];
    cs_rules_dir(cfg, buf, sizeof(buf));
    ok(strcmp(buf, "/etc/cs/rules") == 0, "the configured directory is used");
    cs_config_free(cfg);
    t = "{\"source\": {\"odbc\": \"x\"}, \"rules_dir\": 5, \"tables\": {}}";
    cfg = NULL;
    ok(cs_config_parse(t, strlen(t), "/etc/cs/c.json", &cfg, &err) != 0 && has(err.msg, "rules_dir"),
       "a rules_dir that is not a string is refused (%s)", err.msg);
    cs_config_free(cfg);
}


/* ---- SQL predicates (rule{sql = ...}): checked at load, run in the database by a pushdown scan ---- */

static void test_sql_load(void)
{
    struct cs_sandbox *sb = cs_sandbox_new(NULL);
    struct loaded l = {0};
    load_text(sb, "sql.lua", GOOD_HEAD "sql = \"A > 5 AND (A < 100 OR A IS NULL)\",\n"
                             "row = function(r) return r.A and r.A > 5 end}\n", &l);
    ok(l.rc == 0 && l.list.n == 1 && l.list.v[0].sql != NULL &&
           strcmp(l.list.v[0].sql, "A > 5 AND (A < 100 OR A IS NULL)") == 0,
       "a row rule with a sql predicate loads and keeps it (%s)", l.msg);
    cs_rule_list_clear(&l.list);
    cs_sandbox_free(sb);
    char *cols[] = {"A", "Amt_Mixed", "S"};
    struct cs_rule_table t = {.name = "T", .cols = cols, .ncols = 3};
    char msg[300] = "";
    ok(cs_rule_sql_check("A BETWEEN 1 AND 2 AND A NOT IN (1, 2.5, -3e2) AND CASE WHEN A > 1 THEN 1 ELSE 0 END = 1 "
                         "AND ABS(-A) >= COALESCE(amt_mixed, 0) AND \"Amt_Mixed\" <> 3 AND NOT A = 4 AND S = 'it''s' "
                         "AND (S IS NOT NULL OR A NOT BETWEEN 0 AND 1) AND A / 2 != A * 2 + 1 - TRUE",
                         &t, msg, sizeof(msg)) == 0,
       "the whole grammar is accepted (%s)", msg);
    static const struct {
        const char *sql, *needle, *what;
    } bad[] = {
        {"A > 5; DROP TABLE T", "';' is not allowed", "a second statement after ';'"},
        {"A > 5 -- always", "comments are not allowed", "a -- comment"},
        {"A > 5 /* x */", "comments are not allowed", "a /* comment"},
        {"A IN (SELECT A FROM T)", "statements are not allowed (SELECT)", "a subquery"},
        {"B > 5", "B is not one of the rule's columns", "a column the rule does not declare"},
        {"lower(S) = 'x'", "lower is not one of the rule's columns", "a function outside the list"},
        {"S = 'x", "never closed", "an unterminated string"},
        {"A >", "ends too early", "a condition cut short"},
        {"A > 5 A", "out of place", "two conditions without AND"},
        {"A > 5 % 2", "'%' is not allowed", "an operator outside the list"},
        {"", "empty", "an empty predicate"},
        {"A IS 5", "IS NULL expected", "IS without NULL"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg[0] = '\0';
        ok(cs_rule_sql_check(bad[i].sql, &t, msg, sizeof(msg)) != 0 && has(msg, bad[i].needle),
           "sql refused: %s (%s)", bad[i].what, msg);
    }
    char deep[400] = "";
    for (int i = 0; i < 120; i++)
        strcat(deep, "(");
    strcat(deep, "A");
    for (int i = 0; i < 120; i++)
        strcat(deep, ")");
    ok(cs_rule_sql_check(deep, &t, msg, sizeof(msg)) != 0 && has(msg, "nested more than"),
       "deep nesting is refused before it can exhaust the stack (%s)", msg);
    expect_load_error(GOOD_HEAD "sql = 'A > 1; DELETE FROM T', row = function(r) end}", 1, "';' is not allowed",
                      "a bad predicate stops the file at load, at the rule's line");
    expect_load_error("rule {name = 'r', description = 'd', table = 'T', columns = {'A'}, sql = 'A > 1',\n"
                      "      aggregate = {row = function() end, finish = function() end}}", 1,
                      "'sql' is for row rules only", "an aggregate rule cannot have a predicate");
    expect_load_error(GOOD_HEAD "sql = 5, row = function(r) end}", 1, "'sql' must be a string",
                      "a predicate that is not a string is refused");
    expect_load_error("rule {name = 'r', description = 'd', tables = {'T', 'U'}, columns = {T = {'A'}, U = {'B'}},\n"
                      "      sql = 'A > 1', row = function(r) end}", 1, "(table U)",
                      "a predicate must fit every table of the rule");
}

static struct cs_run *scan_mode(struct cs_engine *eng, const char *table, int mode)
{
    struct cs_err err = {0};
    struct cs_run *run = NULL;
    struct cs_scan_opts o = {.scan_mode = mode};
    if (cs_engine_scan_table(eng, table, &o, &run, &err) != 0)
        printf("# scan failed: %s\n", err.msg);
    return run;
}

/* The same rules streamed and in the database: equal findings, down to messages and samples. */
static void test_sql_pushdown(const char *db)
{
    char dir[4096];
    new_dir(dir, sizeof(dir), "sqlrules");
    put_rule(dir, "a.lua",
             "rule {name = 'quarter', description = 'A quarter of A is above 3', table = 'T', columns = {'A'},\n"
             "      sql = 'A / 4 > 3', row = function(r) if r.A and r.A / 4 > 3 then return 'A is ' .. r.A end end}\n"
             "rule {name = 'bx', description = 'B is x for customer 101', table = 'T', columns = {'B', 'C'},\n"
             "      sql = \"B = 'x' AND C = 101\", row = function(r) return r.B == 'x' and r.C == 101 end}\n"
             "rule {name = 'none', description = 'never', table = 'T', columns = {'A'},\n"
             "      sql = 'A < 0', row = function(r) return r.A and r.A < 0 end}\n"
             "rule {name = 'null_b', description = 'B is missing', table = 'T', columns = {'B'},\n"
             "      row = function(r) return r.B == nil end}\n"
             "rule {name = 'liar', description = 'the predicate says more than the function', table = 'T',\n"
             "      columns = {'A'}, sql = 'A > 10', row = function(r) return r.A > 15 end}\n");
    struct cs_config *cfg = config_for(db, dir);
    struct cs_engine *eng = engine(cfg);
    struct cs_run *s = scan_mode(eng, "T", CS_SCAN_STREAM), *p = scan_mode(eng, "T", CS_SCAN_PUSHDOWN);
    ok(p != NULL && strcmp(p->mode, "pushdown") == 0, "a table with Lua rules is checked in the database");
    static const char *const same[] = {"quarter", "bx", "null_b"};
    for (size_t i = 0; i < 3; i++) {
        const struct cs_finding *a = finding(s, same[i]), *b = finding(p, same[i]);
        ok(a != NULL && b != NULL && a->count == b->count && a->total == b->total && a->severity == b->severity &&
               strcmp(a->message, b->message) == 0 && json_equal(a->sample_keys, b->sample_keys),
           "rule %s: streaming and pushdown agree (count, total, severity, message, samples: %s | %s)", same[i],
           a ? a->message : "-", b ? b->message : "-");
    }
    const struct cs_finding *q = finding(p, "quarter");
    ok(q != NULL && q->count == 8 && has(q->message, "First case, key 13: A is 13.0"),
       "a / b divides as Lua does (floats), and the first case is the first row in scan order (%s)",
       q ? q->message : "");
    ok(finding(s, "none") == NULL && finding(p, "none") == NULL, "a predicate matching nothing gives no finding");
    const struct cs_finding *l = finding(p, "liar");
    ok(l != NULL && l->count == 10 && json_array_size(l->sample_keys) == 5,
       "predicate and function disagree: the count is the predicate's, samples are the rows the function reports");
    cs_run_free(s);
    cs_run_free(p);
    cs_engine_free(eng);
    cs_config_free(cfg);
}

/* The predicate as each dialect receives it: catalog names quoted, literals bound, Lua's meaning kept. */
static void test_sql_dialects(const char *db)
{
    char dir[4096];
    new_dir(dir, sizeof(dir), "sqldialects");
    put_rule(dir, "d.lua",
             "rule {name = 'd', description = 'd', table = 'T', columns = {'AMT_Z', 'Amt_Mixed', 'STATUS'},\n"
             "      sql = \"AMT_Z / 2 > 1.5 AND Amt_Mixed IN (-1, 2) AND STATUS <> 'it''s'\",\n"
             "      row = function(r) return false end}\n");
    struct cs_config *cfg = config_for(db, dir);
    struct cs_rules_vm *vm = cs_rules_vm_new(cfg);
    cs_rules_vm_sync(vm);
    struct cs_colmeta cols[] = {{"amt_z", CS_TYPE_DOUBLE}, {"Amt_Mixed", CS_TYPE_INT64}, {"status", CS_TYPE_TEXT}};
    struct cs_schema schema = {.table = "T", .ncols = 3, .cols = cols};
    struct cs_run run = {0};
    struct cs_rules_target target = {.run = &run, .cfg = cfg, .schema = &schema, .mode = CS_MODE_TABLE};
    struct cs_rules_pass *pass = cs_rules_pass_begin(vm, &target);
    static const struct {
        enum cs_dialect d;
        const char *name, *div, *in;
    } cases[] = {
        {CS_DIALECT_POSTGRES, "PostgreSQL",
         "(NULLIF(\"amt_z\", CAST('NaN' AS DOUBLE PRECISION)) * CAST(? AS DOUBLE PRECISION) / NULLIF(CAST(? AS BIGINT), 0)"
         " > CAST(? AS DOUBLE PRECISION)",
         "\"Amt_Mixed\" IN (-CAST(? AS BIGINT), CAST(? AS BIGINT)) AND \"status\" <> ?)"},
        {CS_DIALECT_SNOWFLAKE, "Snowflake",
         "(NULLIF(\"amt_z\", CAST('NaN' AS DOUBLE)) * CAST(? AS DOUBLE) / NULLIF(CAST(? AS BIGINT), 0) > CAST(? AS DOUBLE)",
         "\"Amt_Mixed\" IN (-CAST(? AS BIGINT), CAST(? AS BIGINT)) AND \"status\" <> ?)"},
        {CS_DIALECT_SQLITE, "SQLite", "(\"amt_z\" * CAST(? AS REAL) / NULLIF(CAST(? AS BIGINT), 0) > CAST(? AS REAL)",
         "\"Amt_Mixed\" IN (-CAST(? AS BIGINT), CAST(? AS BIGINT)) AND \"status\" <> ?)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cs_pd_table t = {.dialect = cases[i].d, .schema = &schema, .rules = pass};
        struct pd_rules *rs = NULL;
        struct pd_sql q = {0};
        struct cs_err err = {0};
        int rc = pd_rules_new(&t, &rs, &err);
        if (rc == 0 && pd_rules_count(rs) == 1)
            pd_rules_cond(rs, 0, &q);
        ok(q.s != NULL && has(q.s, cases[i].div) && has(q.s, cases[i].in),
           "%s: columns quoted as the catalog spells them, division as Lua's, numbers typed parameters (%s)",
           cases[i].name, q.s ? q.s : err.msg);
        ok(q.np == 6 && q.p[0].type == CS_TYPE_DOUBLE && q.p[0].f64 == 1.0 && q.p[1].i64 == 2 && q.p[2].f64 == 1.5 &&
               q.p[3].i64 == 1 && q.p[5].type == CS_TYPE_TEXT && strcmp(q.p[5].text, "it's") == 0 &&
               strstr(q.s, "it") == NULL,
           "%s: every literal is a bound parameter, none is in the text", cases[i].name);
        pd_free(&q);
        pd_rules_free(rs);
    }
    cs_rules_pass_free(pass);
    cs_rules_vm_free(vm);
    cs_config_free(cfg);
}

int main(void)
{
    char db[4200];
    make_work();
    path_of(db, sizeof(db), "rules.db");
    make_db(db);
    test_config_key();
    test_api();
    test_sandbox_load();
    test_scan(db);
    test_sql_load();
    test_sql_pushdown(db);
    test_sql_dialects(db);
    test_run_failures(db);
    test_isolation(db);
    test_missing_column(db);
    test_customer(db);
    test_catalogue();
    test_configmap();
    return tap_done();
}
