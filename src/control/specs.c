/* specs.c - the spec catalogue and the parser of Resources requests.
 * Built-in rows are TI-ONE's documented postpaid CPU specs (§3.17). TI-ONE
 * documents one price, 70 fen an hour for TI.S.MEDIUM.POST (2 cores, 4 GiB);
 * the other built-in prices follow from it at 17.5 fen a core-hour plus 8.75
 * fen a GiB-hour, which gives MEDIUM its 70. They are Berth's defaults, not
 * Tencent's list: an operator sets real ones with the 'spec' option. */
#include "control/specs.h"
#include "base/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPECS_MAX 256
#define PRICE_MAX 1000000000000ULL /* 10^10 CNY an hour: anything above is a typo */

static const struct {
    const char *name;
    unsigned cores, gib;
} builtin[] = {
    {"TI.S.MEDIUM.POST", 2, 4},      {"TI.S.LARGE.POST", 4, 8},
    {"TI.S.2XLARGE16.POST", 8, 16},  {"TI.S.2XLARGE32.POST", 8, 32},
    {"TI.S.4XLARGE32.POST", 16, 32}, {"TI.S.4XLARGE64.POST", 16, 64},
    {"TI.S.6XLARGE48.POST", 24, 48}, {"TI.S.6XLARGE96.POST", 24, 96},
    {"TI.S.8XLARGE64.POST", 32, 64}, {"TI.S.8XLARGE128.POST", 32, 128},
};
#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]))

static struct spec catalogue[SPECS_MAX];
static size_t ncatalogue;

static void fill_builtin(void)
{
    for (size_t i = 0; i < NBUILTIN; i++) {
        struct spec *sp = &catalogue[i];
        memset(sp, 0, sizeof(*sp));
        snprintf(sp->name, sizeof(sp->name), "%s", builtin[i].name);
        snprintf(sp->alias, sizeof(sp->alias), "%uC%uG", builtin[i].cores, builtin[i].gib);
        sp->cpu_millicores = builtin[i].cores * 1000;
        sp->memory_mib = builtin[i].gib * 1024;
        /* 17.5 fen per core + 8.75 per GiB; cores are even, GiB multiples of 4 */
        sp->price_per_hour = builtin[i].cores * 35 / 2 + builtin[i].gib * 35 / 4;
        snprintf(sp->currency, sizeof(sp->currency), "CNY");
        sp->builtin = true;
    }
    ncatalogue = NBUILTIN;
}

static void ensure_filled(void)
{
    if (ncatalogue == 0)
        fill_builtin();
}

void specs_reset(void)
{
    fill_builtin();
}

const struct spec *specs_find(const char *name)
{
    ensure_filled();
    if (!name)
        return NULL;
    for (size_t i = 0; i < ncatalogue; i++)
        if (strcmp(catalogue[i].name, name) == 0)
            return &catalogue[i];
    return NULL;
}

size_t specs_count(void)
{
    ensure_filled();
    return ncatalogue;
}

const struct spec *specs_at(size_t i)
{
    ensure_filled();
    return i < ncatalogue ? &catalogue[i] : NULL;
}

/* ------------------------------------------------------------------------ */
/* The 'spec' option                                                        */

/* A decimal with at most 'places' fraction digits, scaled by 10^places, in
 * [0, max]. */
static int parse_fixed(const char *s, int places, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    int frac = -1;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (*s < '0' || *s > '9' || frac == places)
            return -1;
        if (v > max * 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        if (frac >= 0)
            frac++;
    }
    if (frac == 0)
        return -1; /* "2." */
    for (int i = frac < 0 ? 0 : frac; i < places; i++)
        v *= 10;
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= SPECS_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

static bool word_ok(const char *s, size_t max, bool upper_only)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') ||
              (!upper_only && ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))))
            return false;
    return true;
}

