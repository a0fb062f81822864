/*
** server_conf.c -- parsing the "server" section of the config.  See server_conf.h.
**
** Kept apart from config.c so that the daemon's settings live with the
** daemon; config.c only calls cs_server_conf_parse and cs_server_conf_free.
** Validation follows config.c's rules: unknown keys are refused with the
** closest known key as a hint, wrong types name the expected type.
*/
#include "server_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"

#define DEFAULT_THREADS 4
#define DEFAULT_MAX_BODY (1u << 20)
#define DEFAULT_DRAIN_MS 10000
#define DEFAULT_MAX_QUEUE 1024
#define MAX_TOKEN_BYTES 4096

static const char *const SERVER_KEYS[] = {"listen",     "threads",          "max_body_bytes", "token_env",
                                          "token_file", "rate_limit",       "drain_timeout_ms", "web_dir",
                                          "max_queue",  "access_log",       NULL};
static const char *const RATE_KEYS[] = {"requests_per_s", "burst", NULL};

static int get_int(json_t *obj, const char *key, const char *path, long long lo, long long hi, long long *out,
                   struct cs_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return cs_err_set(err, CS_ECONFIG, "%s.%s: expected a whole number", path, key);
    long long n = json_integer_value(v);
    if (n < lo || n > hi)
        return cs_err_set(err, CS_ECONFIG, "%s.%s: %lld is out of range (%lld to %lld)", path, key, n, lo, hi);
    *out = n;
    return 0;
}

/* A string, with ${CONFIG_DIR} replaced by the config file's directory. */
static int get_path(json_t *obj, const char *key, const char *path, const char *cfgdir, char **out,
                    struct cs_err *err)
{
    static const char VAR[] = "${CONFIG_DIR}";
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return cs_err_set(err, CS_ECONFIG, "%s.%s: expected a non-empty string", path, key);
    const char *s = json_string_value(v), *at = strstr(s, VAR);
    size_t n = strlen(s) + (at ? strlen(cfgdir) : 0) + 1;
    if ((*out = malloc(n)) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    if (at != NULL)
        snprintf(*out, n, "%.*s%s%s", (int)(at - s), s, cfgdir, at + sizeof(VAR) - 1);
    else
        memcpy(*out, s, n);
    return 0;
}

/* "127.0.0.1:8080", "[::1]:0", "localhost:9000": a host and a port 0..65535. */
static int valid_listen(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0')
        return 0;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    return errno == 0 && *end == '\0' && port >= 0 && port <= 65535 && isdigit((unsigned char)colon[1]);
}

static int parse_listen(struct cs_server_conf *sc, json_t *obj, struct cs_err *err)
{
    json_t *v = json_object_get(obj, "listen");
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || !valid_listen(json_string_value(v)))
        return cs_err_set(err, CS_ECONFIG, "server.listen: expected \"HOST:PORT\" such as \"127.0.0.1:8080\"");
    free(sc->listen);
    return (sc->listen = strdup(json_string_value(v))) ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
}

static int parse_rate(struct cs_server_conf *sc, json_t *obj, struct cs_err *err)
{
    json_t *v = json_object_get(obj, "rate_limit");
    int rc;
    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return cs_err_set(err, CS_ECONFIG, "server.rate_limit: expected {\"requests_per_s\": N, \"burst\": N}");
    if ((rc = cs_config_check_keys(v, "server.rate_limit", RATE_KEYS, err)) ||
        (rc = cs_config_get_number(v, "requests_per_s", "server.rate_limit", 0.001, 1e9, &sc->rate_per_s, err)))
        return rc;
    if (sc->rate_per_s == 0)
        return cs_err_set(err, CS_ECONFIG, "server.rate_limit.requests_per_s: missing (the sustained rate per client)");
    sc->rate_burst = sc->rate_per_s < 1 ? 1 : sc->rate_per_s;
    return cs_config_get_number(v, "burst", "server.rate_limit", 1, 1e9, &sc->rate_burst, err);
}

