/* elfahead: see elfahead.h. */
#include "fs/elfahead.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch/env.h"
#include "meta/elf.h"
#include "meta/elfdeps.h"

/* Where the set root appears in expanded paths when the description names
 * no mount point: a name no search path of a real object contains. */
#define NO_MOUNT_ROOT "/.bitlib-set-root"
#define PATH_MAX_LEN 4096

enum { UNSEEN, TRACKED, EXAMINED };

struct bl_elfahead {
    const bl_metainfo *mi;
    const bl_fsindex *ix;
    const char *vroot;
    char **libdirs;      /* LD_LIBRARY_PATH of the set, set-relative */
    size_t nlibdirs;
    uint8_t *state;      /* per entry */
    size_t *loader;      /* per entry: the object that needed it, or BL_FS_NO_ENTRY */
    char **rpath;        /* per examined entry: its DT_RPATH when it counts (no RUNPATH) */
    uint8_t *cls;        /* per examined entry: ELF class, for $LIB */
    uint16_t *machine;   /* per examined entry */
    bl_elfahead_stats st;
};

/* The set-relative form of an expanded path, or NULL if it lies outside. */
static const char *to_rel(const bl_elfahead *a, const char *path)
{
    if (path[0] != '/')
        return path;
    size_t n = strlen(a->vroot);
    if (strncmp(path, a->vroot, n) != 0 || (path[n] && path[n] != '/'))
        return NULL;
    path += n;
    while (*path == '/')
        path++;
    return path;
}

static void load_libdirs(bl_elfahead *a)
{
    char **vars = NULL;
    size_t n = 0;
    bl_err err;
    if (bl_launch_env(a->mi, a->vroot, NULL, 0, &vars, &n, &err) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(vars[i], "LD_LIBRARY_PATH=", 16) != 0)
            continue;
        const char *p = vars[i] + 16;
        size_t count = 1;
        for (const char *q = p; *q; q++)
            count += *q == ':';
        a->libdirs = calloc(count, sizeof *a->libdirs);
        for (; a->libdirs && *p;) {
            size_t len = strcspn(p, ":");
            char *dir = strndup(p, len);
            const char *rel = dir ? to_rel(a, dir) : NULL;
            if (rel && (a->libdirs[a->nlibdirs] = strdup(rel)))
                a->nlibdirs++;
            free(dir);
            p += len;
            if (*p == ':')
                p++;
        }
    }
    bl_launch_env_free(vars, n);
}

