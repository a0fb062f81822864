/*
** ratelimit.h -- per-client token buckets for the daemon's 429 responses.
**
** Each client (a key: its address bytes) has a bucket of `burst` tokens
** refilled at `rate` tokens a second; a request takes one token or is
** refused with the seconds until one is available.  The table has a fixed
** number of slots so memory is bounded whatever the number of clients:
** a new client takes a free slot or the least recently seen one among the
** few it may use, and an evicted client simply starts again with a full
** bucket.  Not thread-safe: the daemon uses it on its event loop thread only.
**
** Ownership: cs_ratelimit_new/cs_ratelimit_free.
*/
#ifndef CS_RATELIMIT_H
#define CS_RATELIMIT_H

#include <stddef.h>

struct cs_ratelimit;

/** A limiter of `slots` clients (rounded up to a power of two); NULL when out of memory. */
struct cs_ratelimit *cs_ratelimit_new(double rate, double burst, size_t slots);
void cs_ratelimit_free(struct cs_ratelimit *rl);

/** Change the rate and burst (config reload); buckets keep their tokens, capped at the new burst. */
void cs_ratelimit_set(struct cs_ratelimit *rl, double rate, double burst);

/**
 * Take a token for key (at most 32 bytes are used) at time now (seconds,
 * monotonic).  Returns 1 when allowed; 0 when not, with *retry_after set
 * to the seconds until the next token.
 */
int cs_ratelimit_take(struct cs_ratelimit *rl, const void *key, size_t keylen, double now, double *retry_after);

#endif