static int parse_token_source(struct cs_server_conf *sc, json_t *obj, const char *cfgdir, struct cs_err *err)
{
    int rc;
    json_t *env = json_object_get(obj, "token_env");
    if (env != NULL && (!json_is_string(env) || json_string_length(env) == 0))
        return cs_err_set(err, CS_ECONFIG, "server.token_env: expected the name of an environment variable");
    if (env != NULL && (sc->token_env = strdup(json_string_value(env))) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    if ((rc = get_path(obj, "token_file", "server", cfgdir, &sc->token_file, err)))
        return rc;
    if (sc->token_env != NULL && sc->token_file != NULL)
        return cs_err_set(err, CS_ECONFIG, "server: set token_env or token_file, not both");
    return 0;
}

int cs_server_conf_parse(struct cs_server_conf **out, json_t *obj, const char *cfgdir, struct cs_err *err)
{
    struct cs_server_conf *sc = calloc(1, sizeof(*sc));
    long long threads = DEFAULT_THREADS, body = DEFAULT_MAX_BODY, drain = DEFAULT_DRAIN_MS, queue = DEFAULT_MAX_QUEUE;
    int rc = 0;
    *out = NULL;
    if (sc == NULL || (sc->listen = strdup(CS_SERVER_DEFAULT_LISTEN)) == NULL) {
        cs_server_conf_free(sc);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    sc->access_log = 1;
    if (obj != NULL && !json_is_object(obj))
        rc = cs_err_set(err, CS_ECONFIG, "server: expected an object");
    json_t *al = obj ? json_object_get(obj, "access_log") : NULL;
    if (rc == 0 && obj != NULL) {
        (void)((rc = cs_config_check_keys(obj, "server", SERVER_KEYS, err)) || (rc = parse_listen(sc, obj, err)) ||
               (rc = get_int(obj, "threads", "server", 1, 256, &threads, err)) ||
               (rc = get_int(obj, "max_body_bytes", "server", 64, 1LL << 30, &body, err)) ||
               (rc = get_int(obj, "drain_timeout_ms", "server", 0, 3600000, &drain, err)) ||
               (rc = get_int(obj, "max_queue", "server", 1, 1000000, &queue, err)) ||
               (rc = parse_token_source(sc, obj, cfgdir, err)) || (rc = parse_rate(sc, obj, err)) ||
               (rc = get_path(obj, "web_dir", "server", cfgdir, &sc->web_dir, err)));
    }
    if (rc == 0 && al != NULL && !json_is_boolean(al))
        rc = cs_err_set(err, CS_ECONFIG, "server.access_log: expected true or false");
    if (rc != 0) {
        cs_server_conf_free(sc);
        return rc;
    }
    sc->access_log = al == NULL || json_is_true(al);
    sc->threads = (int)threads;
    sc->max_body_bytes = (size_t)body;
    sc->drain_timeout_ms = (int)drain;
    sc->max_queue = (size_t)queue;
    *out = sc;
    return 0;
}

void cs_server_conf_free(struct cs_server_conf *sc)
{
    if (sc == NULL)
        return;
    free(sc->listen);
    free(sc->token_env);
    free(sc->token_file);
    free(sc->web_dir);
    free(sc);
}

static int read_token_file(const char *path, char **token, struct cs_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cs_err_set(err, CS_ECONFIG, "server.token_file: cannot open %s: %s", path, strerror(errno));
    char *buf = malloc(MAX_TOKEN_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_TOKEN_BYTES + 1, f) : 0;
    fclose(f);
    if (buf == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    if (n > MAX_TOKEN_BYTES) {
        free(buf);
        return cs_err_set(err, CS_ECONFIG, "server.token_file: %s is larger than %d bytes", path, MAX_TOKEN_BYTES);
    }
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    *token = buf;
    return 0;
}

int cs_server_conf_token(const struct cs_server_conf *sc, char **token, struct cs_err *err)
{
    *token = NULL;
    if (sc->token_env != NULL) {
        const char *v = getenv(sc->token_env);
        if (v == NULL || v[0] == '\0')
            return cs_err_set(err, CS_ECONFIG, "server.token_env: environment variable %s is not set or empty",
                              sc->token_env);
        return (*token = strdup(v)) ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    if (sc->token_file == NULL)
        return 0;
    int rc = read_token_file(sc->token_file, token, err);
    if (rc == 0 && (*token)[0] == '\0') {
        free(*token);
        *token = NULL;
        return cs_err_set(err, CS_ECONFIG, "server.token_file: %s is empty", sc->token_file);
    }
    return rc;
}

json_t *cs_server_conf_json(const struct cs_server_conf *sc)
{
    json_t *o = json_pack("{s:s, s:i, s:I, s:i, s:I, s:b}", "listen", sc->listen, "threads", sc->threads,
                          "max_body_bytes", (json_int_t)sc->max_body_bytes, "drain_timeout_ms", sc->drain_timeout_ms,
                          "max_queue", (json_int_t)sc->max_queue, "access_log", sc->access_log);
    if (o == NULL)
        return NULL;
    if (sc->token_env != NULL)
        json_object_set_new(o, "token_env", json_string(sc->token_env));
    if (sc->token_file != NULL)
        json_object_set_new(o, "token_file", json_string(sc->token_file));
    json_object_set_new(o, "auth", json_string(sc->token_env || sc->token_file ? "bearer token on write endpoints"
                                                                               : "off"));
    if (sc->rate_per_s > 0)
        json_object_set_new(o, "rate_limit", json_pack("{s:f, s:f}", "requests_per_s", sc->rate_per_s, "burst",
                                                       sc->rate_burst));
    if (sc->web_dir != NULL)
        json_object_set_new(o, "web_dir", json_string(sc->web_dir));
    return o;
}
