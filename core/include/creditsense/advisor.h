/*
** creditsense/advisor.h -- the advisor (LLM backend) plugin ABI.
**
** This is the only header an advisor backend needs, and it includes nothing
** of CreditSense's internals.  A backend is a shared module named
** advisor_<name>.so in the plugin directory (the check loader skips that
** prefix) that exports one symbol, CS_ADVISOR_ENTRY_SYMBOL, a function
** returning a pointer to a static, size-stamped `struct cs_advisor_plugin`.
** The host refuses a module whose abi_version differs from
** CS_ADVISOR_ABI_VERSION or whose struct_size is smaller than the host's
** view of the struct, dlclose()s it and reports why.
**
** What a backend does: turn one request (instructions, prompt, the JSON
** Schema the answer must follow, model, endpoint, key, timeout) into one
** response (a status, the model's raw text, HTTP status, retry hint and
** token counts).  It makes one attempt per call.  Retries, back-off,
** schema validation, repair, caching, privacy filtering and concurrency are
** the host's: a backend never sleeps and never retries.
**
** Structs in this file only ever grow at the end; a field added later is
** guarded by struct_size (read it only when struct_size covers it).
**
** Threading and ownership:
**   - call() is invoked from several host worker threads at once with the
**     same state, so it must be thread-safe (no shared mutable state, or
**     state guarded by the plugin).
**   - Every pointer the host passes in is borrowed for the duration of the
**     call.  The API key in particular must never be copied into a log
**     line, an error message or the response.
**   - Nothing is freed across the boundary: the response's text goes
**     through api->set_text, which copies it into host memory.
*/
#ifndef CREDITSENSE_ADVISOR_H
#define CREDITSENSE_ADVISOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of everything in this header.  Bumped on incompatible change. */
#define CS_ADVISOR_ABI_VERSION 1u

/** Name of the one symbol an advisor module exports (a cs_advisor_entry_fn). */
#define CS_ADVISOR_ENTRY_SYMBOL "cs_advisor_entry"

/** File names of advisor modules start with this; check loaders skip them. */
#define CS_ADVISOR_MODULE_PREFIX "advisor_"

/** Outcome of one backend call. */
enum cs_advisor_status {
    CS_ADVISOR_OK = 0,        /**< text holds the model's answer (not yet validated) */
    CS_ADVISOR_FAILED = 1,    /**< permanent: bad request, auth, unknown model, truncated or empty answer */
    CS_ADVISOR_BLOCKED = 2,   /**< the provider refused: prompt block, safety finish, refusal */
    CS_ADVISOR_RETRYABLE = 3, /**< transient: 429, 500, 502, 503, 504, timeout, connection failure */
};

/** Log levels, syslog style (the same numbers as check.h's). */
enum cs_advisor_log_level { CS_ADVISOR_LOG_ERROR = 3, CS_ADVISOR_LOG_WARNING = 4, CS_ADVISOR_LOG_INFO = 6,
                            CS_ADVISOR_LOG_DEBUG = 7 };

/** Size of the fixed reason buffer of a response. */
#define CS_ADVISOR_REASON 256

/** One request.  Everything is borrowed for the call. */
struct cs_advisor_request {
    uint32_t struct_size;
    const char *system_text; /**< instructions (Gemini systemInstruction, OpenAI system message) */
    const char *prompt;      /**< the user turn: aggregated findings, never raw rows */
    const char *schema_json; /**< JSON Schema of the answer: lower-case types, every object closed
                                  (additionalProperties false) and fully required (OpenAI strict) */
    const char *schema_name; /**< short name for the schema, e.g. "creditsense_advice" */
    const char *facts_json;  /**< the same findings as structured JSON (for backends without a model) */
    const char *dialect;     /**< SQL dialect of rule templates: "sqlite", "postgresql", "snowflake" */
    const char *model;       /**< model id, e.g. "gemini-2.5-flash" */
    const char *base_url;    /**< endpoint base, e.g. "https://generativelanguage.googleapis.com/v1beta" */
    const char *api_key;     /**< may be NULL or ""; a secret: never log or echo it */
    long timeout_ms;         /**< whole-call budget */
    double temperature;
    int max_output_tokens;
    /** Repair turn: when both are set, send prompt, then previous_output as the model's turn, then
        repair_instruction as a new user turn. */
    const char *previous_output;
    const char *repair_instruction;
};

