/* cli.h - berth, the command-line client: shared state and helpers of the
 * command families (model.c, service.c) and main.c. */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <jansson.h>
#include <stdbool.h>

enum cli_exit {
    CLI_OK = 0,
    CLI_API_ERROR = 1, /* the API answered with an error */
    CLI_USAGE = 2,
    CLI_NETWORK = 3, /* no answer, or not the API's envelope */
};

struct cli {
    const char *endpoint; /* http://127.0.0.1:7700 */
    const char *region;
    char *secret_id;
    char *secret_key;
    bool json; /* print JSON for scripts instead of tables */
};

/* Call an action; takes the reference to 'params'. On success *response is
 * the Response object (the caller decrefs). Errors are printed
 * ("Code: Message") and give the exit code. */
int cli_call(struct cli *c, const char *action, json_t *params, json_t **response);
/* POST 'body' to 'url' (with "Authorization: Bearer <token>" when 'token'
 * is not NULL) and print the answer; for predict. */
int cli_post(const char *url, const char *token, const char *body, size_t len);
void cli_print_json(const json_t *v);
/* The string member 'k' of 'o', or "" when it is absent or not a string. */
const char *cli_jstr(const json_t *o, const char *k);
/* Read "JSON" or "@file" into a JSON value; NULL (after a message) on error. */
json_t *cli_json_arg(const char *arg);

int cli_model(struct cli *c, int argc, char **argv);
int cli_service(struct cli *c, int argc, char **argv);
int cli_predict(struct cli *c, int argc, char **argv);
/* logs.c: berth logs */
int cli_logs(struct cli *c, int argc, char **argv);
/* auth.c: berth service auth|limit, berth token ... */
int cli_service_auth(struct cli *c, int argc, char **argv);
int cli_service_limit(struct cli *c, int argc, char **argv);
int cli_token(struct cli *c, int argc, char **argv);
/* events.c: berth events */
int cli_events(struct cli *c, int argc, char **argv);
/* account.c: berth account ...; bill.c: berth bill */
int cli_account(struct cli *c, int argc, char **argv);
int cli_bill(struct cli *c, int argc, char **argv);

#endif
