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

/* A description is one TAP line: driver messages may carry newlines and tabs. */
static inline void tap_one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
}

#define ok(cond, ...)                                                                                                 \
    do {                                                                                                              \
        int tap_c_ = (cond) ? 1 : 0;                                                                                  \
        char tap_d_[2048];                                                                                            \
        snprintf(tap_d_, sizeof(tap_d_), __VA_ARGS__);                                                                \
        tap_one_line(tap_d_);                                                                                         \
        printf("%sok %d - %s\n", tap_c_ ? "" : "not ", ++tap_n, tap_d_);                                              \
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
