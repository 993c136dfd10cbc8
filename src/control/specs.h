/* specs.h - the catalogue of instance specs (TI-ONE's InstanceType, §3.17):
 * the built-in TI.S.* CPU specs and those the operator defines with berthd's
 * 'spec' option, each with what one instance gets (CPU, memory, GPU share)
 * and its hourly list price. Also the parser of a prepaid 'Resources'
 * request (§4.4 ResourceInfo), which is enforced like a spec.
 * The catalogue is filled once at start-up (specs_define() from the main
 * thread, before any other thread runs) and is read-only afterwards, so any
 * thread may call specs_find() and specs_at(). */
#ifndef BERTH_CTL_SPECS_H
#define BERTH_CTL_SPECS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

#define SPECS_NAME_MAX 64

struct spec {
    char name[SPECS_NAME_MAX];  /* SpecName / InstanceType: "TI.S.MEDIUM.POST" */
    char alias[SPECS_NAME_MAX]; /* SpecAlias: "2C4G", "8C32G T4*1" */
    char gpu_type[16];          /* GpuType, "" without a GPU */
    uint32_t cpu_millicores;    /* ResourceInfo.Cpu: 1000 = one core */
    uint32_t memory_mib;        /* ResourceInfo.Memory (MB in TI-ONE's words) */
    uint32_t gpu;               /* ResourceInfo.Gpu: 1/100 of a (possibly virtual) card */
    uint32_t real_gpu;          /* ResourceInfo.RealGpu: 1/100 of a physical card */
    uint64_t price_per_hour;    /* list price of one instance-hour, in 1/100 of 'currency'
                                   (fen for CNY, as DescribeBillingSpecsPrice reports) */
    char currency[8];           /* ISO 4217: "CNY" */
    bool builtin;               /* false: defined by the operator */
};

/* The spec named 'name', or NULL (also for NULL). */
const struct spec *specs_find(const char *name);
/* The catalogue in order: the built-in specs, then the operator's. */
size_t specs_count(void);
const struct spec *specs_at(size_t i);

/* Add or replace a spec from one 'spec' option value:
 *   NAME cpu=CORES memory=MIB price=FEN [gpu=CARDS] [gpu-type=T4]
 *        [currency=CNY] [alias=TEXT]
 * CORES may be fractional to 1/1000 ("0.5"), CARDS to 1/100 ("0.25" is a
 * quarter card, reported as Gpu 100, RealGpu 25). A NAME that is built in
 * replaces the built-in row (an operator may reprice TI.S.MEDIUM.POST).
 * Returns 0, or ERR_INVALID with the key and the rule in 'err'. */
int specs_define(const char *line, struct err *err);
/* Forget the operator's specs and restore the built-in prices (tests). */
void specs_reset(void);

/* ------------------------------------------------------------------------ */
/* Resources requests (prepaid)                                              */

/* What one instance asks for: CPU, memory and GPU in ResourceInfo's units. */
struct spec_request {
    uint32_t cpu_millicores;
    uint32_t memory_mib;
    uint32_t gpu;
    char gpu_type[16];
};

/* The least an instance may be given, so that a limit still runs something. */
#define SPECS_MIN_CPU_MILLICORES 10
#define SPECS_MIN_MEMORY_MIB 16

/* Read a Resources object: Cpu (1/1000 core) and Memory (MB) are required,
 * at least SPECS_MIN_*; Gpu and GpuType are read, RealGpu, RealGpuDetailSet,
 * RootDisk and DataDisk are output or disk fields and refused when non-zero
 * (nothing here sizes disks), EnableRDMA is refused when true. Returns 0, or
 * ERR_INVALID with 'err' naming the field ("Resources.Cpu ..."), ERR_NOTFOUND when
 * Cpu or Memory is missing.
 * A Gpu above 0 parses; whether a driver can give it is the caller's check. */
int specs_request_parse(const json_t *resources, struct spec_request *out, struct err *err);
/* The request a spec stands for. */
void specs_request_of(const struct spec *sp, struct spec_request *out);

#endif
