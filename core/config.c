/*
** config.c -- loading and validating the JSON configuration.  See config.h.
**
** Validation walks the JSON with a path string ("tables.X.columns.AMT_*")
** so every message says where the problem is.  Each object is checked
** against the list of keys it may hold before any value is read, so a typo
** is reported as an unknown key (with the closest known key suggested)
** rather than silently ignored.
*/
#include "config.h"

#include <ctype.h>
#include <fnmatch.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advisor_config.h"
#include "drift.h"
#include "err.h"
#include "pushdown.h"
#include "server_conf.h"

#define DEFAULT_BATCH_ROWS 1024
#define DEFAULT_PROFILE_AGE_S 86400

static const char *const ROOT_KEYS[] = {"source", "tables", "plugin_dir", "profile", "store", "rules_dir",
                                        "advisor", "server", "scan", NULL};
static const char *const SCAN_KEYS[] = {"memory_mb", "spill_dir", NULL};
#define DEFAULT_SCAN_MEMORY_MB 64
static const char *const STORE_KEYS[] = {"odbc", "schema", "enabled", NULL};
static const char *const SOURCE_KEYS[] = {"odbc", "native_sqlite", "batch_rows", "pushdown_rows", NULL};
static const char *const PROFILE_KEYS[] = {"cache_dir", "max_age_s", "mode", NULL};
/* profile.mode, in the order of enum cs_scan_mode (pushdown.h) */
static const char *const TABLE_KEYS[] = {"customer_key", "primary_key", "columns", "drift", NULL};
static const char *const COLUMN_KEYS[] = {"allow_negative", "outlier", "empty_is_missing", "sentinels",
                                          "max_missing", "severity", "sensitive", "drift", NULL};
static const char *const OUTLIER_KEYS[] = {"method", "threshold", NULL};

const char *cs_severity_name(int sev)
{
    static const char *const names[] = {"info", "low", "medium", "high", "critical"};
    return (sev >= CS_SEV_INFO && sev <= CS_SEV_CRITICAL) ? names[sev] : "unknown";
}

int cs_severity_parse(const char *name)
{
    for (int s = CS_SEV_INFO; s <= CS_SEV_CRITICAL; s++)
        if (name != NULL && strcasecmp(name, cs_severity_name(s)) == 0)
            return s;
    return -1;
}

size_t cs_config_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The allowed key a misspelt one probably meant: within two edits, or one it begins ("timeout"). */
static const char *near_key(const char *key, const char *const *allowed)
{
    size_t len = strlen(key);
    for (const char *const *k = allowed; *k != NULL; k++)
        if (cs_config_edit_distance(key, *k) <= 2 || (len >= 3 && strncasecmp(*k, key, len) == 0))
            return *k;
    return NULL;
}

int cs_config_check_keys(json_t *obj, const char *path, const char *const *allowed, struct cs_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        const char *const *k;
        for (k = allowed; *k != NULL && strcmp(*k, key) != 0; k++)
            ;
        if (*k != NULL)
            continue;
        const char *hint = near_key(key, allowed);
        if (hint != NULL)
            return cs_err_set(err, CS_ECONFIG, "%s: unknown key \"%s\" (did you mean \"%s\"?)", path, key, hint);
        return cs_err_set(err, CS_ECONFIG, "%s: unknown key \"%s\"", path, key);
    }
    return 0;
}

static int want_object(json_t *v, const char *path, struct cs_err *err)
{
    if (!json_is_object(v))
        return cs_err_set(err, CS_ECONFIG, "%s: expected an object", path);
    return 0;
}

static int get_string(json_t *obj, const char *key, const char *path, char **out, struct cs_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return cs_err_set(err, CS_ECONFIG, "%s.%s: expected a non-empty string", path, key);
    *out = strdup(json_string_value(v));
    return *out ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
}

static int get_bool(json_t *obj, const char *key, const char *path, int *out, int *present, struct cs_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return cs_err_set(err, CS_ECONFIG, "%s.%s: expected true or false", path, key);
    *out = json_is_true(v);
    if (present != NULL)
        *present = 1;
    return 0;
}

