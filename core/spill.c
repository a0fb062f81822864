/*
** spill.c -- anonymous spill files.  See spill.h.
*/
#include "spill.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int cs_spill_open(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        char path[4096];
        if (snprintf(path, sizeof(path), "%s/creditsense-spill-XXXXXX", dir) >= (int)sizeof(path))
            return -ENAMETOOLONG;
        fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0)
            unlink(path);
    }
    return fd >= 0 ? fd : -errno;
}
