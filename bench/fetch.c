/*
** fetch.c -- the bare fetch: read every row of a table through the same
** source layer a scan uses, and run no checks.  The benchmark's floor for
** "checks add at most 25% to the fetch".
**
**   bench-fetch CONNECTION_STRING TABLE [native 1|0] [batch_rows]
** Prints "rows seconds" on stdout.
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "source.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-fetch CONNECTION_STRING TABLE [native 1|0] [batch_rows]\n");
        return 2;
    }
    struct cs_source_opts o = {.conn = argv[1], .native_sqlite = argc > 3 ? atoi(argv[3]) : 1,
                               .batch_rows = argc > 4 ? (size_t)atol(argv[4]) : 0};
    struct cs_err err = {0};
    struct cs_source *src = NULL;
    struct cs_schema schema = {0};
    struct cs_cursor *cur = NULL;
    double t0 = mono_s();
    int rc = cs_source_open(&src, &o, &err);
    if (rc == 0)
        rc = cs_source_describe(src, argv[2], &schema, &err);
    struct cs_select sel = {.schema = &schema};
    if (rc == 0)
        rc = cs_source_select(src, &sel, &cur, &err);
    uint64_t rows = 0;
    const struct cs_batch *b;
    while (rc == 0 && (rc = cs_cursor_next(cur, &b, &err)) == 1) {
        rows += b->nrows;
        rc = 0;
    }
    cs_cursor_close(cur);
    cs_schema_free(&schema);
    cs_source_close(src);
    if (rc < 0) {
        fprintf(stderr, "bench-fetch: %s\n", err.msg);
        return 2;
    }
    printf("%llu %.3f\n", (unsigned long long)rows, mono_s() - t0);
    return 0;
}
