/* main.c - berth: finds the endpoint and credential like tccli (flags, then
 * TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, then a credentials file:
 * --credentials, BERTH_CREDENTIALS, ./var/credentials, the user's config
 * directory, ~/.tccli/default.credential), signs with TC3 like the official
 * SDKs, and runs a command from the table commands[]. */
#include "cli/cli.h"
#include "api/tc3.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/version.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESPONSE_LIMIT_BYTES (64 * 1024 * 1024)

/* --ca-file or BERTH_CA_FILE: the CAs https endpoints are verified against
 * (NULL: the system's). */
static const char *ca_file;

static size_t on_data(char *ptr, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    return buf_append(b, ptr, size * n) ? 0 : size * n;
}

/* POST 'body' with the headers 'hs' (taken); the answer goes into 'out'. */
static CURLcode post(const char *url, struct curl_slist *hs, const char *body, size_t len,
                     struct buf *out, long *status)
{
    hs = curl_slist_append(hs, "Expect:"); /* no 100-continue round trip */
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
    if (ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    CURLcode rc = curl_easy_perform(curl);
    *status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(hs);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Helpers shared by the commands                                           */

void cli_print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", s ? s : "null");
    free(s);
}

json_t *cli_json_arg(const char *arg)
{
    json_error_t e;
    json_t *v = arg[0] == '@' ? json_load_file(arg + 1, JSON_REJECT_DUPLICATES, &e)
                              : json_loads(arg, JSON_REJECT_DUPLICATES, &e);
    if (!v)
        fprintf(stderr, "berth: %s: %s (line %d)\n", arg[0] == '@' ? arg + 1 : "JSON argument",
                e.text, e.line);
    return v;
}

static int find_credentials(struct cli *c);

int cli_call(struct cli *c, const char *action, json_t *params, json_t **response)
{
    if (find_credentials(c) != 0) {
        json_decref(params);
        return CLI_USAGE;
    }
    char *body = json_dumps(params, JSON_COMPACT);
    json_decref(params);
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    if (curl_url_set(u, CURLUPART_URL, c->endpoint, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        fprintf(stderr, "berth: bad endpoint '%s'\n", c->endpoint);
        curl_url_cleanup(u);
        free(body);
        return CLI_USAGE;
    }
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    char *hostport = port ? xasprintf("%s:%s", host, port) : xstrdup(host);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);

    long long ts = (long long)time(NULL);
    struct buf auth;
    buf_init(&auth, 4096);
    /* X-TC-Action is signed too, so a captured request cannot become another action. */
    tc3_sign(c->secret_id, c->secret_key, "tione", hostport, "application/json", action,
             str_from(body), ts, &auth);
    char h_auth[4200], h_action[128], h_region[128], h_ts[64], h_host[300];
    snprintf(h_auth, sizeof(h_auth), "Authorization: %s", auth.ptr);
    snprintf(h_action, sizeof(h_action), "X-TC-Action: %s", action);
    snprintf(h_region, sizeof(h_region), "X-TC-Region: %s", c->region);
    snprintf(h_ts, sizeof(h_ts), "X-TC-Timestamp: %lld", ts);
    snprintf(h_host, sizeof(h_host), "Host: %s", hostport);
    buf_release(&auth);
    free(hostport);
    struct curl_slist *hs = NULL;
    hs = curl_slist_append(hs, "Content-Type: application/json");
    hs = curl_slist_append(hs, h_host);
    hs = curl_slist_append(hs, h_action);
    hs = curl_slist_append(hs, "X-TC-Version: 2021-11-11");
    hs = curl_slist_append(hs, h_region);
    hs = curl_slist_append(hs, h_ts);
    hs = curl_slist_append(hs, h_auth);

    struct buf out;
    buf_init(&out, RESPONSE_LIMIT_BYTES);
    long status;
    CURLcode rc = post(c->endpoint, hs, body, strlen(body), &out, &status);
    free(body);
    int ret = CLI_OK;
    json_t *doc = NULL;
    if (rc != CURLE_OK) {
        fprintf(stderr, "berth: cannot reach %s: %s\n", c->endpoint, curl_easy_strerror(rc));
        ret = CLI_NETWORK;
    } else if (!(doc = json_loadb(out.ptr, out.len, 0, NULL)) ||
               !json_is_object(json_object_get(doc, "Response"))) {
        fprintf(stderr, "berth: %s answered HTTP %ld without an API response\n", c->endpoint,
                status);
        ret = CLI_NETWORK;
    } else {
        json_t *resp = json_object_get(doc, "Response");
        json_t *error = json_object_get(resp, "Error");
        if (error) {
            fprintf(stderr, "berth: %s: %s\n", json_string_value(json_object_get(error, "Code")),
                    json_string_value(json_object_get(error, "Message")));
            ret = CLI_API_ERROR;
        } else {
            *response = json_incref(resp);
        }
    }
    json_decref(doc);
    buf_release(&out);
    return ret;
}

const char *cli_jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

int cli_post(const char *url, const char *token, const char *body, size_t len)
{
    struct buf out;
    buf_init(&out, RESPONSE_LIMIT_BYTES);
    long status;
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/json");
    if (token) {
        char *h = xasprintf("Authorization: Bearer %s", token);
        hs = curl_slist_append(hs, h);
        free(h);
    }
    CURLcode rc = post(url, hs, body, len, &out, &status);
    int ret = CLI_OK;
    if (rc != CURLE_OK) {
        fprintf(stderr, "berth: cannot reach %s: %s\n", url, curl_easy_strerror(rc));
        ret = CLI_NETWORK;
    } else {
        fwrite(out.ptr, 1, out.len, stdout);
        if (out.len && out.ptr[out.len - 1] != '\n')
            putchar('\n');
        if (status != 200) {
            fprintf(stderr, "berth: HTTP %ld\n", status);
            ret = CLI_API_ERROR;
        }
    }
    buf_release(&out);
    return ret;
}

/* ------------------------------------------------------------------------ */
/* Credentials                                                              */

static bool load_credentials(struct cli *c, const char *path)
{
    json_t *doc = json_load_file(path, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "secretId"));
    const char *key = json_string_value(json_object_get(doc, "secretKey"));
    bool ok = id && key;
    if (ok) {
        c->secret_id = xstrdup(id);
        c->secret_key = xstrdup(key);
    }
    json_decref(doc);
    return ok;
}

