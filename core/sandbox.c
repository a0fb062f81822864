/*
** sandbox.c -- the Lua state rule files run in.  See sandbox.h for the
** contract.
**
** Layout of a state.  The registry holds one "templates" table, built once
** when the state is created: the safe base functions and the library tables
** (string, table, math, utf8, a reduced os, and cs from lua/creditsense.lua).
** The real global table is emptied, so nothing reaches it by accident.
** Every rule file gets an environment E whose metatable sends reads to a
** private table P holding that file's own shallow copies of the templates;
** P's metatable turns reads of unknown names into errors.  Freezing moves
** the file's globals from E into P and makes writes to E errors, so a
** file's globals are read-only while its rules run.  Because every file has
** its own copies, no file can change what another file sees.
**
** Two things would otherwise escape the count hook because they loop in C:
** string.rep (and table.move) with huge counts, and backtracking patterns
** on long strings.  They are wrapped: a result larger than the memory cap is
** refused up front, and a pattern whose worst case (subject length to the
** power of its quantifiers) is beyond PATTERN_WORK_MAX is refused.
**
** Stopping a rule follows Redis: the count hook fires every HOOK_EVERY
** instructions; past the budget it marks the sandbox killed and re-arms
** itself on every instruction and line, raising each time, so no pcall in
** the rule can carry on.  The pcall / xpcall wrappers re-raise at once when
** killed or out of memory.
*/
#include "sandbox.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "creditsense/check.h"
#include "log.h"

#define HOOK_EVERY 1000
#define BIG_ALLOC ((size_t)1 << 20) /* allocations that also check the clock */
#define PATTERN_WORK_MAX 1e9

/* Generated from lua/creditsense.lua (core/embed.py). */
extern const char cs_lua_prelude[];
extern const size_t cs_lua_prelude_len;

struct cs_sandbox {
    lua_State *L;
    size_t used, limit;
    uint64_t instructions;
    uint64_t ticks, max_ticks; /* count-hook firings in the current call */
    double seconds, t0;        /* time limit; start of the call (0: not taken yet) */
    int killed;
    char kill_msg[320];
};

static const char TEMPLATES_KEY = 'T'; /* registry key (its address) of the templates table */

static const char *const BASE_FUNCS[] = {"assert", "error",  "getmetatable", "ipairs",   "next",
                                         "pairs",  "rawequal", "rawget",     "rawlen",   "rawset",
                                         "select", "tonumber", "tostring",   "type",     NULL};
static const char *const OS_FUNCS[] = {"clock", "time", "date", NULL};
static const char *const HIDDEN_GLOBALS[] = {"io",       "require",   "debug",      "package", "dofile",
                                             "loadfile", "coroutine", "loadstring", "setfenv", "getfenv", NULL};

static struct cs_sandbox *sandbox_of(lua_State *L)
{
    return *(struct cs_sandbox **)lua_getextraspace(L);
}

/* ---- memory ------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sandbox_hook(lua_State *L, lua_Debug *ar);

/* A slow library call in a loop (s:upper() of megabytes) costs few
 * instructions, so the count hook sees the clock rarely; such calls spend
 * their time on large results, so large allocations look at the clock too
 * and, once the call is over its time, make the hook fire on the next
 * instruction, where it stops the rule. */
static void check_time_at_alloc(struct cs_sandbox *sb)
{
    double now = now_s();
    if (sb->t0 == 0)
        sb->t0 = now;
    else if (now - sb->t0 > sb->seconds && !sb->killed)
        lua_sethook(sb->L, sandbox_hook, LUA_MASKCOUNT, 1);
}

static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct cs_sandbox *sb = ud;
    if (ptr == NULL)
        osize = 0; /* osize is then a type tag, not a size */
    if (nsize == 0) {
        free(ptr);
        sb->used -= osize;
        return NULL;
    }
    if (nsize > osize && sb->used + (nsize - osize) > sb->limit)
        return NULL; /* Lua collects and retries, then raises "not enough memory" */
    if (nsize >= BIG_ALLOC && nsize > osize && sb->L != NULL)
        check_time_at_alloc(sb);
    void *p = realloc(ptr, nsize);
    if (p != NULL)
        sb->used = sb->used - osize + nsize;
    return p;
}

