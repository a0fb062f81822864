/*
** advisor.h -- AI advice on a run's findings, without blocking the caller.
**
** An advisor loads one backend module (advisor_<backend>.so: gemini, openai
** or offline; see creditsense/advisor.h) and runs its calls on a small pool
** of worker threads, at most advisor.max_in_flight at a time.  The caller
** submits a run and gets a handle back at once; it can poll the handle,
** wait on it with a timeout, or be called back when it is done.  Nothing in
** cs_advisor_submit does I/O, so an event loop may call it.
**
** What is sent: the findings aggregated into facts (check, kind, table,
** column, severity, counts, ratio, accepted range, whole-table column
** statistics, key names) filled into the versioned prompt template
** (prompts/advice-v1.txt).  Never raw rows, sample keys, finding messages
** (they may quote a value) or min/max; findings on sensitive columns are
** not sent at all (the offline backend answers them locally); a customer id
** appears only as "customer-1" and is mapped back in the answers.
**
** Cost: answers are cached per anomaly signature (table, column, check,
** kind, severity band; see cs_advisor_signature) for advisor.cache_ttl_s,
** and concurrent requests for the same signature share one call, so a
** thousand customers with the same pattern cost one call.  Findings are
** sent advisor.batch_size at a time.
**
** Robustness: answers are validated against the schema (markdown fences
** accepted); an invalid answer is retried once with a repair instruction.
** 408/429/500/502/503/504, timeouts and connection failures are retried up
** to advisor.max_attempts times, honouring RetryInfo.retryDelay and
** Retry-After (up to advisor.max_retry_wait_ms), else capped exponential
** back-off with jitter; other errors are not retried.  Each anomaly ends
** as one of:
**   ok       validated advice
**   pending  a transient failure outlived the retries: advise again later
**   failed   a permanent failure (HTTP 400/403/404, invalid answer after
**            repair, truncated or empty answer)
**   blocked  the provider refused (prompt block, SAFETY finish, refusal)
** with a reason.  The API key is scrubbed from every reason and log line.
**
** Threads: an advisor may be shared by any number of threads.  A handle
** belongs to the thread that submitted it, except that its completion
** callback runs once, on a worker thread (or on the submitting thread,
** before cs_advisor_submit returns, when everything came from the cache).
** The callback must not free the handle or block; it typically posts a
** message to the owner's loop.
**
** Ownership: cs_advisor_new/cs_advisor_free; cs_advisor_submit/
** cs_advice_free.  cs_advice_free may be called before the handle is done:
** the work still finishes (and fills the cache) but nobody is told.
** cs_advisor_free waits for calls in flight, aborting their transfers.
*/
#ifndef CS_ADVISOR_H
#define CS_ADVISOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"

/** Status of one anomaly's advice (stored in DQ_AI_SUGGESTIONS.STATUS). */
enum cs_advice_status { CS_ADVICE_PENDING = 0, CS_ADVICE_OK = 1, CS_ADVICE_FAILED = 2, CS_ADVICE_BLOCKED = 3 };

/** "pending", "ok", "failed", "blocked". */
const char *cs_advice_status_name(int status);

/** Counters since cs_advisor_new, for metrics.  Read with cs_advisor_stats. */
struct cs_advisor_stats {
    uint64_t calls;          /* backend calls made (attempts, repairs included) */
    uint64_t retries;        /* calls that were retries of a transient failure */
    uint64_t repairs;        /* calls that asked for a schema repair */
    uint64_t errors;         /* calls that did not end with a valid answer */
    uint64_t timeouts;       /* of which timeouts */
    uint64_t tokens_in, tokens_out;
    uint64_t cache_hits, cache_misses, coalesced; /* coalesced: joined a call already in flight */
    uint64_t advised_ok, advised_pending, advised_failed, advised_blocked; /* anomalies, by outcome */
    uint64_t latency_ms_total, latency_ms_max; /* per call */
    uint32_t in_flight, queued;  /* now */
};

struct cs_advisor;
struct cs_advice;

