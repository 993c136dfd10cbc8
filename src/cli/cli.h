/* cli.h - berth, the command-line client: the command table (cmd.c), shared
 * state and helpers of the command families (model.c, service.c, ...) and
 * main.c.
 *
 * A command is a struct cli_cmd: its name, the synopsis of its arguments, a
 * one-line summary, its options (struct cli_opt) and the function that runs
 * it; a family (service, model, token) has subcommands instead. Options are
 * parsed with getopt_long from the table, and --help, `berth help CMD [SUB]`
 * and docs/cli.md (scripts/cli-reference.sh) all come from it too. To add a command, define its
 * struct cli_cmd in its own file, declare it below and add one line to
 * main.c's commands[] (or to a family's subcommand list). */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cli_exit {
    CLI_OK = 0,
    CLI_API_ERROR = 1, /* the API answered with an error */
    CLI_USAGE = 2,
    CLI_NETWORK = 3, /* no answer, or not the API's envelope */
    CLI_FAILED = 4,  /* --wait: the operation failed (Abnormal, CREATE_FAILED, import failed) */
    CLI_TIMEOUT = 5, /* --wait: not done within --timeout */
};

struct cli {
    const char *endpoint; /* http://127.0.0.1:7700 */
    const char *region;
    char *secret_id;
    char *secret_key;
    const char *cred_file; /* --credentials */
    bool json;             /* print JSON for scripts instead of tables */
};

/* ------------------------------------------------------------------------ */
/* The command table (cmd.c)                                                */

/* One option of a command: --name (and -k when 'key' is a letter). */
struct cli_opt {
    const char *name; /* the long name without "--"; NULL ends a table */
    int key;          /* a short option letter, or 0 for none */
    const char *arg;  /* the value's placeholder ("N"); NULL: a flag without a value */
    const char *help; /* one line */
};

struct cli_args;

struct cli_cmd {
    const char *name;           /* "create" */
    const char *synopsis;       /* what follows the name in "usage:", e.g. "ms-ID-N REPLICAS" */
    const char *summary;        /* one line for the command list */
    const char *about;          /* more, shown by --help; NULL: none */
    int min_args;               /* positional arguments */
    int max_args;               /* -1: any number */
    const struct cli_opt *opts; /* NULL or a table ending with {NULL} */
    int (*run)(struct cli *c, const struct cli_args *a);
    const struct cli_cmd *const *subs; /* a family: its subcommands, ending with NULL */
};

/* What a command was given: its positional arguments and option values. */
struct cli_args {
    const struct cli_cmd *cmd;
    const char *path; /* "service create", for messages */
    int argc;
    char **argv; /* the positional arguments */
    size_t nvals;
    struct cli_val {
        const struct cli_opt *opt;
        const char *val; /* "" for a flag */
    } * vals;
};

/* Find the command argv[0] names in 'table' (NULL-terminated), parse the
 * rest and run it. --help (-h) anywhere prints its help to stdout and
 * returns CLI_OK without running it; usage errors return CLI_USAGE. */
int cli_dispatch(struct cli *c, const struct cli_cmd *const *table, int argc, char **argv);
/* Print the help of the command 'path' names ("service", "service create");
 * CLI_USAGE (said why) when there is no such command. */
int cli_help(const struct cli_cmd *const *table, int argc, char **argv);
/* The list of every command, for `berth help`. */
void cli_print_commands(FILE *f, const struct cli_cmd *const *table);

/* The last value given for option 'name', "" for a given flag, NULL if absent. */
const char *cli_arg(const struct cli_args *a, const char *name);
bool cli_flag(const struct cli_args *a, const char *name);
/* Every value of a repeatable option in order: start with *i = 0; NULL at the end. */
const char *cli_arg_next(const struct cli_args *a, const char *name, size_t *i);
/* Option 'name' as a whole number from lo to hi into *out: 0 when absent
 * (*out untouched), 1 when given, -1 (said why) when it is not such a number. */