static int sandbox_panic(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(no message)";
    cs_log(CS_LOG_ERROR, "rules", "unprotected Lua error, aborting: %s", msg);
    abort();
}

/* ---- instruction budget ------------------------------------------------- */

enum { WITHIN_BUDGET, OVER_INSTRUCTIONS, OVER_TIME };

/* Over budget?  The clock is read only from a call's first hook on, so the
 * many short calls (one per row) never pay for it. */
static int over_budget(struct cs_sandbox *sb)
{
    if (++sb->ticks > sb->max_ticks)
        return OVER_INSTRUCTIONS;
    if (sb->t0 == 0)
        sb->t0 = now_s();
    else if (now_s() - sb->t0 > sb->seconds)
        return OVER_TIME;
    return WITHIN_BUDGET;
}

static void sandbox_hook(lua_State *L, lua_Debug *ar)
{
    struct cs_sandbox *sb = sandbox_of(L);
    if (!sb->killed) {
        int why = over_budget(sb);
        if (why == WITHIN_BUDGET)
            return;
        sb->killed = 1;
        const char *src = "?";
        int line = 0;
        if (lua_getinfo(L, "Sl", ar)) {
            src = ar->short_src;
            line = ar->currentline;
        }
        if (why == OVER_INSTRUCTIONS)
            snprintf(sb->kill_msg, sizeof(sb->kill_msg),
                     "%s:%d: rule stopped: it ran more than %llu instructions in one call (an endless loop?)", src,
                     line, (unsigned long long)sb->instructions);
        else
            snprintf(sb->kill_msg, sizeof(sb->kill_msg),
                     "%s:%d: rule stopped: one call ran longer than %g s (slow library calls in a loop?)", src, line,
                     sb->seconds);
        /* From now on every instruction raises, until cs_sandbox_run returns. */
        lua_sethook(L, sandbox_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
    }
    lua_pushstring(L, sb->kill_msg);
    lua_error(L);
}

static void sandbox_rearm(struct cs_sandbox *sb)
{
    sb->killed = 0;
    sb->ticks = 0;
    sb->t0 = 0;
    lua_sethook(sb->L, sandbox_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

void cs_sandbox_budget(struct cs_sandbox *sb)
{
    sb->ticks = 0;
    sb->t0 = 0;
}

/* ---- replacements for base functions --------------------------------------- */

/* After lua_pcall inside pcall/xpcall: re-raise what a rule must not catch. */
static int pcall_result(lua_State *L, int status, int base)
{
    if (status != LUA_OK && (sandbox_of(L)->killed || status == LUA_ERRMEM))
        return lua_error(L); /* the error object is on top */
    lua_pushboolean(L, status == LUA_OK);
    lua_insert(L, base);
    return lua_gettop(L) - base + 1;
}

static int sb_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    return pcall_result(L, lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0), 1);
}

static int sb_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 1); /* f, msgh, args..., f */
    lua_copy(L, 2, 1);   /* msgh, msgh, args..., f */
    lua_replace(L, 2);   /* msgh, f, args... */
    return pcall_result(L, lua_pcall(L, n - 2, LUA_MULTRET, 1), 2);
}

static int sb_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "count");
    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage(\"%s\") is not allowed in rules (only \"count\" is)", opt);
    lua_pushnumber(L, lua_gc(L, LUA_GCCOUNT) + lua_gc(L, LUA_GCCOUNTB) / 1024.0);
    return 1;
}

/* setmetatable without __gc: a finalizer would run at some later time, inside
 * another rule's call or at close, outside any budget that makes sense. */
static int sb_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE && lua_getfield(L, 2, "__gc") != LUA_TNIL)
        return luaL_error(L, "setmetatable: __gc finalizers are not allowed in rules");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* print: one log line at info level, component rule:<file>. */
static int sb_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    char component[160];
    snprintf(component, sizeof(component), "rule:%s", lua_tostring(L, lua_upvalueindex(1)));
    cs_log(CS_LOG_INFO, component, "%s", lua_tostring(L, -1));
    return 0;
}

/* load: text only, and by default into the calling file's environment
 * (upvalue 1), never the state's real global table. */
