/* main.c - berth: finds the endpoint and credential like tccli (flags, then
 * TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, then a credentials file:
 * --credentials, BERTH_CREDENTIALS, ./var/credentials, ~/.tccli/default.credential),
 * signs with TC3 like the official SDKs, and runs a command. */
#include "cli/cli.h"
#include "api/tc3.h"
#include "base/alloc.h"
#include "base/buf.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESPONSE_LIMIT_BYTES (64 * 1024 * 1024)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: berth [--endpoint URL] [--region R] [--secret-id ID --secret-key KEY]\n"
            "             [--credentials FILE] [--json] COMMAND ...\n\n"
            "commands:\n"
            "  call ACTION [JSON | @FILE]            any API action; prints the response\n"
            "  model import --name N --path DIR [--format XGBOOST] [--version LABEL]\n"
            "               [--model-id m-ID] [--cut] [--wait]\n"
            "  model list\n"
            "  model versions m-ID\n"
            "  service create --name N (--model-version mv-ID | --command CMD)\n"
            "                 [--instance-type T] [--replicas N] [--env K=V]... [--group ms-ID]\n"
            "                 [--wait]\n"
            "  service update ms-ID-N [--model-version mv-ID | --command CMD] [--instance-type T]\n"
            "                 [--replicas N] [--env K=V]... [--wait]   (rolled out in place)\n"
            "  service weights ms-ID ms-ID-N=WEIGHT...\n"
            "  service list\n"
            "  service show|stop|resume|delete ms-ID-N    (delete ms-ID removes a group)\n"
            "  service scale ms-ID-N REPLICAS\n"
            "  service autoscale ms-ID-N --cron 'SCHEDULE=TARGET[,name=N][,exclude=EXPR]'... "
            "--replicas N\n"
            "  service autoscale ms-ID-N --hpa --min N --max N --metric NAME=VALUE... "
            "[--up-window S] [--down-window S]\n"
            "  service autoscale ms-ID-N --manual N\n"
            "  service auth ms-ID on|off               call authentication of a group\n"
            "  service limit ms-ID-N [--rps N|off] [--concurrency N|off]   per instance\n"
            "  token create ms-ID [--name N] [--description D] [--per-minute N] [--per-day N]\n"
            "  token list ms-ID\n"
            "  token update ms-ID TOKEN [--name N] [--description D] [--per-minute N|off]\n"
            "               [--per-day N|off]\n"
            "  token reset|delete ms-ID TOKEN\n"
            "  predict ms-ID[-N] [JSON | @FILE] [--path /v1/models/m:predict] [--token T]\n"
            "  events ms-ID[-N] [--version N] [--since 10m|RFC3339] [--type T] [--kind K]\n"
            "         [--limit N]                     what happened, oldest first\n"
            "  logs ms-ID[-N] [--follow] [--since DURATION|RFC3339] [--grep WORD]...\n"
            "       [--version ms-ID-N] [--pod NAME[*]] [--stream stdout|stderr]\n"
            "  account create NAME [--balance FEN] | list | key acc-ID | topup acc-ID FEN\n"
            "  account ledger [acc-ID] [--service ms-ID-N] [--kind K] [--limit N]\n"
            "  bill --by tag:KEY|account|service [--month YYYY-MM | --from T --to T]\n"
            "       [--account acc-ID]               charges added up from the ledger\n\n"
            "environment: BERTH_ENDPOINT (default http://127.0.0.1:7700), TENCENTCLOUD_REGION\n"
            "(default ap-guangzhou), TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY,\n"
            "BERTH_CREDENTIALS, BERTH_TOKEN (predict's --token).\n"
            "exit status: 0 ok, 1 API error, 2 usage, 3 network\n");
}

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

