/*
** plugin.h -- loading check plugins.
**
** cs_registry_load() dlopen()s every *.so in a directory (except advisor
** backends, advisor_*.so, which core/advisor.c loads by name) with
** RTLD_NOW|RTLD_LOCAL, looks up CS_CHECK_ENTRY_SYMBOL and validates the
** struct it returns (ABI version, struct size, non-NULL callbacks, a name
** not already taken).  A module that fails any of this is refused with one
** log line saying why, dlclose()d, recorded in the registry's error list,
** and the others load anyway.  Loading order is by file name, so runs are
** reproducible.
**
** A registry is immutable once loaded and may be shared by threads.
*/
#ifndef CS_PLUGIN_H
#define CS_PLUGIN_H

#include <stddef.h>

#include "creditsense/check.h"

struct cs_loaded_check {
    const struct cs_check_plugin *plugin; /* points into the module */
    void *handle;                         /* dlopen handle, owned */
    char *path;
};

struct cs_plugin_error {
    char *path;
    char *message;
};

struct cs_registry {
    char *dir;
    struct cs_loaded_check *checks;
    size_t nchecks;
    struct cs_plugin_error *errors; /* modules refused */
    size_t nerrors;
};

/** Load every module in dir.  Fails only when dir cannot be read or nothing loads. */
int cs_registry_load(struct cs_registry **out, const char *dir, struct cs_err *err);
void cs_registry_free(struct cs_registry *reg);

/** The default plugin directory: <dir of the executable>/plugins when it exists, else the install dir. */
void cs_plugin_default_dir(char *buf, size_t size);
/** Is <directory of the running executable>/rel a directory?  1 with its path in buf, else 0
 *  (a build tree finds its plugins and web/ this way, without installing). */
int cs_plugin_exe_subdir(const char *rel, char *buf, size_t size);

/** The plugin directory in force: configured (config plugin_dir, may be NULL), else
 *  $CREDITSENSE_PLUGIN_DIR, else cs_plugin_default_dir. */
void cs_plugin_dir(const char *configured, char *buf, size_t size);

#endif
