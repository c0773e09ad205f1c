/* forward: copy an offload's chunks from one depot to another (the paper's
 * Level-2 nodes: depots near the user's site, filled from the Level-1
 * depots the center pushed to, so that the pull comes from nearby).
 *
 * The source depot is told FORWARD TO (it needs the offload key: depot.h);
 * it stores every chunk of the offload it holds on TO as a sender would and
 * answers once TO has acknowledged them.  Then TO is asked what it holds of
 * the offload (STAT), and the manifest learns TO as a holder of exactly
 * those chunks: what it lists is what was seen stored, not what was asked
 * for.  The caller adds them to the manifest as it is on disk then and saves
 * it (signed again), so that forwards run at the same time lose nothing. */
#ifndef BL_OFFLOAD_FORWARD_H
#define BL_OFFLOAD_FORWARD_H

#include <stdint.h>

#include "core/err.h"
#include "offload/manifest.h"
#include "offload/okey.h"

typedef struct bl_forward_report {
    uint32_t forwarded;     /* chunks the source says TO acknowledged */
    uint64_t held_at_to;    /* chunks of this offload TO holds afterwards */
    double seconds;
} bl_forward_report;

/* Forward mf's chunks from depot `from` to depot `to` ("host:port" each;
 * `to` as both the source and this host reach it); *held (malloc'd, *nheld
 * entries) is what `to` holds of the offload afterwards, for
 * bl_mf_add_holder.  timeout_ms bounds each wait, the forward's included.
 * 0, or -1 with err (one line: which depot and why). */
int bl_forward_run(const bl_manifest *mf, const bl_okey *key, const char *from, const char *to,
                   unsigned timeout_ms, bl_forward_report *rep, uint32_t **held, uint32_t *nheld,
                   bl_err *err);

/* Add depot (appended to mf->depots if new) as a holder of chunks idx[0..n)
 * (indexes at or beyond nstripes x M are ignored); *added counts the chunks
 * that gained it.  -1 with err when a bound of the manifest would be passed. */
int bl_mf_add_holder(bl_manifest *mf, const char *depot, const uint32_t *idx, size_t n,
                     uint64_t *added, bl_err *err);

#endif
