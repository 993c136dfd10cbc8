/* cmd.c - the command table's machinery: find a command, parse its options
 * with getopt_long from its struct cli_opt table, print its help. The help
 * comes from the same table as the parser, so the two cannot disagree. */
#include "cli/cli.h"
#include "base/alloc.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT_JSON 1000 /* getopt_long codes: 1000 for --json, 1001 + i for table row i */
#define OPT_ROW 1001
#define HELP_COLUMN 32

static const struct cli_cmd *find_cmd(const struct cli_cmd *const *table, const char *name)
{
    for (size_t i = 0; table[i]; i++)
        if (strcmp(table[i]->name, name) == 0)
            return table[i];
    return NULL;
}

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

static size_t opt_count(const struct cli_opt *opts)
{
    size_t n = 0;
    while (opts && opts[n].name)
        n++;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Help                                                                     */

static void print_opt(FILE *f, int key, const char *name, const char *arg, const char *help)
{
    char left[96];
    int n = snprintf(left, sizeof(left), "  %c%c%s--%s%s%s", key ? '-' : ' ', key ? key : ' ',
                     key ? ", " : "  ", name, arg ? " " : "", arg ? arg : "");
    fprintf(f, "%s%*s%s\n", left, n < HELP_COLUMN ? HELP_COLUMN - n : 1, "", help);
}

static void print_leaf_help(FILE *f, const char *path, const struct cli_cmd *cmd)
{
    fprintf(f, "usage: berth %s%s%s [OPTIONS]\n\n%s\n", path, cmd->synopsis ? " " : "",
            cmd->synopsis ? cmd->synopsis : "", cmd->summary);
    if (cmd->about)
        fprintf(f, "\n%s\n", cmd->about);
    fprintf(f, "\noptions:\n");
    for (size_t i = 0; i < opt_count(cmd->opts); i++)
        print_opt(f, cmd->opts[i].key, cmd->opts[i].name, cmd->opts[i].arg, cmd->opts[i].help);
    print_opt(f, 0, "json", NULL, "print the API's JSON instead of a table");
    print_opt(f, 'h', "help", NULL, "show this help");
}

static void print_family_help(FILE *f, const char *path, const struct cli_cmd *cmd)
{
    fprintf(f, "usage: berth %s COMMAND [ARGS] [OPTIONS]\n\n%s\n", path, cmd->summary);
    if (cmd->about)
        fprintf(f, "\n%s\n", cmd->about);
    fprintf(f, "\ncommands:\n");
    for (size_t i = 0; cmd->subs[i]; i++)
        fprintf(f, "  %-12s %s\n", cmd->subs[i]->name, cmd->subs[i]->summary);
    fprintf(f, "\nRun 'berth %s COMMAND --help' for a command's arguments and options.\n", path);
}

void cli_print_commands(FILE *f, const struct cli_cmd *const *table)
{
    for (size_t i = 0; table[i]; i++) {
        const struct cli_cmd *cmd = table[i];
        if (!cmd->subs) {
            fprintf(f, "  %-20s %s\n", cmd->name, cmd->summary);
            continue;
        }
        for (size_t k = 0; cmd->subs[k]; k++) {
            char path[64];
            snprintf(path, sizeof(path), "%s %s", cmd->name, cmd->subs[k]->name);
            fprintf(f, "  %-20s %s\n", path, cmd->subs[k]->summary);
        }
    }
}

int cli_help(const struct cli_cmd *const *table, int argc, char **argv)
{
    const struct cli_cmd *cmd = NULL;
    char path[128] = "";
    for (int i = 0; i < argc; i++) {
        const struct cli_cmd *next = find_cmd(cmd ? cmd->subs : table, argv[i]);
        if (!next) {
            fprintf(stderr, "berth: help: no command '%s%s%s' (see berth help)\n", path,
                    *path ? " " : "", argv[i]);
            return CLI_USAGE;
        }
        size_t len = strlen(path);
        snprintf(path + len, sizeof(path) - len, "%s%s", len ? " " : "", next->name);
        cmd = next;
        if (!cmd->subs && i + 1 < argc) {
            fprintf(stderr, "berth: help: '%s' has no subcommands\n", path);
            return CLI_USAGE;
        }
    }
    if (cmd && cmd->subs)
        print_family_help(stdout, path, cmd);
    else if (cmd)
        print_leaf_help(stdout, path, cmd);
    return CLI_OK;
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */

int cli_usage_error(const struct cli_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "berth %s: ", a->path);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: berth %s%s%s [OPTIONS]   (berth %s --help)\n", a->path,
            a->cmd->synopsis ? " " : "", a->cmd->synopsis ? a->cmd->synopsis : "", a->path);
    return CLI_USAGE;
}

/* Parse a leaf command's options; on success a->vals and the positional
 * arguments are filled. *help tells whether --help was given. */
