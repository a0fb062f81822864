/*
** http.c -- response, query, auth and error-shape helpers over libh2o.  See http.h.
*/
#include "http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netdb.h>
#include <netinet/in.h>

static const struct {
    int status;
    const char *reason, *code;
} STATUSES[] = {
    {200, "OK", "ok"},
    {201, "Created", "created"},
    {202, "Accepted", "accepted"},
    {204, "No Content", "no_content"},
    {400, "Bad Request", "bad_request"},
    {401, "Unauthorized", "unauthorized"},
    {403, "Forbidden", "forbidden"},
    {404, "Not Found", "not_found"},
    {405, "Method Not Allowed", "method_not_allowed"},
    {408, "Request Timeout", "request_timeout"},
    {413, "Payload Too Large", "payload_too_large"},
    {414, "URI Too Long", "uri_too_long"},
    {415, "Unsupported Media Type", "unsupported_media_type"},
    {416, "Range Not Satisfiable", "range_not_satisfiable"},
    {417, "Expectation Failed", "expectation_failed"},
    {429, "Too Many Requests", "rate_limited"},
    {500, "Internal Server Error", "internal"},
    {501, "Not Implemented", "not_implemented"},
    {502, "Bad Gateway", "bad_gateway"},
    {503, "Service Unavailable", "unavailable"},
    {504, "Gateway Timeout", "gateway_timeout"},
};

const char *cs_http_reason(int status)
{
    for (size_t i = 0; i < sizeof(STATUSES) / sizeof(STATUSES[0]); i++)
        if (STATUSES[i].status == status)
            return STATUSES[i].reason;
    return "Unknown";
}

const char *cs_http_error_code(int status)
{
    for (size_t i = 0; i < sizeof(STATUSES) / sizeof(STATUSES[0]); i++)
        if (STATUSES[i].status == status)
            return STATUSES[i].code;
    return status >= 500 ? "internal" : "bad_request";
}

/* Send a buffer that already lives in req->pool (no copy). */
static void send_pooled(h2o_req_t *req, int status, const char *content_type, char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = cs_http_reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_start_response(req, &generator);
    h2o_iovec_t iov = h2o_iovec_init(body, len);
    h2o_send(req, &iov, 1, H2O_SEND_STATE_FINAL);
}

void cs_http_send(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    h2o_iovec_t copy = h2o_strdup(&req->pool, body, len);
    send_pooled(req, status, content_type, copy.base, copy.len);
}

static void free_owned(void *p)
{
    free(*(char **)p);
}

void cs_http_send_owned(h2o_req_t *req, int status, const char *content_type, char *body, size_t len)
{
    char **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), free_owned);
    *slot = body;
    send_pooled(req, status, content_type, body, len);
}

void cs_http_send_json(h2o_req_t *req, int status, const json_t *body)
{
    size_t len = body ? json_dumpb(body, NULL, 0, JSON_COMPACT) : 0;
    if (len == 0) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        cs_http_send(req, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    char *buf = h2o_mem_alloc_pool(&req->pool, len + 1);
    json_dumpb(body, buf, len, JSON_COMPACT);
    buf[len] = '\n'; /* so `curl` leaves the prompt on its own line */
    send_pooled(req, status, "application/json", buf, len + 1);
}

/* A JSON string even from bytes that are not UTF-8 (they become '?'). */
static json_t *lenient_string(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    char copy[1024];
    size_t i;
    for (i = 0; s[i] != '\0' && i + 1 < sizeof(copy); i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    copy[i] = '\0';
    return json_string(copy);
}

void cs_http_send_error(h2o_req_t *req, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:{s:s, s:o}}", "error", "code", code, "message", lenient_string(msg));
    cs_http_send_json(req, status, body);
    json_decref(body);
}

void cs_http_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, SIZE_MAX);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, v.base, v.len);
}

