/*
** main.c -- the creditsense binary: everything happens in cs_cli_main.
*/
#include <signal.h>

#include "cli.h"

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a closed stdout pipe is an error to report, not a reason to die */
    return cs_cli_main(argc, argv);
}
