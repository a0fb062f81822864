/*
** advisor_gemini.c -- the Google Gemini backend (generativelanguage v1beta).
**
** POST {base_url}/models/{model}:generateContent with the key in the
** x-goog-api-key header (never in the URL), systemInstruction + contents,
** and generationConfig.responseMimeType "application/json" with a
** responseSchema.  The host's schema is JSON Schema; Gemini's responseSchema
** is the OpenAPI 3.0 subset of its Schema proto, so it is translated here:
** upper-case type enums, propertyOrdering added (so answers come back in a
** stable key order), int64 minItems/maxItems written as strings, and
** keywords the proto lacks (additionalProperties, $schema) dropped, since
** Gemini answers an unknown keyword with 400 INVALID_ARGUMENT.
**
** Outcomes, each recorded with its own reason (../shared/notes/wire-facts.md
** section 1.3/1.4):
**   HTTP 200, promptFeedback.blockReason (no candidates)  -> BLOCKED "prompt blocked: <reason>"
**   HTTP 200, no candidates and no blockReason              -> FAILED  "no candidates"
**   finishReason SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII,
**     IMAGE_SAFETY, LANGUAGE                                 -> BLOCKED "finish reason <X>"
**   candidate without content (or parts), whatever its finish -> FAILED "candidate without content ..."
**   any other non-STOP finishReason (MAX_TOKENS, OTHER, ...) -> FAILED  "finish reason <X>"
**   HTTP 429/500/502/503/504, timeouts                      -> RETRYABLE, with RetryInfo.retryDelay
**   other HTTP errors (400, 403, 404, ...)                  -> FAILED "HTTP <code> <status>: <message>"
** Text is the concatenation of the candidate's non-thought parts; tokens
** come from usageMetadata (out = candidates + thoughts, what is billed).
*/
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advisor_http.h"
#include "creditsense/advisor.h"

static int g_call(void *state, const struct cs_advisor_request *req, struct cs_advisor_response *resp);

static int g_init(const struct cs_advisor_host *api, void *hctx, void **state, struct cs_advisor_err *err)
{
    return ah_backend_init("gemini", api, hctx, state, err);
}

static const struct cs_advisor_plugin plugin = {
    .abi_version = CS_ADVISOR_ABI_VERSION,
    .struct_size = sizeof(struct cs_advisor_plugin),
    .name = "gemini",
    .description = "Google Gemini generateContent with a response schema",
    .default_model = "gemini-2.5-flash",
    .default_base_url = "https://generativelanguage.googleapis.com/v1beta",
    .default_key_env = "GEMINI_API_KEY",
    .needs_key = 1,
    .init = g_init,
    .call = g_call,
    .destroy = ah_backend_destroy,
};

CS_ADVISOR_DECLARE(plugin)

/* ---- request -------------------------------------------------------------- */

static json_t *to_gemini_schema(json_t *s);

static json_t *convert_properties(json_t *props, json_t **ordering)
{
    json_t *out = json_object();
    *ordering = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v) {
        json_t *c = to_gemini_schema(v);
        if (c == NULL || json_object_set_new(out, k, c) || json_array_append_new(*ordering, json_string(k)))
            break;
    }
    return out;
}

static json_t *upper_type(const char *t)
{
    char buf[16];
    size_t i;
    for (i = 0; t[i] && i + 1 < sizeof(buf); i++)
        buf[i] = (char)(t[i] >= 'a' && t[i] <= 'z' ? t[i] - 32 : t[i]);
    buf[i] = '\0';
    return json_string(buf);
}

