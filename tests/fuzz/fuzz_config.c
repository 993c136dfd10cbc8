/* fuzz_config.c - TF Serving model config, text format and JSON
 * (serve_config_parse). On success every model must be complete and valid;
 * on failure nothing may be left allocated and the message must name the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/config.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_model(const struct serve_config *c, size_t i)
{
    const struct serve_model_config *m = &c->models[i];
    FUZZ_CHECK(m->name && m->name[0]);
    FUZZ_CHECK(m->base_path && m->base_path[0]);
    for (size_t k = 0; k < i; k++)
        FUZZ_CHECK(strcmp(c->models[k].name, m->name) != 0);
    switch (m->policy) {
    case SERVE_POLICY_LATEST:
        FUZZ_CHECK(m->latest_n >= 1);
        break;
    case SERVE_POLICY_ALL:
        break;
    case SERVE_POLICY_SPECIFIC:
        FUZZ_CHECK(m->nversions >= 1 && m->versions);
        for (size_t k = 0; k < m->nversions; k++)
            FUZZ_CHECK(m->versions[k] >= 1);
        break;
    default:
        FUZZ_CHECK(!"unknown policy");
    }
    for (size_t k = 0; k < m->nlabels; k++) {
        FUZZ_CHECK(m->labels[k].name && m->labels[k].name[0]);
        FUZZ_CHECK(m->labels[k].version >= 1);
        for (size_t j = 0; j < k; j++)
            FUZZ_CHECK(strcmp(m->labels[j].name, m->labels[k].name) != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct serve_config c;
    struct err err;
    memset(&err, 0, sizeof(err));
    int rc = serve_config_parse("fuzz.config", (const char *)data, size, &c, &err);
    if (rc == 0) {
        for (size_t i = 0; i < c.nmodels; i++)
            check_model(&c, i);
    } else {
        FUZZ_CHECK(rc < 0);
        FUZZ_CHECK(err.code == rc);
        FUZZ_CHECK(c.nmodels == 0 && c.models == NULL);
        FUZZ_CHECK(strncmp(err.msg, "fuzz.config:", 12) == 0);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
    }
    serve_config_release(&c);
    return 0;
}
