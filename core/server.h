/*
** server.h -- `creditsense serve`, the HTTP daemon (contract in server.c).
*/
#ifndef CS_SERVER_H
#define CS_SERVER_H

#include <sys/types.h>

/** Options of `creditsense serve`. */
struct serve_opts {
    const char *config; /* config file (required) */
    const char *listen; /* NULL: server.listen from the config */
    pid_t parent_pid;   /* > 0: stop when this process exits */
};

/** `creditsense serve ...` (argv[0] is "serve"): parse, run, return the exit status. */
int cs_server_cli(int argc, char **argv);

/** Run the daemon until SIGTERM/SIGINT; 0 after a clean stop, 2 when it cannot start. */
int cs_server_run(const struct serve_opts *o);

#endif