/* JSON Schema -> Gemini Schema proto JSON (see the file comment). */
static json_t *to_gemini_schema(json_t *s)
{
    static const char *const copy[] = {"format", "title", "description", "nullable", "enum", "minimum", "maximum",
                                       "required", NULL};
    json_t *out = json_object();
    if (out == NULL || !json_is_object(s))
        return out;
    const char *t = json_string_value(json_object_get(s, "type"));
    if (t != NULL)
        json_object_set_new(out, "type", upper_type(t));
    for (size_t i = 0; copy[i]; i++)
        if (json_object_get(s, copy[i]) != NULL)
            json_object_set(out, copy[i], json_object_get(s, copy[i]));
    json_t *v;
    if ((v = json_object_get(s, "minItems")) != NULL && json_is_integer(v))
        json_object_set_new(out, "minItems", json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v)));
    if ((v = json_object_get(s, "maxItems")) != NULL && json_is_integer(v))
        json_object_set_new(out, "maxItems", json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v)));
    if ((v = json_object_get(s, "items")) != NULL)
        json_object_set_new(out, "items", to_gemini_schema(v));
    if ((v = json_object_get(s, "properties")) != NULL && json_is_object(v)) {
        json_t *ordering = NULL;
        json_object_set_new(out, "properties", convert_properties(v, &ordering));
        json_object_set_new(out, "propertyOrdering", ordering);
    }
    return out;
}

static json_t *text_turn(const char *role, const char *text)
{
    return json_pack("{s:s, s:[{s:s}]}", "role", role, "parts", "text", text);
}

