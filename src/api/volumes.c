/* volumes.c - VolumeMount and VolumeMounts of CreateModelService and
 * ModifyModelService (../shared/reference/tione-api.md §4.4 VolumeMount,
 * CFSConfig). VolumeSourceType CFS names a file system berthd's operator
 * defined (--file-system 'ID DIR'), CFSConfig.Path a directory in it, and
 * MountPath where instances see it; MountType SOURCE (a data source) is
 * mounted read-only, as is a file system defined read-only. What is accepted
 * goes into the spec as "Mounts" for the drivers (drivers/mounts.h). */
#include "api/api.h"
#include "drivers/mounts.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Directories an instance must keep seeing as the machine has them. */
static const char *const reserved[] = {"/proc",   "/sys",  "/dev", "/etc",     "/usr",
                                       "/bin",    "/sbin", "/lib", "/lib32",   "/lib64",
                                       "/libx32", "/boot", "/run", "/var/run", NULL};

/* An absolute path with no empty, '.' or '..' component and no trailing '/'. */
static bool normal_path(const char *p, bool allow_root)
{
    size_t n = strlen(p);
    if (p[0] != '/' || n > 1024 || (n == 1 && !allow_root))
        return n == 1 && allow_root;
    if (p[n - 1] == '/' && n > 1)
        return false;
    for (const char *s = p; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ':' || *s == ',')
            return false;
        if (*s == '/' &&
            (s[1] == '/' || (s[1] == '.' && (s[2] == '/' || s[2] == '\0' ||
                                             (s[2] == '.' && (s[3] == '/' || s[3] == '\0'))))))
            return false;
    }
    return true;
}

