/* pull: the user's side, `bitlib offload pull` and `bitlib offload status`
 * without the command line.
 *
 * Both connect to every depot the manifest names with the offload's pull
 * key (dpset.h) and ask each what it holds of this offload (STAT); a chunk
 * is reachable when a depot that is up lists it.
 *
 * bl_pull_status stops there and reports, per depot and per stripe, what
 * is reachable.
 *
 * bl_pull_run then fetches, for every stripe, any K chunks from whichever
 * depots have them (data chunks first, so most stripes need no decoding),
 * a few requests in flight per depot, checks each against the manifest's
 * SHA-256 (a damaged or altered chunk is fetched again from another depot),
 * decodes with rs.h and writes the data into temporary files in the output
 * directory; when every stripe is in, it checks each file's SHA-256, and
 * only then renames the files into place, so a file of the offload's name
 * in the directory is always whole and verified.  A depot that fails in the
 * middle is dropped and its share asked of the others.
 *
 * Resuming: the temporary files (OUT_DIR/.NAME.bitlib-pull) are not
 * truncated when they exist; every stripe whose data chunks read back from
 * them match the manifest is kept and not fetched again, so a pull killed
 * (even by SIGKILL) and run again fetches only the rest.  A pull that fails
 * with stripes on disk leaves the temporary files for the next one; one
 * that fails before any leaves nothing.  Two pulls into one directory at
 * once: the second is refused (flock). */
#ifndef BL_OFFLOAD_PULL_H
#define BL_OFFLOAD_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "offload/manifest.h"

#define BL_PULL_WHY 160

typedef struct bl_pull_depot {
    bool up;
    char why[BL_PULL_WHY];       /* when down */
    uint64_t held;               /* chunks of this offload it holds */
    uint64_t listed;             /* chunks the manifest places on it */
    uint64_t free_bytes;
    uint64_t fetched;            /* chunks it delivered (pull) */
    uint64_t bad;                /* chunks it sent that failed their checksum (pull) */
} bl_pull_depot;

typedef struct bl_pull_report {
    bl_pull_depot *depot;        /* mf->ndepots entries; free with bl_pull_report_free */
    uint8_t *reachable;          /* per stripe: chunks reachable (of M) */
    uint64_t short_stripes;      /* stripes with fewer than K reachable */
    uint64_t bytes;              /* pull: bytes written */
    uint64_t bytes_fetched;      /* pull: chunk bytes received from depots (bad ones too) */
    uint64_t bytes_resumed;      /* pull: file bytes found on disk, verified, not fetched */
    uint64_t stripes_resumed;
    bool already_there;          /* pull: every file was in out_dir with its SHA-256; nothing fetched */
    double seconds;
} bl_pull_report;

int bl_pull_status(const bl_manifest *mf, unsigned timeout_ms, bl_pull_report *rep, bl_err *err);
/* out_dir must exist.  Fills rep also on failure (which depots failed). */
int bl_pull_run(const bl_manifest *mf, const char *out_dir, unsigned timeout_ms,
                bl_pull_report *rep, bl_err *err);
void bl_pull_report_free(bl_pull_report *rep);

#endif
