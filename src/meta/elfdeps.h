/* elfdeps: which files of a set the dynamic loader would load for a program,
 * found by reading ELF dynamic sections (never by running anything).
 *
 * bl_elfdeps_closure walks the DT_NEEDED closure breadth-first the way glibc's
 * ld.so (2.36) does: an already-loaded name or SONAME is not searched again;
 * a name with '/' is a path; otherwise DT_RPATH of the loader and its loaders
 * (skipped when the loader has DT_RUNPATH; any object's RPATH is ignored if it
 * has RUNPATH), then the library path (LD_LIBRARY_PATH), then the loader's own
 * DT_RUNPATH, then the system directories.  Candidates must be regular files
 * (symlinks followed) of the executable's ELF class, byte order and machine.
 *
 * Paths live in two spaces.  The set: '/'-joined, relative to the set root,
 * backed on disk by (disk_root, set_prefix) pairs; an absolute path under
 * `mount` (or lexically under a disk root) is a set path.  Anything else is a
 * host path, looked up on this machine (that is how libc resolves "outside":
 * it stops the search and its own dependencies are followed, but it is never
 * listed).  Relative paths (a DT_NEEDED "sub/libx.so", a relative RPATH entry,
 * a relative library-path entry) are relative to the set root, where ld.so
 * would use its working directory.  ".." never climbs above the set root.
 * $ORIGIN/${ORIGIN}: the directory of the loading object as found (for the
 * executable: its symlink-resolved path).  $LIB: "lib/x86_64-linux-gnu" for
 * x86-64 (Debian 12 glibc), "lib/i386-linux-gnu" for i386, "lib/aarch64-linux-gnu"
 * for aarch64; entries with $PLATFORM, or $LIB on other machines, are skipped
 * with a warning (their value depends on the node's CPU).
 * glibc-hwcaps/x86-64-v{2,3,4} variants of a found library that exist in the
 * set are listed too (a node with that CPU level loads them instead).
 *
 * "System directories" (ld.so.cache and the built-in defaults) are read on
 * this machine: the directories of /etc/ld.so.conf (with includes) and the
 * multiarch and /lib, /usr/lib(64|32) directories.  A candidate that is not
 * a readable ELF file is skipped (logged at debug level).
 *
 * Output: set paths in load order, each once: the path as the loader names it
 * (e.g. "lib/libalpha.so.1"; its directory normalised lexically, "bin/../lib"
 * -> "lib", unless a symlinked directory makes that name lead elsewhere, then
 * resolved physically) followed, if different, by the set path of the file it
 * finally resolves to (so fetching the list brings the bytes).  A second name
 * under which the loader opens an already-loaded file is listed too.  The
 * executable comes first if it is in the set, then its PT_INTERP if that is in
 * the set.  Names found nowhere are logged with bl_warn, not an error. */
#ifndef BL_META_ELFDEPS_H
#define BL_META_ELFDEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "meta/elf.h"

/* One directory of the set on disk: its contents appear under set_prefix
 * ("" = the set root; with several directories, each one's basename). */
typedef struct bl_setroot {
    const char *disk_root;
    const char *set_prefix;
} bl_setroot;

typedef struct bl_elfdeps_opts {
    const bl_setroot *roots;
    size_t nroots;
    const char *mount;              /* where nodes mount the set, e.g. "/opt/libs"; may be NULL */
    const char *const *libpath;     /* LD_LIBRARY_PATH emulation: set-relative dirs, or */
    size_t nlibpath;                /* absolute ones (under mount = in the set) */
} bl_elfdeps_opts;

/* Append to *paths (a malloc'd array of malloc'd strings; *n counts them; both
 * may start empty: NULL/0) the set paths loaded for the program at
 * exe_disk_path (a path on this machine, inside or outside the set).
 * Paths already in *paths are not appended again, so several executables can
 * share one list.  Returns 0, or -1 if the executable itself cannot be read or
 * is not a usable ELF file (err says why).  Problems with libraries are
 * warnings. */
int bl_elfdeps_closure(const bl_elfdeps_opts *o, const char *exe_disk_path, char ***paths,
                       size_t *n, bl_err *err);

/* Expand $ORIGIN, $LIB and $PLATFORM ({}-forms too) in entry[0..len) the
 * way glibc's _dl_dst_substitute does, for an object of this machine and
 * class; origin replaces $ORIGIN.  Returns a malloc'd string, or NULL with
 * *why: 0 out of memory, 'L' a $LIB this machine has no value for, 'P'
 * $PLATFORM (it depends on each node's CPU), 'T' too long.  *why is 0 on
 * success. */
char *bl_elfdeps_expand(const char *entry, size_t len, const char *origin, uint16_t machine,
                        uint8_t elfclass, int *why);

/* Free a list built by bl_elfdeps_closure. */
void bl_elfdeps_free_list(char **paths, size_t n);

#endif
