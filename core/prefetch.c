/*
** prefetch.c -- one batch of read-ahead on a thread.  See prefetch.h.
**
** Two buffers alternate: the reader fills one while the caller reads the
** other.  A buffer is FREE (the reader may fill it) or FULL (filled, not yet
** given back).  The caller gives a buffer back by calling next again.
*/
#include "prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct pcol {
    uint8_t *nulls;
    void *vals; /* int64_t or double */
    const char **text;
    uint32_t *lens;
    char *arena;
    size_t arena_cap;
};

struct pbuf {
    struct cs_batch batch;
    struct cs_column *cols;
    struct pcol *pc;
    size_t ncols, cap; /* rows allocated */
    int full;
};

struct cs_prefetch {
    struct cs_cursor *cur;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pbuf buf[2];
    int fill, take; /* buffer the reader fills next / the caller takes next */
    int holding;    /* the caller holds buf[take] */
    int done, stop, rc;
    struct cs_err err;
};

static void pbuf_free(struct pbuf *b)
{
    for (size_t i = 0; i < b->ncols; i++) {
        free(b->pc[i].nulls);
        free(b->pc[i].vals);
        free(b->pc[i].text);
        free(b->pc[i].lens);
        free(b->pc[i].arena);
    }
    free(b->pc);
    free(b->cols);
}

/* Size the buffer's columns for `src` (shape is fixed for a cursor; rows only grow). */
static int pbuf_shape(struct pbuf *b, const struct cs_batch *src)
{
    if (b->cols == NULL) {
        b->cols = calloc(src->ncols, sizeof(*b->cols));
        b->pc = calloc(src->ncols, sizeof(*b->pc));
        if (b->cols == NULL || b->pc == NULL)
            return CS_ENOMEM;
        b->ncols = src->ncols;
    }
    if (src->nrows <= b->cap)
        return 0;
    for (size_t i = 0; i < b->ncols; i++) {
        struct pcol *p = &b->pc[i];
        free(p->nulls);
        free(p->vals);
        free(p->text);
        free(p->lens);
        p->nulls = malloc(src->nrows);
        p->vals = src->cols[i].type == CS_TYPE_TEXT ? NULL : malloc(src->nrows * 8);
        p->text = src->cols[i].type == CS_TYPE_TEXT ? malloc(src->nrows * sizeof(char *)) : NULL;
        p->lens = src->cols[i].type == CS_TYPE_TEXT ? malloc(src->nrows * sizeof(uint32_t)) : NULL;
        if (p->nulls == NULL || (src->cols[i].type == CS_TYPE_TEXT ? !p->text || !p->lens : !p->vals))
            return CS_ENOMEM;
    }
    b->cap = src->nrows;
    return 0;
}

/* Text is packed into one arena per column: far less memory than the cursor's fixed slots. */
static int copy_text(struct pcol *p, const struct cs_column *c, size_t n)
{
    size_t need = 0;
    for (size_t r = 0; r < n; r++)
        need += c->text_len[r] + 1;
    if (need > p->arena_cap) {
        char *a = realloc(p->arena, need);
        if (a == NULL)
            return CS_ENOMEM;
        p->arena = a;
        p->arena_cap = need;
    }
    char *w = p->arena;
    for (size_t r = 0; r < n; r++) {
        memcpy(w, c->text[r], c->text_len[r] + 1);
        p->text[r] = w;
        w += c->text_len[r] + 1;
    }
    memcpy(p->lens, c->text_len, n * sizeof(uint32_t));
    return 0;
}

static int pbuf_copy(struct pbuf *b, const struct cs_batch *src)
{
    int rc = pbuf_shape(b, src);
    for (size_t i = 0; rc == 0 && i < src->ncols; i++) {
        const struct cs_column *c = &src->cols[i];
        struct pcol *p = &b->pc[i];
        memcpy(p->nulls, c->nulls, src->nrows);
        b->cols[i] = (struct cs_column){.name = c->name, .type = c->type, .nulls = p->nulls};
        if (c->type == CS_TYPE_TEXT) {
            rc = copy_text(p, c, src->nrows);
            b->cols[i].text = p->text;
            b->cols[i].text_len = p->lens;
        } else {
            memcpy(p->vals, c->type == CS_TYPE_INT64 ? (const void *)c->i64 : (const void *)c->f64, src->nrows * 8);
            b->cols[i].i64 = c->type == CS_TYPE_INT64 ? p->vals : NULL;
            b->cols[i].f64 = c->type == CS_TYPE_DOUBLE ? p->vals : NULL;
        }
    }
    b->batch = (struct cs_batch){.nrows = src->nrows, .ncols = src->ncols, .cols = b->cols,
                                 .first_row = src->first_row};
    return rc;
}

/* Wait for a free buffer; 0 when told to stop. Called with the lock held. */
static int wait_free(struct cs_prefetch *p)
{
    while (p->buf[p->fill].full && !p->stop)
        pthread_cond_wait(&p->cv, &p->mu);
    return !p->stop;
}

static void reader_end(struct cs_prefetch *p, int rc, const struct cs_err *err)
{
    pthread_mutex_lock(&p->mu);
    p->done = 1;
    p->rc = rc;
    if (rc < 0)
        p->err = *err;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *reader(void *arg)
{
    struct cs_prefetch *p = arg;
    struct cs_err err = {0};
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int go = wait_free(p);
        struct pbuf *b = &p->buf[p->fill];
        pthread_mutex_unlock(&p->mu);
        const struct cs_batch *src;
        int rc = go ? cs_cursor_next(p->cur, &src, &err) : 0;
        if (rc == 1 && pbuf_copy(b, src) != 0)
            rc = cs_err_set(&err, CS_ENOMEM, "out of memory buffering a batch");
        if (rc != 1) {
            reader_end(p, rc, &err);
            return NULL;
        }
        pthread_mutex_lock(&p->mu);
        b->full = 1;
        p->fill ^= 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

int cs_prefetch_open(struct cs_prefetch **out, struct cs_cursor *cur, struct cs_err *err)
{
    struct cs_prefetch *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    p->cur = cur;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, reader, p) != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
        return cs_err_set(err, CS_EINTERNAL, "cannot start the read-ahead thread");
    }
    *out = p;
    return 0;
}

int cs_prefetch_next(struct cs_prefetch *p, const struct cs_batch **out, struct cs_err *err)
{
    pthread_mutex_lock(&p->mu);
    if (p->holding) { /* give the previous batch back */
        p->buf[p->take].full = 0;
        p->take ^= 1;
        p->holding = 0;
        pthread_cond_broadcast(&p->cv);
    }
    while (!p->buf[p->take].full && !p->done)
        pthread_cond_wait(&p->cv, &p->mu);
    int rc = 1;
    if (p->buf[p->take].full) {
        *out = &p->buf[p->take].batch;
        p->holding = 1;
    } else {
        rc = p->rc;
        if (rc < 0)
            *err = p->err;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void cs_prefetch_close(struct cs_prefetch *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pbuf_free(&p->buf[0]);
    pbuf_free(&p->buf[1]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