bl_elfahead *bl_elfahead_new(const bl_metainfo *mi, const bl_fsindex *ix, bl_err *err)
{
    bl_elfahead *a = calloc(1, sizeof *a);
    size_t n = mi->num_entries ? mi->num_entries : 1;
    if (a) {
        a->mi = mi;
        a->ix = ix;
        a->vroot = mi->mount && mi->mount[0] == '/' ? mi->mount : NO_MOUNT_ROOT;
        a->state = calloc(n, 1);
        a->loader = malloc(n * sizeof *a->loader);
        a->rpath = calloc(n, sizeof *a->rpath);
        a->cls = calloc(n, 1);
        a->machine = calloc(n, sizeof *a->machine);
    }
    if (!a || !a->state || !a->loader || !a->rpath || !a->cls || !a->machine) {
        bl_elfahead_free(a);
        bl_fail(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        a->loader[i] = BL_FS_NO_ENTRY;
    load_libdirs(a);
    return a;
}

void bl_elfahead_free(bl_elfahead *a)
{
    if (!a)
        return;
    for (size_t i = 0; a->rpath && i < a->mi->num_entries; i++)
        free(a->rpath[i]);
    for (size_t i = 0; i < a->nlibdirs; i++)
        free(a->libdirs[i]);
    free(a->libdirs);
    free(a->rpath);
    free(a->cls);
    free(a->machine);
    free(a->loader);
    free(a->state);
    free(a);
}

static bool has_data(const bl_elfahead *a, size_t e)
{
    const bl_mentry *me = &a->mi->entries[e];
    return S_ISREG(me->mode) && me->file >= 0 && me->size > 0;
}

bool bl_elfahead_track(bl_elfahead *a, size_t entry)
{
    if (entry >= a->mi->num_entries || a->state[entry] != UNSEEN || !has_data(a, entry))
        return false;
    a->state[entry] = TRACKED;
    return true;
}

bool bl_elfahead_pending(const bl_elfahead *a, size_t entry)
{
    return entry < a->mi->num_entries && a->state[entry] == TRACKED;
}

/* $ORIGIN of entry: its directory, under the set root. */
static void origin_of(const bl_elfahead *a, size_t e, char *out, size_t outlen)
{
    const char *path = a->mi->entries[e].path;
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) : 0;
    snprintf(out, outlen, "%s%s%.*s", a->vroot, dirlen ? "/" : "", dirlen, path);
}

/* The data file at set-relative dir/name, following symlinks in the set. */
static size_t lookup(const bl_elfahead *a, const char *dir, const char *name)
{
    char p[PATH_MAX_LEN];
    int n = snprintf(p, sizeof p, "%s%s%s", dir, *dir ? "/" : "", name);
    if (n < 0 || (size_t)n >= sizeof p)
        return BL_FS_NO_ENTRY;
    size_t e = bl_fsindex_resolve(a->ix, p, true);
    return e != BL_FS_NO_ENTRY && has_data(a, e) ? e : BL_FS_NO_ENTRY;
}

/* A search-path entry or a DT_NEEDED path of object `obj`, expanded and
 * made set-relative (relative entries are taken from the set root, as
 * meta/elfdeps.h does); NULL if it cannot be or lies outside the set. */
static char *entry_rel(const bl_elfahead *a, size_t obj, const char *entry, size_t len)
{
    char origin[PATH_MAX_LEN];
    origin_of(a, obj, origin, sizeof origin);
    int why;
    char *x = bl_elfdeps_expand(entry, len, origin, a->machine[obj], a->cls[obj], &why);
    if (!x)
        return NULL;
    const char *rel = to_rel(a, x);
    char *out = rel ? strdup(rel) : NULL;
    free(x);
    return out;
}

static size_t try_list(const bl_elfahead *a, size_t obj, const char *list, const char *name)
{
    for (const char *p = list;;) {
        size_t len = strcspn(p, ":");
        char *dir = entry_rel(a, obj, p, len);
        size_t e = dir ? lookup(a, dir, name) : BL_FS_NO_ENTRY;
        free(dir);
        if (e != BL_FS_NO_ENTRY || !p[len])
            return e;
        p += len + 1;
    }
}

/* ld.so's search for a name without '/', needed by obj, restricted to the
 * set (system directories come last and hold nothing of the set). */
static size_t search(const bl_elfahead *a, size_t obj, const char *runpath, const char *name)
{
    size_t e;
    if (!runpath)
        for (size_t l = obj; l != BL_FS_NO_ENTRY; l = a->loader[l])
            if (a->rpath[l] && (e = try_list(a, l, a->rpath[l], name)) != BL_FS_NO_ENTRY)
                return e;
    for (size_t i = 0; i < a->nlibdirs; i++)
        if ((e = lookup(a, a->libdirs[i], name)) != BL_FS_NO_ENTRY)
            return e;
    if (runpath && (e = try_list(a, obj, runpath, name)) != BL_FS_NO_ENTRY)
        return e;
    return BL_FS_NO_ENTRY;
}

size_t bl_elfahead_examine(bl_elfahead *a, size_t entry, const uint8_t *img, size_t len,
                           size_t *deps, size_t max)
{
    if (!bl_elfahead_pending(a, entry))
        return 0;
    a->state[entry] = EXAMINED;
    bl_elfinfo info;
    bl_err err;
    if (len < 4 || memcmp(img, "\177ELF", 4) != 0 || bl_elf_parse(img, len, &info, &err) < 0)
        return 0;
    a->st.examined++;
    a->cls[entry] = info.elfclass;
    a->machine[entry] = info.machine;
    if (info.rpath && !info.runpath)
        a->rpath[entry] = strdup(info.rpath);
    size_t n = 0;
    for (size_t i = 0; i < info.nneeded && n < max; i++) {
        const char *name = info.needed[i];
        size_t e;
        if (strchr(name, '/')) {
            char *rel = entry_rel(a, entry, name, strlen(name));
            e = rel ? lookup(a, "", rel) : BL_FS_NO_ENTRY;
            free(rel);
        } else {
            e = search(a, entry, info.runpath, name);
        }
        if (e == BL_FS_NO_ENTRY || a->state[e] != UNSEEN)
            continue;
        a->state[e] = TRACKED;
        a->loader[e] = entry;
        deps[n++] = e;
        a->st.found++;
    }
    bl_elfinfo_free(&info);
    return n;
}

void bl_elfahead_get_stats(const bl_elfahead *a, bl_elfahead_stats *st) { *st = a->st; }