int cs_http_method_is(const h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode [s, s+n) into pool memory, NUL-terminated. */
static char *decode(h2o_mem_pool_t *pool, const char *s, size_t n)
{
    char *out = h2o_mem_alloc_pool(pool, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
                   (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* Calls fn for every key=value pair of the query string until it returns non-zero. */
static int each_param(h2o_req_t *req, int (*fn)(void *ctx, const char *k, size_t kn, const char *v, size_t vn),
                      void *ctx)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (p < end) {
        const char *amp = memchr(p, '&', end - p);
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', stop - p);
        const char *kend = eq ? eq : stop, *v = eq ? eq + 1 : stop;
        int rc = kend > p ? fn(ctx, p, kend - p, v, stop - v) : 0;
        if (rc != 0)
            return rc;
        p = stop + 1;
    }
    return 0;
}

struct find_ctx {
    h2o_req_t *req;
    const char *name;
    const char *value;
};

static int find_param(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
    struct find_ctx *f = ctx;
    if (kn != strlen(f->name) || memcmp(k, f->name, kn) != 0)
        return 0;
    f->value = decode(&f->req->pool, v, vn);
    return 1;
}

const char *cs_http_query(h2o_req_t *req, const char *name)
{
    struct find_ctx f = {req, name, NULL};
    each_param(req, find_param, &f);
    return f.value;
}

struct unknown_ctx {
    h2o_req_t *req;
    const char *const *allowed;
    const char *bad;
};

static int unknown_param(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
    struct unknown_ctx *u = ctx;
    (void)v, (void)vn;
    for (const char *const *a = u->allowed; *a != NULL; a++)
        if (strlen(*a) == kn && memcmp(*a, k, kn) == 0)
            return 0;
    u->bad = decode(&u->req->pool, k, kn);
    return 1;
}

int cs_http_query_unknown(h2o_req_t *req, const char *const *allowed, const char **bad)
{
    struct unknown_ctx u = {req, allowed, NULL};
    int rc = each_param(req, unknown_param, &u);
    *bad = u.bad;
    return rc;
}

int cs_http_bearer_ok(const h2o_req_t *req, const char *token, size_t token_len)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 7 || strncasecmp(v.base, "bearer ", 7) != 0)
        return 0;
    const char *got = v.base + 7;
    size_t n = v.len - 7;
    while (n > 0 && *got == ' ')
        got++, n--;
    /* Constant time in the position of the first difference: every byte is compared. */
    unsigned char diff = n != token_len;
    for (size_t k = 0; k < token_len; k++)
        diff |= (unsigned char)((k < n ? (unsigned char)got[k] : 0) ^ (unsigned char)token[k]);
    return diff == 0;
}

static socklen_t peer_addr(h2o_req_t *req, struct sockaddr_storage *ss)
{
    if (req->conn == NULL || req->conn->callbacks->get_peername == NULL)
        return 0;
    return req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)ss);
}

const char *cs_http_peer(h2o_req_t *req, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    char host[NI_MAXHOST];
    socklen_t len = peer_addr(req, &ss);
    buf[0] = '\0';
    if (len != 0 && h2o_socket_getnumerichost((struct sockaddr *)&ss, len, host) != SIZE_MAX)
        snprintf(buf, size, "%s", host);
    return buf;
}

size_t cs_http_peer_key(h2o_req_t *req, unsigned char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = peer_addr(req, &ss);
    if (len == 0)
        return 0;
    if (ss.ss_family == AF_INET && size >= 4) {
        memcpy(buf, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        return 4;
    }
    if (ss.ss_family == AF_INET6 && size >= 16) {
        memcpy(buf, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        return 16;
    }
    return 0;
}

/* ---- libh2o's own errors as JSON ------------------------------------------ */

struct json_error_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int sent;
};

/* Replaces whatever libh2o sends (its text body) with the JSON body, once. */
static void json_error_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n, h2o_send_state_t state)
{
    struct json_error_ostream *o = (void *)self;
    (void)bufs, (void)n;
    if (o->sent) {
        h2o_ostream_send_next(&o->super, req, NULL, 0, state);
        return;
    }
    o->sent = 1;
    h2o_ostream_send_next(&o->super, req, &o->body, 1, state);
}

static const char *builtin_message(int status)
{
    switch (status) {
    case 400: return "the request is malformed";
    case 404: return "nothing here: see /api/v1/openapi.json for the API";
    case 405: return "this method is not allowed here";
    case 413: return "the request body is larger than the server accepts (server.max_body_bytes)";
    case 503: return "the server is overloaded; try again later";
    default: return cs_http_reason(status);
    }
}

static void json_error_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    ssize_t i = req->res.status >= 400 ? h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1) : -1;
    /* libh2o's own errors are exactly this type; our handlers always send JSON. */
    if (i >= 0 && h2o_memis(req->res.headers.entries[i].value.base, req->res.headers.entries[i].value.len,
                            H2O_STRLIT("text/plain; charset=utf-8"))) {
        json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", cs_http_error_code(req->res.status), "message",
                              builtin_message(req->res.status));
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (text != NULL) {
            struct json_error_ostream *o = (void *)h2o_add_ostream(req, sizeof(*o), slot);
            o->super.do_send = json_error_send;
            o->body = h2o_concat(&req->pool, h2o_iovec_init(text, strlen(text)), h2o_iovec_init(H2O_STRLIT("\n")));
            o->sent = 0;
            free(text);
            req->res.headers.entries[i].value = h2o_iovec_init(H2O_STRLIT("application/json"));
            req->res.content_length = o->body.len;
            slot = &o->super.next;
        }
    }
    h2o_setup_next_ostream(req, slot);
}

void cs_http_json_errors_register(h2o_pathconf_t *pathconf)
{
    h2o_filter_t *f = h2o_create_filter(pathconf, sizeof(*f));
    f->on_setup_ostream = json_error_setup;
}
