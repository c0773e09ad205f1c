/* elfahead: the files of the set an ELF object will make the loader open
 * next, known before the loader asks (file mode's read-ahead).
 *
 * A front end reports each file an application opened (bl_elfahead_track).
 * Once a tracked file's bytes are local, bl_elfahead_examine reads its
 * dynamic section (meta/elf.h) and looks each DT_NEEDED name up in the set
 * the way ld.so searches: DT_RPATH of the object and of the objects that
 * led to it (unless the object has DT_RUNPATH), the set's LD_LIBRARY_PATH
 * directories (those `bitlib run` exports: bitlib.env or detected, see
 * launch/env.h), then DT_RUNPATH.  $ORIGIN is the object's directory in the
 * set ($LIB and $PLATFORM as in meta/elfdeps.h); an absolute entry counts
 * when it lies under the description's mount point.  Names the set does
 * not hold (the node's own libc) need nothing.  A candidate's ELF class
 * cannot be checked, its bytes are not here yet: the first file of that
 * name in search order is taken, as the loader does for a set built for
 * one machine.  What is found is tracked in turn, so the whole closure
 * follows as its objects arrive; every entry is examined at most once per
 * daemon (the parsed closure is kept, not recomputed per open).
 * Pure: no I/O, the caller supplies the bytes. */
#ifndef BL_FS_ELFAHEAD_H
#define BL_FS_ELFAHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "fs/fsindex.h"
#include "meta/metainfo.h"

/* Objects larger than this are not examined (their image is read whole). */
#define BL_ELFAHEAD_MAX_IMAGE (256ull << 20)

typedef struct bl_elfahead bl_elfahead;

typedef struct bl_elfahead_stats {
    uint64_t examined;  /* objects whose dynamic section was read */
    uint64_t found;     /* files of the set found as dependencies (tracked by it) */
} bl_elfahead_stats;

/* NULL when out of memory (err says so).  mi and ix must outlive it. */
bl_elfahead *bl_elfahead_new(const bl_metainfo *mi, const bl_fsindex *ix, bl_err *err);
void bl_elfahead_free(bl_elfahead *a);

/* An application opened entry: true if it is a regular file with data seen
 * for the first time (examine it once it is local). */
bool bl_elfahead_track(bl_elfahead *a, size_t entry);
/* Tracked and not examined yet. */
bool bl_elfahead_pending(const bl_elfahead *a, size_t entry);
/* Examine tracked entry from its image img[0..len) (a file that is not
 * ELF, or static, or malformed, needs nothing).  The entries it needs that
 * were not tracked yet are tracked now (this one as their loader) and
 * written to deps in load order, at most max; returns how many. */
size_t bl_elfahead_examine(bl_elfahead *a, size_t entry, const uint8_t *img, size_t len,
                           size_t *deps, size_t max);
void bl_elfahead_get_stats(const bl_elfahead *a, bl_elfahead_stats *st);

#endif
