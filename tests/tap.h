/*
** tap.h -- a tiny Test Anything Protocol harness for the C tests.
**
**   ok(cond, "what is being checked %d", x);   prints "ok N - ..." or "not ok N - ..."
**   return tap_done();                         prints "1..N"; 1 when anything failed
*/
#ifndef CS_TAP_H
#define CS_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                                                                 \
    do {                                                                                                              \
        int tap_c_ = (cond) ? 1 : 0;                                                                                  \
        printf("%sok %d - ", tap_c_ ? "" : "not ", ++tap_n);                                                          \
        printf(__VA_ARGS__);                                                                                          \
        printf("\n");                                                                                                 \
        if (!tap_c_) {                                                                                                \
            tap_failed++;                                                                                             \
            printf("#   at %s:%d\n", __FILE__, __LINE__);                                                             \
        }                                                                                                             \
        fflush(stdout);                                                                                               \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
