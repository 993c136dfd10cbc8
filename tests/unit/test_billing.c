/* test_billing.c - accounts, the ledger and billing ticks on an in-memory
 * store with exact times (store/billing.h), and resource-group placement
 * (control/resgroups.h). */
#include "harness.h"

#include "control/resgroups.h"
#include "store/billing.h"
#include "store/store.h"

#define HOUR_MS 1000
#define T0 1700000000000LL

static struct store *open_memory(void)
{
    struct store *st = NULL;
    struct err err = {0};
    if (store_open(":memory:", &st, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    return st;
}

/* A command service ms-<name>-1 with 'replicas'. */
static void add_service(struct store *st, const char *gid, int replicas)
{
    struct store_group g = {.id = (char *)gid,
                            .region = (char *)"r1",
                            .name = (char *)gid,
                            .tags_json = (char *)"[]",
                            .charge_type = (char *)"POSTPAID_BY_HOUR",
                            .created_at = (char *)"2026-01-01T00:00:00Z"};
    struct store_service s = {.description = (char *)"",
                              .spec_json = (char *)"{}",
                              .model_version_id = (char *)"",
                              .replicas = replicas,
                              .weight = 100,
                              .created_at = (char *)"2026-01-01T00:00:00Z"};
    struct err err = {0};
    CHECK_EQ_INT(store_service_create(st, &g, true, NULL, &s, &err), 0);
    free(s.id);
}

static void bill(struct store *st, const char *sid, const char *gid, int64_t price, int n,
                 int64_t now, int want)
{
    struct store_billing b = {.service_id = (char *)sid,
                              .account_id = (char *)"acc-1",
                              .region = (char *)"r1",
                              .group_id = (char *)gid,
                              .tags_json = (char *)"[{\"TagKey\":\"team\",\"TagValue\":\"ads\"}]",
                              .price = price};
    struct err err = {0};
    CHECK_EQ_INT(store_billing_start(st, &b, n, now, &err), want);
}

static void account(struct store *st, int64_t *balance, int64_t *frozen)
{
    struct store_account a = {0};
    struct err err = {0};
    CHECK_EQ_INT(store_account_get(st, "acc-1", &a, &err), 0);
    *balance = a.balance;
    *frozen = a.frozen;
    store_account_release(&a);
    int64_t lb = -1, lf = -1;
    CHECK_EQ_INT(store_billing_check(st, "acc-1", &lb, &lf, &err), 0);
    CHECK_EQ_INT(lb, *balance); /* what the ledger adds up to */
    CHECK_EQ_INT(lf, *frozen);
}

static size_t rows_of(struct store *st, const char *kind, int64_t *sum)
{
    struct store_ledger_query q = {.account_id = "acc-1", .kind = kind};
    struct store_ledger_row *rows;
    size_t n;
    uint64_t total;
    struct err err = {0};
    *sum = 0;
    if (store_ledger_list(st, &q, &rows, &n, &total, &err) != 0)
        return (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        *sum += rows[i].amount;
        store_ledger_row_release(&rows[i]);
    }
    free(rows);
    return n;
}

TEST(freeze_hourly_charges_by_instance_time_and_refund)
{
    struct store *st = open_memory();
    struct err err = {0};
    CHECK_EQ_INT(store_account_create(st, "acc-1", "ads", 10000, T0, &err), 0);
    CHECK_EQ_INT(store_account_create(st, "acc-2", "ads", 0, T0, &err), ERR_EXISTS);
    add_service(st, "ms-a", 2);
    bill(st, "ms-a-1", "ms-a", 70, 2, T0, 0);
    int64_t bal, fro, sum;
    account(st, &bal, &fro);
    CHECK_EQ_INT(bal, 10000);
    CHECK_EQ_INT(fro, 280); /* 2 hours x 70 x 2 */
    struct store_billing *stopped;
    size_t nstopped;
    /* Two whole hours at 2 instances, caught up in one pass. */
    CHECK_EQ_INT(store_billing_tick(st, T0 + 2 * HOUR_MS + 10, HOUR_MS, &stopped, &nstopped, &err),
                 0);
    CHECK_EQ_INT(rows_of(st, "CHARGE", &sum), 2);
    CHECK_EQ_INT(sum, 280);
    /* Scaled to 1 at 2.5 h: the third hour is 1.5 instance-hours (105 fen). */
    CHECK_EQ_INT(store_service_set_replicas(st, "ms-a-1", 1, 0, false, &err), 0);
    CHECK_EQ_INT(store_billing_tick(st, T0 + 2 * HOUR_MS + 500, HOUR_MS, &stopped, &nstopped, &err),
                 0);
    CHECK_EQ_INT(store_billing_tick(st, T0 + 3 * HOUR_MS, HOUR_MS, &stopped, &nstopped, &err), 0);
    CHECK_EQ_INT(rows_of(st, "CHARGE", &sum), 3);
    CHECK_EQ_INT(sum, 280 + 105);
    /* Stopped at 3.3 h: 0.3 instance-hours, 21 fen, then the freeze back. */
    CHECK_EQ_INT(store_service_set_replicas(st, "ms-a-1", 0, 1, true, &err), 0);
    CHECK_EQ_INT(store_billing_tick(st, T0 + 3 * HOUR_MS + 300, HOUR_MS, &stopped, &nstopped, &err),
                 0);
    CHECK_EQ_INT(rows_of(st, "CHARGE", &sum), 4);
    CHECK_EQ_INT(sum, 280 + 105 + 21);
    CHECK_EQ_INT(rows_of(st, "REFUND", &sum), 1);
    CHECK_EQ_INT(sum, 280);
    account(st, &bal, &fro);
    CHECK_EQ_INT(bal, 10000 - 406);
    CHECK_EQ_INT(fro, 0);
    /* Nothing more while stopped. */
    CHECK_EQ_INT(store_billing_tick(st, T0 + 9 * HOUR_MS, HOUR_MS, &stopped, &nstopped, &err), 0);
    CHECK_EQ_INT(rows_of(st, "CHARGE", &sum), 4);
    /* A part of an hour rounds up to the fen: 1 ms of 70 fen an hour is 1 fen. */
    CHECK_EQ_INT(store_service_set_replicas(st, "ms-a-1", 1, 0, false, &err), 0);
    CHECK_EQ_INT(store_billing_tick(st, T0 + 10 * HOUR_MS, HOUR_MS, &stopped, &nstopped, &err), 0);
    CHECK_EQ_INT(rows_of(st, "FREEZE", &sum), 2); /* resumed: frozen again */
    CHECK_EQ_INT(store_service_delete(st, "r1", "ms-a-1", &err), 0);
    CHECK_EQ_INT(store_billing_tick(st, T0 + 10 * HOUR_MS + 1, HOUR_MS, &stopped, &nstopped, &err),
                 0);
    CHECK_EQ_INT(rows_of(st, "CHARGE", &sum), 5);
    CHECK_EQ_INT(sum, 280 + 105 + 21 + 1);
    struct store_billing b;
    CHECK_EQ_INT(store_billing_get(st, "ms-a-1", &b, &err), 0);
    CHECK_STR_EQ(b.status, "STOPPED");
    store_billing_release(&b);
    CHECK_EQ_INT(store_billing_tick(st, T0 + 11 * HOUR_MS, HOUR_MS, &stopped, &nstopped, &err), 0);
    CHECK_EQ_INT(store_billing_get(st, "ms-a-1", &b, &err), ERR_NOTFOUND); /* gone with it */
    account(st, &bal, &fro);
    CHECK_EQ_INT(fro, 0);
    store_close(st);
}

TEST(arrears_stop_and_top_up_resume)
{
    struct store *st = open_memory();
    struct err err = {0};
    CHECK_EQ_INT(store_account_create(st, "acc-1", "ml", 300, T0, &err), 0);
    add_service(st, "ms-b", 1);
    bill(st, "ms-b-1", "ms-b", 70, 1, T0, 0);
    struct store_billing *stopped;
    size_t nstopped, total = 0;
    for (int h = 1; h <= 6; h++) {
        CHECK_EQ_INT(store_billing_tick(st, T0 + h * HOUR_MS, HOUR_MS, &stopped, &nstopped, &err),
                     0);
        total += nstopped;
        for (size_t i = 0; i < nstopped; i++) {
            CHECK_STR_EQ(stopped[i].status, "ARREARS_STOP");
            store_billing_release(&stopped[i]);
        }
        free(stopped);
    }
    CHECK_EQ_INT(total, 1);
    int64_t bal, fro, sum;
    CHECK_EQ_INT(rows_of(st, "CHARGE", &sum), 4); /* 300 - 4 x 70 = 20 < 70 */
    account(st, &bal, &fro);
    CHECK_EQ_INT(bal, 20);
    CHECK_EQ_INT(fro, 0);
    struct store_service s;
    CHECK_EQ_INT(store_service_get(st, "r1", "ms-b-1", &s, &err), 0);
    CHECK(s.stopped);
    CHECK_EQ_INT(s.replicas, 0);
    CHECK_EQ_INT(s.old_replicas, 1);
    store_service_release(&s);
    struct store_billing b;
    CHECK_EQ_INT(store_billing_get(st, "ms-b-1", &b, &err), 0);
    CHECK_STR_EQ(b.status, "ARREARS_STOP");
    store_billing_release(&b);
    /* Too little to freeze two hours: stays stopped; then enough. */
    char **resumed;
    size_t n;
    CHECK_EQ_INT(store_account_topup(st, "acc-1", 100, "x", T0 + 7000, &resumed, &n, &err), 0);
    CHECK_EQ_INT(n, 0);
    free(resumed);
    CHECK_EQ_INT(store_account_topup(st, "acc-1", 30, "y", T0 + 7000, &resumed, &n, &err), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_STR_EQ(resumed[0], "ms-b-1");
    free(resumed[0]);
    free(resumed);
    CHECK_EQ_INT(store_service_get(st, "r1", "ms-b-1", &s, &err), 0);
    CHECK(!s.stopped);
    CHECK_EQ_INT(s.replicas, 1);
    store_service_release(&s);
    account(st, &bal, &fro);
    CHECK_EQ_INT(bal, 150);
    CHECK_EQ_INT(fro, 140);
    /* A second service cannot start on what is frozen for the first. */
    add_service(st, "ms-c", 1);
    bill(st, "ms-c-1", "ms-c", 70, 1, T0 + 7000, 1);
    CHECK_EQ_INT(store_service_get(st, "r1", "ms-c-1", &s, &err), 0);
    CHECK(s.stopped);
    store_service_release(&s);
    CHECK_EQ_INT(store_account_topup(st, "acc-1", 1, "z", T0, NULL, NULL, &err), 0);
    CHECK_EQ_INT(store_account_topup(st, "acc-none", 1, "z", T0, NULL, NULL, &err), ERR_NOTFOUND);
    account(st, &bal, &fro);
    store_close(st);
}

TEST(usage_by_tag_account_and_service)
{
    struct store *st = open_memory();
    struct err err = {0};
    CHECK_EQ_INT(store_account_create(st, "acc-1", "a", 100000, T0, &err), 0);
    add_service(st, "ms-d", 1);
    add_service(st, "ms-e", 3);
    bill(st, "ms-d-1", "ms-d", 70, 1, T0, 0);
    bill(st, "ms-e-1", "ms-e", 10, 3, T0, 0);
    struct store_billing *stopped;
    size_t nstopped;
    CHECK_EQ_INT(store_billing_tick(st, T0 + 2 * HOUR_MS, HOUR_MS, &stopped, &nstopped, &err), 0);
    struct store_usage *u;
    size_t n;
    CHECK_EQ_INT(store_billing_usage(st, STORE_USAGE_TAG, "team", NULL, 0, 0, &u, &n, &err), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_STR_EQ(u[0].key, "ads");
    CHECK_EQ_INT(u[0].amount, 2 * 70 + 2 * 30);
    CHECK_EQ_INT(u[0].charges, 4);
    store_usage_release(&u[0]);
    free(u);
    CHECK_EQ_INT(store_billing_usage(st, STORE_USAGE_TAG, "env", NULL, 0, 0, &u, &n, &err), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_STR_EQ(u[0].key, ""); /* untagged */
    store_usage_release(&u[0]);
    free(u);
    CHECK_EQ_INT(store_billing_usage(st, STORE_USAGE_SERVICE, NULL, "acc-1", 0, 0, &u, &n, &err),
                 0);
    CHECK_EQ_INT(n, 2);
    CHECK_STR_EQ(u[0].key, "ms-d-1");
    CHECK_EQ_INT(u[0].amount, 140);
    CHECK_EQ_INT(u[1].instance_ms, 6 * HOUR_MS);
    for (size_t i = 0; i < n; i++)
        store_usage_release(&u[i]);
    free(u);
    /* A period holding only the second hour. */
    CHECK_EQ_INT(store_billing_usage(st, STORE_USAGE_ACCOUNT, NULL, NULL, T0 + 1500,
                                     T0 + 2 * HOUR_MS + 1, &u, &n, &err),
                 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(u[0].amount, 70 + 30);
    store_usage_release(&u[0]);
    free(u);
    store_close(st);
}

TEST(resource_groups_parse_and_place_first_fit)
{
    struct err err = {0};
    ctl_resgroups_reset();
    CHECK_EQ_INT(ctl_resgroups_define("rsg-a name=pool nodes=2 cpu=4 memory=8192", &err), 0);
    CHECK_EQ_INT(ctl_resgroups_define("rsg-a nodes=1 cpu=0.5 memory=512 gpu=0.25", &err), 0);
    const struct ctl_resgroup *g = ctl_resgroups_find("rsg-a");
    CHECK(g != NULL);
    CHECK_EQ_INT(g->nnodes, 3);
    CHECK_STR_EQ(g->name, "pool");
    CHECK_EQ_INT(g->node[2].cpu, 500);
    CHECK_EQ_INT(g->node[2].gpu, 25);
    CHECK_EQ_INT(ctl_resgroups_define("rsg-b nodes=1 memory=8", &err), ERR_INVALID);
    CHECK(strstr(err.msg, "cpu=") != NULL);
    CHECK_EQ_INT(ctl_resgroups_define("rsg-b nodes=1 cpu=x memory=8", &err), ERR_INVALID);
    CHECK(strstr(err.msg, "cpu=x") != NULL);
    CHECK_EQ_INT(ctl_resgroups_define("bad/id nodes=1 cpu=1 memory=8", &err), ERR_INVALID);
    struct ctl_res used[3] = {0};
    struct ctl_demand d[2] = {{{3000, 1024, 0}, 2}, {{2000, 1024, 0}, 1}};
    CHECK_EQ_INT(ctl_resgroups_place(g, d, 2, used),
                 1); /* 1000 + 1000 + 500 free, no node has 2000 */
    CHECK_EQ_INT(used[0].cpu, 3000);
    CHECK_EQ_INT(used[1].cpu, 3000);
    struct ctl_demand small = {{500, 256, 25}, 1};
    CHECK_EQ_INT(ctl_resgroups_place(g, &small, 1, used), 0);
    CHECK_EQ_INT(used[2].gpu, 25); /* the only node with a GPU share */
    CHECK_EQ_INT(ctl_resgroups_hybrid_prepaid("{\"ChargeType\":\"HYBRID_PAID\","
                                              "\"HybridBillingPrepaidReplicas\":2}"),
                 2);
    CHECK_EQ_INT(ctl_resgroups_hybrid_prepaid("{\"ChargeType\":\"PREPAID\"}"), 0);
    ctl_resgroups_reset();
    CHECK_EQ_INT(ctl_resgroups_count(), 0);
}
