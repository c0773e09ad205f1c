/* elf: the dynamic-linking facts of one ELF image, read with bounds.
 *
 * bl_elf_parse reads one ELF image (ELF32/ELF64, either byte order) with every
 * offset and count checked against the image: DT_NEEDED, DT_SONAME, DT_RPATH,
 * DT_RUNPATH, PT_INTERP.  A malformed image is an error, never a crash.  The
 * loader's search over those facts is elfdeps.h. */
#ifndef BL_META_ELF_H
#define BL_META_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Limits on what one image may declare (beyond them the image is refused). */
#define BL_ELF_MAX_NEEDED 4096
#define BL_ELF_MAX_STR    65536   /* longest string taken from .dynstr */

typedef struct bl_elfinfo {
    uint8_t elfclass;       /* 1 = ELF32, 2 = ELF64 */
    uint8_t data;           /* 1 = little endian, 2 = big endian */
    uint16_t type;          /* e_type: 2 = ET_EXEC, 3 = ET_DYN, ... */
    uint16_t machine;       /* e_machine: 62 = x86-64, 3 = i386, 183 = aarch64 */
    bool dynamic;           /* has a PT_DYNAMIC segment (or a .dynamic section) */
    char **needed;          /* DT_NEEDED strings in order */
    size_t nneeded;
    char *soname;           /* DT_SONAME or NULL (the last entry wins, as in ld.so) */
    char *rpath;            /* DT_RPATH, raw ':'-list, or NULL */
    char *runpath;          /* DT_RUNPATH, raw ':'-list, or NULL */
    char *interp;           /* PT_INTERP path or NULL */
} bl_elfinfo;

/* Parse an ELF image in memory.  On success fills *out (free with
 * bl_elfinfo_free) and returns 0; a file that is ELF but static gets no
 * needed entries.  On error returns -1, err says why, *out holds nothing. */
int bl_elf_parse(const uint8_t *img, size_t len, bl_elfinfo *out, bl_err *err);
void bl_elfinfo_free(bl_elfinfo *info);

#endif
