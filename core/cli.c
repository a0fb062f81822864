/*
** cli.c -- the creditsense command line.  See cli.h.
**
** Contract (outside tests rely on it exactly):
**   creditsense scan --config FILE --table NAME [--format json|text] [--fail-on SEVERITY]
**   creditsense customer --config FILE --id ID [--format json|text] [--fail-on SEVERITY]
**   creditsense demo-data --out FILE.db [--customers N] [--seed S]
**   creditsense rules list|check --config FILE [--format text|json]
**   creditsense history --config FILE [--customer ID | --table NAME] [--limit N] [--format json|text]
**   creditsense advise --config FILE --run RUN_ID [--format json|text]
** scan and customer also take --advise: the report gains "advisor" and
** "suggestions" (advisor_cli.h), stored in DQ_AI_SUGGESTIONS with the run.
** scan and customer also take --store / --no-store.  By default a run is
** stored (into the source database unless a "store" section names another);
** the JSON says "stored": true|false.  When storing was asked for (--store or
** a "store" section) a store that cannot be used is exit status 2; the
** implicit default only logs a warning, so a read-only source still reports.
** Exit status: 0 after a good run, 1 when --fail-on is met, 2 with a message
** on stderr for usage, config, connection and data errors and for an
** unknown customer.  JSON goes to stdout, logs and progress to stderr.
*/
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "advisor_cli.h"
#include "config.h"
#include "demodata.h"
#include "drift.h"
#include "engine.h"
#include "err.h"
#include "history.h"
#include "log.h"
#include "plugin.h"
#include "pushdown.h"
#include "report.h"
#include "server.h"
#include "rules.h"
#include "store.h"

#define EXIT_FINDINGS 1
#define EXIT_ERROR 2

struct cli_opts {
    const char *config, *table, *id, *format, *out;
    int fail_on;
    uint64_t customers, seed;
    int store;                /* 1 --store, 0 --no-store, -1 as the config says */
    const char *customer;     /* history --customer */
    uint64_t limit;           /* history --limit */
    int advise;               /* scan/customer --advise */
    const char *run;          /* advise --run */
    int scan_mode;            /* scan --mode (pushdown.h), default auto */
};

