/*
** sandbox.h -- a Lua 5.4 state that untrusted rule files can run in.
**
** Contract:
**   - Libraries: base (without dofile, loadfile, print, warn; load only
**     compiles text and runs it in the caller's file environment; pcall and
**     xpcall cannot catch a stopped rule or a memory error; collectgarbage
**     only answers "count"; setmetatable refuses __gc), string (without
**     dump; rep, find, match, gmatch and gsub guarded against results and
**     patterns that would run away in C), table (move guarded), math, utf8,
**     and os.clock / os.time / os.date.  No io, package, require, debug or
**     coroutine; the string metatable is hidden.  `cs` holds the helpers of
**     lua/creditsense.lua.
**   - Memory: every allocation of the state counts against limits.memory;
**     past it Lua raises "not enough memory".
**   - Time: limits.instructions VM instructions and limits.seconds of wall
**     time per call into rule code (cs_sandbox_budget starts a new call; the
**     time limit catches loops over slow library calls, which cost few
**     instructions).  Past either the call is stopped with "file:line: rule
**     stopped: ..." and every further instruction raises again until
**     cs_sandbox_run returns, so pcall cannot swallow it.
**   - Environments: each rule file runs in its own environment table with
**     its own copies of the library tables, so nothing a file does to its
**     globals or libraries reaches another file.  Reading an unknown global
**     is an error; after cs_sandbox_freeze_env the file's globals are
**     read-only.
**
** Everything that may allocate inside the state must run under
** cs_sandbox_run (an allocation failure outside a protected call would make
** Lua abort the process).
**
** Threading: a sandbox belongs to one thread at a time.  There is no global
** state; many sandboxes may run at once.
*/
#ifndef CS_SANDBOX_H
#define CS_SANDBOX_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

/** Default memory cap of one Lua state. */
#define CS_SANDBOX_DEFAULT_MEMORY ((size_t)64 << 20)
/** Default instruction budget of one call into rule code. */
#define CS_SANDBOX_DEFAULT_INSTRUCTIONS 10000000ull
/** Default wall time of one call into rule code. */
#define CS_SANDBOX_DEFAULT_SECONDS 2.0

struct cs_sandbox_limits {
    size_t memory;         /**< bytes the state may hold; 0 = CS_SANDBOX_DEFAULT_MEMORY */
    uint64_t instructions; /**< VM instructions per call; 0 = CS_SANDBOX_DEFAULT_INSTRUCTIONS */
    double seconds;        /**< wall time per call; 0 = CS_SANDBOX_DEFAULT_SECONDS */
};

struct cs_sandbox;

/** A new sandboxed state (limits may be NULL); NULL when out of memory. */
struct cs_sandbox *cs_sandbox_new(const struct cs_sandbox_limits *limits);
void cs_sandbox_free(struct cs_sandbox *sb);

/** The Lua state, for code running under cs_sandbox_run. */
lua_State *cs_sandbox_lua(struct cs_sandbox *sb);

/**
 * Call fn(L) in protected mode with ud as its only argument (a light
 * userdata) and a fresh instruction budget.  Returns LUA_OK, or the Lua
 * status with a message in msg: "file:line: what happened" for errors and
 * stopped rules, "not enough memory (limit N MiB)" for LUA_ERRMEM.  The
 * stack is left as it was.
 */
int cs_sandbox_run(struct cs_sandbox *sb, lua_CFunction fn, void *ud, char *msg, size_t size);

/** Start a new call's instruction budget (before each call into rule code). */
void cs_sandbox_budget(struct cs_sandbox *sb);

/** Bytes the state holds now. */
size_t cs_sandbox_memory(const struct cs_sandbox *sb);

/** The limits in force. */
struct cs_sandbox_limits cs_sandbox_limits(const struct cs_sandbox *sb);

/**
 * Push a new environment for the rule file `file` (protected code only).
 * Writes go into the table itself until it is frozen.
 */
void cs_sandbox_push_env(lua_State *L, const char *file);

/** Make the environment at idx read-only (protected code only). */
void cs_sandbox_freeze_env(lua_State *L, int idx);

#endif
