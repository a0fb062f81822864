/*
** advisor_openai.c -- the OpenAI-compatible backend: OpenAI, Ollama, vLLM,
** llama.cpp's llama-server, Gemini's OpenAI layer; anything that speaks
** POST {base_url}/chat/completions (base_url ends in /v1 by convention,
** e.g. http://127.0.0.1:11434/v1 for Ollama).
**
** The request uses response_format {"type": "json_schema", "json_schema":
** {"name", "strict": true, "schema"}} with the schema nested under
** json_schema.schema (the OpenAI nesting: llama-server silently ignores a
** schema placed directly under response_format), temperature set
** explicitly (Ollama defaults to 1.0 otherwise), "stream": false, and
** Authorization: Bearer <key> only when a key is configured (local servers
** need none).
**
** Outcomes:
**   message.refusal set, or finish_reason "content_filter" -> BLOCKED
**   finish_reason "length"                                  -> FAILED (truncated)
**   no choices, or a choice without content                 -> FAILED
**   HTTP 408/429/500/502/503/504, timeouts                  -> RETRYABLE (Retry-After / retry-after-ms)
**   other HTTP errors                                       -> FAILED "HTTP <code> <type>: <message>"
** Errors are accepted in the three shapes seen in the wild:
** {"error": {"message", "type", "code"}} (OpenAI, newer vLLM),
** {"object": "error", "message", ...} (older vLLM), {"error": "text"}
** (Ollama native), each possibly wrapped in an array (Gemini's layer).
*/
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advisor_http.h"
#include "creditsense/advisor.h"

static int o_call(void *state, const struct cs_advisor_request *req, struct cs_advisor_response *resp);

static int o_init(const struct cs_advisor_host *api, void *hctx, void **state, struct cs_advisor_err *err)
{
    return ah_backend_init("openai", api, hctx, state, err);
}

static const struct cs_advisor_plugin plugin = {
    .abi_version = CS_ADVISOR_ABI_VERSION,
    .struct_size = sizeof(struct cs_advisor_plugin),
    .name = "openai",
    .description = "OpenAI-compatible /v1/chat/completions with a json_schema response format",
    .default_model = "gpt-4o-mini",
    .default_base_url = "https://api.openai.com/v1",
    .default_key_env = "OPENAI_API_KEY",
    .needs_key = 0, /* Ollama, vLLM and llama-server on-premises usually run without one */
    .init = o_init,
    .call = o_call,
    .destroy = ah_backend_destroy,
};

CS_ADVISOR_DECLARE(plugin)

static json_t *message(const char *role, const char *content)
{
    return json_pack("{s:s, s:s}", "role", role, "content", content ? content : "");
}

static char *request_body(const struct cs_advisor_request *req)
{
    json_error_t jerr;
    json_t *schema = json_loads(req->schema_json ? req->schema_json : "{}", 0, &jerr);
    if (schema != NULL)
        json_object_del(schema, "$schema");
    json_t *msgs = json_array();
    json_array_append_new(msgs, message("system", req->system_text));
    json_array_append_new(msgs, message("user", req->prompt));
    if (req->previous_output != NULL && req->repair_instruction != NULL) {
        json_array_append_new(msgs, message("assistant", req->previous_output));
        json_array_append_new(msgs, message("user", req->repair_instruction));
    }
    json_t *body = json_pack("{s:s, s:f, s:i, s:b, s:o, s:{s:s, s:{s:s, s:b, s:o}}}", "model", req->model,
                             "temperature", req->temperature, "max_tokens",
                             req->max_output_tokens > 0 ? req->max_output_tokens : 8192, "stream", 0, "messages", msgs,
                             "response_format", "type", "json_schema", "json_schema", "name",
                             req->schema_name ? req->schema_name : "answer", "strict", 1, "schema",
                             schema ? schema : json_object());
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

static void usage(json_t *root, struct cs_advisor_response *resp)
{
    json_t *u = json_object_get(root, "usage");
    json_t *in = json_object_get(u, "prompt_tokens"), *out = json_object_get(u, "completion_tokens");
    if (json_is_integer(in))
        resp->tokens_in = (long long)json_integer_value(in);
    if (json_is_integer(out))
        resp->tokens_out = (long long)json_integer_value(out);
}

static int parse_success(struct ah_backend *o, json_t *root, struct cs_advisor_response *resp)
{
    json_t *choices = json_object_get(root, "choices"), *c = json_array_get(choices, 0);
    json_t *msg = json_object_get(c, "message");
    const char *finish = ah_str(c, "finish_reason"), *refusal = ah_str(msg, "refusal");
    const char *content = json_string_value(json_object_get(msg, "content"));
    usage(root, resp);
    snprintf(resp->model_version, sizeof(resp->model_version), "%s", ah_str(root, "model"));
    if (!json_is_object(c)) {
        resp->status = CS_ADVISOR_FAILED;
        ah_reason(resp, "no choices in the response");
    } else if (refusal[0] != '\0') {
        resp->status = CS_ADVISOR_BLOCKED;
        ah_reason(resp, "refusal: %s", refusal);
    } else if (strcmp(finish, "content_filter") == 0) {
        resp->status = CS_ADVISOR_BLOCKED;
        ah_reason(resp, "finish_reason content_filter");
    } else if (strcmp(finish, "length") == 0) {
        resp->status = CS_ADVISOR_FAILED;
        ah_reason(resp, "finish_reason length: the answer was cut at max_tokens");
    } else if (content == NULL || content[0] == '\0') {
        resp->status = CS_ADVISOR_FAILED;
        ah_reason(resp, "choice without content (finish_reason %s)", finish[0] ? finish : "none");
    } else {
        resp->status = CS_ADVISOR_OK;
        return o->api->set_text(o->hctx, resp, content, strlen(content));
    }
    return 0;
}

static void parse_error(json_t *root, long http, struct cs_advisor_response *resp)
{
    if (json_is_array(root))
        root = json_array_get(root, 0);
    json_t *e = json_object_get(root, "error");
    resp->status = ah_classify(http);
    if (json_is_string(e))
        ah_reason(resp, "HTTP %ld: %s", http, json_string_value(e));
    else if (json_is_object(e))
        ah_reason(resp, "HTTP %ld %s: %s", http, ah_str(e, "type"), ah_str(e, "message"));
    else if (strcmp(ah_str(root, "object"), "error") == 0)
        ah_reason(resp, "HTTP %ld %s: %s", http, ah_str(root, "type"), ah_str(root, "message"));
    else
        ah_reason(resp, "HTTP %ld (no error details)", http);
}

static int o_call(void *state, const struct cs_advisor_request *req, struct cs_advisor_response *resp)
{
    struct ah_backend *o = state;
    char url[2048], auth[1024];
    const char *key = req->api_key ? req->api_key : "";
    resp->retry_after_s = -1;
    if (ah_url(url, sizeof(url), req->base_url, "chat/completions") != 0 || strlen(key) > 900) {
        resp->status = CS_ADVISOR_FAILED;
        ah_reason(resp, "base_url or key too long");
        return 0;
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    const char *headers[] = {key[0] ? auth : NULL, NULL};
    char *body = request_body(req);
    if (body == NULL)
        return -1;
    static const struct ah_parser parser = {parse_success, parse_error};
    int rc = ah_exchange(o, &parser, url, headers, body, req->timeout_ms, resp);
    explicit_bzero(auth, sizeof(auth));
    free(body);
    return rc;
}
