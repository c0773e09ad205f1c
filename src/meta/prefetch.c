#include "meta/prefetch.h"

/* Interim: the ELF reader lands in the next merge. */
int bl_prefetch_closure(const bl_create_opts *o, char ***paths, size_t *n, bl_err *err)
{
    (void)o;
    *paths = NULL;
    *n = 0;
    return bl_fail(err, "--prefetch-from: ELF dependency reader not merged yet");
}