static const char USAGE[] =
    "usage: creditsense <command> [options]\n"
    "\n"
    "commands:\n"
    "  scan       --config FILE --table NAME [--format json|text] [--fail-on SEVERITY]\n"
    "             [--mode stream|pushdown|auto]\n"
    "             check every row of a table (auto: in the database for warehouses and big tables)\n"
    "  customer   --config FILE --id ID [--format json|text] [--fail-on SEVERITY]\n"
    "             check one customer's rows in every configured table\n"
    "  demo-data  --out FILE.db [--customers N] [--seed S]\n"
    "             write a SQLite database of realistic Home Credit-style sample data\n"
    "  rules list --config FILE [--format text|json]\n"
    "             show the Lua rules of the rules directory (see lua/README.md)\n"
    "  rules check --config FILE [--format text|json]\n"
    "             load every rule file and check its tables and columns; exit 2 when any is broken\n"
    "  history    --config FILE [--customer ID | --table NAME] [--limit N] [--format json|text]\n"
    "             list past runs and their findings from the run store\n"
    "  advise     --config FILE --run RUN_ID [--format json|text]\n"
    "             ask the advisor again about a stored run's anomalies that have no advice yet\n"
    "  serve      --config FILE [--listen HOST:PORT]\n"
    "             run the HTTP API and dashboard (default 127.0.0.1:8080; see docs/api.md)\n"
    "  version    print the version\n"
    "\n"
    "scan and customer store each run (runs, findings, metrics; drift is checked\n"
    "against the stored history) unless --no-store is given or the config says\n"
    "\"store\": {\"enabled\": false}; --store forces it.  With --advise they also\n"
    "add AI suggestions (docs/advisor.md; offline unless a backend is configured).\n"
    "SEVERITY is one of info, low, medium, high, critical: with --fail-on the exit\n"
    "status is 1 when any finding is at or above it.  Exit status 2 means the run\n"
    "could not be done (usage, config, connection, unknown table or customer).\n"
    "Set CREDITSENSE_LOG=debug|info|warning|error for more or less logging.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "creditsense: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(run 'creditsense help' for usage)\n");
    return EXIT_ERROR;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct cli_opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"table", required_argument, NULL, 't'},
        {"id", required_argument, NULL, 'i'},     {"format", required_argument, NULL, 'f'},
        {"fail-on", required_argument, NULL, 'F'}, {"out", required_argument, NULL, 'o'},
        {"customers", required_argument, NULL, 'n'}, {"seed", required_argument, NULL, 's'},
        {"store", no_argument, NULL, 'S'},        {"no-store", no_argument, NULL, 'N'},
        {"customer", required_argument, NULL, 'C'}, {"limit", required_argument, NULL, 'l'},
        {"advise", no_argument, NULL, 'A'},       {"run", required_argument, NULL, 'R'},
        {"mode", required_argument, NULL, 'M'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 't': o->table = optarg; break;
        case 'i': o->id = optarg; break;
        case 'f': o->format = optarg; break;
        case 'o': o->out = optarg; break;
        case 'S': o->store = 1; break;
        case 'N': o->store = 0; break;
        case 'C': o->customer = optarg; break;
        case 'A': o->advise = 1; break;
        case 'R': o->run = optarg; break;
        case 'M':
            if ((o->scan_mode = cs_scan_mode_parse(optarg)) < 0)
                return usage_error("--mode: expected stream, pushdown or auto, got '%s'", optarg);
            break;
        case 'l':
            if (parse_u64(optarg, &o->limit) != 0 || o->limit == 0 || o->limit > 10000)
                return usage_error("--limit: expected a whole number from 1 to 10000, got '%s'", optarg);
            break;
        case 'F':
            if ((o->fail_on = cs_severity_parse(optarg)) < 0)
                return usage_error("--fail-on: unknown severity '%s' (use info, low, medium, high or critical)", optarg);
            break;
        case 'n':
            if (parse_u64(optarg, &o->customers) != 0 || o->customers == 0 || o->customers > 10000000)
                return usage_error("--customers: expected a whole number from 1 to 10000000, got '%s'", optarg);
            break;
        case 's':
            if (parse_u64(optarg, &o->seed) != 0)
                return usage_error("--seed: expected a non-negative whole number, got '%s'", optarg);
            break;
        case ':': return usage_error("option %s needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (strcmp(o->format, "json") != 0 && strcmp(o->format, "text") != 0)
        return usage_error("--format: expected json or text, got '%s'", o->format);
    return 0;
}

/* ---- progress ------------------------------------------------------------ */

struct progress {
    double start, last; /* when the scan began; when the bar was last drawn */
    int shown;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Drawn only on a terminal, and only once a scan has run for a second. */
static void progress_draw(void *ctx, const char *table, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    double now = mono_s();
    /* Nothing for short scans; then ten redraws a second at most (a callback comes per batch). */
    if (now - p->start < 1.0 || (now - p->last < 0.1 && done < total))
        return;
    p->last = now;
    p->shown = 1;
    if (total == 0 || done > total) {
        fprintf(stderr, "\r%-24.24s %llu rows", table, (unsigned long long)done);
        return;
    }
    int width = 30, fill = (int)(width * (double)done / (double)total);
    fprintf(stderr, "\r%-24.24s [%.*s%*s] %3d%% %llu/%llu rows", table, fill, "==============================",
            width - fill, "", (int)(100.0 * done / total), (unsigned long long)done, (unsigned long long)total);
}

static void progress_end(const struct progress *p)
{
    if (p->shown)
        fprintf(stderr, "\r\033[K");
}

/* ---- scan and customer ------------------------------------------------- */

static int load_setup(const struct cli_opts *o, struct cs_config **cfg, struct cs_registry **reg, struct cs_err *err)
{
    char dir[PATH_MAX];
    int rc = cs_config_load(o->config, cfg, err);
    if (rc != 0)
        return rc;
    cs_plugin_dir((*cfg)->plugin_dir, dir, sizeof(dir));
    return cs_registry_load(reg, dir, err);
}

static int emit_run(const struct cli_opts *o, const struct cs_run *run, json_t *advice)
{
    if (strcmp(o->format, "json") == 0) {
        json_t *j = cs_report_json(run);
        if (j != NULL && advice != NULL)
            json_object_update(j, advice);
        if (j == NULL || json_dumpf(j, stdout, JSON_INDENT(2)) != 0) {
            json_decref(j);
            fprintf(stderr, "creditsense: out of memory writing the report\n");
            return EXIT_ERROR;
        }
        json_decref(j);
        fputc('\n', stdout);
    } else {
        cs_report_text(stdout, run, isatty(STDOUT_FILENO));
        if (advice != NULL)
            cs_advice_print_text(stdout, advice);
    }
    fflush(stdout);
    if (o->fail_on >= 0 && cs_run_max_severity(run) >= o->fail_on)
        return EXIT_FINDINGS;
    return 0;
}

/* Drift against the stored history, then the run with its drift findings. */
static int store_run(struct cs_store *st, const struct cs_config *cfg, struct cs_run *run, struct cs_err *err)
{
    int rc = cs_drift_check(st, cfg, run, err);
    if (rc == 0 && (rc = cs_store_write_run(st, run, err)) == 0)
        run->stored = 1;
    return rc;
}

/* The default store could not be used: say so, and go on with "stored": false. */
static int store_skipped(struct cs_err *err)
{
    cs_log(CS_LOG_WARNING, "store", "run not stored: %s", err->msg);
    cs_err_clear(err);
    return 0;
}

static int run_checks(const struct cli_opts *o, int customer)
{
    struct cs_config *cfg = NULL;
    struct cs_registry *reg = NULL;
    struct cs_engine *eng = NULL;
    struct cs_run *run = NULL;
    struct cs_store *st = NULL;
    struct cs_err err = {0};
    struct progress prog = {.start = mono_s()};
    int tty = isatty(STDERR_FILENO);
    struct cs_scan_opts so = {.progress = tty ? progress_draw : NULL, .progress_ctx = &prog, .count_rows = tty,
                              .scan_mode = o->scan_mode};
    int rc = load_setup(o, &cfg, &reg, &err);
    if (rc == 0)
        rc = cs_engine_new(&eng, cfg, reg, &err);
    /* Storing was asked for (--store, or a "store" section): failing is an error.  Only the
     * implicit default (into the source database) degrades to a warning, so a read-only
     * source still gets its report. */
    int store_required = o->store > 0 || (o->store < 0 && cfg != NULL && cfg->store_configured);
    if (rc == 0 && (o->store > 0 || (o->store < 0 && cfg->store_enabled))) {
        if ((rc = cs_store_open_config(&st, cfg, &err)) == 0)
            cs_engine_set_store(eng, st);
        else if (!store_required)
            rc = store_skipped(&err);
    }
    so.metrics = st != NULL;
    if (rc == 0)
        rc = customer ? cs_engine_scan_customer(eng, o->id, &so, &run, &err)
                      : cs_engine_scan_table(eng, o->table, &so, &run, &err);
    if (rc == 0 && st != NULL && (rc = store_run(st, cfg, run, &err)) != 0 && !store_required)
        rc = store_skipped(&err);
    progress_end(&prog);
    json_t *advice = rc == 0 && o->advise ? cs_advise_run(cfg, st, run) : NULL; /* after the run is stored */
    int status = rc == 0 ? emit_run(o, run, advice) : EXIT_ERROR;
    if (rc != 0)
        fprintf(stderr, "creditsense: %s\n", err.msg);
    json_decref(advice);
    cs_run_free(run);
    cs_engine_free(eng);
    cs_store_close(st);
    cs_registry_free(reg);
    cs_config_free(cfg);
    return status;
}

static int cmd_scan(const struct cli_opts *o)
{
    if (o->config == NULL || o->table == NULL)
        return usage_error("%s", "scan needs --config FILE and --table NAME");
    return run_checks(o, 0);
}

static int cmd_customer(const struct cli_opts *o)
{
    if (o->config == NULL || o->id == NULL)
        return usage_error("%s", "customer needs --config FILE and --id ID");
    return run_checks(o, 1);
}

/* ---- history ------------------------------------------------------------- */

static int cmd_history(const struct cli_opts *o)
{
    struct cs_err err = {0};
    if (o->config == NULL)
        return usage_error("%s", "history needs --config FILE");
    if (o->table != NULL && o->customer != NULL)
        return usage_error("%s", "history takes --customer ID or --table NAME, not both");
    struct cs_history_query q = {.table = o->table, .customer = o->customer, .limit = (size_t)o->limit};
    if (cs_history_command(o->config, &q, strcmp(o->format, "text") == 0, stdout, &err) != 0) {
        fprintf(stderr, "creditsense: %s\n", err.msg);
        return EXIT_ERROR;
    }
    return 0;
}

/* ---- advise ---------------------------------------------------------------- */

static int cmd_advise(const struct cli_opts *o)
{
    struct cs_err err = {0};
    if (o->config == NULL || o->run == NULL)
        return usage_error("%s", "advise needs --config FILE and --run RUN_ID");
    if (cs_advise_command(o->config, o->run, strcmp(o->format, "text") == 0, stdout, &err) != 0) {
        fprintf(stderr, "creditsense: %s\n", err.msg);
        return EXIT_ERROR;
    }
    return 0;
}

/* ---- rules ----------------------------------------------------------------- */

static int cmd_rules(const struct cli_opts *o, const char *sub)
{
    if (sub == NULL || (strcmp(sub, "list") != 0 && strcmp(sub, "check") != 0))
        return usage_error("%s", "rules needs list or check: rules list --config FILE, rules check --config FILE");
    if (o->config == NULL)
        return usage_error("rules %s needs --config FILE", sub);
    return cs_rules_cli(sub, o->config, strcmp(o->format, "json") == 0);
}

/* ---- demo-data ----------------------------------------------------------- */

static void demo_progress(void *ctx, const char *table, uint64_t done, uint64_t total)
{
    progress_draw(ctx, table, done, total);
}

static int cmd_demo(const struct cli_opts *o)
{
    if (o->out == NULL)
        return usage_error("%s", "demo-data needs --out FILE.db");
    struct progress prog = {.start = mono_s()};
    struct cs_demodata_opts d = {.out = o->out, .customers = o->customers ? o->customers : 30000,
                                 .seed = o->seed,
                                 .progress = isatty(STDERR_FILENO) ? demo_progress : NULL, .progress_ctx = &prog};
    struct cs_err err = {0};
    double t0 = mono_s();
    int rc = cs_demodata_write(&d, &err);
    progress_end(&prog);
    if (rc != 0) {
        fprintf(stderr, "creditsense: %s\n", err.msg);
        return EXIT_ERROR;
    }
    fprintf(stderr, "wrote %llu customers to %s in %.1f s\n", (unsigned long long)d.customers, o->out, mono_s() - t0);
    return 0;
}

static void set_log_level(void)
{
    const char *l = getenv("CREDITSENSE_LOG");
    if (l == NULL)
        return;
    if (strcmp(l, "debug") == 0)
        cs_log_set_level(CS_LOG_DEBUG);
    else if (strcmp(l, "info") == 0)
        cs_log_set_level(CS_LOG_INFO);
    else if (strcmp(l, "error") == 0)
        cs_log_set_level(CS_LOG_ERROR);
}

int cs_cli_main(int argc, char **argv)
{
    struct cli_opts o = {.format = "json", .fail_on = -1, .seed = 42, .store = -1, .scan_mode = CS_SCAN_AUTO};
    set_log_level();
    if (argc < 2)
        return fputs(USAGE, stderr), EXIT_ERROR;
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return fputs(USAGE, stdout), 0;
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return printf("creditsense %s\n", CS_VERSION), 0;
    if (strcmp(cmd, "serve") == 0)
        return cs_server_cli(argc - 1, argv + 1);
    int sub = strcmp(cmd, "rules") == 0 && argc > 2 && argv[2][0] != '-'; /* rules list|check */
    if (sub)
        o.format = "text";
    int rc = parse_opts(argc - 1 - sub, argv + 1 + sub, &o);
    if (rc != 0)
        return rc;
    if (strcmp(cmd, "rules") == 0)
        return cmd_rules(&o, sub ? argv[2] : NULL);
    if (strcmp(cmd, "scan") == 0)
        return cmd_scan(&o);
    if (strcmp(cmd, "customer") == 0)
        return cmd_customer(&o);
    if (strcmp(cmd, "demo-data") == 0)
        return cmd_demo(&o);
    if (strcmp(cmd, "history") == 0)
        return cmd_history(&o);
    if (strcmp(cmd, "advise") == 0)
        return cmd_advise(&o);
    return usage_error("unknown command '%s'", cmd);
}
