#!/usr/bin/env python3
"""llm_standin.py -- a local stand-in for the Gemini and OpenAI-compatible APIs.

Speaks the wire formats of ../shared/notes/wire-facts.md sections 1 and 2 (as
recorded in the Gemini fixtures), on loopback only, on an ephemeral port, and
exits by itself after --timeout seconds, so a crashed test never leaves it
running.

    python3 tests/llm_standin.py [--timeout 300] [--gemini-key K] [--openai-key K]

prints "PORT <n>" on its first line of stdout, then serves:

    POST /v1beta/models/{model}:generateContent   Gemini (x-goog-api-key header or ?key=)
    POST /v1/chat/completions                     OpenAI-compatible (Authorization: Bearer)
    POST /_script   body: a JSON list of behaviours, consumed one per API request
    GET  /_log      every API request so far: {path, headers, body, t}
    POST /_reset    forget the log and the script

A behaviour is a string or {"do": name, ...}; with an empty script the answer
is "valid".  Names:
    valid, fenced, broken (breaks the schema), 429 ({"retry_delay": "1.5s"} adds
    RetryInfo; {"retry_after": "1"} adds a Retry-After header), 500, 503, 504,
    hang ({"seconds": 5}), block (prompt blocked, no candidates), safety
    (finishReason SAFETY / OpenAI refusal), no_content (candidate without
    content / choice without content), max_tokens (MAX_TOKENS / length),
    400_key (API key invalid, the key echoed back as the real API does),
    404 (unknown model); any answer behaviour may add {"inject": "TEXT"}, appended
    to every text of the answer (the dashboard's tests plant markup this way)

Requests are validated like the real services: Gemini rejects unknown fields
(in the body, generationConfig and responseSchema, e.g. additionalProperties)
with 400 INVALID_ARGUMENT; OpenAI strict json_schema requires every object to
list all its properties in "required" and set additionalProperties false.
"""
import argparse
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

GEN_CONFIG_KEYS = {"candidateCount", "stopSequences", "maxOutputTokens", "temperature", "topP", "topK", "seed",
                   "responseMimeType", "responseSchema", "responseJsonSchema", "presencePenalty",
                   "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers",
                   "responseModalities", "speechConfig", "thinkingConfig", "imageConfig", "mediaResolution"}
BODY_KEYS = {"contents", "systemInstruction", "generationConfig", "safetySettings", "tools", "toolConfig",
             "cachedContent"}
SCHEMA_KEYS = {"type", "format", "title", "description", "nullable", "enum", "items", "maxItems", "minItems",
               "properties", "required", "minimum", "maximum", "anyOf", "propertyOrdering", "default"}
SCHEMA_TYPES = {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}


class State:
    def __init__(self, gemini_key, openai_key):
        self.lock = threading.Lock()
        self.script = []
        self.log = []
        self.gemini_key = gemini_key
        self.openai_key = openai_key

    def next_behaviour(self):
        with self.lock:
            b = self.script.pop(0) if self.script else "valid"
        return b if isinstance(b, dict) else {"do": b}


# ---- answers ------------------------------------------------------------------------------

def anomalies_in(prompt):
    """The anomaly facts of a prompt: one JSON object per line, each with an id."""
    out = []
    for line in prompt.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if isinstance(o, dict) and "id" in o:
                out.append(o)
    return out


def answer_for(prompt, broken=False, inject=""):
    subject = "customer-1" if "(customer-1)" in prompt else "the portfolio"
    items = []
    for a in anomalies_in(prompt):
        t, c = a.get("table", "T"), a.get("column", "C")
        item = {
            "id": a["id"],
            "priority": "urgent" if broken else "high",
            "fix_suggestions": ["Stand-in fix: make %s.%s mandatory at capture." % (t, c)],
            "rule_templates": {"sql": 'SELECT COUNT(*) AS violations FROM "%s" WHERE "%s" IS NULL' % (t, c),
                               "lua": 'rule{ name = "x", description = "d", table = "%s", columns = {"%s"}, '
                                      'severity = "high", row = function(r) if r.%s == nil then return "m" end end }'
                                      % (t, c, c)},
            "root_cause_hypotheses": ["Optional field in the source form."],
            "lineage_insights": ["SK_ID_CURR joins %s to bureau and previous applications." % t],
            "business_impact": "Affects the credit decision for %s." % subject,
        }
        if broken:
            del item["business_impact"]
        if inject:
            for k, v in item.items():
                if isinstance(v, str) and k not in ("id", "priority"):
                    item[k] = v + inject
                elif isinstance(v, list):
                    item[k] = [x + inject for x in v]
                elif isinstance(v, dict):
                    item[k] = {kk: vv + inject for kk, vv in v.items()}
        items.append(item)
    return json.dumps({"anomalies": items})


# ---- Gemini --------------------------------------------------------------------------------

def g_error(code, status, message, details=None):
    e = {"code": code, "message": message, "status": status}
    if details is not None:
        e["details"] = details
    return code, {"error": e}


