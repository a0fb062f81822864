/*
** profile.h -- table profiles for judging one customer's rows.
**
** A single customer's values cannot be judged for outliers on their own,
** so a customer run attaches to every outlier-checked column the profile of
** the whole table (count, mean, sd, quartiles, median, MAD; see
** struct cs_profile).  Profiles are built in the database by the outlier
** check's statistics statements (pushdown.h) when profile.mode asks for it
** ("auto", the default: remote warehouses and SQLite tables above
** source.pushdown_rows), else by one full scan of the table's
** outlier-checked columns, and cached the same way either way: in memory for the engine's lifetime,
** and on disk under profile.cache_dir (when configured) for
** profile.max_age_s seconds, keyed by table and config hash, so the next
** process reuses them.  The disk cache is written atomically (temp file +
** rename); a damaged or stale file is ignored and rebuilt.  With a run
** store attached, DQ_PROFILES plays the same role across processes and
** machines (tried first; a store failure only costs a rebuild).
*/
#ifndef CS_PROFILE_H
#define CS_PROFILE_H

#include "config.h"
#include "source.h"

struct cs_profile_cache;

struct cs_profile_cache *cs_profile_cache_new(const struct cs_config *cfg);
void cs_profile_cache_free(struct cs_profile_cache *pc);

struct cs_store;
/**
 * Keep profiles in the run store (DQ_PROFILES) as well: loaded from it
 * before the disk cache and saved to it after a build, so processes on
 * other machines share them.  st is borrowed; NULL turns it off.
 */
void cs_profile_cache_set_store(struct cs_profile_cache *pc, struct cs_store *st);

/**
 * Point infos[i].profile at the table profile for every numeric column
 * whose policy has an outlier method and that is not a key; build or load
 * the profile first when needed.  The profiles live as long as the cache.
 */
int cs_profile_attach(struct cs_profile_cache *pc, struct cs_source *src, const struct cs_schema *schema,
                      struct cs_column_info *infos, struct cs_err *err);

#endif
