/* container.h - the request fields of a service that runs a custom image on
 * the container driver (drivers/container.h): ImageInfo of a registry image
 * (TCR, CCR, CUSTOM), ServicePort and PreStopCommand. */
#ifndef BERTH_API_CONTAINER_H
#define BERTH_API_CONTAINER_H

#include <jansson.h>
#include <stdbool.h>

#include "api/api.h"

/* Whether 'image' (a request's ImageInfo) names a registry image rather than
 * the built-in runtime (PreSet). Malformed ones say no: api_check_image
 * refuses them later. */
bool api_image_custom(const json_t *image);
/* A model version's CUSTOM ReasoningImageInfo ('where'), already checked
 * by api_check_image: refused without a container engine or with a
 * malformed ImageUrl. */
int api_check_model_image(struct api_call *c, const struct api_image *img, const char *where);
/* The custom image of a model version (its attributes as stored), or NULL:
 * ReasoningEnvironmentSource CUSTOM with a ReasoningImageInfo.ImageUrl. */
const char *api_model_image(const json_t *attrs);

/* Apply ImageInfo, ServicePort and PreStopCommand of request 'p' over
 * 'spec' (the new version's, or the current one when modifying): a custom
 * image makes the spec's Kind "image" with its reference in "Image", the
 * Command (if any) run in it through /bin/sh -c. With a ModelInfo
 * ('model'), the model's files are mounted into the image at /data/model;
 * without an ImageInfo, the model version's own custom image (resolved into
 * "ModelImage") runs, if it has one, else the built-in runtime. ServicePort and PreStopCommand are
 * refused for what does not run in a container. Returns 1 when the spec runs an image, 0 when not,
 * -1 after api_fail(). */
int api_container_apply(struct api_call *c, const json_t *p, json_t *spec, bool model,
                        bool command);

#endif