static int define_key(struct spec *sp, const char *key, const char *value, bool *seen_cpu,
                      bool *seen_mem, bool *seen_price, struct err *err)
{
    uint64_t v;
    if (strcmp(key, "cpu") == 0) {
        if (parse_fixed(value, 3, 1000000, &v) || v < SPECS_MIN_CPU_MILLICORES)
            return err_set(err, ERR_INVALID,
                           "cpu '%s' must be cores from 0.01 to 1000, to 1/1000 (0.5, 2)", value);
        sp->cpu_millicores = (uint32_t)v;
        *seen_cpu = true;
    } else if (strcmp(key, "memory") == 0) {
        if (parse_fixed(value, 0, 1u << 30, &v) || v < SPECS_MIN_MEMORY_MIB)
            return err_set(err, ERR_INVALID, "memory '%s' must be MiB from %d to %u", value,
                           SPECS_MIN_MEMORY_MIB, 1u << 30);
        sp->memory_mib = (uint32_t)v;
        *seen_mem = true;
    } else if (strcmp(key, "price") == 0) {
        if (parse_fixed(value, 0, PRICE_MAX, &v))
            return err_set(err, ERR_INVALID,
                           "price '%s' must be a whole number of 1/100 currency units (fen) "
                           "per instance-hour, at most %llu",
                           value, (unsigned long long)PRICE_MAX);
        sp->price_per_hour = v;
        *seen_price = true;
    } else if (strcmp(key, "gpu") == 0) {
        /* A fraction is one virtual card (Gpu 100) holding RealGpu of a real one. */
        if (parse_fixed(value, 2, 6400, &v) || (v > 100 && v % 100))
            return err_set(err, ERR_INVALID,
                           "gpu '%s' must be cards: a share of one to 1/100 (0.25) or a whole "
                           "number up to 64",
                           value);
        sp->real_gpu = (uint32_t)v;
        sp->gpu = v == 0 ? 0 : v < 100 ? 100 : (uint32_t)v;
    } else if (strcmp(key, "gpu-type") == 0) {
        if (!word_ok(value, sizeof(sp->gpu_type), false))
            return err_set(err, ERR_INVALID,
                           "gpu-type '%s' must be a model name of letters, digits and '-' (T4)",
                           value);
        snprintf(sp->gpu_type, sizeof(sp->gpu_type), "%s", value);
    } else if (strcmp(key, "currency") == 0) {
        if (strlen(value) != 3 || !word_ok(value, sizeof(sp->currency), true))
            return err_set(err, ERR_INVALID, "currency '%s' must be an ISO 4217 code (CNY, USD)",
                           value);
        snprintf(sp->currency, sizeof(sp->currency), "%s", value);
    } else if (strcmp(key, "alias") == 0) {
        if (!*value || strlen(value) >= sizeof(sp->alias))
            return err_set(err, ERR_INVALID, "alias must be 1 to %zu bytes", sizeof(sp->alias) - 1);
        snprintf(sp->alias, sizeof(sp->alias), "%s", value);
    } else {
        return err_set(err, ERR_INVALID,
                       "unknown key '%s' (cpu, memory, price, gpu, gpu-type, currency, alias)",
                       key);
    }
    return 0;
}

int specs_define(const char *line, struct err *err)
{
    ensure_filled();
    char *copy = xstrdup(line), *save = NULL;
    struct spec sp = {0};
    bool seen_cpu = false, seen_mem = false, seen_price = false;
    int rc = 0;
    char *name = strtok_r(copy, " \t", &save);
    if (!name || !name_ok(name)) {
        rc = err_set(err, ERR_INVALID,
                     "the spec name '%s' must be 1 to %d letters, digits, '.', '_' and '-'",
                     name ? name : "", SPECS_NAME_MAX - 1);
        goto out;
    }
    snprintf(sp.name, sizeof(sp.name), "%s", name);
    snprintf(sp.currency, sizeof(sp.currency), "CNY");
    for (char *tok; rc == 0 && (tok = strtok_r(NULL, " \t", &save));) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            rc = err_set(err, ERR_INVALID, "'%s' must be key=value", tok);
            break;
        }
        *eq = '\0';
        rc = define_key(&sp, tok, eq + 1, &seen_cpu, &seen_mem, &seen_price, err);
    }
    if (rc)
        goto out;
    if (!seen_cpu || !seen_mem || !seen_price) {
        rc = err_set(err, ERR_INVALID, "spec '%s' needs %s", sp.name,
                     !seen_cpu   ? "cpu=CORES"
                     : !seen_mem ? "memory=MIB"
                                 : "price=FEN");
        goto out;
    }
    if (sp.gpu_type[0] && !sp.gpu) {
        rc = err_set(err, ERR_INVALID, "spec '%s': gpu-type needs gpu=CARDS", sp.name);
        goto out;
    }
    if (!sp.alias[0]) {
        unsigned c = sp.cpu_millicores / 1000, m = sp.memory_mib / 1024;
        char cpu[16], mem[16];
        if (sp.cpu_millicores % 1000)
            snprintf(cpu, sizeof(cpu), "%u.%03uC", c, sp.cpu_millicores % 1000);
        else
            snprintf(cpu, sizeof(cpu), "%uC", c);
        if (sp.memory_mib % 1024)
            snprintf(mem, sizeof(mem), "%uM", sp.memory_mib);
        else
            snprintf(mem, sizeof(mem), "%uG", m);
        if (sp.gpu)
            snprintf(sp.alias, sizeof(sp.alias), "%s%s %s*%u.%02u", cpu, mem,
                     sp.gpu_type[0] ? sp.gpu_type : "GPU", sp.real_gpu / 100, sp.real_gpu % 100);
        else
            snprintf(sp.alias, sizeof(sp.alias), "%s%s", cpu, mem);
    }
    struct spec *slot = (struct spec *)specs_find(sp.name);
    if (!slot) {
        if (ncatalogue == SPECS_MAX) {
            rc = err_set(err, ERR_TOOBIG, "at most %d specs", SPECS_MAX);
            goto out;
        }
        slot = &catalogue[ncatalogue++];
    }
    *slot = sp;
