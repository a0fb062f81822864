/*
** plugin.c -- dlopen loader for check plugins.  See plugin.h.
*/
#include "plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creditsense/advisor.h"
#include "err.h"
#include "log.h"

#ifndef CS_PLUGIN_INSTALL_DIR
#define CS_PLUGIN_INSTALL_DIR "/usr/local/lib/creditsense/plugins"
#endif

int cs_plugin_exe_subdir(const char *rel, char *buf, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    struct stat st;
    snprintf(buf, size, "%s/%s", exe, rel);
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode);
}

void cs_plugin_default_dir(char *buf, size_t size)
{
    if (!cs_plugin_exe_subdir("plugins", buf, size))
        snprintf(buf, size, "%s", CS_PLUGIN_INSTALL_DIR);
}

static int record_error(struct cs_registry *reg, const char *path, const char *msg)
{
    struct cs_plugin_error *e = realloc(reg->errors, (reg->nerrors + 1) * sizeof(*e));
    if (e == NULL)
        return CS_ENOMEM;
    reg->errors = e;
    e[reg->nerrors].path = strdup(path);
    e[reg->nerrors].message = strdup(msg);
    reg->nerrors++;
    cs_log(CS_LOG_ERROR, "plugin", "refused %s: %s", path, msg);
    return 0;
}

/* Why a plugin struct is unacceptable, or NULL when it is fine. */
static const char *validate(const struct cs_registry *reg, const struct cs_check_plugin *p, char *why, size_t size)
{
    if (p == NULL)
        return "entry function returned NULL";
    if (p->abi_version != CS_CHECK_ABI_VERSION) {
        snprintf(why, size, "built for check ABI version %u, this host speaks version %u: rebuild it against this "
                 "release's creditsense/check.h", p->abi_version, CS_CHECK_ABI_VERSION);
        return why;
    }
    if (p->struct_size < sizeof(struct cs_check_plugin)) {
        snprintf(why, size, "plugin struct is %u bytes, expected at least %zu: rebuild it against creditsense/check.h",
                 p->struct_size, sizeof(struct cs_check_plugin));
        return why;
    }
    if (p->name == NULL || p->name[0] == '\0' || !p->init || !p->batch || !p->finish || !p->destroy)
        return "plugin struct lacks a name or one of init/batch/finish/destroy";
    for (size_t i = 0; i < reg->nchecks; i++)
        if (strcmp(reg->checks[i].plugin->name, p->name) == 0) {
            snprintf(why, size, "a check named \"%s\" is already loaded from %s", p->name, reg->checks[i].path);
            return why;
        }
    return NULL;
}

static int load_one(struct cs_registry *reg, const char *path)
{
    char why[512];
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        /* Only an unresolved library or symbol is helped by ldd; a corrupt file is not. */
        int dep = e != NULL && (strstr(e, "cannot open shared object") || strstr(e, "undefined symbol"));
        snprintf(why, sizeof(why), "%s%s%s", e ? e : "dlopen failed", dep ? "; check its dependencies with ldd " : "",
                 dep ? path : "");
        return record_error(reg, path, why);
    }
    cs_check_entry_fn entry;
    *(void **)&entry = dlsym(h, CS_CHECK_ENTRY_SYMBOL);
    if (entry == NULL) {
        dlclose(h);
        return record_error(reg, path, "no " CS_CHECK_ENTRY_SYMBOL " symbol: not a CreditSense check plugin");
    }
    const struct cs_check_plugin *p = entry(CS_CHECK_ABI_VERSION);
    const char *bad = validate(reg, p, why, sizeof(why));
    if (bad != NULL) {
        int rc = record_error(reg, path, bad);
        dlclose(h);
        return rc;
    }
    struct cs_loaded_check *c = realloc(reg->checks, (reg->nchecks + 1) * sizeof(*c));
    if (c == NULL) {
        dlclose(h);
        return CS_ENOMEM;
    }
    reg->checks = c;
    c[reg->nchecks].plugin = p;
    c[reg->nchecks].handle = h;
    c[reg->nchecks].path = strdup(path);
    reg->nchecks++;
    cs_log(CS_LOG_DEBUG, "plugin", "loaded check \"%s\" from %s", p->name, path);
    return 0;
}

/* Advisor backends (advisor_*.so, creditsense/advisor.h) share the directory and are not checks. */
static int is_module(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0 && name[0] != '.' &&
           strncmp(name, CS_ADVISOR_MODULE_PREFIX, strlen(CS_ADVISOR_MODULE_PREFIX)) != 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cs_registry_load(struct cs_registry **out, const char *dir, struct cs_err *err)
{
    struct cs_registry *reg = calloc(1, sizeof(*reg));
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    *out = NULL;
    DIR *d = opendir(dir);
    if (reg == NULL || (reg->dir = strdup(dir)) == NULL) {
        rc = cs_err_set(err, CS_ENOMEM, "out of memory");
        goto fail;
    }
    if (d == NULL) {
        rc = cs_err_set(err, CS_EPLUGIN, "cannot read plugin directory %s: %m (set plugin_dir in the config)", dir);
        goto fail;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!is_module(de->d_name))
            continue;
        char **nn = realloc(names, (n + 1) * sizeof(*names));
        if (nn == NULL || (nn[n] = strdup(de->d_name)) == NULL) {
            names = nn ? nn : names;
            rc = cs_err_set(err, CS_ENOMEM, "out of memory");
            goto fail;
        }
        names = nn;
        n++;
    }
    qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (load_one(reg, path) != 0) {
            rc = cs_err_set(err, CS_ENOMEM, "out of memory loading plugins");
            goto fail;
        }
    }
    if (reg->nchecks == 0) {
        rc = cs_err_set(err, CS_EPLUGIN, "no usable check plugin in %s", dir);
        goto fail;
    }
    *out = reg;
    goto done;
fail:
    cs_registry_free(reg);
done:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (d != NULL)
        closedir(d);
    return rc;
}

void cs_registry_free(struct cs_registry *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->nchecks; i++) {
        dlclose(reg->checks[i].handle);
        free(reg->checks[i].path);
    }
    for (size_t i = 0; i < reg->nerrors; i++) {
        free(reg->errors[i].path);
        free(reg->errors[i].message);
    }
    free(reg->checks);
    free(reg->errors);
    free(reg->dir);
    free(reg);
}

void cs_plugin_dir(const char *configured, char *buf, size_t size)
{
    const char *env = getenv("CREDITSENSE_PLUGIN_DIR");
    if (configured != NULL)
        snprintf(buf, size, "%s", configured);
    else if (env != NULL && env[0] != '\0')
        snprintf(buf, size, "%s", env);
    else
        cs_plugin_default_dir(buf, size);
}
