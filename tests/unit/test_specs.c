/* test_specs.c - the spec catalogue, the 'spec' option's parser and the
 * Resources parser. */
#include "control/specs.h"
#include "harness.h"

#include <string.h>

TEST(builtin_catalogue)
{
    specs_reset();
    CHECK_EQ_INT((int)specs_count(), 10);
    const struct spec *m = specs_find("TI.S.MEDIUM.POST");
    CHECK(m != NULL);
    CHECK_EQ_INT((int)m->cpu_millicores, 2000);
    CHECK_EQ_INT((int)m->memory_mib, 4096);
    CHECK_EQ_INT((int)m->price_per_hour, 70); /* the documented example */
    CHECK_STR_EQ(m->alias, "2C4G");
    CHECK_STR_EQ(m->currency, "CNY");
    CHECK(m->builtin);
    const struct spec *big = specs_find("TI.S.8XLARGE128.POST");
    CHECK_EQ_INT((int)big->price_per_hour, 32 * 35 / 2 + 128 * 35 / 4);
    CHECK(specs_find("ti.s.medium.post") == NULL);
    CHECK(specs_find(NULL) == NULL);
    CHECK(specs_at(10) == NULL);
}

TEST(define_and_redefine)
{
    specs_reset();
    struct err err = {0};
    CHECK_EQ_INT(specs_define("X.GPU cpu=10 memory=40960 price=900 gpu=0.5 gpu-type=T4", &err), 0);
    const struct spec *x = specs_find("X.GPU");
    CHECK(x && !x->builtin);
    CHECK_EQ_INT((int)x->cpu_millicores, 10000);
    CHECK_EQ_INT((int)x->gpu, 100);
    CHECK_EQ_INT((int)x->real_gpu, 50);
    CHECK_STR_EQ(x->alias, "10C40G T4*0.50");
    CHECK_EQ_INT(specs_define("X.TWO cpu=2.25 memory=1000 price=1 gpu=2", &err), 0);
    x = specs_find("X.TWO");
    CHECK_EQ_INT((int)x->cpu_millicores, 2250);
    CHECK_EQ_INT((int)x->gpu, 200);
    CHECK_EQ_INT((int)x->real_gpu, 200);
    CHECK_STR_EQ(x->alias, "2.250C1000M GPU*2.00");
    CHECK_EQ_INT((int)specs_count(), 12);
    /* A built-in name replaces the row in place. */
    CHECK_EQ_INT(specs_define("TI.S.MEDIUM.POST\tcpu=2 memory=4096 price=99 currency=USD", &err),
                 0);
    CHECK_EQ_INT((int)specs_count(), 12);
    CHECK_EQ_INT((int)specs_at(0)->price_per_hour, 99);
    CHECK_STR_EQ(specs_at(0)->currency, "USD");
    specs_reset();
    CHECK_EQ_INT((int)specs_count(), 10);
    CHECK_EQ_INT((int)specs_find("TI.S.MEDIUM.POST")->price_per_hour, 70);
}

TEST(define_errors)
{
    static const struct {
        const char *line, *needle;
    } bad[] = {
        {"", "spec name ''"},
        {"A cpu=1 memory=64", "needs price=FEN"},
        {"A memory=64 price=1", "needs cpu=CORES"},
        {"A cpu=1 price=1", "needs memory=MIB"},
        {"A cpu=0.001 memory=64 price=1", "cpu '0.001'"},
        {"A cpu=1. memory=64 price=1", "cpu '1.'"},
        {"A cpu=1001 memory=64 price=1", "cpu '1001'"},
        {"A cpu=1 memory=15 price=1", "memory '15'"},
        {"A cpu=1 memory=1.5 price=1", "memory '1.5'"},
        {"A cpu=1 memory=64 price=1.5", "price '1.5'"},
        {"A cpu=1 memory=64 price=99999999999999999999", "price '9"},
        {"A cpu=1 memory=64 price=1 gpu=1.25", "gpu '1.25'"},
        {"A cpu=1 memory=64 price=1 gpu=0.001", "gpu '0.001'"},
        {"A cpu=1 memory=64 price=1 gpu-type=T4", "gpu-type needs gpu"},
        {"A cpu=1 memory=64 price=1 gpu=1 gpu-type=T_4", "gpu-type 'T_4'"},
        {"A cpu=1 memory=64 price=1 currency=CN", "currency 'CN'"},
        {"A cpu=1 memory=64 price=1 size", "'size' must be key=value"},
        {"A cpu=1 memory=64 price=1 disk=1", "unknown key 'disk'"},
        {"A$ cpu=1 memory=64 price=1", "spec name 'A$'"},
    };
    specs_reset();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err err = {0};
        CHECK_EQ_INT(specs_define(bad[i].line, &err), ERR_INVALID);
        if (!strstr(err.msg, bad[i].needle))
            printf("# '%s': %s\n", bad[i].line, err.msg);
        CHECK(strstr(err.msg, bad[i].needle) != NULL);
    }
    CHECK_EQ_INT((int)specs_count(), 10);
}

