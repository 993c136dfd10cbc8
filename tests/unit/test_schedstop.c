/* test_schedstop.c - scheduled stops: which stored specs hold a pending
 * stop and when, the spec once it has fired, the timer's delay, and the
 * store's stop that loses to a concurrent change. */
#include "harness.h"

#include <stdint.h>

#include "base/log.h"
#include "control/schedstop.h"
#include "store/store.h"

TEST(pending_stops_are_read_from_the_spec)
{
    int64_t at = 0;
    CHECK(ctl_schedstop_pending("{\"ScheduledAction\":{\"ScheduleStop\":true,"
                                "\"ScheduleStopTime\":\"2030-01-26T19:46:22+08:00\"}}",
                                &at));
    CHECK_EQ_INT(at, 1895658382LL); /* 2030-01-26T11:46:22Z */
    CHECK(ctl_schedstop_pending("{\"ScheduledAction\":{\"ScheduleStop\":true,"
                                "\"ScheduleStopTime\":\"2030-01-26T11:46:22Z\"}}",
                                &at));
    CHECK_EQ_INT(at, 1895658382LL);
    CHECK(!ctl_schedstop_pending("{\"ScheduledAction\":{\"ScheduleStop\":false,"
                                 "\"ScheduleStopTime\":\"2030-01-26T11:46:22Z\"}}",
                                 &at));
    CHECK(!ctl_schedstop_pending("{\"ScheduledAction\":{\"ScheduleStop\":true,"
                                 "\"ScheduleStopTime\":\"soon\"}}",
                                 &at));
    CHECK(!ctl_schedstop_pending("{}", &at));
    CHECK(!ctl_schedstop_pending("not json", &at));
}

TEST(a_fired_stop_is_switched_off_and_keeps_its_time)
{
    char *done = ctl_schedstop_done_spec("{\"Kind\":\"command\",\"ScheduledAction\":{"
                                         "\"ScheduleStop\":true,\"ScheduleStopTime\":\"t\"}}");
    CHECK_STR_EQ(done, "{\"Kind\":\"command\",\"ScheduledAction\":{\"ScheduleStop\":false,"
                       "\"ScheduleStopTime\":\"t\"}}");
    free(done);
    CHECK(ctl_schedstop_done_spec("{}") == NULL);
}

TEST(the_timer_waits_until_just_past_the_second)
{
    CHECK_EQ_INT(ctl_schedstop_delay_ms(1000, 999500), 501);
    CHECK_EQ_INT(ctl_schedstop_delay_ms(1000, 1000000), 1);
    CHECK_EQ_INT(ctl_schedstop_delay_ms(1000, 1000700), 1);
    CHECK_EQ_INT(ctl_schedstop_delay_ms(INT64_MAX, 1000), CTL_SCHEDSTOP_RECHECK_MS);
    CHECK_EQ_INT(ctl_schedstop_delay_ms(100000, 1000), CTL_SCHEDSTOP_RECHECK_MS);
}

TEST(the_store_stops_only_an_unchanged_service)
{
    log_set_level("warn");
    struct store *st = NULL;
    struct err err = {0};
    CHECK_EQ_INT(store_open(":memory:", &st, &err), 0);
    struct store_group g = {.id = (char *)"ms-aaaaaaaa",
                            .region = (char *)"r1",
                            .name = (char *)"svc",
                            .tags_json = (char *)"[]",
                            .charge_type = (char *)"POSTPAID_BY_HOUR",
                            .created_at = (char *)"2026-01-01T00:00:00Z"};
    const char *spec = "{\"ScheduledAction\":{\"ScheduleStop\":true,\"ScheduleStopTime\":\"x\"}}";
    struct store_service s = {.description = (char *)"",
                              .spec_json = (char *)spec,
                              .model_version_id = (char *)"",
                              .replicas = 3,
                              .weight = 100,
                              .created_at = (char *)"2026-01-01T00:00:00Z"};
    CHECK_EQ_INT(store_service_create(st, &g, true, NULL, &s, &err), 0);
    /* another spec now: the stop loses */
    CHECK_EQ_INT(store_service_stop_scheduled(st, s.id, "{}", false, "{}", &err), ERR_AGAIN);
    /* stopped meanwhile: loses too */
    CHECK_EQ_INT(store_service_stop_scheduled(st, s.id, spec, true, "{}", &err), ERR_AGAIN);
    CHECK_EQ_INT(store_service_stop_scheduled(st, s.id, spec, false, "{\"done\":1}", &err), 0);
    struct store_service back;
    CHECK_EQ_INT(store_service_get(st, "r1", s.id, &back, &err), 0);
    CHECK_EQ_INT(back.replicas, 0);
    CHECK_EQ_INT(back.old_replicas, 3);
    CHECK(back.stopped);
    CHECK_STR_EQ(back.spec_json, "{\"done\":1}");
    store_service_release(&back);
    free(s.id);
    store_close(st);
}

TEST(keys_carry_policies_and_administrators_do_not)
{
    log_set_level("warn");
    struct store *st = NULL;
    struct err err = {0};
    CHECK_EQ_INT(store_open(":memory:", &st, &err), 0);
    CHECK_EQ_INT(store_credential_add(st, "AKIDadmin", "k1", &err), 0);
    CHECK_EQ_INT(store_credential_add_key(st, "AKIDuser", "k2", "{\"p\":1}", &err), 0);
    bool admin = false;
    char *policy = NULL;
    CHECK_EQ_INT(store_credential_access(st, "AKIDadmin", &admin, &policy, &err), 0);
    CHECK(admin);
    CHECK(policy == NULL);
    CHECK_EQ_INT(store_credential_access(st, "AKIDuser", &admin, &policy, &err), 0);
    CHECK(!admin);
    CHECK_STR_EQ(policy, "{\"p\":1}");
    free(policy);
    CHECK_EQ_INT(store_credential_set_policy(st, "AKIDuser", NULL, &err), 0);
    CHECK_EQ_INT(store_credential_access(st, "AKIDuser", &admin, &policy, &err), 0);
    CHECK(policy == NULL);
    CHECK_EQ_INT(store_credential_set_policy(st, "AKIDadmin", "{}", &err), ERR_NOTFOUND);
    CHECK_EQ_INT(store_credential_set_policy(st, "AKIDnone", "{}", &err), ERR_NOTFOUND);
    CHECK_EQ_INT(store_credential_access(st, "AKIDnone", &admin, &policy, &err), ERR_NOTFOUND);
    char *key = NULL;
    CHECK_EQ_INT(store_credential_get(st, "AKIDuser", &key, &err), 0);
    CHECK_STR_EQ(key, "k2");
    free(key);
    store_close(st);
}
