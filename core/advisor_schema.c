/*
** advisor_schema.c -- checking an LLM answer before anything is stored.
** See advisor_impl.h.
**
** Models wrap JSON in markdown fences even when told not to (and even with
** a response schema, some OpenAI-compatible servers ignore it), so the
** first fenced block is taken when the text is not JSON by itself.  The
** validator covers the JSON Schema keywords our schema uses; an unknown
** keyword is ignored rather than refused, so a richer schema file still
** validates what it can.
*/
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advisor_impl.h"

char *adv_strip_fences(const char *text)
{
    const char *open = strstr(text, "```");
    if (open == NULL)
        return strdup(text);
    const char *body = open + 3;
    while (isalnum((unsigned char)*body)) /* language tag: json, JSON, ... */
        body++;
    const char *close = strstr(body, "```");
    if (close == NULL)
        close = body + strlen(body);
    return strndup(body, (size_t)(close - body));
}

static int why_set(char *why, size_t size, const char *path, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int why_set(char *why, size_t size, const char *path, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(why, size, "%s: %s", path, msg);
    return -1;
}

static int type_ok(const char *type, json_t *v)
{
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v) || (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "null") == 0)
        return json_is_null(v);
    return 1;
}

static int validate_at(json_t *schema, json_t *v, const char *path, char *why, size_t size);

static int validate_object(json_t *schema, json_t *v, const char *path, char *why, size_t size)
{
    json_t *props = json_object_get(schema, "properties"), *req = json_object_get(schema, "required"), *x;
    char sub[512];
    size_t i;
    json_array_foreach(req, i, x) {
        const char *k = json_string_value(x);
        if (k != NULL && json_object_get(v, k) == NULL)
            return why_set(why, size, path, "required member \"%s\" is missing", k);
    }
    const char *k;
    json_object_foreach(v, k, x) {
        json_t *ps = json_object_get(props, k);
        snprintf(sub, sizeof(sub), "%s.%s", path, k);
        if (ps == NULL && json_is_false(json_object_get(schema, "additionalProperties")))
            return why_set(why, size, path, "member \"%s\" is not allowed by the schema", k);
        if (ps != NULL && validate_at(ps, x, sub, why, size) != 0)
            return -1;
    }
    return 0;
}

static int validate_array(json_t *schema, json_t *v, const char *path, char *why, size_t size)
{
    json_t *items = json_object_get(schema, "items"), *x;
    json_t *mn = json_object_get(schema, "minItems"), *mx = json_object_get(schema, "maxItems");
    size_t n = json_array_size(v), i;
    char sub[512];
    if (json_is_integer(mn) && (json_int_t)n < json_integer_value(mn))
        return why_set(why, size, path, "%zu items, at least %" JSON_INTEGER_FORMAT " required", n,
                       json_integer_value(mn));
    if (json_is_integer(mx) && (json_int_t)n > json_integer_value(mx))
        return why_set(why, size, path, "%zu items, at most %" JSON_INTEGER_FORMAT " allowed", n,
                       json_integer_value(mx));
    json_array_foreach(v, i, x) {
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (items != NULL && validate_at(items, x, sub, why, size) != 0)
            return -1;
    }
    return 0;
}

static int validate_enum(json_t *en, json_t *v, const char *path, char *why, size_t size)
{
    size_t i;
    json_t *x;
    json_array_foreach(en, i, x)
        if (json_equal(x, v))
            return 0;
    const char *s = json_string_value(v);
    return why_set(why, size, path, "value %s%s%s is not one of the allowed values", s ? "\"" : "", s ? s : "(not a string)",
                   s ? "\"" : "");
}

static int validate_at(json_t *schema, json_t *v, const char *path, char *why, size_t size)
{
    const char *type = json_string_value(json_object_get(schema, "type"));
    json_t *en = json_object_get(schema, "enum");
    if (type != NULL && !type_ok(type, v))
        return why_set(why, size, path, "expected %s %s", strchr("aeiou", type[0]) ? "an" : "a", type);
    if (json_is_array(en) && validate_enum(en, v, path, why, size) != 0)
        return -1;
    if (json_is_object(v))
        return validate_object(schema, v, path, why, size);
    if (json_is_array(v))
        return validate_array(schema, v, path, why, size);
    return 0;
}

int adv_schema_validate(json_t *schema, json_t *v, char *why, size_t size)
{
    return validate_at(schema, v, "$", why, size);
}

/* Every requested id answered exactly once; answers for ids nobody asked about are ignored. */
static int collect_items(json_t *root, const char *const *ids, size_t n, json_t *items, char *why, size_t size)
{
    json_t *list = json_object_get(root, "anomalies"), *e;
    size_t i;
    json_array_foreach(list, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        for (size_t k = 0; id != NULL && k < n; k++) {
            if (strcmp(ids[k], id) != 0)
                continue;
            if (json_object_get(items, id) != NULL)
                return why_set(why, size, "$.anomalies", "anomaly %s is answered twice", id);
            json_object_set(items, id, e);
        }
    }
    for (size_t k = 0; k < n; k++)
        if (json_object_get(items, ids[k]) == NULL)
            return why_set(why, size, "$.anomalies", "no entry for anomaly %s", ids[k]);
    return 0;
}

int adv_answer_check(json_t *schema, const char *text, const char *const *ids, size_t n, json_t **items, char *why,
                     size_t size)
{
    json_error_t jerr;
    char *inner = adv_strip_fences(text ? text : "");
    json_t *root = inner ? json_loads(inner, JSON_DECODE_ANY, &jerr) : NULL;
    json_t *out = json_object();
    int rc = -1;
    *items = NULL;
    if (inner == NULL || out == NULL)
        snprintf(why, size, "out of memory");
    else if (root == NULL)
        snprintf(why, size, "the answer is not JSON (line %d: %s)", jerr.line, jerr.text);
    else if (adv_schema_validate(schema, root, why, size) == 0 && collect_items(root, ids, n, out, why, size) == 0)
        rc = 0;
    free(inner);
    json_decref(root);
    if (rc == 0)
        *items = out;
    else
        json_decref(out);
    return rc;
}
