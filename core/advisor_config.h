/*
** advisor_config.h -- the "advisor" section of the configuration.
**
** Contract (outside tests rely on these keys; docs/config.md, docs/advisor.md):
**   "advisor": {"backend": "gemini|openai|offline", "model": "...", "base_url": "...",
**               "api_key_env": "GEMINI_API_KEY", "timeout_ms": 30000, ...}
** config.c calls cs_advisor_conf_parse for the section; unknown keys are
** refused like everywhere else in the config.  The section is optional:
** cs_advisor_conf_defaults gives the defaults, and the backend left NULL
** means "gemini when $GEMINI_API_KEY is set, else offline", decided when
** the advisor starts (not when the config is read).
*/
#ifndef CS_ADVISOR_CONFIG_H
#define CS_ADVISOR_CONFIG_H

#include <jansson.h>

#include "creditsense/check.h"

struct cs_advisor_conf {
    char *backend;     /* NULL: gemini when $GEMINI_API_KEY is set, else offline */
    char *model;       /* NULL: the backend's default */
    char *base_url;    /* NULL: the backend's default */
    char *api_key_env; /* NULL: the backend's default (GEMINI_API_KEY, OPENAI_API_KEY) */
    char *prompt_file; /* NULL: prompts/advice-v1.txt, found like the rules directory */
    char *dialect;     /* NULL: from source.odbc (sqlite, postgresql, snowflake) */
    long timeout_ms;
    int max_in_flight, max_attempts, batch_size, max_output_tokens, max_queue;
    long backoff_ms, backoff_max_ms, max_retry_wait_ms;
    double cache_ttl_s, temperature;
    int min_severity; /* findings below are not advised */
};

/** Fill c with the defaults. */
void cs_advisor_conf_defaults(struct cs_advisor_conf *c);

/** Parse the "advisor" value v (an object); cfgdir expands ${CONFIG_DIR} in prompt_file. */
int cs_advisor_conf_parse(json_t *v, const char *cfgdir, struct cs_advisor_conf **out, struct cs_err *err);

void cs_advisor_conf_free(struct cs_advisor_conf *c);

#endif