def check_schema(s, path):
    if not isinstance(s, dict):
        return "%s: expected an object" % path
    for k in s:
        if k not in SCHEMA_KEYS:
            return 'Invalid JSON payload received. Unknown name "%s" at \'%s\': Cannot find field.' % (k, path)
    if "type" in s and s["type"] not in SCHEMA_TYPES:
        return "Invalid value at '%s.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), \"%s\"" % (
            path, s["type"])
    for k in ("minItems", "maxItems"):
        if k in s and not isinstance(s[k], str):
            return "%s.%s: int64 is written as a string" % (path, k)
    for name, sub in (s.get("properties") or {}).items():
        err = check_schema(sub, "%s.properties[%s].value" % (path, name))
        if err:
            return err
    if "items" in s:
        return check_schema(s["items"], path + ".items")
    return None


def check_gemini_body(body):
    for k in body:
        if k not in BODY_KEYS:
            return 'Invalid JSON payload received. Unknown name "%s": Cannot find field.' % k
    gc = body.get("generationConfig", {})
    for k in gc:
        if k not in GEN_CONFIG_KEYS:
            return 'Invalid JSON payload received. Unknown name "%s" at \'generation_config\': Cannot find field.' % k
    if "responseSchema" in gc:
        if gc.get("responseMimeType") != "application/json":
            return "responseSchema needs responseMimeType application/json"
        err = check_schema(gc["responseSchema"], "generation_config.response_schema")
        if err:
            return err
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "contents is not specified"
    for c in contents:
        if c.get("role") not in (None, "user", "model"):
            return "Please use a valid role: user, model."
    return None


def g_candidate(text, finish="STOP"):
    return {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish, "index": 0,
            "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]}


def g_usage(prompt, out):
    p, c = max(1, len(prompt) // 4), max(1, len(out) // 4)
    return {"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": p}]}


