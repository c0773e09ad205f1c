/* libFuzzer target: bl_elf_parse over arbitrary bytes.  A parse either fails
 * with a message or yields strings that are NUL-terminated and bounded. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta/elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy to an exact-size allocation so ASan sees any overread. */
    uint8_t *img = malloc(size ? size : 1);
    if (!img)
        return 0;
    if (size)
        memcpy(img, data, size);
    bl_elfinfo info;
    bl_err err;
    if (bl_elf_parse(img, size, &info, &err) == 0) {
        if (info.nneeded > BL_ELF_MAX_NEEDED)
            abort();
        for (size_t i = 0; i < info.nneeded; i++)
            if (strlen(info.needed[i]) > BL_ELF_MAX_STR)
                abort();
        const char *s[] = {info.soname, info.rpath, info.runpath, info.interp};
        for (size_t i = 0; i < 4; i++)
            if (s[i] && strlen(s[i]) > BL_ELF_MAX_STR)
                abort();
        bl_elfinfo_free(&info);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    free(img);
    return 0;
}
