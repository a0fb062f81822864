/*
** log.c -- JSON-lines logging to stderr.  See log.h.
**
** Rate limiting: a message identical to the previous one within the same
** second is not printed; the next different message (or the first repeat
** in a new second) reports how many were folded.
*/
#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "creditsense/check.h"

static struct {
    pthread_mutex_t lock;
    int level;
    char last[256];
    time_t last_ts;
    unsigned folded;
} g_log = {PTHREAD_MUTEX_INITIALIZER, CS_LOG_WARNING, "", 0, 0};

const char *cs_log_level_name(int level)
{
    switch (level) {
    case CS_LOG_ERROR: return "error";
    case CS_LOG_WARNING: return "warning";
    case CS_LOG_INFO: return "info";
    default: return "debug";
    }
}

void cs_log_set_level(int level)
{
    pthread_mutex_lock(&g_log.lock);
    g_log.level = level;
    pthread_mutex_unlock(&g_log.lock);
}

/* Returns 1 when the line is a repeat to fold. Called with the lock held. */
static int fold_repeat(const char *msg, time_t now)
{
    if (now == g_log.last_ts && strncmp(msg, g_log.last, sizeof(g_log.last) - 1) == 0) {
        g_log.folded++;
        return 1;
    }
    size_t n = strnlen(msg, sizeof(g_log.last) - 1); /* only a prefix is compared */
    memcpy(g_log.last, msg, n);
    g_log.last[n] = '\0';
    g_log.last_ts = now;
    return 0;
}

void cs_logv(int level, const char *component, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    pthread_mutex_lock(&g_log.lock);
    if (level > g_log.level) {
        pthread_mutex_unlock(&g_log.lock);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (fold_repeat(msg, ts.tv_sec)) {
        pthread_mutex_unlock(&g_log.lock);
        return;
    }
    json_t *o = json_pack("{s:f, s:s, s:s, s:s}", "ts", (double)ts.tv_sec + ts.tv_nsec / 1e9, "level",
                          cs_log_level_name(level), "component", component ? component : "core", "msg", msg);
    if (g_log.folded > 0) {
        json_object_set_new(o, "repeats_folded", json_integer(g_log.folded));
        g_log.folded = 0;
    }
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line != NULL) {
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    json_decref(o);
    pthread_mutex_unlock(&g_log.lock);
}

void cs_log(int level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cs_logv(level, component, fmt, ap);
    va_end(ap);
}
