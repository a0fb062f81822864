/*
** server_conf.h -- the "server" section of the config (the daemon's settings).
**
** Contract (docs/config.md, outside tests rely on "listen"):
**   "server": {"listen": "127.0.0.1:8080", "threads": 4, "max_body_bytes": 1048576,
**              "token_env": "NAME" | "token_file": "PATH",
**              "rate_limit": {"requests_per_s": 20, "burst": 40},
**              "drain_timeout_ms": 10000, "web_dir": "PATH",
**              "max_queue": 1024, "access_log": true}
** Every key is optional; a config without "server" gets the defaults, so
** cs_config_load always leaves cfg->server set.  Unknown keys are refused
** like everywhere else in the config.
**
** The bearer token itself is not part of the config: token_env names an
** environment variable and token_file a file, read when the daemon loads
** (or reloads) its config (cs_server_conf_token), so the secret never sits
** in the config file, in the effective config the API shows, or in a log.
**
** Ownership: cs_server_conf_parse allocates, cs_server_conf_free releases.
*/
#ifndef CS_SERVER_CONF_H
#define CS_SERVER_CONF_H

#include <jansson.h>
#include <stddef.h>

#include "creditsense/check.h"

#define CS_SERVER_DEFAULT_LISTEN "127.0.0.1:8080"

struct cs_server_conf {
    char *listen;          /* "host:port"; port 0 picks a free port */
    int threads;           /* worker threads for database and LLM work */
    size_t max_body_bytes; /* larger request bodies get 413 */
    char *token_env;       /* NULL, or the variable holding the bearer token */
    char *token_file;      /* NULL, or the file holding it (${CONFIG_DIR} expanded) */
    double rate_per_s;     /* per-client request rate; 0 = no limit */
    double rate_burst;     /* bucket size */
    int drain_timeout_ms;  /* SIGTERM: longest wait for in-flight requests */
    char *web_dir;         /* NULL: the default dashboard directory */
    size_t max_queue;      /* jobs waiting for a worker before 503 */
    int access_log;        /* one JSON line per request */
};

/**
 * Parse the "server" object (NULL when absent: defaults).  cfgdir expands
 * ${CONFIG_DIR} in token_file and web_dir.  CS_ECONFIG with the key's path.
 */
int cs_server_conf_parse(struct cs_server_conf **out, json_t *obj, const char *cfgdir, struct cs_err *err);

void cs_server_conf_free(struct cs_server_conf *sc);

/**
 * Read the bearer token: *token is NULL (auth off) when neither token_env
 * nor token_file is set; otherwise a malloc'd, non-empty string (trailing
 * whitespace and newlines removed from a file).  CS_ECONFIG when the
 * variable is unset or empty or the file is unreadable or empty; the
 * message names the variable or file, never the value.
 */
int cs_server_conf_token(const struct cs_server_conf *sc, char **token, struct cs_err *err);

/** The settings as JSON for GET /api/v1/config: the token's source, never the token. */
json_t *cs_server_conf_json(const struct cs_server_conf *sc);

#endif
