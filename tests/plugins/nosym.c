/*
** nosym.c -- a deliberately wrong check module for the loader test.
**
** A valid shared object that exports something, but not cs_check_entry:
** the host must refuse it as "not a CreditSense check plugin", naming the
** file, and carry on.
*/
#include <stdint.h>

__attribute__((visibility("default"))) uint32_t creditsense_not_a_check(void)
{
    return 42;
}