int cli_arg_long(const struct cli_args *a, const char *name, long lo, long hi, long *out);
/* "90", "90s", "5m", "2h", "1d" into seconds; -1 when it is none of these. */
long long cli_duration_s(const char *s);
/* Print "berth PATH: MESSAGE" and the command's usage line to stderr; CLI_USAGE. */
int cli_usage_error(const struct cli_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* Talking to the API (main.c)                                              */

/* Call an action; takes the reference to 'params'. On success *response is
 * the Response object (the caller decrefs). Errors are printed
 * ("Code: Message") and give the exit code. Finds the credentials on the
 * first call. */
int cli_call(struct cli *c, const char *action, json_t *params, json_t **response);
/* POST 'body' to 'url' (with "Authorization: Bearer <token>" when 'token'
 * is not NULL) and print the answer; for predict. */
int cli_post(const char *url, const char *token, const char *body, size_t len);
void cli_print_json(const json_t *v);
/* The string member 'k' of 'o', or "" when it is absent or not a string. */
const char *cli_jstr(const json_t *o, const char *k);
/* Read "JSON" or "@file" into a JSON value; NULL (after a message) on error. */
json_t *cli_json_arg(const char *arg);

/* ------------------------------------------------------------------------ */
/* Waiting for long operations (wait.c)                                     */

enum cli_goal {
    CLI_GOAL_RUNNING, /* Normal with every replica ready (Stopped when it asks for 0) */
    CLI_GOAL_ROLLOUT, /* the same, every instance started after the change */
    CLI_GOAL_STOPPED,
};

/* The --wait and --timeout options of the commands that wait. */
#define CLI_WAIT_OPTS                                                                              \
    {"wait", 'w', NULL,                                                                            \
     "wait until done, showing progress; stop on Abnormal or "                                     \
     "CREATE_FAILED (crash loops too)"},                                                           \
    {                                                                                              \
        "timeout", 0, "DURATION",                                                                  \
            "with --wait: give up after DURATION (90s, 10m; default 10m); "                        \
            "implies --wait"                                                                       \
    }
/* Whether the command was given --wait or --timeout; *timeout_s from --timeout.
 * -1 (said why) for a bad --timeout. */
int cli_wait_wanted(const struct cli_args *a, double *timeout_s);
/* Poll DescribeModelService for 'service_id' until it reaches 'goal',
 * printing each change of state to stderr, at 0.5 s backing off to 2 s.
 * 'before' is the Service the action answered with: a failure it already
 * showed is not taken for the action's own until it changes. On CLI_OK
 * *last is the last Response (the caller decrefs); CLI_FAILED or CLI_TIMEOUT
 * after saying why and where to look. */
int cli_wait_service(struct cli *c, const char *service_id, const json_t *before,
                     enum cli_goal goal, double timeout_s, json_t **last);
/* Sleep for the poll interval *ms, then back it off (to 2 s at most). */
void cli_poll_sleep(long *ms);
double cli_now_s(void);

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */

extern const struct cli_cmd cli_model_cmd;         /* model.c */
extern const struct cli_cmd cli_service_cmd;       /* service.c */
extern const struct cli_cmd cli_predict_cmd;       /* service.c */
extern const struct cli_cmd cli_logs_cmd;          /* logs.c */
extern const struct cli_cmd cli_events_cmd;        /* events.c */
extern const struct cli_cmd cli_token_cmd;         /* auth.c */
extern const struct cli_cmd cli_service_auth_cmd;  /* auth.c: service auth */
extern const struct cli_cmd cli_service_limit_cmd; /* auth.c: service limit */
extern const struct cli_cmd cli_specs_cmd;         /* specs.c */
extern const struct cli_cmd cli_account_cmd;       /* account.c */
extern const struct cli_cmd cli_bill_cmd;          /* bill.c */
/* service.c: a table of services (a header, then one row each) */
void cli_service_header(void);
void cli_service_row(const json_t *service);

#endif
