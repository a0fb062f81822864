/*
** cli.h -- the command line: parses argv, runs the command, returns the
** process exit status (see cli.c for the contract).
*/
#ifndef CS_CLI_H
#define CS_CLI_H

/** Run the creditsense command line; returns the exit status. */
int cs_cli_main(int argc, char **argv);

#endif