def gemini(state, b, body, key, model):
    """(status, json, headers) for one generateContent call."""
    do = b["do"]
    if do == "400_key" or (state.gemini_key and key != state.gemini_key):
        return g_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
            {"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": "Invalid API key: %s" % key}]) + ({},)
    err = check_gemini_body(body)
    if err:
        return g_error(400, "INVALID_ARGUMENT", err, [
            {"@type": "type.googleapis.com/google.rpc.BadRequest",
             "fieldViolations": [{"description": err}]}]) + ({},)
    if do == "404":
        return g_error(404, "NOT_FOUND", "models/%s is not found for API version v1beta, or is not supported for "
                       "generateContent. Call ListModels to see the list of available models and their supported "
                       "methods." % model) + ({},)
    if do == "429":
        details = None
        if "retry_delay" in b:
            details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                 "quotaDimensions": {"location": "global", "model": model}, "quotaValue": "10"}]},
                {"@type": "type.googleapis.com/google.rpc.Help", "links": [
                    {"description": "Learn more about Gemini API quotas",
                     "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": b["retry_delay"]}]
            msg = "You exceeded your current quota, please check your plan and billing details."
        else:
            msg = "Resource has been exhausted (e.g. check quota)."
        return g_error(429, "RESOURCE_EXHAUSTED", msg, details) + ({},)
    if do in ("500", "503", "504"):
        status = {"500": "INTERNAL", "503": "UNAVAILABLE", "504": "DEADLINE_EXCEEDED"}[do]
        msg = {"500": "An internal error has occurred.", "503": "The model is overloaded. Please try again later.",
               "504": "Deadline expired before operation could complete."}[do]
        return g_error(int(do), status, msg) + ({},)
    prompt = body["contents"][0]["parts"][0]["text"]
    usage = {"usageMetadata": g_usage(prompt, ""), "modelVersion": model, "responseId": "standin"}
    if do == "block":
        return 200, dict(usage, promptFeedback={"blockReason": "SAFETY", "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}), {}
    if do == "safety":
        return 200, dict(usage, candidates=[g_candidate("Safety error incoming in 5, 4, 3, 2...", "SAFETY")]), {}
    if do == "no_content":
        return 200, dict(usage, candidates=[{"finishReason": "OTHER", "finishMessage": "no content", "index": 0}]), {}
    text = answer_for(prompt, broken=(do == "broken"), inject=b.get("inject", ""))
    if do == "fenced":
        text = "Here is the analysis:\n```json\n%s\n```\n" % text
    finish = "MAX_TOKENS" if do == "max_tokens" else "STOP"
    usage["usageMetadata"] = g_usage(prompt, text)
    return 200, dict(usage, candidates=[g_candidate(text, finish)]), {}


# ---- OpenAI ---------------------------------------------------------------------------------

def o_error(code, typ, message, err_code=None):
    return code, {"error": {"message": message, "type": typ, "param": None, "code": err_code}}


def check_strict(s, path):
    if s.get("type") == "object":
        props = s.get("properties", {})
        if s.get("additionalProperties") is not False:
            return "Invalid schema for response_format: %s: 'additionalProperties' is required to be supplied " \
                   "and to be false" % path
        if sorted(s.get("required", [])) != sorted(props):
            return "Invalid schema for response_format: %s: 'required' is required to be supplied and to be an " \
                   "array including every key in properties" % path
        for k, v in props.items():
            err = check_strict(v, path + "." + k)
            if err:
                return err
    if s.get("type") == "array" and "items" in s:
        return check_strict(s["items"], path + ".items")
    return None


def check_openai_body(body):
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "'messages' is a required property"
    for m in body["messages"]:
        if m.get("role") not in ("system", "user", "assistant", "developer", "tool"):
            return "Invalid value for 'role'"
    rf = body.get("response_format")
    if rf is not None:
        if rf.get("type") != "json_schema" or "schema" not in rf.get("json_schema", {}):
            return "response_format json_schema needs json_schema.schema"
        if rf["json_schema"].get("strict"):
            return check_strict(rf["json_schema"]["schema"], "schema")
    return None


def openai(state, b, body, auth):
    do = b["do"]
    key = auth[7:] if auth.startswith("Bearer ") else ""
    if do == "400_key" or (state.openai_key and key != state.openai_key):
        return o_error(401, "invalid_request_error", "Incorrect API key provided: %s. You can find your API key "
                       "at https://platform.openai.com/account/api-keys." % key, "invalid_api_key") + ({},)
    err = check_openai_body(body)
    if err:
        return o_error(400, "invalid_request_error", err) + ({},)
    if do == "404":
        return o_error(404, "invalid_request_error", "The model `%s` does not exist" % body.get("model"),
                       "model_not_found") + ({},)
    if do == "429":
        headers = {"Retry-After": b["retry_after"]} if "retry_after" in b else {}
        return o_error(429, "requests", "Rate limit reached for requests. Please try again in 1s.",
                       "rate_limit_exceeded") + (headers,)
    if do in ("500", "503", "504"):
        return o_error(int(do), "server_error", "The server had an error while processing your request.") + ({},)
    prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
    msg = {"role": "assistant", "content": None, "refusal": None}
    finish = "stop"
    if do == "safety":
        msg["refusal"] = "I'm sorry, I cannot help with that."
    elif do == "no_content":
        pass
    else:
        text = answer_for(prompt, broken=(do == "broken"), inject=b.get("inject", ""))
        msg["content"] = "```json\n%s\n```" % text if do == "fenced" else text
        finish = "length" if do == "max_tokens" else "stop"
    p, c = max(1, len(prompt) // 4), max(1, len(msg["content"] or "") // 4)
    return 200, {"id": "chatcmpl-standin", "object": "chat.completion", "created": int(time.time()),
                 "model": body.get("model"), "choices": [{"index": 0, "message": msg, "logprobs": None,
                                                           "finish_reason": finish}],
                 "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
                 "system_fingerprint": "fp_standin"}, {}


# ---- HTTP -------------------------------------------------------------------------------------

GEMINI_PATH = re.compile(r"^/v1beta/models/([^/:]+):generateContent$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):  # quiet: the test reads /_log instead
        pass

    def reply(self, code, obj, headers=None):
        data = json.dumps(obj).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        if self.path == "/_log":
            with self.state.lock:
                return self.reply(200, list(self.state.log))
        self.reply(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode("utf-8", "replace")
        url = urlparse(self.path)
        if url.path == "/_script":
            with self.state.lock:
                self.state.script = json.loads(raw)
            return self.reply(200, {"ok": True})
        if url.path == "/_reset":
            with self.state.lock:
                self.state.script, self.state.log = [], []
            return self.reply(200, {"ok": True})
        with self.state.lock:
            self.state.log.append({"path": url.path, "query": url.query, "t": time.time(), "body": raw,
                                   "headers": {k.lower(): v for k, v in self.headers.items()}})
        try:
            body = json.loads(raw)
        except ValueError:
            return self.reply(400, {"error": {"code": 400, "message": "Invalid JSON payload received.",
                                              "status": "INVALID_ARGUMENT"}})
        m = GEMINI_PATH.match(url.path)
        if m is None and url.path != "/v1/chat/completions":
            return self.reply(404, {"error": {"code": 404, "message": "no such endpoint", "status": "NOT_FOUND"}})
        b = self.state.next_behaviour()
        if b["do"] == "hang":
            time.sleep(float(b.get("seconds", 5)))
            b = {"do": "valid"}
        if m is not None:
            key = self.headers.get("x-goog-api-key") or parse_qs(url.query).get("key", [""])[0]
            code, obj, headers = gemini(self.state, b, body, key, m.group(1))
        else:
            code, obj, headers = openai(self.state, b, body, self.headers.get("Authorization") or "")
        self.reply(code, obj, headers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--gemini-key", default="")
    ap.add_argument("--openai-key", default="")
    args = ap.parse_args()
    Handler.state = State(args.gemini_key, args.openai_key)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    # Exit by ourselves, whatever happens to the test that started us.
    threading.Timer(args.timeout, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