static int sb_load(lua_State *L)
{
    size_t len;
    luaL_argexpected(L, lua_type(L, 1) == LUA_TSTRING, 1, "string (rules may only load text)");
    const char *s = lua_tolstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    const char *mode = luaL_optstring(L, 3, "t");
    if (strchr(mode, 'b') != NULL) {
        luaL_pushfail(L);
        lua_pushliteral(L, "binary chunks are not allowed in rules");
        return 2;
    }
    int env = lua_isnone(L, 4) ? lua_upvalueindex(1) : 4;
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushvalue(L, env);
    if (lua_setupvalue(L, -2, 1) == NULL)
        lua_pop(L, 1);
    return 1;
}

/* ---- guarded string and table functions -------------------------------------- */

/* Call the original function (upvalue 1) with all arguments, return all results. */
static int call_original(lua_State *L)
{
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

static int guarded_rep(lua_State *L)
{
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n > 0 && l + lsep == 0) { /* the C loop would spin n times for nothing */
        lua_pushliteral(L, "");
        return 1;
    }
    if (n > 0 && (double)n * (double)(l + lsep) > (double)sandbox_of(L)->limit)
        return luaL_error(L, "string.rep: the result would be larger than the rule memory limit");
    return call_original(L);
}

/* Worst-case work of matching pattern p against n bytes: each quantifier
 * may backtrack over the whole subject, and an unanchored pattern is tried
 * at every position. */
static double pattern_work(const char *p, size_t lp, size_t n)
{
    int anchored = lp > 0 && p[0] == '^', q = 0;
    for (size_t i = anchored; i < lp; i++) {
        if (p[i] == '%') {
            i++;
        } else if (p[i] == '[') {
            i++;
            if (i < lp && p[i] == '^')
                i++;
            do { /* a ']' right after '[' or '[^' is literal, as in Lua */
                if (i < lp && p[i] == '%')
                    i++;
                i++;
            } while (i < lp && p[i] != ']');
        } else if (p[i] == '*' || p[i] == '+' || p[i] == '-') {
            q++;
        }
    }
    return pow((double)n + 1.0, q + !anchored);
}

/* find, match, gmatch, gsub: upvalue 2 is the index of find's `plain` flag (0: none). */
static int guarded_pattern(lua_State *L)
{
    size_t ls, lp;
    luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int plain_arg = (int)lua_tointeger(L, lua_upvalueindex(2));
    int plain = plain_arg > 0 && lua_toboolean(L, plain_arg);
    if (!plain && pattern_work(p, lp, ls) > PATTERN_WORK_MAX)
        return luaL_error(L, "pattern too complex for a string of %d bytes (rules limit backtracking patterns; "
                             "use fewer '*', '+', '-' or anchor it with '^')", (int)ls);
    return call_original(L);
}

static int guarded_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    if (e >= f && (double)e - (double)f > (double)(sandbox_of(L)->limit / 16))
        return luaL_error(L, "table.move: range too large for the rule memory limit");
    return call_original(L);
}

static void wrap(lua_State *L, int lib, const char *name, lua_CFunction fn, int extra)
{
    lua_getfield(L, lib, name);
    lua_pushinteger(L, extra);
    lua_pushcclosure(L, fn, 2);
    lua_setfield(L, lib, name);
}

/* ---- templates ------------------------------------------------------------- */

static void copy_fields(lua_State *L, int from, int to)
{
    from = lua_absindex(L, from);
    to = lua_absindex(L, to);
    lua_pushnil(L);
    while (lua_next(L, from) != 0) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, to);
    }
}

/* string: the real table is also the strings' __index, so patch it in place
 * and hide the metatable. */
static void open_string(lua_State *L, int libs)
{
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
    int s = lua_gettop(L);
    wrap(L, s, "rep", guarded_rep, 0);
    wrap(L, s, "find", guarded_pattern, 4);
    wrap(L, s, "match", guarded_pattern, 0);
    wrap(L, s, "gmatch", guarded_pattern, 0);
    wrap(L, s, "gsub", guarded_pattern, 0);
    lua_pushnil(L);
    lua_setfield(L, s, "dump");
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    lua_setfield(L, libs, LUA_STRLIBNAME);
}

static void open_libs(lua_State *L, int libs)
{
    open_string(L, libs);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);
    wrap(L, lua_gettop(L), "move", guarded_move, 0);
    lua_setfield(L, libs, LUA_TABLIBNAME);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
    lua_setfield(L, libs, LUA_MATHLIBNAME);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);
    lua_setfield(L, libs, LUA_UTF8LIBNAME);
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_newtable(L);
    for (const char *const *f = OS_FUNCS; *f; f++) {
        lua_getfield(L, -2, *f);
        lua_setfield(L, -2, *f);
    }
    lua_setfield(L, libs, LUA_OSLIBNAME);
    lua_pop(L, 1);
}