/* "where." before an api_get_*() error, which names only the field. */
static int prefix_path(struct api_call *c, const char *where)
{
    size_t n = strlen(where);
    if (strncmp(c->error_message, where, n) == 0)
        return -1;
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s.", where);
    return api_prefix_error(c, prefix);
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int read_cfs(struct api_call *c, const json_t *cfs, const char *where, json_t *entry)
{
    static const struct api_field fields[] = {{"Id", API_FIELD_USED},
                                              {"Path", API_FIELD_USED},
                                              {"MountType", API_FIELD_USED},
                                              {"Protocol", API_FIELD_USED},
                                              {"IsPresetStorage", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    char at[96];
    snprintf(at, sizeof(at), "%s.CFSConfig", where);
    const char *id, *path, *type, *protocol;
    bool preset = false;
    if (!api_present(cfs))
        return api_fail(c, "MissingParameter", "%s is required for VolumeSourceType CFS", at);
    if (api_check_object(c, cfs, at, fields) || api_get_str(c, cfs, "Id", false, &id) ||
        api_get_str(c, cfs, "Path", false, &path) ||
        api_get_str(c, cfs, "MountType", false, &type) ||
        api_get_str(c, cfs, "Protocol", false, &protocol) ||
        api_get_bool(c, cfs, "IsPresetStorage", &preset))
        return prefix_path(c, at);
    if (!id)
        return api_fail(c, "MissingParameter", "%s.Id is required", at);
    if (!path)
        return api_fail(c, "MissingParameter",
                        "%s.Path is required (\"/\" for the whole file system)", at);
    bool fs_ro = false;
    if (!drv_volumes_find(c->cfg->volumes, id, &fs_ro)) {
        char list[256];
        drv_volumes_list(c->cfg->volumes, list, sizeof(list));
        return api_fail(
            c, "InvalidParameterValue", "%s.Id '%s' is not a file system of this berthd (%s%s)", at,
            id, list[0] ? "configured: " : "none is configured: berthd --file-system 'ID DIR'",
            list);
    }
    if (!normal_path(path, true))
        return api_fail(
            c, "InvalidParameterValue",
            "%s.Path '%s' must be an absolute path inside the file system, without '.', "
            "'..', '//' or a trailing '/'",
            at, path);
    bool source = type && strcmp(type, "SOURCE") == 0;
    if (type && !source && strcmp(type, "STORAGE") != 0)
        return api_fail(c, "InvalidParameterValue",
                        "%s.MountType must be STORAGE or SOURCE, got '%s'", at, type);
    if (protocol && strcmp(protocol, "1") != 0 && strcasecmp(protocol, "NFS") != 0)
        return strcmp(protocol, "2") == 0 || strcasecmp(protocol, "TURBO") == 0
                   ? api_fail(c, "UnsupportedOperation",
                              "%s.Protocol %s: Berth mounts directories of the host (which may be "
                              "NFS exports), not CFS Turbo",
                              at, protocol)
                   : api_fail(c, "InvalidParameterValue",
                              "%s.Protocol must be 1 (NFS) or 2 (TURBO)", at);
    if (preset)
        return api_fail(c, "UnsupportedOperation",
                        "%s.IsPresetStorage: Berth has no platform-preset storage; name a file "
                        "system of berthd's in Id",
                        at);
    json_object_set_new(entry, "Id", json_string(id));
    json_object_set_new(entry, "Path", json_string(path));
    json_object_set_new(entry, "ReadOnly", json_boolean(source || fs_ro));
    return 0;
}

int api_volume_read(struct api_call *c, const json_t *vm, const char *where, bool container,
                    json_t **out)
{
    static const struct api_field fields[] = {{"CFSConfig", API_FIELD_USED},
                                              {"VolumeSourceType", API_FIELD_USED},
                                              {"MountPath", API_FIELD_USED},
                                              {"PublicDataSource", API_FIELD_UNSUPPORTED},
                                              {NULL, API_FIELD_USED}};
    const char *type, *target;
    *out = NULL;
    if (api_check_object(c, vm, where, fields) ||
        api_get_str(c, vm, "VolumeSourceType", false, &type) ||
        api_get_str(c, vm, "MountPath", false, &target))
        return prefix_path(c, where);
    if (type && strcmp(type, "CFS") != 0)
        return strcmp(type, "COS") == 0 || strcmp(type, "PUBLIC_DATA_SOURCE") == 0
                   ? api_fail(c, "UnsupportedOperation",
                              "%s.VolumeSourceType %s: Berth has nothing to mount as %s; use CFS "
                              "with a file system configured in berthd (--file-system 'ID DIR')",
                              where, type, type)
                   : api_fail(
                         c, "InvalidParameterValue",
                         "%s.VolumeSourceType must be CFS, COS or PUBLIC_DATA_SOURCE, got '%s'",
                         where, type);
    if (!container && !drv_mounts_possible())
        return api_fail(c, "UnsupportedOperation",
                        "%s: berthd runs as uid %d, not root, and cannot mount file systems into "
                        "instances",
                        where, (int)geteuid());
    if (!target)
        return api_fail(c, "MissingParameter", "%s.MountPath is required", where);
    if (!normal_path(target, false))
        return api_fail(c, "InvalidParameterValue",
                        "%s.MountPath '%s' must be an absolute path other than '/', without '.', "
                        "'..', '//', ':', ',' or a trailing '/'",
                        where, target);
    for (const char *const *r = reserved; *r; r++)
        if (under(target, *r))
            return api_fail(c, "InvalidParameterValue",
                            "%s.MountPath '%s' is inside %s, which instances must see as it is",
                            where, target, *r);
    /* The process driver mounts over a directory of the machine's; it does
     * not create one where the API says. The engine makes a container's. */
    struct stat st;
    if (!container && (stat(target, &st) != 0 || !S_ISDIR(st.st_mode)))
        return api_fail(
            c, "InvalidParameterValue",
            "%s.MountPath '%s' must be an existing directory on this machine (instances "
            "are processes; the file system is mounted over it, for them only)",
            where, target);
    json_t *entry = json_object();
    if (read_cfs(c, json_object_get(vm, "CFSConfig"), where, entry)) {
        json_decref(entry);
        return -1;
    }
    json_object_set_new(entry, "MountPath", json_string(target));
    *out = entry;
    return 0;
}

int api_volumes_read(struct api_call *c, const json_t *p, json_t *spec)
{
    const json_t *one = json_object_get(p, "VolumeMount");
    const json_t *many = json_object_get(p, "VolumeMounts");
    bool have_one = api_present(one), have_many = json_is_array(many);
    if (!have_one && !have_many && !api_present(many))
        return 0;
    if (have_one && have_many && json_array_size(many) > 0)
        return api_fail(c, "InvalidParameterValue",
                        "give VolumeMount (one mount) or VolumeMounts (several), not both");
    if (!have_one && !have_many)
        return api_fail(c, "InvalidParameter", "VolumeMounts must be a list of VolumeMount");
    if (have_many && json_array_size(many) > DRV_MOUNTS_MAX)
        return api_fail(c, "InvalidParameterValue", "VolumeMounts takes at most %d mounts",
                        DRV_MOUNTS_MAX);
    json_t *mounts = json_array();
    size_t n = have_one ? 1 : json_array_size(many);
    for (size_t i = 0; i < n; i++) {
        char where[48];
        if (have_one)
            snprintf(where, sizeof(where), "VolumeMount");
        else
            snprintf(where, sizeof(where), "VolumeMounts[%zu]", i);
        json_t *entry;
        if (api_volume_read(c, have_one ? one : json_array_get(many, i), where,
                            json_is_string(json_object_get(spec, "Image")), &entry)) {
            json_decref(mounts);
            return -1;
        }
        const char *target = json_string_value(json_object_get(entry, "MountPath"));
        for (size_t k = 0; k < json_array_size(mounts); k++) {
            const char *other =
                json_string_value(json_object_get(json_array_get(mounts, k), "MountPath"));
            if (under(target, other) || under(other, target)) {
                api_fail(c, "InvalidParameterValue",
                         "%s.MountPath '%s' overlaps VolumeMounts[%zu].MountPath '%s'", where,
                         target, k, other);
                json_decref(entry);
                json_decref(mounts);
                return -1;
            }
        }
        json_array_append_new(mounts, entry);
    }
    json_object_del(spec, "VolumeMount");
    json_object_del(spec, "VolumeMounts");
    if (json_array_size(mounts) == 0) {
        json_object_del(spec, "Mounts");
        json_decref(mounts);
        return 0;
    }
    json_object_set_new(spec, "Mounts", mounts);
    json_object_set(spec, have_one ? "VolumeMount" : "VolumeMounts",
                    (json_t *)(have_one ? one : many));
    return 0;
}
