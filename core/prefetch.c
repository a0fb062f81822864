/*
** prefetch.c -- read-ahead on a thread, for one or more lanes.  See prefetch.h.
**
** A ring of NBUF buffers: the reader fills them in order and numbers each
** batch (seq); every lane reads them in the same order.  A buffer is FREE
** (pending 0: the reader may fill it) or FULL (pending = lanes that have not
** yet given it back).  A lane gives a buffer back by calling next again, and
** waits for the batch it expects by number, so a fast lane never reads a
** buffer twice while a slow lane still holds the ring.  Several buffers
** rather than two because batch times vary: the slack keeps the reader and
** the lanes from stalling on each other's slow batches.  Each side wakes the
** others only when one sleeps, so a batch costs no system call while all keep up.
*/
#include "prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define NBUF 8
#define MAX_LANES 4

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
    uint64_t seq; /* batch number, when pending > 0 */
    unsigned pending; /* lanes that have not given it back; 0: free */
};

struct lane {
    uint64_t next;  /* seq of the batch this lane takes next */
    int holding;    /* it holds the buffer of seq next - 1 */
    int active;
};

struct cs_prefetch {
    struct cs_cursor *cur;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pbuf buf[NBUF];
    uint64_t filled;  /* batches filled so far: the next one is seq filled, in buf[filled % NBUF] */
    struct lane lane[MAX_LANES];
    unsigned nlanes, active;
    int sleepers;     /* threads waiting on cv */
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

/* Wait on cv (lock held), counted so that the others know to wake us. */
static void sleep_on(struct cs_prefetch *p)
{
    p->sleepers++;
    pthread_cond_wait(&p->cv, &p->mu);
    p->sleepers--;
}

static void wake(struct cs_prefetch *p)
{
    if (p->sleepers > 0)
        pthread_cond_broadcast(&p->cv);
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
        struct pbuf *b = &p->buf[p->filled % NBUF];
        while (b->pending > 0 && !p->stop)
            sleep_on(p);
        int go = !p->stop;
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
        b->seq = p->filled++;
        b->pending = p->active;
        if (b->pending == 0) /* every lane left: nobody reads on */
            p->stop = 1;
        wake(p);
        pthread_mutex_unlock(&p->mu);
    }
}

int cs_prefetch_open(struct cs_prefetch **out, struct cs_cursor *cur, struct cs_err *err)
{
    struct cs_prefetch *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return cs_err_set(err, CS_ENOMEM, "out of memory");
    p->cur = cur;
    p->nlanes = p->active = 1;
    p->lane[0].active = 1;
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

/* A lane gives back the buffer of batch seq (lock held). */
static void give_back(struct cs_prefetch *p, uint64_t seq)
{
    struct pbuf *b = &p->buf[seq % NBUF];
    if (b->pending > 0 && b->seq == seq && --b->pending == 0)
        wake(p);
}

int cs_prefetch_lane_add(struct cs_prefetch *p)
{
    pthread_mutex_lock(&p->mu);
    int l = -1;
    if (p->nlanes < MAX_LANES && p->lane[0].active) {
        l = (int)p->nlanes++;
        uint64_t from = p->lane[0].next; /* it starts where lane 0 goes on */
        p->lane[l] = (struct lane){.next = from, .active = 1};
        p->active++;
        for (uint64_t s = from; s < p->filled; s++)
            p->buf[s % NBUF].pending++;
    }
    pthread_mutex_unlock(&p->mu);
    return l;
}

int cs_prefetch_next(struct cs_prefetch *p, int l, const struct cs_batch **out, struct cs_err *err)
{
    struct lane *ln = &p->lane[l];
    pthread_mutex_lock(&p->mu);
    if (ln->holding) {
        give_back(p, ln->next - 1);
        ln->holding = 0;
    }
    struct pbuf *b = &p->buf[ln->next % NBUF];
    while (!(b->pending > 0 && b->seq == ln->next) && !(p->done && ln->next >= p->filled) && !p->stop)
        sleep_on(p);
    int rc = 0;
    if (b->pending > 0 && b->seq == ln->next && !p->stop) {
        *out = &b->batch;
        ln->next++;
        ln->holding = 1;
        rc = 1;
    } else if (p->done && !p->stop) {
        rc = p->rc;
        if (rc < 0)
            *err = p->err;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void cs_prefetch_lane_leave(struct cs_prefetch *p, int l)
{
    struct lane *ln = &p->lane[l];
    pthread_mutex_lock(&p->mu);
    if (ln->active) {
        for (uint64_t s = ln->next - (ln->holding ? 1 : 0); s < p->filled; s++)
            give_back(p, s);
        ln->active = 0;
        ln->holding = 0;
        p->active--;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

void cs_prefetch_cancel(struct cs_prefetch *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void cs_prefetch_close(struct cs_prefetch *p)
{
    if (p == NULL)
        return;
    cs_prefetch_cancel(p);
    pthread_join(p->thread, NULL);
    for (size_t i = 0; i < NBUF; i++)
        pbuf_free(&p->buf[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