/** Called once when a handle is done (see the threading note above). */
typedef void (*cs_advice_done_fn)(void *ctx, struct cs_advice *a);

/**
 * Load the configured backend (cfg->advisor, defaults when absent: gemini
 * when $GEMINI_API_KEY is set, else offline), its prompt template and
 * schema.  Workers start on the first submit.  plugin_dir is where
 * advisor_<backend>.so is looked for.  Fails with a message when the
 * module, the template or a needed API key is missing.  cfg is borrowed
 * and must outlive the advisor.
 */
int cs_advisor_new(struct cs_advisor **out, const struct cs_config *cfg, const char *plugin_dir, struct cs_err *err);
void cs_advisor_free(struct cs_advisor *adv);

/** Backend name ("gemini"), model, and prompt version ("advice-v1"). */
const char *cs_advisor_backend(const struct cs_advisor *adv);
const char *cs_advisor_model(const struct cs_advisor *adv);
const char *cs_advisor_prompt_version(const struct cs_advisor *adv);

/** advisor.cache_ttl_s and advisor.min_severity in effect. */
double cs_advisor_cache_ttl(const struct cs_advisor *adv);
int cs_advisor_min_severity(const struct cs_advisor *adv);

/** A snapshot of the counters. */
void cs_advisor_stats(struct cs_advisor *adv, struct cs_advisor_stats *out);

/**
 * Ask for advice on the findings run->findings[i] for which want[i] is
 * non-zero (want NULL: every finding).  The run is only read during the
 * call.  *out gets the handle; done (may be NULL) is called when it is done.
 */
int cs_advisor_submit(struct cs_advisor *adv, const struct cs_run *run, const unsigned char *want,
                      cs_advice_done_fn done, void *ctx, struct cs_advice **out, struct cs_err *err);

/** 1 when every anomaly of the handle has its outcome. */
int cs_advice_done(struct cs_advice *a);

/** Wait until done or timeout_ms passed (<0: no limit).  1 when done, 0 on timeout. */
int cs_advice_wait(struct cs_advice *a, long timeout_ms);

void cs_advice_free(struct cs_advice *a);

/** One anomaly's outcome; valid once the handle is done, while it lives. */
struct cs_advice_item {
    size_t finding;          /* index into the submitted run's findings */
    const char *signature;
    int status;              /* enum cs_advice_status */
    const char *reason;      /* "" when ok */
    json_t *advice;          /* borrowed: the validated advice object (customer ids mapped back), NULL unless ok */
    const char *backend, *model;
    int cached;              /* answered from the cache */
    long long tokens_in, tokens_out, latency_ms; /* of the call that produced it; -1 unknown, 0 when cached */
    int http_status;         /* of the last attempt, 0 when none */
};

size_t cs_advice_count(const struct cs_advice *a);
const struct cs_advice_item *cs_advice_item(const struct cs_advice *a, size_t i);

/**
 * Put an answer into the cache as if a call had produced it (e.g. advice
 * read back from the store).  created_at is unix seconds; expired entries
 * are ignored.  advice is copied; customer_id (may be NULL) is the real id
 * it was mapped back to, pseudonymised again so it cannot reach another
 * customer's advice.
 */
int cs_advisor_cache_put(struct cs_advisor *adv, const char *signature, json_t *advice, double created_at,
                         const char *customer_id);

/** The signature of a finding: "TABLE|COLUMN|CHECK|KIND|BAND" (band: low, medium, high). */
void cs_advisor_signature(const struct cs_finding *f, char *buf, size_t size);

/**
 * The "advisor" and "suggestions" members of a report for a done handle:
 * {"advisor": {"backend", "model", "prompt", "offline", "note"},
 *  "suggestions": [{"anomaly", "table", "column", "check", "kind", "signature",
 *                   "status", "reason"?, "cached", <advice members when ok>}]}
 * (new reference).
 */
json_t *cs_advice_report(const struct cs_advisor *adv, const struct cs_run *run, const struct cs_advice *a);

#endif
