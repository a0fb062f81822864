/*
** http.h -- small helpers over libh2o for the daemon's handlers.
**
** Every response the API sends goes through here, so they share one shape:
** JSON bodies with a content length, errors as
** {"error": {"code": "...", "message": "..."}} with a stable machine code
** and a message a person can act on.  cs_http_json_errors_register turns
** the plain-text errors libh2o emits by itself (413 for a body over the
** limit, 400 for a broken request, 404 and 405 from the file handler) into
** the same JSON shape, so a client never has to parse two formats.
**
** All functions run on the event loop thread and allocate from req->pool,
** which lives until the response is sent.
*/
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <h2o.h>
#include <jansson.h>
#include <stddef.h>

/** The reason phrase of a status ("Not Found"), "Unknown" for codes we never send. */
const char *cs_http_reason(int status);

/** Send body (copied) with status and content type; sets the content length. */
void cs_http_send(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);

/**
 * Send a malloc'd body without copying it: the request takes it and frees
 * it when the response is done (a worker's large JSON answer, for one).
 */
void cs_http_send_owned(h2o_req_t *req, int status, const char *content_type, char *body, size_t len);

/** Send a JSON value (borrowed) with status. */
void cs_http_send_json(h2o_req_t *req, int status, const json_t *body);

/** Send {"error": {"code": code, "message": printf(fmt, ...)}} with status. */
void cs_http_send_error(h2o_req_t *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** The stable error code of a status: "bad_request", "not_found", ... */
const char *cs_http_error_code(int status);

/** Add a response header (name must be lower case; value copied). */
void cs_http_header(h2o_req_t *req, const char *name, const char *value);

/** True when the request method is m ("GET", "POST"). */
int cs_http_method_is(const h2o_req_t *req, const char *m);

/**
 * The decoded value of query parameter name, NUL-terminated in req->pool,
 * or NULL when absent.  The first occurrence wins; '+' means a space.
 */
const char *cs_http_query(h2o_req_t *req, const char *name);

/** True when the query string has a parameter not in the NULL-terminated list; *bad names it. */
int cs_http_query_unknown(h2o_req_t *req, const char *const *allowed, const char **bad);

/**
 * True when the request carries "Authorization: Bearer <token>" with
 * exactly this token.  The comparison time does not depend on where the
 * two differ.
 */
int cs_http_bearer_ok(const h2o_req_t *req, const char *token, size_t token_len);

/** The client's address as text ("127.0.0.1"); "" when unknown.  buf holds >= 64 bytes. */
const char *cs_http_peer(h2o_req_t *req, char *buf, size_t size);

/** The peer's address bytes (for rate limiting); returns the length, 0 when unknown. */
size_t cs_http_peer_key(h2o_req_t *req, unsigned char *buf, size_t size);

/**
 * Register the filter that rewrites libh2o's plain-text errors as JSON on a
 * path config.  Register it on the host's fallback_path too: errors libh2o
 * sends before routing (413, 400) are bound to that one.
 */
void cs_http_json_errors_register(h2o_pathconf_t *pathconf);

#endif
