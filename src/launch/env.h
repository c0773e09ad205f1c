/* env: the search-path variables a program run from a mounted set gets
 * (bitlib run), pointing into the mount.
 *
 * Which directories: the description's bitlib.env (bitlib create --env)
 * when it has one; otherwise detected from the set's entries alone:
 *   LD_LIBRARY_PATH  every directory holding a shared library (a file or
 *                    symlink named lib*.so or lib*.so.*)
 *   PYTHONPATH       every directory holding a top-level Python package (a
 *                    directory with __init__.py whose parent has none), and
 *                    every directory named site-packages or dist-packages
 * in the set's path order.  An override "NAME=DIR[:DIR...]" replaces NAME
 * (DIR relative to the set's root, or absolute); "NAME=" drops it.  Each
 * directory becomes ROOT/DIR; the variable's value in the caller's
 * environment, if any, follows the set's directories. */
#ifndef BL_LAUNCH_ENV_H
#define BL_LAUNCH_ENV_H

#include <stddef.h>

#include "core/err.h"
#include "meta/metainfo.h"

/* "NAME=VALUE" strings in *vars (malloc'ed, *n of them), sorted by name. */
int bl_launch_env(const bl_metainfo *mi, const char *root, const char *const *overrides,
                  size_t num_overrides, char ***vars, size_t *n, bl_err *err);
void bl_launch_env_free(char **vars, size_t n);

#endif