static void open_base(lua_State *L, int base)
{
    luaL_requiref(L, LUA_GNAME, luaopen_base, 0);
    for (const char *const *f = BASE_FUNCS; *f; f++) {
        lua_getfield(L, -1, *f);
        lua_setfield(L, base, *f);
    }
    lua_pop(L, 1);
    static const luaL_Reg replaced[] = {{"pcall", sb_pcall},
                                        {"xpcall", sb_xpcall},
                                        {"collectgarbage", sb_collectgarbage},
                                        {"setmetatable", sb_setmetatable},
                                        {NULL, NULL}};
    lua_pushvalue(L, base);
    luaL_setfuncs(L, replaced, 0);
    lua_pop(L, 1);
}

/* Run lua/creditsense.lua in a private environment; its result becomes libs.cs. */
static void open_prelude(lua_State *L, int base, int libs)
{
    if (luaL_loadbufferx(L, cs_lua_prelude, cs_lua_prelude_len, "=lua/creditsense.lua", "t") != LUA_OK)
        lua_error(L);
    lua_newtable(L);
    copy_fields(L, base, -1);
    copy_fields(L, libs, -1);
    lua_setupvalue(L, -2, 1);
    lua_call(L, 0, 1);
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_setfield(L, libs, "cs");
}

/* Empty the real global table: rules never see it, and this way nothing
 * dangerous is left there should a path to it exist. */
static void clear_globals(lua_State *L)
{
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, -4);
    }
    lua_pop(L, 1);
}

static int build_templates(lua_State *L)
{
    lua_createtable(L, 0, 2);
    int t = lua_gettop(L);
    lua_newtable(L);
    int base = lua_gettop(L);
    lua_newtable(L);
    int libs = lua_gettop(L);
    open_base(L, base);
    open_libs(L, libs);
    open_prelude(L, base, libs);
    lua_pushvalue(L, base);
    lua_setfield(L, t, "base");
    lua_pushvalue(L, libs);
    lua_setfield(L, t, "libs");
    lua_settop(L, t);
    clear_globals(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &TEMPLATES_KEY);
    return 0;
}

/* ---- environments ------------------------------------------------------------ */

static int strict_index(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    if (k == NULL)
        return luaL_error(L, "unknown global variable");
    for (const char *const *h = HIDDEN_GLOBALS; *h; h++)
        if (strcmp(*h, k) == 0)
            return luaL_error(L, "'%s' is not available to rules (they run in a sandbox: see lua/README.md)", k);
    return luaL_error(L, "unknown global variable '%s' (a typo, or a variable not declared with local?)", k);
}

static int readonly_newindex(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    return luaL_error(L, "rules cannot set global variables while they run ('%s'); use a local variable",
                      k ? k : "?");
}

void cs_sandbox_push_env(lua_State *L, const char *file)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &TEMPLATES_KEY);
    int t = lua_gettop(L);
    lua_newtable(L); /* E */
    lua_newtable(L); /* P */
    int e = t + 1, p = t + 2;
    lua_getfield(L, t, "base");
    copy_fields(L, -1, p);
    lua_pop(L, 1);
    lua_getfield(L, t, "libs");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) { /* each library: a private shallow copy */
        lua_newtable(L);
        copy_fields(L, -2, -1);
        lua_pushvalue(L, -3);
        lua_insert(L, -2);
        lua_rawset(L, p);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_pushstring(L, file);
    lua_pushcclosure(L, sb_print, 1);
    lua_setfield(L, p, "print");
    lua_pushvalue(L, e);
    lua_pushcclosure(L, sb_load, 1);
    lua_setfield(L, p, "load");
    lua_pushvalue(L, e);
    lua_setfield(L, p, "_G");
    lua_pushliteral(L, LUA_VERSION);
    lua_setfield(L, p, "_VERSION");
    lua_createtable(L, 0, 2); /* P's metatable: unknown names are errors */
    lua_pushcfunction(L, strict_index);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, p);
    lua_createtable(L, 0, 3); /* E's metatable: reads fall through to P */
    lua_pushvalue(L, p);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, e);
    lua_pop(L, 1); /* P */
    lua_remove(L, t);
}

