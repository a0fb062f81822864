/* demodata.h -- placeholder until the generator lands */
#ifndef CS_DEMODATA_H
#define CS_DEMODATA_H
#include <stdint.h>
#include "creditsense/check.h"
struct cs_demodata_opts { const char *out; uint64_t customers; uint64_t seed; void (*progress)(void *ctx, const char *table, uint64_t done, uint64_t total); void *progress_ctx; };
int cs_demodata_write(const struct cs_demodata_opts *o, struct cs_err *err);
#endif
