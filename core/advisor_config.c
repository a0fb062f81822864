/*
** advisor_config.c -- parsing the "advisor" section.  See advisor_config.h.
**
** Every value is range-checked here so the advisor itself can trust its
** configuration; messages name the key's path ("advisor.timeout_ms") the
** way config.c does.
*/
#include "advisor_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"

static const char *const KEYS[] = {"backend", "model", "base_url", "api_key_env", "timeout_ms", "max_in_flight",
                                   "max_attempts", "backoff_ms", "backoff_max_ms", "max_retry_wait_ms",
                                   "cache_ttl_s", "batch_size", "max_output_tokens", "temperature", "min_severity",
                                   "dialect", "prompt_file", "max_queue", NULL};

void cs_advisor_conf_defaults(struct cs_advisor_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->timeout_ms = 30000;
    c->max_in_flight = 4;
    c->max_attempts = 4;
    c->backoff_ms = 500;
    c->backoff_max_ms = 8000;
    c->max_retry_wait_ms = 60000;
    c->cache_ttl_s = 86400;
    c->batch_size = 8;
    c->max_output_tokens = 8192;
    c->max_queue = 1000;
    c->temperature = 0.2;
    c->min_severity = CS_SEV_LOW; /* info findings are expected by the config: nothing to fix */
}

static int get_str(json_t *v, const char *key, char **out, struct cs_err *err)
{
    json_t *x = json_object_get(v, key);
    if (x == NULL)
        return 0;
    if (!json_is_string(x) || json_string_length(x) == 0)
        return cs_err_set(err, CS_ECONFIG, "advisor.%s: expected a non-empty string", key);
    return (*out = strdup(json_string_value(x))) ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
}

static int get_num(json_t *v, const char *key, double lo, double hi, double *out, struct cs_err *err)
{
    return cs_config_get_number(v, key, "advisor", lo, hi, out, err);
}

static int get_long(json_t *v, const char *key, double lo, double hi, long *out, struct cs_err *err)
{
    double d = (double)*out;
    int rc = get_num(v, key, lo, hi, &d, err);
    *out = (long)d;
    return rc;
}

static int get_int(json_t *v, const char *key, double lo, double hi, int *out, struct cs_err *err)
{
    double d = *out;
    int rc = get_num(v, key, lo, hi, &d, err);
    *out = (int)d;
    return rc;
}

static int one_of(const char *what, const char *v, const char *const *allowed, struct cs_err *err)
{
    for (size_t i = 0; v != NULL && allowed[i]; i++)
        if (strcmp(v, allowed[i]) == 0)
            return 0;
    if (v == NULL)
        return 0;
    return cs_err_set(err, CS_ECONFIG, "advisor.%s: unknown value \"%s\" (use %s, %s or %s)", what, v, allowed[0],
                      allowed[1], allowed[2]);
}

static int parse_enums(json_t *v, struct cs_advisor_conf *c, struct cs_err *err)
{
    static const char *const backends[] = {"gemini", "openai", "offline", NULL};
    static const char *const dialects[] = {"sqlite", "postgresql", "snowflake", NULL};
    int rc;
    if ((rc = one_of("backend", c->backend, backends, err)) || (rc = one_of("dialect", c->dialect, dialects, err)))
        return rc;
    json_t *sev = json_object_get(v, "min_severity");
    if (sev != NULL && (c->min_severity = cs_severity_parse(json_string_value(sev))) < 0)
        return cs_err_set(err, CS_ECONFIG, "advisor.min_severity: expected one of info, low, medium, high, critical");
    return 0;
}

/* ${CONFIG_DIR}/ at the start of prompt_file, so a config can ship its own template beside it. */
static int expand_prompt_file(struct cs_advisor_conf *c, const char *cfgdir, struct cs_err *err)
{
    static const char var[] = "${CONFIG_DIR}";
    if (c->prompt_file == NULL || strncmp(c->prompt_file, var, sizeof(var) - 1) != 0)
        return 0;
    size_t n = strlen(cfgdir) + strlen(c->prompt_file) + 1;
    char *p = malloc(n);
    if (p == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    snprintf(p, n, "%s%s", cfgdir, c->prompt_file + sizeof(var) - 1);
    free(c->prompt_file);
    c->prompt_file = p;
    return 0;
}

static int parse_all(json_t *v, const char *cfgdir, struct cs_advisor_conf *c, struct cs_err *err)
{
    int rc;
    if (!json_is_object(v))
        return cs_err_set(err, CS_ECONFIG, "advisor: expected an object");
    if ((rc = cs_config_check_keys(v, "advisor", KEYS, err)) || (rc = get_str(v, "backend", &c->backend, err)) ||
        (rc = get_str(v, "model", &c->model, err)) || (rc = get_str(v, "base_url", &c->base_url, err)) ||
        (rc = get_str(v, "api_key_env", &c->api_key_env, err)) ||
        (rc = get_str(v, "prompt_file", &c->prompt_file, err)) || (rc = get_str(v, "dialect", &c->dialect, err)) ||
        (rc = get_long(v, "timeout_ms", 100, 600000, &c->timeout_ms, err)) ||
        (rc = get_int(v, "max_in_flight", 1, 256, &c->max_in_flight, err)) ||
        (rc = get_int(v, "max_attempts", 1, 10, &c->max_attempts, err)) ||
        (rc = get_long(v, "backoff_ms", 0, 600000, &c->backoff_ms, err)) ||
        (rc = get_long(v, "backoff_max_ms", 0, 3600000, &c->backoff_max_ms, err)) ||
        (rc = get_long(v, "max_retry_wait_ms", 0, 3600000, &c->max_retry_wait_ms, err)) ||
        (rc = get_num(v, "cache_ttl_s", 0, 1e9, &c->cache_ttl_s, err)) ||
        (rc = get_int(v, "batch_size", 1, 50, &c->batch_size, err)) ||
        (rc = get_int(v, "max_output_tokens", 256, 1000000, &c->max_output_tokens, err)) ||
        (rc = get_int(v, "max_queue", 1, 1000000, &c->max_queue, err)) ||
        (rc = get_num(v, "temperature", 0, 2, &c->temperature, err)) || (rc = parse_enums(v, c, err)))
        return rc;
    return expand_prompt_file(c, cfgdir, err);
}

int cs_advisor_conf_parse(json_t *v, const char *cfgdir, struct cs_advisor_conf **out, struct cs_err *err)
{
    struct cs_advisor_conf *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (c == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    cs_advisor_conf_defaults(c);
    int rc = parse_all(v, cfgdir ? cfgdir : ".", c, err);
    if (rc != 0) {
        cs_advisor_conf_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cs_advisor_conf_free(struct cs_advisor_conf *c)
{
    if (c == NULL)
        return;
    free(c->backend);
    free(c->model);
    free(c->base_url);
    free(c->api_key_env);
    free(c->prompt_file);
    free(c->dialect);
    free(c);
}
