/* prefetch: `bitlib create` options onto the ELF dependency reader. */
#include "meta/prefetch.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "meta/elfdeps.h"

int bl_prefetch_closure(const bl_create_opts *o, char ***paths, size_t *n, bl_err *err)
{
    bl_setroot *roots = calloc(o->num_dirs, sizeof *roots);
    char **names = calloc(o->num_dirs, sizeof *names);
    int rc = -1;
    *paths = NULL;
    *n = 0;
    if (!roots || !names) {
        bl_fail(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < o->num_dirs; i++) {
        roots[i].disk_root = o->dirs[i];
        if (o->num_dirs == 1) {
            roots[i].set_prefix = "";
            continue;
        }
        /* several directories: each is a top-level directory named by its basename */
        char name[NAME_MAX + 1];
        names[i] = strdup(bl_create_dir_name(o->dirs[i], name, sizeof name));
        if (!names[i]) {
            bl_fail(err, "out of memory");
            goto out;
        }
        roots[i].set_prefix = names[i];
    }
    bl_elfdeps_opts eo = {.roots = roots, .nroots = o->num_dirs, .mount = o->mount,
                          .libpath = o->libpath, .nlibpath = o->num_libpath};
    for (size_t i = 0; i < o->num_prefetch_from; i++)
        if (bl_elfdeps_closure(&eo, o->prefetch_from[i], paths, n, err) < 0) {
            bl_fail_ctx(err, "--prefetch-from");
            bl_elfdeps_free_list(*paths, *n);
            *paths = NULL;
            *n = 0;
            goto out;
        }
    rc = 0;
out:
    for (size_t i = 0; names && i < o->num_dirs; i++)
        free(names[i]);
    free(names);
    free(roots);
    return rc;
}