static int parse(const char *text, struct spec_request *r, struct err *err)
{
    json_t *j = json_loads(text, 0, NULL);
    int rc = specs_request_parse(j, r, err);
    json_decref(j);
    return rc;
}

TEST(resources_parse)
{
    struct spec_request r;
    struct err err = {0};
    CHECK_EQ_INT(parse("{\"Cpu\": 1500, \"Memory\": 2048}", &r, &err), 0);
    CHECK_EQ_INT((int)r.cpu_millicores, 1500);
    CHECK_EQ_INT((int)r.memory_mib, 2048);
    CHECK_EQ_INT((int)r.gpu, 0);
    CHECK_EQ_INT(
        parse("{\"Cpu\": 10, \"Memory\": 16, \"Gpu\": 25, \"GpuType\": \"T4\", \"RootDisk\": 0,"
              " \"RealGpuDetailSet\": [], \"EnableRDMA\": false}",
              &r, &err),
        0);
    CHECK_EQ_INT((int)r.gpu, 25);
    CHECK_STR_EQ(r.gpu_type, "T4");
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"[]", "Resources must be an object"},
        {"{\"Memory\": 64}", "Resources.Cpu is required"},
        {"{\"Cpu\": 1000}", "Resources.Memory is required"},
        {"{\"Cpu\": 9, \"Memory\": 64}", "Resources.Cpu 9 is below"},
        {"{\"Cpu\": 1000, \"Memory\": 15}", "Resources.Memory 15 is below"},
        {"{\"Cpu\": -1, \"Memory\": 64}", "Resources.Cpu must be an integer"},
        {"{\"Cpu\": 1.5, \"Memory\": 64}", "Resources.Cpu must be an integer"},
        {"{\"Cpu\": \"1000\", \"Memory\": 64}", "Resources.Cpu must be an integer"},
        {"{\"Cpu\": 1000, \"Memory\": 64, \"Disk\": 1}", "Resources.Disk is not a ResourceInfo"},
        {"{\"Cpu\": 1000, \"Memory\": 64, \"RootDisk\": 10}", "Resources.RootDisk: Berth does not"},
        {"{\"Cpu\": 1000, \"Memory\": 64, \"RealGpu\": 10}", "Resources.RealGpu: it is an output"},
        {"{\"Cpu\": 1000, \"Memory\": 64, \"RealGpuDetailSet\": [{}]}",
         "RealGpuDetailSet is an output"},
        {"{\"Cpu\": 1000, \"Memory\": 64, \"EnableRDMA\": true}", "EnableRDMA: RDMA"},
        {"{\"Cpu\": 1000, \"Memory\": 64, \"EnableRDMA\": 1}", "EnableRDMA must be a boolean"},
        {"{\"Cpu\": 1000, \"Memory\": 64, \"GpuType\": \"T4\"}",
         "GpuType 'T4' needs Resources.Gpu"},
        {"{\"Cpu\": 1000, \"Memory\": 64, \"Gpu\": 1, \"GpuType\": 4}", "GpuType must be"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(parse(bad[i].text, &r, &err), ERR_INVALID);
        if (!strstr(err.msg, bad[i].needle))
            printf("# '%s': %s\n", bad[i].text, err.msg);
        CHECK(strstr(err.msg, bad[i].needle) != NULL);
    }
    specs_request_of(specs_find("TI.S.LARGE.POST"), &r);
    CHECK_EQ_INT((int)r.cpu_millicores, 4000);
    CHECK_EQ_INT((int)r.memory_mib, 8192);
}