static int parse_leaf(struct cli *c, struct cli_args *a, int argc, char **argv, bool *help)
{
    const struct cli_opt *opts = a->cmd->opts;
    size_t n = opt_count(opts);
    struct option *lo = xcalloc(n + 3, sizeof(*lo));
    char *shorts = xcalloc(2 * n + 4, 1), *s = shorts;
    *s++ = ':'; /* ':' for a missing value, '?' for an unknown option */
    *s++ = 'h';
    for (size_t i = 0; i < n; i++) {
        lo[i] = (struct option){opts[i].name, opts[i].arg ? required_argument : no_argument, NULL,
                                opts[i].key ? opts[i].key : OPT_ROW + (int)i};
        if (opts[i].key) {
            *s++ = (char)opts[i].key;
            if (opts[i].arg)
                *s++ = ':';
        }
    }
    lo[n] = (struct option){"json", no_argument, NULL, OPT_JSON};
    lo[n + 1] = (struct option){"help", no_argument, NULL, 'h'};
    a->vals = xcalloc((size_t)argc + 1, sizeof(*a->vals));
    char bad[160] = "";
    optind = 0; /* GNU: start afresh */
    opterr = 0;
    int k;
    while ((k = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const char *word = argv[optind - 1];
        if (k == 'h') {
            *help = true;
        } else if (k == '?' && !*bad) {
            if (optopt && optopt < OPT_JSON)
                snprintf(bad, sizeof(bad), "unknown option '-%c'", optopt);
            else
                snprintf(bad, sizeof(bad), "unknown option '%s'", word);
        } else if (k == ':' && !*bad) {
            snprintf(bad, sizeof(bad), "%s needs a value", word);
        } else if (k == OPT_JSON) {
            c->json = true;
        } else {
            for (size_t i = 0; i < n; i++)
                if (k == (opts[i].key ? opts[i].key : OPT_ROW + (int)i))
                    a->vals[a->nvals++] = (struct cli_val){&opts[i], optarg ? optarg : ""};
        }
    }
    a->argc = argc - optind;
    a->argv = argv + optind;
    free(lo);
    free(shorts);
    if (*help)
        return CLI_OK;
    if (*bad)
        return cli_usage_error(a, "%s", bad);
    if (a->argc < a->cmd->min_args)
        return cli_usage_error(a, "too few arguments");
    if (a->cmd->max_args >= 0 && a->argc > a->cmd->max_args)
        return cli_usage_error(a, "unexpected argument '%s'", a->argv[a->cmd->max_args]);
    return CLI_OK;
}

int cli_dispatch(struct cli *c, const struct cli_cmd *const *table, int argc, char **argv)
{
    const struct cli_cmd *cmd = find_cmd(table, argv[0]);
    if (!cmd) {
        fprintf(stderr, "berth: unknown command '%s' (see berth help)\n", argv[0]);
        return CLI_USAGE;
    }
    char path[128];
    snprintf(path, sizeof(path), "%s", cmd->name);
    while (cmd->subs) {
        if (argc < 2 || is_help(argv[1])) {
            print_family_help(argc < 2 ? stderr : stdout, path, cmd);
            return argc < 2 ? CLI_USAGE : CLI_OK;
        }
        const struct cli_cmd *sub = find_cmd(cmd->subs, argv[1]);
        if (!sub) {
            fprintf(stderr, "berth %s: unknown command '%s' (see berth %s --help)\n", path, argv[1],
                    path);
            return CLI_USAGE;
        }
        size_t len = strlen(path);
        snprintf(path + len, sizeof(path) - len, " %s", sub->name);
        cmd = sub;
        argc--;
        argv++;
    }
    struct cli_args a = {.cmd = cmd, .path = path};
    bool help = false;
    int rc = parse_leaf(c, &a, argc, argv, &help);
    if (help)
        print_leaf_help(stdout, path, cmd);
    else if (rc == CLI_OK)
        rc = cmd->run(c, &a);
    free(a.vals);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Reading the values                                                       */

const char *cli_arg_next(const struct cli_args *a, const char *name, size_t *i)
{
    for (; *i < a->nvals; (*i)++)
        if (strcmp(a->vals[*i].opt->name, name) == 0)
            return a->vals[(*i)++].val;
    return NULL;
}

const char *cli_arg(const struct cli_args *a, const char *name)
{
    const char *last = NULL, *v;
    size_t i = 0;
    while ((v = cli_arg_next(a, name, &i)))
        last = v;
    return last;
}

bool cli_flag(const struct cli_args *a, const char *name)
{
    return cli_arg(a, name) != NULL;
}

int cli_arg_long(const struct cli_args *a, const char *name, long lo, long hi, long *out)
{
    const char *v = cli_arg(a, name);
    if (!v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < lo || n > hi) {
        cli_usage_error(a, "--%s must be a number from %ld to %ld, got '%s'", name, lo, hi, v);
        return -1;
    }
    *out = n;
    return 1;
}

long long cli_duration_s(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0 || v > 100LL * 365 * 86400)
        return -1;
    if (!*end)
        return v;
    if (end[1] != '\0')
        return -1;
    switch (*end) {
    case 's':
        return v;
    case 'm':
        return v * 60;
    case 'h':
        return v * 3600;
    case 'd':
        return v * 86400;
    default:
        return -1;
    }
}
