/*
** prefetch.h -- read the next batch while the checks work on this one.
**
** A whole-table scan alternates between fetching (database driver work) and
** checking (plugin work).  A prefetcher runs the fetching on a thread of its
** own, one batch ahead, so on two cores a scan costs about the larger of the
** two instead of their sum.  Batches are copied into two buffers the
** prefetcher owns (double buffering), because a cursor reuses its batch.
**
** Ownership and threads: cs_prefetch_open takes over the cursor until
** cs_prefetch_close, which stops the thread and releases the buffers (not the
** cursor: the caller still closes it).  Only the thread that opened the
** prefetcher calls next and close.  A batch from cs_prefetch_next is valid
** until the following call.
*/
#ifndef CS_PREFETCH_H
#define CS_PREFETCH_H

#include "source.h"

struct cs_prefetch;

/** Start reading ahead on cur.  CS_ENOMEM or CS_EINTERNAL (no thread) on failure. */
int cs_prefetch_open(struct cs_prefetch **out, struct cs_cursor *cur, struct cs_err *err);

/** Same contract as cs_cursor_next: 1 and *out, 0 at the end, <0 with err filled. */
int cs_prefetch_next(struct cs_prefetch *p, const struct cs_batch **out, struct cs_err *err);

/** Stop the reader (waiting for a fetch in progress) and free the buffers. */
void cs_prefetch_close(struct cs_prefetch *p);

#endif