out:
    free(copy);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Resources                                                                */

static int get_uint(const json_t *o, const char *key, bool required, uint64_t max, uint64_t *out,
                    struct err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return err_set(err, ERR_NOTFOUND, "Resources.%s is required", key);
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return err_set(err, ERR_INVALID, "Resources.%s must be an integer from 0 to %llu", key,
                       (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int specs_request_parse(const json_t *res, struct spec_request *out, struct err *err)
{
    static const char *const known[] = {
        "Cpu",      "Memory",   "Gpu",        "GpuType", "RealGpu", "RealGpuDetailSet",
        "RootDisk", "DataDisk", "EnableRDMA", NULL};
    memset(out, 0, sizeof(*out));
    if (!json_is_object(res))
        return err_set(err, ERR_INVALID, "Resources must be an object {Cpu, Memory, ...}");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)res, key, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], key))
            i++;
        if (!known[i])
            return err_set(err, ERR_INVALID,
                           "Resources.%s is not a ResourceInfo field (Cpu, Memory, Gpu, GpuType, "
                           "RootDisk, DataDisk, EnableRDMA)",
                           key);
    }
    uint64_t cpu, mem, gpu, disk;
    if (get_uint(res, "Cpu", true, 1000000, &cpu, err) ||
        get_uint(res, "Memory", true, 1u << 30, &mem, err) ||
        get_uint(res, "Gpu", false, 6400, &gpu, err))
        return ERR_INVALID;
    if (cpu < SPECS_MIN_CPU_MILLICORES)
        return err_set(err, ERR_INVALID,
                       "Resources.Cpu %llu is below the least an instance may get, %d (1/1000 "
                       "core: 1000 is one core)",
                       (unsigned long long)cpu, SPECS_MIN_CPU_MILLICORES);
    if (mem < SPECS_MIN_MEMORY_MIB)
        return err_set(err, ERR_INVALID,
                       "Resources.Memory %llu is below the least an instance may get, %d (MB)",
                       (unsigned long long)mem, SPECS_MIN_MEMORY_MIB);
    static const char *const zero[] = {"RealGpu", "RootDisk", "DataDisk", NULL};
    for (size_t i = 0; zero[i]; i++) {
        if (get_uint(res, zero[i], false, UINT32_MAX, &disk, err))
            return ERR_INVALID;
        if (disk)
            return err_set(err, ERR_INVALID, "Resources.%s: %s; leave it out", zero[i],
                           strcmp(zero[i], "RealGpu") == 0
                               ? "it is an output field"
                               : "Berth does not size disks (instances use the host's)");
    }
    const json_t *details = json_object_get(res, "RealGpuDetailSet");
    if (details && !json_is_null(details) && !(json_is_array(details) && !json_array_size(details)))
        return err_set(err, ERR_INVALID,
                       "Resources.RealGpuDetailSet is an output field; leave it out");
    const json_t *rdma = json_object_get(res, "EnableRDMA");
    if (rdma && !json_is_null(rdma) && !json_is_boolean(rdma))
        return err_set(err, ERR_INVALID, "Resources.EnableRDMA must be a boolean");
    if (json_is_true(rdma))
        return err_set(err, ERR_INVALID,
                       "Resources.EnableRDMA: RDMA networking is cloud-only; leave it out");
    const json_t *gt = json_object_get(res, "GpuType");
    if (gt && !json_is_null(gt)) {
        const char *s = json_string_value(gt);
        if (!s || (*s && !word_ok(s, sizeof(out->gpu_type), false)))
            return err_set(err, ERR_INVALID,
                           "Resources.GpuType must be a GPU model name of letters, digits and "
                           "'-' (T4, A10)");
        snprintf(out->gpu_type, sizeof(out->gpu_type), "%s", s);
    }
    if (out->gpu_type[0] && !gpu)
        return err_set(err, ERR_INVALID, "Resources.GpuType '%s' needs Resources.Gpu above 0",
                       out->gpu_type);
    out->cpu_millicores = (uint32_t)cpu;
    out->memory_mib = (uint32_t)mem;
    out->gpu = (uint32_t)gpu;
    return 0;
}

void specs_request_of(const struct spec *sp, struct spec_request *out)
{
    memset(out, 0, sizeof(*out));
    out->cpu_millicores = sp->cpu_millicores;
    out->memory_mib = sp->memory_mib;
    out->gpu = sp->gpu;
    snprintf(out->gpu_type, sizeof(out->gpu_type), "%s", sp->gpu_type);
}
