/*
** prefetch.h -- read the next batch while the checks work on this one.
**
** A whole-table scan alternates between fetching (database driver work) and
** checking (plugin work).  A prefetcher runs the fetching on a thread of its
** own, up to a few batches ahead, so on two cores a scan costs about the
** larger of the two instead of their sum.  Batches are copied into a ring of
** buffers the prefetcher owns, because a cursor reuses its batch.
**
** Ownership and threads: cs_prefetch_open takes over the cursor until
** cs_prefetch_close, which stops the thread and releases the buffers (not the
** cursor: the caller still closes it).  Lanes: the opener reads as lane 0;
** cs_prefetch_lane_add makes another lane that sees every batch after the
** ones lane 0 has taken, so that checks can be split over two threads.  A
** buffer is reused only when every lane has given it back.  Each lane is
** read by one thread; a batch from cs_prefetch_next is valid until that
** lane's following call (or its leave).
*/
#ifndef CS_PREFETCH_H
#define CS_PREFETCH_H

#include "source.h"

struct cs_prefetch;

/** Start reading ahead on cur, for lane 0.  CS_ENOMEM or CS_EINTERNAL (no thread) on failure. */
int cs_prefetch_open(struct cs_prefetch **out, struct cs_cursor *cur, struct cs_err *err);

/** A new lane starting after the batches lane 0 has taken; its number, or -1 when no more can be added. */
int cs_prefetch_lane_add(struct cs_prefetch *p);

/** Lane l's next batch; same contract as cs_cursor_next: 1 and *out, 0 at the end (or once
 *  cancelled), <0 with err filled.  Gives back the batch the lane held. */
int cs_prefetch_next(struct cs_prefetch *p, int l, const struct cs_batch **out, struct cs_err *err);

/** Lane l reads no more (gives back what it holds and what waits for it). */
void cs_prefetch_lane_leave(struct cs_prefetch *p, int l);

/** Make every lane's next return 0 and the reader stop.  Any thread; idempotent. */
void cs_prefetch_cancel(struct cs_prefetch *p);

/** Cancel, wait for the reader and free the buffers.  Call when no lane reads any more. */
void cs_prefetch_close(struct cs_prefetch *p);

#endif
