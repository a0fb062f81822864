/*
** history.c -- `creditsense history`.  See history.h.
*/
#include "history.h"

#include <string.h>
#include <unistd.h>

#include "config.h"

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long num(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static void text_run(FILE *out, json_t *run, int color)
{
    char when[20];
    snprintf(when, sizeof(when), "%.19s", str(run, "started_at")); /* "YYYY-MM-DDTHH:MM:SS" */
    if (strlen(when) > 10)
        when[10] = ' ';
    const char *scope = str(run, "scope");
    const char *target = strcmp(scope, "table") == 0 ? str(run, "table") : str(run, "customer_id");
    fprintf(out, "%s%s%s  %s UTC  %-8s %-24.24s %10lld rows  %3lld finding%s%s%s\n", color ? "\033[1m" : "",
            str(run, "run_id"), color ? "\033[0m" : "", when, scope, target, num(run, "rows_scanned"),
            num(run, "findings"), num(run, "findings") == 1 ? "" : "s", *str(run, "max_severity") ? ", worst " : "",
            str(run, "max_severity"));
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(run, "anomalies"), i, a) {
        char where[160];
        snprintf(where, sizeof(where), "%s.%s", str(a, "table"), str(a, "column"));
        fprintf(out, "    %-8s  %-10s %-36.36s %s\n", str(a, "severity"), str(a, "check"), where, str(a, "message"));
    }
}

void cs_history_text(FILE *out, json_t *runs, int color)
{
    size_t i;
    json_t *run;
    if (json_array_size(runs) == 0) {
        fprintf(out, "No stored runs match.\n");
        return;
    }
    json_array_foreach(runs, i, run) text_run(out, run, color);
}

int cs_history_command(const char *config_path, const struct cs_history_query *q, int text, FILE *out,
                       struct cs_err *err)
{
    struct cs_config *cfg = NULL;
    struct cs_store *st = NULL;
    json_t *runs = NULL;
    int rc = cs_config_load(config_path, &cfg, err);
    if (rc == 0)
        rc = cs_store_open_config(&st, cfg, err);
    if (rc == 0)
        rc = cs_store_history(st, q, &runs, err);
    if (rc == 0 && text) {
        cs_history_text(out, runs, isatty(fileno(out)));
    } else if (rc == 0) {
        json_t *doc = json_pack("{s:s, s:O}", "store", cs_dialect_name(cs_store_dialect(st)), "runs", runs);
        if (doc == NULL || json_dumpf(doc, out, JSON_INDENT(2)) != 0)
            rc = cs_err_set(err, CS_ENOMEM, "out of memory writing the history");
        else
            fputc('\n', out);
        json_decref(doc);
    }
    fflush(out);
    json_decref(runs);
    cs_store_close(st);
    cs_config_free(cfg);
    return rc;
}
