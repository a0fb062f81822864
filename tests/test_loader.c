/*
** test_loader.c -- core/plugin.c's cs_registry_load against good and bad
** modules.
**
** Usage: test_loader <plugin dir> <test module dir>
**   plugin dir:      where missing.so was built
**   test module dir: where tests/plugins/badabi.so and nosym.so were built
**
** Builds a temporary plugin directory of symlinks (a good module, the two
** broken ones, a file that is not a shared object, a second copy of the
** good module under another file name, and files the loader must ignore),
** and checks that exactly the good module loads and that every refusal is
** recorded with the file's path and a reason.
*/
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "plugin.h"
#include "tap.h"

static char tmp[PATH_MAX];

static void put_link(const char *target_dir, const char *target, const char *name)
{
    char from[PATH_MAX * 2], to[PATH_MAX * 2];
    snprintf(from, sizeof(from), "%s/%s", target_dir, target);
    snprintf(to, sizeof(to), "%s/%s", tmp, name);
    if (target_dir[0] != '/') { /* symlinks resolve relative to their own directory */
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) != NULL)
            snprintf(from, sizeof(from), "%s/%s/%s", cwd, target_dir, target);
    }
    if (symlink(from, to) != 0)
        printf("# symlink %s -> %s failed\n", to, from);
}

static void put_file(const char *name, const char *text)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

static void remove_all(const char *const *names, size_t n)
{
    char path[PATH_MAX * 2];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", tmp, names[i]);
        unlink(path);
    }
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* The refusal recorded for the file named `file`, or NULL. */
static const struct cs_plugin_error *refusal(const struct cs_registry *reg, const char *file)
{
    for (size_t i = 0; reg != NULL && i < reg->nerrors; i++)
        if (ends_with(reg->errors[i].path, file))
            return &reg->errors[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        printf("Bail out! usage: test_loader <plugin dir> <test module dir>\n");
        return 1;
    }
    snprintf(tmp, sizeof(tmp), "%s/cs-loader.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmp) == NULL) {
        printf("Bail out! cannot create a temporary directory\n");
        return 1;
    }
    static const char *const files[] = {"a_missing.so", "badabi.so", "nosym.so", "junk.so", "z_missing_again.so",
                                        "README.txt", ".hidden.so"};
    put_link(argv[1], "missing.so", "a_missing.so");
    put_link(argv[2], "badabi.so", "badabi.so");
    put_link(argv[2], "nosym.so", "nosym.so");
    put_file("junk.so", "this is not an ELF file\n");
    put_link(argv[1], "missing.so", "z_missing_again.so");
    put_file("README.txt", "not a module: ignored\n");
    put_file(".hidden.so", "hidden: ignored\n");

    struct cs_registry *reg = NULL;
    struct cs_err err = {0};
    int rc = cs_registry_load(&reg, tmp, &err);
    ok(rc == 0 && reg != NULL, "a directory with one good module loads (%s)", err.msg);
    ok(reg && reg->nchecks == 1 && strcmp(reg->checks[0].plugin->name, "missing") == 0 &&
           ends_with(reg->checks[0].path, "/a_missing.so"),
       "exactly the good module is registered");
    ok(reg && reg->nerrors == 4, "four modules refused, README.txt and .hidden.so ignored (%zu)",
       reg ? reg->nerrors : 0);
    const struct cs_plugin_error *e = refusal(reg, "/badabi.so");
    ok(e && strstr(e->message, "version 99") && strstr(e->message, "rebuild"), "badabi.so refused: %s",
       e ? e->message : "(no refusal recorded)");
    e = refusal(reg, "/nosym.so");
    ok(e && strstr(e->message, "no cs_check_entry symbol"), "nosym.so refused: %s",
       e ? e->message : "(no refusal recorded)");
    e = refusal(reg, "/junk.so");
    ok(e && strstr(e->message, "junk.so") && strstr(e->message, "too short") && !strstr(e->message, "ldd"),
       "junk.so refused with dlerror, without a misleading ldd hint: %s",
       e ? e->message : "(no refusal recorded)");
    e = refusal(reg, "/z_missing_again.so");
    ok(e && strstr(e->message, "already loaded") && strstr(e->message, "a_missing.so"),
       "a second module named \"missing\" refused: %s", e ? e->message : "(no refusal recorded)");
    cs_registry_free(reg);

    /* Nothing usable: an error naming the directory. */
    remove_all(files, 1);
    remove_all(files + 4, 1);
    reg = NULL;
    rc = cs_registry_load(&reg, tmp, &err);
    ok(rc == CS_EPLUGIN && reg == NULL && strstr(err.msg, "no usable check plugin") && strstr(err.msg, tmp),
       "only bad modules: refused as a whole: %s", err.msg);

    remove_all(files, sizeof(files) / sizeof(files[0]));
    rmdir(tmp);
    rc = cs_registry_load(&reg, tmp, &err);
    ok(rc == CS_EPLUGIN && reg == NULL && strstr(err.msg, tmp) && strstr(err.msg, "plugin_dir"),
       "missing directory: %s", err.msg);
    return tap_done();
}
