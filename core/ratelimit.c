/*
** ratelimit.c -- token buckets in a bounded open-addressing table.  See ratelimit.h.
**
** A key hashes to a home slot and may live in any of the PROBE slots after
** it.  Lookup scans those slots; a miss takes the first empty one, else
** the one seen longest ago.  So the table never grows and a flood of new
** addresses costs each lookup at most PROBE comparisons.
*/
#include "ratelimit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 32
#define PROBE 8

struct bucket {
    unsigned char key[KEY_MAX];
    size_t keylen; /* 0: empty slot */
    double tokens, last;
};

struct cs_ratelimit {
    double rate, burst;
    size_t mask;
    struct bucket *slots;
};

struct cs_ratelimit *cs_ratelimit_new(double rate, double burst, size_t slots)
{
    size_t n = 16;
    while (n < slots)
        n <<= 1;
    struct cs_ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL || (rl->slots = calloc(n, sizeof(*rl->slots))) == NULL) {
        free(rl);
        return NULL;
    }
    rl->mask = n - 1;
    cs_ratelimit_set(rl, rate, burst);
    return rl;
}

void cs_ratelimit_free(struct cs_ratelimit *rl)
{
    if (rl == NULL)
        return;
    free(rl->slots);
    free(rl);
}

void cs_ratelimit_set(struct cs_ratelimit *rl, double rate, double burst)
{
    rl->rate = rate > 0 ? rate : 1;
    rl->burst = burst >= 1 ? burst : 1;
    for (size_t i = 0; i <= rl->mask; i++)
        if (rl->slots[i].tokens > rl->burst)
            rl->slots[i].tokens = rl->burst;
}

static uint64_t hash_key(const unsigned char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static struct bucket *lookup(struct cs_ratelimit *rl, const unsigned char *key, size_t keylen, double now)
{
    size_t home = (size_t)hash_key(key, keylen) & rl->mask;
    struct bucket *victim = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        struct bucket *b = &rl->slots[(home + i) & rl->mask];
        if (b->keylen == keylen && memcmp(b->key, key, keylen) == 0)
            return b;
        if (victim == NULL || (victim->keylen != 0 && (b->keylen == 0 || b->last < victim->last)))
            victim = b;
    }
    memcpy(victim->key, key, keylen);
    victim->keylen = keylen;
    victim->tokens = rl->burst;
    victim->last = now;
    return victim;
}

int cs_ratelimit_take(struct cs_ratelimit *rl, const void *key, size_t keylen, double now, double *retry_after)
{
    if (keylen > KEY_MAX)
        keylen = KEY_MAX;
    static const unsigned char unknown = 0;
    if (keylen == 0) { /* an unknown peer shares one bucket rather than none */
        key = &unknown;
        keylen = 1;
    }
    struct bucket *b = lookup(rl, key, keylen, now);
    if (now > b->last) {
        b->tokens += (now - b->last) * rl->rate;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
    }
    b->last = now;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 1;
    }
    *retry_after = (1 - b->tokens) / rl->rate;
    return 0;
}