/* The user's config directory: $XDG_CONFIG_HOME/berth, else ~/.config/berth. */
static char *config_credentials_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        return xasprintf("%s/berth/credentials", xdg);
    return home && *home ? xasprintf("%s/.config/berth/credentials", home) : NULL;
}

static int find_credentials(struct cli *c)
{
    if (c->secret_id && c->secret_key)
        return 0;
    const char *id = getenv("TENCENTCLOUD_SECRET_ID"), *key = getenv("TENCENTCLOUD_SECRET_KEY");
    if (id && key && *id && *key) {
        c->secret_id = xstrdup(id);
        c->secret_key = xstrdup(key);
        return 0;
    }
    if (c->cred_file)
        return load_credentials(c, c->cred_file)
                   ? 0
                   : (fprintf(stderr, "berth: cannot read credentials from '%s'\n", c->cred_file),
                      -1);
    const char *env = getenv("BERTH_CREDENTIALS");
    if (env && load_credentials(c, env))
        return 0;
    if (load_credentials(c, "var/credentials"))
        return 0;
    char *p = config_credentials_path();
    bool ok = p && load_credentials(c, p);
    free(p);
    if (ok)
        return 0;
    const char *home = getenv("HOME");
    if (home) {
        p = xasprintf("%s/.tccli/default.credential", home);
        ok = load_credentials(c, p);
        free(p);
        if (ok)
            return 0;
    }
    fprintf(stderr, "berth: no credentials: use --secret-id/--secret-key, "
                    "TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, --credentials FILE, "
                    "./var/credentials or ~/.config/berth/credentials\n");
    return -1;
}

/* ------------------------------------------------------------------------ */
/* The commands                                                             */

static int run_call(struct cli *c, const struct cli_args *a)
{
    json_t *params = a->argc == 2 ? cli_json_arg(a->argv[1]) : json_object();
    json_t *resp = NULL;
    int rc = params ? cli_call(c, a->argv[0], params, &resp) : CLI_USAGE;
    if (rc == CLI_OK)
        cli_print_json(resp);
    json_decref(resp);
    return rc;
}

static const struct cli_cmd call_cmd = {
    "call",
    "ACTION [JSON | @FILE]",
    "call any API action; prints the response",
    "The parameters are a JSON object, given inline or read from FILE with @FILE.",
    1,
    2,
    NULL,
    run_call,
    NULL};

static int run_help(struct cli *c, const struct cli_args *a);

static const struct cli_cmd help_cmd = {"help",
                                        "[COMMAND [SUBCOMMAND]]",
                                        "show the commands, or one command's help",
                                        NULL,
                                        0,
                                        2,
                                        NULL,
                                        run_help,
                                        NULL};

/* Every command, in the order `berth help` lists them. A new command (or
 * family) adds one line here; see cli.h. */
static const struct cli_cmd *const commands[] = {
    &call_cmd,        &cli_model_cmd,  &cli_service_cmd, &cli_token_cmd,
    &cli_predict_cmd, &cli_events_cmd, &cli_logs_cmd,    &cli_specs_cmd,
    &cli_account_cmd, &cli_bill_cmd,   &help_cmd,        NULL,
};

