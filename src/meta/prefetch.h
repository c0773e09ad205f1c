/* prefetch: the prefetch list of a set from its executables.
 * Maps `bitlib create` options (directories, mount point, library path) onto
 * the ELF dependency reader and returns set-relative paths in load order. */
#ifndef BL_META_PREFETCH_H
#define BL_META_PREFETCH_H

#include <stddef.h>

#include "core/err.h"
#include "meta/create.h"

int bl_prefetch_closure(const bl_create_opts *o, char ***paths, size_t *n, bl_err *err);

#endif