/** One response, filled by call().  The host zeroes it and sets struct_size first. */
struct cs_advisor_response {
    uint32_t struct_size;
    int status;       /**< enum cs_advisor_status */
    int http_status;  /**< 0 when no HTTP exchange completed */
    double retry_after_s; /**< server-requested wait (RetryInfo.retryDelay, Retry-After); <0 when none */
    long long tokens_in, tokens_out; /**< -1 when the provider did not say */
    char reason[CS_ADVISOR_REASON];  /**< why, when status is not OK ("HTTP 503 UNAVAILABLE: ...") */
    char model_version[64];          /**< what the provider says answered, "" when unknown */
    /* the answer text lives in host memory: see cs_advisor_host.set_text */
};

/** Services the host lends to a backend.  Append-only; check struct_size. */
struct cs_advisor_host {
    uint32_t abi_version;
    uint32_t struct_size;
    /** Log a line prefixed with [advisor:<name>]; the host scrubs the API key. */
    void (*log)(void *hctx, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
    /** Store the answer text of resp (copied).  Returns 0, or <0 when out of memory. */
    int (*set_text)(void *hctx, struct cs_advisor_response *resp, const char *text, size_t len);
    /** Non-zero when the host is shutting down: abort a transfer in progress. */
    int (*should_stop)(void *hctx);
    /** User-Agent to send, e.g. "creditsense/0.1.0". */
    const char *user_agent;
};

/** Error report of init, the same shape as check.h's struct cs_err. */
struct cs_advisor_err {
    int code;        /**< negative error code, 0 when no error */
    char msg[512];   /**< NUL-terminated message */
};

/** The callbacks an advisor module provides. */
struct cs_advisor_plugin {
    uint32_t abi_version; /**< CS_ADVISOR_ABI_VERSION */
    uint32_t struct_size; /**< sizeof(struct cs_advisor_plugin) */
    const char *name;     /**< backend name, e.g. "gemini"; the module file is advisor_<name>.so */
    const char *description;
    const char *default_model;
    const char *default_base_url; /**< NULL when the backend uses no network */
    const char *default_key_env;  /**< environment variable holding the key, NULL when none is needed */
    int needs_key;                /**< calls without a key are refused by the host */
    /** Prepare the backend once (e.g. curl_global_init); *state is the plugin's, freed by destroy. */
    int (*init)(const struct cs_advisor_host *api, void *hctx, void **state, struct cs_advisor_err *err);
    /** One attempt.  Returns 0 when resp was filled (whatever its status), <0 on a host-side failure. */
    int (*call)(void *state, const struct cs_advisor_request *req, struct cs_advisor_response *resp);
    /** Release the state. */
    void (*destroy)(void *state);
};

/** Type of the exported entry symbol.  host_abi is the host's CS_ADVISOR_ABI_VERSION. */
typedef const struct cs_advisor_plugin *(*cs_advisor_entry_fn)(uint32_t host_abi);

/** Define the entry symbol in a backend: CS_ADVISOR_DECLARE(my_plugin_struct). */
#define CS_ADVISOR_DECLARE(plugin)                                                                              \
    __attribute__((visibility("default"))) const struct cs_advisor_plugin *cs_advisor_entry(uint32_t host_abi) \
    {                                                                                                           \
        (void)host_abi;                                                                                         \
        return &(plugin);                                                                                       \
    }

#ifdef __cplusplus
}
#endif
#endif