static const struct option global_opts[] = {{"endpoint", required_argument, NULL, 'e'},
                                            {"region", required_argument, NULL, 'r'},
                                            {"secret-id", required_argument, NULL, 'i'},
                                            {"secret-key", required_argument, NULL, 'k'},
                                            {"credentials", required_argument, NULL, 'c'},
                                            {"ca-file", required_argument, NULL, 'a'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"help", no_argument, NULL, 'h'},
                                            {"version", no_argument, NULL, 'V'},
                                            {NULL, 0, NULL, 0}};

static void usage(FILE *f)
{
    fprintf(f, "usage: berth [GLOBAL OPTIONS] COMMAND [SUBCOMMAND] [ARGS] [OPTIONS]\n\n"
               "commands:\n");
    cli_print_commands(f, commands);
    fprintf(f,
            "\nglobal options:\n"
            "  --endpoint URL           the API (BERTH_ENDPOINT; default http://127.0.0.1:7700)\n"
            "  --region R               the region (TENCENTCLOUD_REGION; default ap-guangzhou)\n"
            "  --secret-id ID           with --secret-key: the credential\n"
            "  --secret-key KEY\n"
            "  --credentials FILE       read the credential from FILE\n"
            "  --ca-file PEM            verify https endpoints with these CAs (BERTH_CA_FILE)\n"
            "  --json                   print the API's JSON instead of tables\n"
            "  -V, --version            print berth's version\n"
            "  -h, --help               show this help\n\n"
            "The credential comes from --secret-id/--secret-key, then TENCENTCLOUD_SECRET_ID and\n"
            "TENCENTCLOUD_SECRET_KEY, then the first file of --credentials, BERTH_CREDENTIALS,\n"
            "./var/credentials, $XDG_CONFIG_HOME/berth/credentials (~/.config/berth/credentials)\n"
            "and ~/.tccli/default.credential that holds one.\n"
            "exit status: 0 ok, 1 API error, 2 usage, 3 network, 4 the operation failed (--wait),\n"
            "5 timed out (--wait)\n\n"
            "Run 'berth help COMMAND [SUBCOMMAND]' or 'berth COMMAND [SUBCOMMAND] --help' for a\n"
            "command's arguments and options.\n");
}

static int run_help(struct cli *c, const struct cli_args *a)
{
    (void)c;
    if (a->argc == 0) {
        usage(stdout);
        return CLI_OK;
    }
    return cli_help(commands, a->argc, a->argv);
}

int main(int argc, char **argv)
{
    struct cli c = {
        .endpoint = getenv("BERTH_ENDPOINT") ? getenv("BERTH_ENDPOINT") : "http://127.0.0.1:7700",
        .region = getenv("TENCENTCLOUD_REGION") ? getenv("TENCENTCLOUD_REGION") : "ap-guangzhou"};
    ca_file = getenv("BERTH_CA_FILE") && *getenv("BERTH_CA_FILE") ? getenv("BERTH_CA_FILE") : NULL;
    int k, rc = -1;
    opterr = 0;
    /* '+': stop at the command; its own options are its own. */
    while (rc < 0 && (k = getopt_long(argc, argv, "+:hV", global_opts, NULL)) != -1) {
        switch (k) {
        case 'e':
            c.endpoint = optarg;
            break;
        case 'r':
            c.region = optarg;
            break;
        case 'i':
            free(c.secret_id);
            c.secret_id = xstrdup(optarg);
            break;
        case 'k':
            free(c.secret_key);
            c.secret_key = xstrdup(optarg);
            break;
        case 'c':
            c.cred_file = optarg;
            break;
        case 'a':
            ca_file = optarg;
            break;
        case 'j':
            c.json = true;
            break;
        case 'h':
            usage(stdout);
            rc = CLI_OK;
            break;
        case 'V':
            printf("berth %s\n", berth_version);
            rc = CLI_OK;
            break;
        case ':':
            fprintf(stderr, "berth: %s needs a value\n", argv[optind - 1]);
            rc = CLI_USAGE;
            break;
        default:
            fprintf(stderr, "berth: unknown option '%s' (see berth --help)\n", argv[optind - 1]);
            rc = CLI_USAGE;
            break;
        }
    }
    if (rc < 0 && optind >= argc) {
        usage(stderr);
        rc = CLI_USAGE;
    }
    if (rc < 0) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = cli_dispatch(&c, commands, argc - optind, argv + optind);
        curl_global_cleanup();
    }
    free(c.secret_id);
    free(c.secret_key);
    return rc;
}
