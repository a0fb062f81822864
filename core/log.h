/*
** log.h -- structured logging: one JSON object per line on stderr.
**
** Levels follow syslog (enum cs_log_level in check.h).  The sink is
** process-wide by nature (stderr), so the level and the rate limiter are the
** one piece of process state in core; everything else travels in handles.
** Repeats of the same message within a second are counted and folded.
** Messages never carry secrets: callers pass redacted connection strings
** (see cs_config_redact).
*/
#ifndef CS_LOG_H
#define CS_LOG_H

#include <stdarg.h>

/** Set the most verbose level that is written (default CS_LOG_WARNING). */
void cs_log_set_level(int level);
/** "error", "warning", "info" or "debug" (static strings). */
const char *cs_log_level_name(int level);

/** Write one log line: {"ts":..,"level":..,"component":..,"msg":..}. */
void cs_log(int level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cs_logv(int level, const char *component, const char *fmt, va_list ap);

#endif
