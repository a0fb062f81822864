/*
** spill.h -- anonymous spill files for data a run holds beyond its memory
** budget (scan.memory_mb): the outlier statistics' values (stats.c) and,
** through cs_host_api.spill_open, a check plugin's own (the duplicate
** check's row fingerprints).  One place decides how such a file is made.
*/
#ifndef CS_SPILL_H
#define CS_SPILL_H

/**
 * A new read-write file in directory dir that no name points to: created
 * with O_TMPFILE, or, where the file system lacks it, with mkostemp and
 * unlinked at once, so nothing is left behind even after a crash.  Returns
 * the descriptor (the caller closes it), or -errno (-ENAMETOOLONG when dir
 * is too long for a path).  No error text: callers say what the file was for.
 */
int cs_spill_open(const char *dir);

#endif
