/*
** advisor_http.c -- one JSON POST through libcurl for the network advisor
** backends.  See advisor_http.h.
*/
#include "advisor_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct sink {
    char *buf;
    size_t len, cap;
    int overflow;
    double retry_after_s, retry_after_ms_s;
};

struct stop_ctx {
    const struct cs_advisor_host *api;
    void *hctx;
};

void ah_reason(struct cs_advisor_response *resp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(resp->reason, sizeof(resp->reason), fmt, ap);
    va_end(ap);
}

int ah_classify(long s)
{
    return (s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504) ? CS_ADVISOR_RETRYABLE
                                                                                     : CS_ADVISOR_FAILED;
}

double ah_parse_duration(const char *s)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || strcmp(end, "s") != 0 || v < 0)
        return -1;
    return v;
}

int ah_url(char *buf, size_t size, const char *base, const char *path)
{
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    while (*path == '/')
        path++;
    int n = snprintf(buf, size, "%.*s/%s", (int)bl, base, path);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;
    if (s->len + n + 1 > AH_MAX_BODY) {
        s->overflow = 1;
        return 0; /* aborts the transfer */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *nb = realloc(s->buf, cap);
        if (nb == NULL)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

/* Retry-After is delta-seconds or an HTTP date; OpenAI also sends retry-after-ms. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;
    char line[256];
    size_t l = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
    memcpy(line, data, l);
    line[l] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    char *colon = strchr(line, ':');
    if (colon == NULL)
        return n;
    *colon = '\0';
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strcasecmp(line, "retry-after-ms") == 0 && isdigit((unsigned char)*v)) {
        s->retry_after_ms_s = strtod(v, NULL) / 1000.0;
    } else if (strcasecmp(line, "retry-after") == 0) {
        if (isdigit((unsigned char)*v)) {
            s->retry_after_s = strtod(v, NULL);
        } else {
            time_t when = curl_getdate(v, NULL), now = time(NULL);
            if (when > 0)
                s->retry_after_s = when > now ? (double)(when - now) : 0;
        }
    }
    return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    struct stop_ctx *sc = arg;
    return sc->api->should_stop != NULL && sc->api->should_stop(sc->hctx) ? 1 : 0;
}

/* A transport failure as a response: timeouts and connection trouble are worth a retry. */
static void transport_failure(CURLcode cc, long timeout_ms, const struct sink *s, struct cs_advisor_response *resp)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        resp->status = CS_ADVISOR_RETRYABLE;
        ah_reason(resp, "timeout: no complete answer within %ld ms", timeout_ms);
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
        resp->status = CS_ADVISOR_RETRYABLE;
        ah_reason(resp, "connection failed: %s", curl_easy_strerror(cc));
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        resp->status = CS_ADVISOR_RETRYABLE;
        ah_reason(resp, "cancelled: the advisor is shutting down");
        break;
    default:
        resp->status = CS_ADVISOR_FAILED;
        if (s->overflow)
            ah_reason(resp, "response larger than %u bytes", AH_MAX_BODY);
        else
            ah_reason(resp, "HTTP request failed: %s", curl_easy_strerror(cc));
    }
}

static struct curl_slist *header_list(const char *const *headers, const char *ua)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *t;
    char line[160];
    snprintf(line, sizeof(line), "User-Agent: %s", ua ? ua : "creditsense");
    if (h == NULL || (t = curl_slist_append(h, line)) == NULL || (h = t, t = curl_slist_append(h, "Expect:")) == NULL)
        goto fail;
    h = t;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        if ((t = curl_slist_append(h, headers[i])) == NULL)
            goto fail;
        h = t;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

int ah_post(const struct cs_advisor_host *api, void *hctx, const char *url, const char *const *headers,
            const char *body, long timeout_ms, struct ah_result *res, struct cs_advisor_response *resp)
{
    struct sink s = {.retry_after_s = -1, .retry_after_ms_s = -1};
    struct stop_ctx sc = {api, hctx};
    memset(res, 0, sizeof(*res));
    res->retry_after_s = -1;
    CURL *c = curl_easy_init();
    struct curl_slist *h = header_list(headers, api->user_agent);
    if (c == NULL || h == NULL) {
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 && timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &sc);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* whatever curl can decode */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->http_status);
        res->body = s.buf ? s.buf : strdup("");
        res->body_len = s.len;
        res->retry_after_s = s.retry_after_ms_s >= 0 ? s.retry_after_ms_s : s.retry_after_s;
        rc = res->body ? 0 : -1;
    } else {
        free(s.buf);
        transport_failure(cc, timeout_ms, &s, resp);
        rc = 1;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

int ah_exchange(struct ah_backend *b, const struct ah_parser *p, const char *url, const char *const *headers,
                const char *body, long timeout_ms, struct cs_advisor_response *resp)
{
    struct ah_result res;
    int rc = ah_post(b->api, b->hctx, url, headers, body, timeout_ms, &res, resp);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    json_error_t jerr;
    json_t *root = json_loadb(res.body, res.body_len, 0, &jerr);
    resp->http_status = (int)res.http_status;
    if (res.retry_after_s >= 0)
        resp->retry_after_s = res.retry_after_s;
    if (res.http_status != 200) {
        p->fail(root, res.http_status, resp);
    } else if (root == NULL) {
        resp->status = CS_ADVISOR_FAILED;
        ah_reason(resp, "HTTP 200 with a body that is not JSON (line %d: %s)", jerr.line, jerr.text);
    } else {
        rc = p->ok(b, root, resp);
    }
    json_decref(root);
    free(res.body);
    return rc;
}

int ah_backend_init(const char *name, const struct cs_advisor_host *api, void *hctx, void **state,
                    struct cs_advisor_err *err)
{
    struct ah_backend *b = calloc(1, sizeof(*b));
    if (b == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(b);
        err->code = -6;
        snprintf(err->msg, sizeof(err->msg), "%s: cannot initialise libcurl", name);
        return err->code;
    }
    b->api = api;
    b->hctx = hctx;
    *state = b;
    return 0;
}

void ah_backend_destroy(void *state)
{
    if (state == NULL)
        return;
    curl_global_cleanup();
    free(state);
}

const char *ah_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}