void cs_sandbox_freeze_env(lua_State *L, int idx)
{
    int e = lua_absindex(L, idx);
    lua_getmetatable(L, e); /* the raw metatable, whatever __metatable says */
    int mt = lua_gettop(L);
    lua_getfield(L, mt, "__index");
    int p = lua_gettop(L);
    copy_fields(L, e, p);
    lua_pushnil(L);
    while (lua_next(L, e) != 0) { /* clearing fields during traversal is allowed */
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, e);
    }
    lua_pushcfunction(L, readonly_newindex);
    lua_setfield(L, mt, "__newindex");
    lua_settop(L, mt - 1);
}

/* ---- the sandbox --------------------------------------------------------------- */

struct cs_sandbox *cs_sandbox_new(const struct cs_sandbox_limits *limits)
{
    struct cs_sandbox *sb = calloc(1, sizeof(*sb));
    if (sb == NULL)
        return NULL;
    sb->limit = limits && limits->memory ? limits->memory : CS_SANDBOX_DEFAULT_MEMORY;
    sb->instructions = limits && limits->instructions ? limits->instructions : CS_SANDBOX_DEFAULT_INSTRUCTIONS;
    sb->max_ticks = (sb->instructions + HOOK_EVERY - 1) / HOOK_EVERY;
    sb->seconds = limits && limits->seconds > 0 ? limits->seconds : CS_SANDBOX_DEFAULT_SECONDS;
    sb->L = lua_newstate(sandbox_alloc, sb);
    if (sb->L == NULL) {
        free(sb);
        return NULL;
    }
    *(struct cs_sandbox **)lua_getextraspace(sb->L) = sb;
    lua_atpanic(sb->L, sandbox_panic);
    sandbox_rearm(sb);
    char msg[256];
    if (cs_sandbox_run(sb, build_templates, NULL, msg, sizeof(msg)) != LUA_OK) {
        cs_log(CS_LOG_ERROR, "rules", "cannot set up the Lua sandbox: %s", msg);
        cs_sandbox_free(sb);
        return NULL;
    }
    return sb;
}

void cs_sandbox_free(struct cs_sandbox *sb)
{
    if (sb == NULL)
        return;
    lua_close(sb->L);
    free(sb);
}

lua_State *cs_sandbox_lua(struct cs_sandbox *sb)
{
    return sb->L;
}

size_t cs_sandbox_memory(const struct cs_sandbox *sb)
{
    return sb->used;
}

struct cs_sandbox_limits cs_sandbox_limits(const struct cs_sandbox *sb)
{
    struct cs_sandbox_limits l = {.memory = sb->limit, .instructions = sb->instructions, .seconds = sb->seconds};
    return l;
}

/* The error on top of the stack as text, without calling into Lua (which
 * could allocate outside protection). */
static void describe_error(struct cs_sandbox *sb, int status, char *msg, size_t size)
{
    lua_State *L = sb->L;
    if (sb->killed)
        snprintf(msg, size, "%s", sb->kill_msg);
    else if (status == LUA_ERRMEM)
        snprintf(msg, size, "not enough memory (a rule state is limited to %zu MiB)", sb->limit >> 20);
    else if (lua_type(L, -1) == LUA_TSTRING)
        snprintf(msg, size, "%s", lua_tostring(L, -1));
    else if (lua_type(L, -1) == LUA_TNUMBER)
        snprintf(msg, size, "error %g", (double)lua_tonumber(L, -1));
    else
        snprintf(msg, size, "error object is a %s value", luaL_typename(L, -1));
}

int cs_sandbox_run(struct cs_sandbox *sb, lua_CFunction fn, void *ud, char *msg, size_t size)
{
    lua_State *L = sb->L;
    int top = lua_gettop(L);
    cs_sandbox_budget(sb);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ud);
    int status = lua_pcall(L, 1, 0, 0);
    if (status != LUA_OK && msg != NULL && size > 0)
        describe_error(sb, status, msg, size);
    lua_settop(L, top);
    if (status == LUA_ERRMEM || sb->killed)
        lua_gc(L, LUA_GCCOLLECT); /* give the memory a runaway rule held back to the others */
    sandbox_rearm(sb);
    return status;
}
