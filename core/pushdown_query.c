/*
** pushdown_query.c -- cs_source_query (source.h): small, fully fetched
** results of aggregate and sample-key queries, dispatched to the reader's
** `query` op (source_odbc.c, source_sqlite.c).
*/
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "source_impl.h"

struct cs_qval *cs_qresult_row(struct cs_qresult *r)
{
    size_t n = r->ncols ? r->ncols : 1;
    struct cs_qval *v = realloc(r->v, (r->nrows + 1) * n * sizeof(*v));
    if (v == NULL)
        return NULL;
    r->v = v;
    memset(&v[r->nrows * n], 0, n * sizeof(*v));
    return &v[r->nrows++ * n];
}

int cs_source_query(struct cs_source *src, const char *sql, const struct cs_qparam *p, size_t np, size_t max_rows,
                    struct cs_qresult *out, struct cs_err *err)
{
    memset(out, 0, sizeof(*out));
    if (src->ops->query == NULL)
        return cs_err_set(err, CS_ESOURCE, "the %s reader cannot run aggregate queries", src->ops->kind);
    int rc = src->ops->query(src, sql, p, np, max_rows, out, err);
    if (rc != 0)
        cs_qresult_free(out);
    return rc;
}

void cs_qresult_free(struct cs_qresult *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; r->v != NULL && i < r->nrows * r->ncols; i++)
        free(r->v[i].text);
    free(r->v);
    memset(r, 0, sizeof(*r));
}
