/*
** server_gen.c -- config generations: load, redact, share.  See server_impl.h.
**
** A generation is everything derived from one read of the config file:
** the parsed config, the loaded check plugins, the bearer token and the
** redacted view the API shows.  SIGHUP makes a new one; workers move to it
** at their next job and the old one is freed when its last worker lets go,
** so a reload never pulls a config out from under a running check.
**
** The redacted view starts from the file's own JSON (so keys added by any
** module show up without this file knowing them), masks every value whose
** key looks like a secret and the password fields of ODBC connection
** strings, and replaces "server" by the effective settings with defaults.
*/
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "log.h"
#include "rules.h"
#include "server_impl.h"

/* Keys that hold the name of a secret's source, not the secret. */
static int names_a_source(const char *key)
{
    size_t n = strlen(key);
    return (n > 4 && strcmp(key + n - 4, "_env") == 0) || (n > 5 && strcmp(key + n - 5, "_file") == 0) ||
           strcmp(key, "customer_key") == 0 || strcmp(key, "primary_key") == 0;
}

static int looks_secret(const char *key)
{
    static const char *const words[] = {"password", "passwd", "pwd", "secret", "token", "api_key", "apikey",
                                        "private_key", "credential", NULL};
    char low[128];
    size_t i;
    for (i = 0; key[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)key[i]);
    low[i] = '\0';
    if (names_a_source(low))
        return 0;
    for (const char *const *w = words; *w; w++)
        if (strstr(low, *w) != NULL)
            return 1;
    return 0;
}

static void redact(json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child) redact(child);
        return;
    }
    if (!json_is_object(v))
        return;
    json_object_foreach(v, key, child) {
        if (json_is_string(child) && strcasecmp(key, "odbc") == 0) {
            char buf[2048];
            cs_config_redact(json_string_value(child), buf, sizeof(buf));
            json_object_set_new(v, key, json_string(buf));
        } else if (looks_secret(key) && !json_is_object(child) && !json_is_array(child)) {
            json_object_set_new(v, key, json_string("***"));
        } else {
            redact(child);
        }
    }
}

static json_t *plugin_view(const struct cs_registry *reg)
{
    json_t *loaded = json_array(), *refused = json_array();
    for (size_t i = 0; i < reg->nchecks; i++)
        json_array_append_new(loaded, json_string(reg->checks[i].plugin->name));
    for (size_t i = 0; i < reg->nerrors; i++)
        json_array_append_new(refused, json_pack("{s:s, s:s}", "path", reg->errors[i].path, "message",
                                                 reg->errors[i].message));
    return json_pack("{s:s, s:o, s:o}", "dir", reg->dir ? reg->dir : "", "loaded", loaded, "refused", refused);
}

static json_t *make_view(const struct cs_srv_gen *g)
{
    json_error_t jerr;
    json_t *root = json_load_file(g->cfg->path, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        root = json_object(); /* the file changed under us: show what we know */
    }
    redact(root);
    json_object_set_new(root, "server", cs_server_conf_json(g->cfg->server));
    json_t *eff = json_pack("{s:s, s:s, s:o, s:I, s:s}", "path", g->cfg->path, "hash", g->cfg->hash, "plugins",
                            plugin_view(g->reg), "generation", (json_int_t)g->id, "rules_dir", g->rules_dir);
    json_object_set_new(eff, "advisor", g->advisor ? json_pack("{s:s, s:s?, s:s?}", "backend",
                                                               cs_advisor_backend(g->advisor), "model",
                                                               cs_advisor_model(g->advisor), "prompt",
                                                               cs_advisor_prompt_version(g->advisor))
                                                   : json_pack("{s:s}", "error", g->advisor_error));
    json_object_set_new(root, "effective", eff);
    return root;
}

/* The rules catalogue, read now so that problems are logged at (re)load time. */
static int load_rules(struct cs_srv_gen *g, struct cs_err *err)
{
    cs_rules_dir(g->cfg, g->rules_dir, sizeof(g->rules_dir));
    g->rules_required = g->cfg->rules_dir != NULL;
    if ((g->rules = cs_rules_new(g->rules_dir, g->rules_required, NULL)) == NULL || cs_rules_refresh(g->rules) < 0)
        return cs_err_set(err, CS_ENOMEM, "out of memory loading the rules");
    struct cs_rules_snapshot *s = cs_rules_acquire(g->rules);
    if (s != NULL) {
        g->rules_loaded = s->nrules;
        g->rules_problems = s->nproblems;
        g->rules_dir_missing = s->dir_errno != 0;
    }
    cs_rules_release(s);
    return 0;
}

/* The advisor is optional: without it runs still work, with advice "unavailable". */
static void load_advisor(struct cs_srv_gen *g, const char *plugins)
{
    struct cs_err err = {0};
    if (cs_advisor_new(&g->advisor, g->cfg, plugins, &err) == 0)
        return;
    g->advisor = NULL;
    snprintf(g->advisor_error, sizeof(g->advisor_error), "%s", err.msg);
    cs_log(CS_LOG_ERROR, "server", "no AI advice: the advisor could not start: %s", err.msg);
}

int cs_srv_gen_load(const char *path, uint64_t id, struct cs_srv_gen **out, struct cs_err *err)
{
    struct cs_srv_gen *g = calloc(1, sizeof(*g));
    int rc;
    *out = NULL;
    if (g == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    atomic_init(&g->refs, 1);
    g->id = id;
    char plugins[PATH_MAX];
    if ((rc = cs_config_load(path, &g->cfg, err)) == 0) {
        cs_plugin_dir(g->cfg->plugin_dir, plugins, sizeof(plugins));
        if ((rc = cs_registry_load(&g->reg, plugins, err)) == 0 &&
            (rc = cs_server_conf_token(g->cfg->server, &g->token, err)) == 0 && (rc = load_rules(g, err)) == 0) {
            g->token_len = g->token ? strlen(g->token) : 0;
            load_advisor(g, plugins);
            if ((g->view = make_view(g)) == NULL)
                rc = cs_err_set(err, CS_ENOMEM, "out of memory");
        }
    }
    if (rc != 0) {
        cs_srv_gen_unref(g);
        return rc;
    }
    *out = g;
    return 0;
}

void cs_srv_gen_ref(struct cs_srv_gen *g)
{
    atomic_fetch_add(&g->refs, 1);
}

void cs_srv_gen_unref(struct cs_srv_gen *g)
{
    if (g == NULL || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    json_decref(g->view);
    cs_advisor_free(g->advisor);
    cs_rules_free(g->rules);
    if (g->token != NULL)
        memset(g->token, 0, g->token_len); /* do not leave the secret in freed memory */
    free(g->token);
    cs_registry_free(g->reg);
    cs_config_free(g->cfg);
    free(g);
}

struct cs_srv_gen *cs_srv_gen_current(struct cs_server *srv)
{
    pthread_mutex_lock(&srv->gen_lock);
    struct cs_srv_gen *g = srv->gen;
    cs_srv_gen_ref(g);
    pthread_mutex_unlock(&srv->gen_lock);
    return g;
}
