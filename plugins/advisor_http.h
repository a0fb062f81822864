/*
** advisor_http.h -- what the two network advisor backends share: one HTTP
** POST of a JSON body through libcurl, and the classification of what came
** back (status, Retry-After, protobuf durations).
**
** Compiled into each network module (advisor_gemini.so, advisor_openai.so)
** with hidden visibility, so nothing is exported and the modules stay
** independent.  Names carry no cs_ prefix because nothing here is exported.
**
** One easy handle per call: calls run on several host threads at once and
** an easy handle must not be shared between threads.  CURLOPT_NOSIGNAL is
** set because signals and threads do not mix (timeouts would otherwise use
** SIGALRM).  The API key is passed in a header only, never in the URL, so
** curl's own error messages (which may quote the URL) cannot leak it.
*/
#ifndef CS_ADVISOR_HTTP_H
#define CS_ADVISOR_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "creditsense/advisor.h"

/** A network backend's state: the host's services, borrowed for the module's life. */
struct ah_backend {
    const struct cs_advisor_host *api;
    void *hctx;
};

/** The init callback of both network backends (name prefixes the error message). */
int ah_backend_init(const char *name, const struct cs_advisor_host *api, void *hctx, void **state,
                    struct cs_advisor_err *err);
/** The destroy callback of both network backends. */
void ah_backend_destroy(void *state);

/** o.key as a string, "" when absent or not a string. */
const char *ah_str(json_t *o, const char *key);

/** Largest response body kept; a longer one is a failure (no model answer is that long). */
#define AH_MAX_BODY (8u << 20)

struct ah_result {
    long http_status;      /* 0 when no response arrived */
    char *body;            /* NUL-terminated, malloc'ed; NULL when none */
    size_t body_len;
    double retry_after_s;  /* from Retry-After / retry-after-ms headers; <0 when absent */
};

/**
 * POST body (JSON) to url with the given extra header lines (NULL-terminated
 * array, may hold the key).  On a transport failure resp is filled
 * (RETRYABLE for timeouts and connection problems, FAILED otherwise) and 1
 * is returned; 0 when an HTTP response arrived (res filled); <0 when out of
 * memory.  The caller frees res->body.
 */
int ah_post(const struct cs_advisor_host *api, void *hctx, const char *url, const char *const *headers,
            const char *body, long timeout_ms, struct ah_result *res, struct cs_advisor_response *resp);

/** How a backend reads an answer: ok gets a 200 JSON body, fail any other status
 *  (root may be NULL when that body is not JSON).  Both fill resp; ok returns <0
 *  only when out of memory. */
struct ah_parser {
    int (*ok)(struct ah_backend *b, json_t *root, struct cs_advisor_response *resp);
    void (*fail)(json_t *root, long http_status, struct cs_advisor_response *resp);
};

/**
 * One call: ah_post, then the answer parsed by p into resp (a 200 that is not
 * JSON is a failure; a Retry-After header is kept unless fail sets a delay of
 * its own).  Returns 0 when resp says how the call went, -1 when out of
 * memory.  body stays the caller's.
 */
int ah_exchange(struct ah_backend *b, const struct ah_parser *p, const char *url, const char *const *headers,
                const char *body, long timeout_ms, struct cs_advisor_response *resp);

/** Status for an HTTP error code: RETRYABLE for 408, 429, 500, 502, 503, 504; FAILED otherwise. */
int ah_classify(long http_status);

/** Parse a protobuf JSON Duration ("26s", "1.203608125s"); <0 when malformed. */
double ah_parse_duration(const char *s);

/** Fill resp->reason (printf style). */
void ah_reason(struct cs_advisor_response *resp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Join base and path with exactly one '/' between them into buf; -1 when it does not fit. */
int ah_url(char *buf, size_t size, const char *base, const char *path);

#endif