int cli_call(struct cli *c, const char *action, json_t *params, json_t **response)
{
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

static int find_credentials(struct cli *c, const char *file)
{
    if (c->secret_id && c->secret_key)
        return 0;
    const char *id = getenv("TENCENTCLOUD_SECRET_ID"), *key = getenv("TENCENTCLOUD_SECRET_KEY");
    if (id && key && *id && *key) {
        c->secret_id = xstrdup(id);
        c->secret_key = xstrdup(key);
        return 0;
    }
    if (file)
        return load_credentials(c, file)
                   ? 0
                   : (fprintf(stderr, "berth: cannot read credentials from '%s'\n", file), -1);
    const char *env = getenv("BERTH_CREDENTIALS");
    if (env && load_credentials(c, env))
        return 0;
    if (load_credentials(c, "var/credentials"))
        return 0;
    const char *home = getenv("HOME");
    if (home) {
        char *p = xasprintf("%s/.tccli/default.credential", home);
        bool ok = load_credentials(c, p);
        free(p);
        if (ok)
            return 0;
    }
    fprintf(stderr, "berth: no credentials: use --secret-id/--secret-key, "
                    "TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, --credentials FILE or "
                    "./var/credentials\n");
    return -1;
}

int main(int argc, char **argv)
{
    struct cli c = {
        .endpoint = getenv("BERTH_ENDPOINT") ? getenv("BERTH_ENDPOINT") : "http://127.0.0.1:7700",
        .region = getenv("TENCENTCLOUD_REGION") ? getenv("TENCENTCLOUD_REGION") : "ap-guangzhou"};
    const char *cred_file = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return CLI_OK;
        }
        if (strcmp(a, "--json") == 0) {
            c.json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "berth: %s needs a value\n", a);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--endpoint") == 0)
            c.endpoint = v;
        else if (strcmp(a, "--region") == 0)
            c.region = v;
        else if (strcmp(a, "--secret-id") == 0)
            c.secret_id = xstrdup(v);
        else if (strcmp(a, "--secret-key") == 0)
            c.secret_key = xstrdup(v);
        else if (strcmp(a, "--credentials") == 0)
            cred_file = v;
        else {
            fprintf(stderr, "berth: unknown option '%s' (see --help)\n", a);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "call") && strcmp(cmd, "model") && strcmp(cmd, "service") &&
        strcmp(cmd, "predict") && strcmp(cmd, "token") && strcmp(cmd, "events") &&
        strcmp(cmd, "logs") && strcmp(cmd, "account") && strcmp(cmd, "bill")) {
        fprintf(stderr, "berth: unknown command '%s' (see --help)\n", cmd);
        return CLI_USAGE;
    }
    if (find_credentials(&c, cred_file) != 0)
        return CLI_USAGE;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (strcmp(cmd, "call") == 0) {
        if (argc - i < 2 || argc - i > 3) {
            fprintf(stderr, "usage: berth call ACTION [JSON | @FILE]\n");
            rc = CLI_USAGE;
        } else {
            json_t *params = argc - i == 3 ? cli_json_arg(argv[i + 2]) : json_object();
            json_t *resp = NULL;
            rc = params ? cli_call(&c, argv[i + 1], params, &resp) : CLI_USAGE;
            if (rc == CLI_OK)
                cli_print_json(resp);
            json_decref(resp);
        }
    } else if (strcmp(cmd, "model") == 0) {
        rc = cli_model(&c, argc - i - 1, argv + i + 1);
    } else if (strcmp(cmd, "service") == 0) {
        rc = cli_service(&c, argc - i - 1, argv + i + 1);
    } else if (strcmp(cmd, "token") == 0) {
        rc = cli_token(&c, argc - i - 1, argv + i + 1);
    } else if (strcmp(cmd, "events") == 0) {
        rc = cli_events(&c, argc - i - 1, argv + i + 1);
    } else if (strcmp(cmd, "logs") == 0) {
        rc = cli_logs(&c, argc - i - 1, argv + i + 1);
    } else if (strcmp(cmd, "account") == 0) {
        rc = cli_account(&c, argc - i - 1, argv + i + 1);
    } else if (strcmp(cmd, "bill") == 0) {
        rc = cli_bill(&c, argc - i - 1, argv + i + 1);
    } else {
        rc = cli_predict(&c, argc - i - 1, argv + i + 1);
    }
    curl_global_cleanup();
    free(c.secret_id);
    free(c.secret_key);
    return rc;
}