int cs_config_get_number(json_t *obj, const char *key, const char *path, double lo, double hi, double *out,
                         struct cs_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return cs_err_set(err, CS_ECONFIG, "%s.%s: expected a number", path, key);
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) /* NaN cannot come from JSON, but stay safe */
        return cs_err_set(err, CS_ECONFIG, "%s.%s: %g is out of range (%g to %g)", path, key, d, lo, hi);
    *out = d;
    return 0;
}

/* Replace ${NAME} by the environment variable (or the config dir). */
static int expand_vars(const char *in, const char *cfgdir, const char *path, char **out, struct cs_err *err)
{
    size_t cap = strlen(in) + 1, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    for (const char *p = in; *p;) {
        const char *val = NULL;
        size_t skip = 1;
        char name[128];
        const char *end = (p[0] == '$' && p[1] == '{') ? strchr(p + 2, '}') : NULL;
        if (end != NULL && (size_t)(end - p - 2) < sizeof(name)) {
            memcpy(name, p + 2, end - p - 2);
            name[end - p - 2] = '\0';
            val = strcmp(name, "CONFIG_DIR") == 0 ? cfgdir : getenv(name);
            if (val == NULL) {
                free(buf);
                return cs_err_set(err, CS_ECONFIG, "%s: environment variable %s is not set", path, name);
            }
            skip = end - p + 1;
        }
        size_t add = val ? strlen(val) : 1;
        if (len + add + 1 > cap) {
            cap = (len + add + 1) * 2;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                return cs_err_set(err, CS_ENOMEM, "out of memory");
            }
            buf = nb;
        }
        memcpy(buf + len, val ? val : p, add);
        len += add;
        p += skip;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static int parse_source(struct cs_config *cfg, json_t *src, struct cs_err *err)
{
    int rc;
    if (src == NULL)
        return cs_err_set(err, CS_ECONFIG, "source: missing (add \"source\": {\"odbc\": \"<connection string>\"})");
    if ((rc = want_object(src, "source", err)) || (rc = cs_config_check_keys(src, "source", SOURCE_KEYS, err)))
        return rc;
    json_t *odbc = json_object_get(src, "odbc");
    if (!json_is_string(odbc) || json_string_length(odbc) == 0)
        return cs_err_set(err, CS_ECONFIG, "source.odbc: expected a non-empty ODBC connection string");
    if ((rc = expand_vars(json_string_value(odbc), cfg->dir, "source.odbc", &cfg->source_odbc, err)))
        return rc;
    double rows = DEFAULT_BATCH_ROWS;
    if ((rc = get_bool(src, "native_sqlite", "source", &cfg->native_sqlite, NULL, err)) ||
        (rc = cs_config_get_number(src, "batch_rows", "source", 1, 1 << 20, &rows, err)))
        return rc;
    cfg->batch_rows = (size_t)rows;
    double pd_rows = 0;
    if ((rc = cs_config_get_number(src, "pushdown_rows", "source", 0, 1e15, &pd_rows, err)))
        return rc;
    cfg->pushdown_rows = (uint64_t)pd_rows;
    return 0;
}

static int parse_profile(struct cs_config *cfg, json_t *p, struct cs_err *err)
{
    int rc;
    if (p == NULL)
        return 0;
    if ((rc = want_object(p, "profile", err)) || (rc = cs_config_check_keys(p, "profile", PROFILE_KEYS, err)))
        return rc;
    double age = DEFAULT_PROFILE_AGE_S;
    char *raw = NULL;
    if ((rc = get_string(p, "cache_dir", "profile", &raw, err)) ||
        (rc = cs_config_get_number(p, "max_age_s", "profile", 0, 1e12, &age, err)) ||
        (raw != NULL && (rc = expand_vars(raw, cfg->dir, "profile.cache_dir", &cfg->profile_cache_dir, err)))) {
        free(raw);
        return rc;
    }
    free(raw);
    raw = NULL;
    cfg->profile_max_age_s = (int64_t)age;
    if ((rc = get_string(p, "mode", "profile", &raw, err)) || raw == NULL)
        return rc;
    int mode = cs_scan_mode_parse(raw);
    free(raw);
    if (mode < 0)
        return cs_err_set(err, CS_ECONFIG, "profile.mode: expected \"stream\", \"pushdown\" or \"auto\"");
    cfg->profile_mode = mode;
    return 0;
}

/* "scan": the memory a run's exact statistics may hold before spilling to spill_dir (docs/config.md). */
static int parse_scan(struct cs_config *cfg, json_t *sc, struct cs_err *err)
{
    int rc;
    char *raw = NULL;
    if (sc == NULL)
        return 0;
    if ((rc = want_object(sc, "scan", err)) || (rc = cs_config_check_keys(sc, "scan", SCAN_KEYS, err)))
        return rc;
    json_t *mb = json_object_get(sc, "memory_mb");
    if (mb != NULL && (!json_is_integer(mb) || json_integer_value(mb) < 1 || json_integer_value(mb) > 1048576))
        return cs_err_set(err, CS_ECONFIG, "scan.memory_mb: expected a whole number of MiB from 1 to 1048576");
    if (mb != NULL)
        cfg->scan_memory_mb = (size_t)json_integer_value(mb);
    if ((rc = get_string(sc, "spill_dir", "scan", &raw, err)) || raw == NULL)
        return rc;
    rc = expand_vars(raw, cfg->dir, "scan.spill_dir", &cfg->scan_spill_dir, err);
    free(raw);
    return rc;
}

/* "store": where runs are written (docs/store.md); defaults to the source connection. */
static int parse_store(struct cs_config *cfg, json_t *st, struct cs_err *err)
{
    int rc;
    char *raw = NULL;
    if (st == NULL)
        return 0;
    cfg->store_configured = 1;
    if ((rc = want_object(st, "store", err)) || (rc = cs_config_check_keys(st, "store", STORE_KEYS, err)) ||
        (rc = get_bool(st, "enabled", "store", &cfg->store_enabled, NULL, err)) ||
        (rc = get_string(st, "schema", "store", &cfg->store_schema, err)) ||
        (rc = get_string(st, "odbc", "store", &raw, err)))
        return rc;
    if (raw != NULL)
        rc = expand_vars(raw, cfg->dir, "store.odbc", &cfg->store_odbc, err);
    free(raw);
    return rc;
}

/* "rules_dir": the directory of Lua rules, ${VAR} and ${CONFIG_DIR} expanded. */
static int parse_rules_dir(struct cs_config *cfg, json_t *root, struct cs_err *err)
{
    char *raw = NULL;
    int rc = get_string(root, "rules_dir", "config", &raw, err);
    if (rc == 0 && raw != NULL)
        rc = expand_vars(raw, cfg->dir, "rules_dir", &cfg->rules_dir, err);
    free(raw);
    return rc;
}

static int parse_outlier(struct cs_colconf *cc, json_t *v, const char *path, struct cs_err *err)
{
    int rc;
    cc->has_outlier = 1;
    if (json_is_false(v)) {
        cc->policy.outlier_method = CS_OUTLIER_OFF;
        return 0;
    }
    if (!json_is_object(v))
        return cs_err_set(err, CS_ECONFIG, "%s.outlier: expected false or {\"method\": ..., \"threshold\": ...}", path);
    char p2[512];
    snprintf(p2, sizeof(p2), "%s.outlier", path);
    if ((rc = cs_config_check_keys(v, p2, OUTLIER_KEYS, err)))
        return rc;
    const char *m = json_string_value(json_object_get(v, "method"));
    if (json_object_get(v, "method") == NULL)
        m = "zscore";
    if (m == NULL)
        return cs_err_set(err, CS_ECONFIG, "%s.method: expected \"zscore\", \"iqr\" or \"mad\"", p2);
    if (strcmp(m, "zscore") == 0)
        cc->policy.outlier_method = CS_OUTLIER_ZSCORE;
    else if (strcmp(m, "iqr") == 0)
        cc->policy.outlier_method = CS_OUTLIER_IQR;
    else if (strcmp(m, "mad") == 0)
        cc->policy.outlier_method = CS_OUTLIER_MAD;
    else
        return cs_err_set(err, CS_ECONFIG, "%s.method: unknown method \"%s\" (use zscore, iqr or mad)", p2, m);
    cc->policy.outlier_threshold = 0;
    return cs_config_get_number(v, "threshold", p2, 1e-9, 1e9, &cc->policy.outlier_threshold, err);
}

static int parse_sentinels(struct cs_colconf *cc, json_t *v, const char *path, struct cs_err *err)
{
    if (!json_is_array(v))
        return cs_err_set(err, CS_ECONFIG, "%s.sentinels: expected an array of numbers or strings", path);
    size_t n = json_array_size(v), i;
    json_t *e;
    cc->sentinels = calloc(n + 1, sizeof(double));
    cc->text_sentinels = calloc(n + 1, sizeof(char *));
    if (cc->sentinels == NULL || cc->text_sentinels == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    json_array_foreach(v, i, e) {
        if (json_is_number(e)) {
            cc->sentinels[cc->policy.n_sentinels++] = json_number_value(e);
        } else if (json_is_string(e)) {
            char *s = strdup(json_string_value(e));
            if (s == NULL)
                return cs_err_set(err, CS_ENOMEM, "out of memory");
            cc->text_sentinels[cc->policy.n_text_sentinels++] = s;
        } else {
            return cs_err_set(err, CS_ECONFIG, "%s.sentinels[%zu]: expected a number or a string", path, i);
        }
    }
    cc->policy.sentinels = cc->sentinels;
    cc->policy.text_sentinels = (const char *const *)cc->text_sentinels;
    return 0;
}

static int parse_severity(struct cs_colconf *cc, json_t *col, const char *path, struct cs_err *err)
{
    json_t *v = json_object_get(col, "severity");
    cc->severity = -1;
    if (v == NULL)
        return 0;
    cc->severity = cs_severity_parse(json_string_value(v));
    if (cc->severity < 0)
        return cs_err_set(err, CS_ECONFIG, "%s.severity: expected one of info, low, medium, high, critical", path);
    return 0;
}

static int parse_column(struct cs_colconf *cc, const char *name, json_t *col, const char *tpath, struct cs_err *err)
{
    char path[512];
    int rc;
    snprintf(path, sizeof(path), "%s.columns.%s", tpath, name);
    if ((rc = want_object(col, path, err)) || (rc = cs_config_check_keys(col, path, COLUMN_KEYS, err)))
        return rc;
    if ((cc->pattern = strdup(name)) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    cc->is_glob = strpbrk(name, "*?[") != NULL;
    cc->policy.struct_size = sizeof(cc->policy);
    json_t *v;
    if ((rc = get_bool(col, "allow_negative", path, &cc->policy.allow_negative, &cc->has_allow_negative, err)) ||
        (rc = get_bool(col, "empty_is_missing", path, &cc->policy.empty_is_missing, &cc->has_empty_is_missing, err)) ||
        (rc = get_bool(col, "sensitive", path, &cc->sensitive, NULL, err)) ||
        (rc = cs_config_get_number(col, "max_missing", path, 0, 1, &cc->max_missing, err)) ||
        (rc = parse_severity(cc, col, path, err)))
        return rc;
    if ((v = json_object_get(col, "outlier")) != NULL && (rc = parse_outlier(cc, v, path, err)))
        return rc;
    if ((v = json_object_get(col, "sentinels")) != NULL && (rc = parse_sentinels(cc, v, path, err)))
        return rc;
    if ((v = json_object_get(col, "drift")) != NULL && (rc = cs_drift_parse(v, path, 0, &cc->drift, err)))
        return rc;
    return 0;
}

static int parse_pk(struct cs_tableconf *t, json_t *pk, const char *path, struct cs_err *err)
{
    if (pk == NULL)
        return 0;
    if (json_is_string(pk)) /* a single column may be written without brackets */
        pk = json_pack("[O]", pk);
    else
        json_incref(pk);
    int rc = 0;
    size_t i, n = json_array_size(pk);
    json_t *e;
    if (!json_is_array(pk) || n == 0) {
        rc = cs_err_set(err, CS_ECONFIG, "%s.primary_key: expected a non-empty array of column names", path);
        goto out;
    }
    if ((t->pk = calloc(n, sizeof(char *))) == NULL) {
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(pk, i, e) {
        if (!json_is_string(e) || json_string_length(e) == 0) {
            rc = cs_err_set(err, CS_ECONFIG, "%s.primary_key[%zu]: expected a column name", path, i);
            goto out;
        }
        if ((t->pk[t->npk++] = strdup(json_string_value(e))) == NULL) {
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
            goto out;
        }
    }
out:
    json_decref(pk);
    return rc;
}

static int parse_table(struct cs_tableconf *t, const char *name, json_t *tj, struct cs_err *err)
{
    char path[320];
    int rc;
    snprintf(path, sizeof(path), "tables.%s", name);
    if ((rc = want_object(tj, path, err)) || (rc = cs_config_check_keys(tj, path, TABLE_KEYS, err)))
        return rc;
    if ((t->name = strdup(name)) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    if ((rc = get_string(tj, "customer_key", path, &t->customer_key, err)) ||
        (rc = parse_pk(t, json_object_get(tj, "primary_key"), path, err)))
        return rc;
    json_t *drift = json_object_get(tj, "drift");
    if (drift != NULL && (rc = cs_drift_parse(drift, path, 1, &t->drift, err)))
        return rc;
    json_t *cols = json_object_get(tj, "columns");
    if (cols == NULL)
        return 0;
    char cpath[352];
    snprintf(cpath, sizeof(cpath), "%s.columns", path);
    if ((rc = want_object(cols, cpath, err)))
        return rc;
    if ((t->cols = calloc(json_object_size(cols) + 1, sizeof(*t->cols))) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    const char *cname;
    json_t *cj;
    json_object_foreach(cols, cname, cj) {
        if ((rc = parse_column(&t->cols[t->ncols++], cname, cj, path, err)))
            return rc;
    }
    return 0;
}

static int parse_tables(struct cs_config *cfg, json_t *tables, struct cs_err *err)
{
    int rc;
    if (tables == NULL)
        return cs_err_set(err, CS_ECONFIG, "tables: missing (add \"tables\": {\"<TABLE>\": {...}})");
    if ((rc = want_object(tables, "tables", err)))
        return rc;
    if ((cfg->tables = calloc(json_object_size(tables) + 1, sizeof(*cfg->tables))) == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    const char *name;
    json_t *tj;
    json_object_foreach(tables, name, tj) {
        if ((rc = parse_table(&cfg->tables[cfg->ntables++], name, tj, err)))
            return rc;
    }
    return 0;
}

static void hash_text(const char *text, size_t len, char out[17])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)text[i];
        h *= 1099511628211ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static int set_paths(struct cs_config *cfg, const char *path, struct cs_err *err)
{
    char *copy = strdup(path ? path : "(inline)");
    char *dcopy = strdup(path ? path : ".");
    if (copy == NULL || dcopy == NULL) {
        free(copy);
        free(dcopy);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    cfg->path = copy;
    char real[PATH_MAX];
    const char *dir = dirname(dcopy);
    cfg->dir = strdup(realpath(dir, real) ? real : dir);
    free(dcopy);
    return cfg->dir ? 0 : cs_err_set(err, CS_ENOMEM, "out of memory");
}

int cs_config_parse(const char *text, size_t len, const char *path, struct cs_config **out, struct cs_err *err)
{
    json_error_t jerr;
    struct cs_config *cfg = calloc(1, sizeof(*cfg));
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc;
    *out = NULL;
    if (cfg == NULL) {
        json_decref(root);
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    }
    cfg->native_sqlite = 1;
    cfg->batch_rows = DEFAULT_BATCH_ROWS;
    cfg->profile_max_age_s = DEFAULT_PROFILE_AGE_S;
    cfg->profile_mode = CS_SCAN_AUTO;
    cfg->store_enabled = 1;
    cfg->scan_memory_mb = DEFAULT_SCAN_MEMORY_MB;
    if ((rc = set_paths(cfg, path, err)))
        goto fail;
    if (root == NULL) {
        rc = cs_err_set(err, CS_ECONFIG, "%s: invalid JSON at line %d, column %d: %s", cfg->path, jerr.line,
                        jerr.column, jerr.text);
        goto fail;
    }
    hash_text(text, len, cfg->hash);
    if ((rc = want_object(root, "config", err)) || (rc = cs_config_check_keys(root, "config", ROOT_KEYS, err)) ||
        (rc = parse_source(cfg, json_object_get(root, "source"), err)) ||
        (rc = get_string(root, "plugin_dir", "config", &cfg->plugin_dir, err)) ||
        (rc = parse_rules_dir(cfg, root, err)) ||
        (rc = parse_profile(cfg, json_object_get(root, "profile"), err)) ||
        (rc = parse_store(cfg, json_object_get(root, "store"), err)) ||
        (rc = parse_scan(cfg, json_object_get(root, "scan"), err)) ||
        (rc = parse_tables(cfg, json_object_get(root, "tables"), err)) ||
        (json_object_get(root, "advisor") != NULL &&
         (rc = cs_advisor_conf_parse(json_object_get(root, "advisor"), cfg->dir, &cfg->advisor, err))) ||
        (rc = cs_server_conf_parse(&cfg->server, json_object_get(root, "server"), cfg->dir, err)))
        goto fail;
    json_decref(root);
    *out = cfg;
    return 0;
fail:
    json_decref(root);
    cs_config_free(cfg);
    return rc;
}

int cs_config_load(const char *path, struct cs_config **out, struct cs_err *err)
{
    FILE *f = fopen(path, "rb");
    *out = NULL;
    if (f == NULL)
        return cs_err_set(err, CS_ECONFIG, "cannot open config file %s: %m", path);
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap = (cap + 4096) * 2);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return cs_err_set(err, CS_ENOMEM, "out of memory reading %s", path);
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? cs_err_set(err, CS_ECONFIG, "cannot read config file %s", path)
                 : cs_config_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

static void free_colconf(struct cs_colconf *cc)
{
    free(cc->pattern);
    free(cc->sentinels);
    for (size_t i = 0; cc->text_sentinels && i < cc->policy.n_text_sentinels; i++)
        free(cc->text_sentinels[i]);
    free(cc->text_sentinels);
}

void cs_config_free(struct cs_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->ntables; i++) {
        struct cs_tableconf *t = &cfg->tables[i];
        free(t->name);
        free(t->customer_key);
        for (size_t k = 0; k < t->npk; k++)
            free(t->pk[k]);
        free(t->pk);
        for (size_t c = 0; c < t->ncols; c++)
            free_colconf(&t->cols[c]);
        free(t->cols);
    }
    free(cfg->tables);
    free(cfg->path);
    free(cfg->dir);
    free(cfg->source_odbc);
    free(cfg->plugin_dir);
    free(cfg->rules_dir);
    free(cfg->profile_cache_dir);
    free(cfg->store_odbc);
    free(cfg->store_schema);
    free(cfg->scan_spill_dir);
    cs_advisor_conf_free(cfg->advisor);
    cs_server_conf_free(cfg->server);
    free(cfg);
}

const struct cs_tableconf *cs_config_table(const struct cs_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ntables; i++)
        if (strcmp(cfg->tables[i].name, name) == 0)
            return &cfg->tables[i];
    for (size_t i = 0; i < cfg->ntables; i++)
        if (strcasecmp(cfg->tables[i].name, name) == 0)
            return &cfg->tables[i];
    return NULL;
}

const struct cs_colconf *cs_config_column(const struct cs_tableconf *t, const char *column)
{
    const struct cs_colconf *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; t != NULL && i < t->ncols; i++) {
        const struct cs_colconf *cc = &t->cols[i];
        if (!cc->is_glob && strcasecmp(cc->pattern, column) == 0)
            return cc;
        size_t len = strlen(cc->pattern);
        if (cc->is_glob && fnmatch(cc->pattern, column, FNM_CASEFOLD) == 0 && (best == NULL || len > best_len)) {
            best = cc;
            best_len = len;
        }
    }
    return best;
}

void cs_config_policy(const struct cs_colconf *cc, int type, int is_key, struct cs_column_policy *out)
{
    int numeric = type == CS_TYPE_INT64 || type == CS_TYPE_DOUBLE;
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    out->outlier_method = (numeric && !is_key) ? CS_OUTLIER_ZSCORE : CS_OUTLIER_OFF;
    out->outlier_threshold = 3.0;
    if (cc == NULL)
        return;
    if (cc->has_allow_negative)
        out->allow_negative = cc->policy.allow_negative;
    if (cc->has_empty_is_missing)
        out->empty_is_missing = cc->policy.empty_is_missing;
    if (cc->has_outlier && numeric && !is_key) {
        out->outlier_method = cc->policy.outlier_method;
        out->outlier_threshold = cc->policy.outlier_threshold;
    }
    out->n_sentinels = cc->policy.n_sentinels;
    out->sentinels = cc->policy.sentinels;
    out->n_text_sentinels = cc->policy.n_text_sentinels;
    out->text_sentinels = cc->policy.text_sentinels;
}

/* End of the attribute that starts at p: its ';', or the end of the string.
 * A value in braces may hold ';' (ODBC escapes '}' inside as '}}'). */
static const char *attr_end(const char *p)
{
    const char *eq = strchr(p, '='), *semi = strchr(p, ';');
    if (eq == NULL || (semi != NULL && semi < eq))
        return semi ? semi : p + strlen(p);
    const char *v = eq + 1;
    while (*v == ' ')
        v++;
    if (*v == '{') {
        for (v++; *v; v++) {
            if (v[0] == '}' && v[1] == '}')
                v++;
            else if (v[0] == '}')
                break;
        }
        semi = strchr(v, ';');
    }
    return semi ? semi : p + strlen(p);
}

static int is_secret_key(const char *p, const char *eq)
{
    static const char *const secret_keys[] = {"pwd", "password", "priv_key_file_pwd", "token", "passcode", NULL};
    while (p < eq && *p == ' ')
        p++;
    for (const char *const *k = secret_keys; *k; k++)
        if ((size_t)(eq - p) == strlen(*k) && strncasecmp(p, *k, eq - p) == 0)
            return 1;
    return 0;
}

const char *cs_config_spill_dir(const struct cs_config *cfg)
{
    const char *tmp = getenv("TMPDIR");
    if (cfg->scan_spill_dir != NULL)
        return cfg->scan_spill_dir;
    return tmp != NULL && tmp[0] != '\0' ? tmp : "/var/tmp";
}

void cs_config_redact(const char *conn, char *buf, size_t size)
{
    size_t o = 0;
    const char *p = conn ? conn : "";
    while (*p && o + 1 < size) {
        const char *end = attr_end(p), *eq = memchr(p, '=', end - p);
        int secret = eq != NULL && is_secret_key(p, eq);
        size_t keep = secret ? (size_t)(eq - p + 1) : (size_t)(end - p);
        int n = snprintf(buf + o, size - o, "%.*s%s%s", (int)keep, p, secret ? "***" : "", *end ? ";" : "");
        if (n < 0 || (size_t)n >= size - o)
            break;
        o += n;
        p = *end ? end + 1 : end;
    }
    buf[o < size ? o : size - 1] = '\0';
}