static char *request_body(const struct cs_advisor_request *req)
{
    json_error_t jerr;
    json_t *schema = json_loads(req->schema_json ? req->schema_json : "{}", 0, &jerr);
    json_t *contents = json_array();
    json_array_append_new(contents, text_turn("user", req->prompt ? req->prompt : ""));
    if (req->previous_output != NULL && req->repair_instruction != NULL) {
        json_array_append_new(contents, text_turn("model", req->previous_output));
        json_array_append_new(contents, text_turn("user", req->repair_instruction));
    }
    json_t *gen = json_pack("{s:f, s:i, s:s, s:o}", "temperature", req->temperature, "maxOutputTokens",
                            req->max_output_tokens > 0 ? req->max_output_tokens : 8192, "responseMimeType",
                            "application/json", "responseSchema", to_gemini_schema(schema));
    json_t *body = json_pack("{s:{s:[{s:s}]}, s:o, s:o}", "systemInstruction", "parts", "text",
                             req->system_text ? req->system_text : "", "contents", contents, "generationConfig", gen);
    json_decref(schema);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

/* ---- response ------------------------------------------------------------- */

static long long token(json_t *usage, const char *key)
{
    json_t *v = json_object_get(usage, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static void usage(json_t *root, struct cs_advisor_response *resp)
{
    json_t *u = json_object_get(root, "usageMetadata");
    if (!json_is_object(u))
        return;
    resp->tokens_in = token(u, "promptTokenCount");
    long long cand = token(u, "candidatesTokenCount"), thoughts = token(u, "thoughtsTokenCount");
    resp->tokens_out = cand < 0 ? thoughts : cand + (thoughts > 0 ? thoughts : 0);
}

/* Finish reasons that mean the provider refused, as opposed to an answer that went wrong. */
static int is_block_finish(const char *r)
{
    static const char *const blocks[] = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                                         "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "LANGUAGE", "MODEL_ARMOR", NULL};
    for (size_t i = 0; blocks[i]; i++)
        if (strcmp(r, blocks[i]) == 0)
            return 1;
    return 0;
}

/* The candidate's answer: its non-thought text parts, concatenated. */
static int candidate_text(struct ah_backend *g, json_t *cand, struct cs_advisor_response *resp)
{
    json_t *content = json_object_get(cand, "content"), *parts = json_object_get(content, "parts");
    const char *finish = ah_str(cand, "finishReason");
    if (!json_is_object(content) || !json_is_array(parts) || json_array_size(parts) == 0) {
        resp->status = CS_ADVISOR_FAILED;
        ah_reason(resp, "candidate without content (finishReason %s%s%s)", finish[0] ? finish : "none",
                  ah_str(cand, "finishMessage")[0] ? ": " : "", ah_str(cand, "finishMessage"));
        return 0;
    }
    size_t len = 0, i;
    json_t *p;
    json_array_foreach(parts, i, p)
        if (!json_is_true(json_object_get(p, "thought")))
            len += strlen(ah_str(p, "text"));
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return -1;
    buf[0] = '\0';
    json_array_foreach(parts, i, p)
        if (!json_is_true(json_object_get(p, "thought")))
            strcat(buf, ah_str(p, "text"));
    int rc = 0;
    if (len == 0) {
        resp->status = CS_ADVISOR_FAILED;
        ah_reason(resp, "candidate without text (finishReason %s)", finish[0] ? finish : "none");
    } else {
        resp->status = CS_ADVISOR_OK;
        rc = g->api->set_text(g->hctx, resp, buf, len);
    }
    free(buf);
    return rc;
}

static int parse_success(struct ah_backend *g, json_t *root, struct cs_advisor_response *resp)
{
    json_t *fb = json_object_get(root, "promptFeedback"), *cands = json_object_get(root, "candidates");
    usage(root, resp);
    snprintf(resp->model_version, sizeof(resp->model_version), "%s", ah_str(root, "modelVersion"));
    if (ah_str(fb, "blockReason")[0] != '\0') {
        resp->status = CS_ADVISOR_BLOCKED;
        ah_reason(resp, "prompt blocked: %s%s%s", ah_str(fb, "blockReason"), ah_str(fb, "blockReasonMessage")[0] ? ": " : "",
                  ah_str(fb, "blockReasonMessage"));
        return 0;
    }
    if (!json_is_array(cands) || json_array_size(cands) == 0) {
        resp->status = CS_ADVISOR_FAILED;
        ah_reason(resp, "no candidates in the response");
        return 0;
    }
    json_t *cand = json_array_get(cands, 0), *content = json_object_get(cand, "content");
    const char *finish = ah_str(cand, "finishReason");
    if (is_block_finish(finish)) {
        resp->status = CS_ADVISOR_BLOCKED;
        ah_reason(resp, "finish reason %s", finish);
        return 0;
    }
    if (!json_is_object(content) || json_array_size(json_object_get(content, "parts")) == 0)
        return candidate_text(g, cand, resp); /* reports the candidate without content */
    if (finish[0] != '\0' && strcmp(finish, "STOP") != 0) {
        resp->status = CS_ADVISOR_FAILED;
        ah_reason(resp, "finish reason %s%s%s", finish, ah_str(cand, "finishMessage")[0] ? ": " : "",
                  ah_str(cand, "finishMessage"));
        return 0;
    }
    return candidate_text(g, cand, resp);
}

/* google.rpc.Status, possibly wrapped in an array; RetryInfo gives the wait. */
static void parse_error(json_t *root, long http, struct cs_advisor_response *resp)
{
    if (json_is_array(root))
        root = json_array_get(root, 0);
    json_t *e = json_object_get(root, "error"), *details = json_object_get(e, "details"), *d;
    size_t i;
    resp->status = ah_classify(http);
    json_array_foreach(details, i, d) {
        const char *type = ah_str(d, "@type");
        size_t tl = strlen(type);
        if (tl >= 9 && strcmp(type + tl - 9, "RetryInfo") == 0) {
            double delay = ah_parse_duration(ah_str(d, "retryDelay"));
            if (delay >= 0)
                resp->retry_after_s = delay;
        }
    }
    if (json_is_object(e))
        ah_reason(resp, "HTTP %ld %s: %s", http, ah_str(e, "status"), ah_str(e, "message"));
    else
        ah_reason(resp, "HTTP %ld (no error details)", http);
}

static int g_call(void *state, const struct cs_advisor_request *req, struct cs_advisor_response *resp)
{
    struct ah_backend *g = state;
    char url[2048], path[512], keyh[1024];
    resp->retry_after_s = -1;
    snprintf(path, sizeof(path), "models/%s:generateContent", req->model);
    if (ah_url(url, sizeof(url), req->base_url, path) != 0 || strlen(req->api_key ? req->api_key : "") > 900) {
        resp->status = CS_ADVISOR_FAILED;
        ah_reason(resp, "base_url, model or key too long");
        return 0;
    }
    snprintf(keyh, sizeof(keyh), "x-goog-api-key: %s", req->api_key ? req->api_key : "");
    const char *headers[] = {keyh, NULL};
    char *body = request_body(req);
    if (body == NULL)
        return -1;
    static const struct ah_parser parser = {parse_success, parse_error};
    int rc = ah_exchange(g, &parser, url, headers, body, req->timeout_ms, resp);
    explicit_bzero(keyh, sizeof(keyh)); /* the key does not outlive the call on our stack */
    free(body);
    return rc;
}
