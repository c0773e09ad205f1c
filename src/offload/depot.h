/* depot: an intermediate node of result offload (the paper's N_i).
 *
 * Holds chunks of offloads in a store directory, up to a capacity, and
 * serves them.  Layout: DIR/<offload id hex>/<chunk index>.chunk, each file
 * the 8-byte magic "BLDEPOT1", the chunk's SHA-256, then the chunk.  A chunk
 * is acknowledged only after it is on disk for good: written to a temporary
 * name, fsynced, renamed, and the directory fsynced; so a crash or restart
 * loses nothing acknowledged.  Stored copies are checked against their
 * SHA-256 before being served.  Senders must hold the offload key; pullers
 * the offload's pull key (okey.h).  Told FORWARD ADDR, the depot copies
 * that offload's chunks to another depot (a Level-2 node), storing as the
 * offload's sender would.  Everything runs on the caller's event loop. */
#ifndef BL_OFFLOAD_DEPOT_H
#define BL_OFFLOAD_DEPOT_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/evloop.h"
#include "offload/okey.h"

#define BL_DEPOT_MAGIC "BLDEPOT1"
#define BL_DEPOT_HDR (8 + BL_SHA256_LEN)

typedef struct bl_depot bl_depot;

typedef struct bl_depot_stats {
    uint64_t chunks, used, capacity;
} bl_depot_stats;

/* Scan dir (created if absent), drop temporaries a crash left, and listen
 * on sa.  capacity counts chunk bytes (headers excluded). */
bl_depot *bl_depot_new(bl_loop *loop, const char *dir, uint64_t capacity, const bl_okey *key,
                       const struct sockaddr *sa, socklen_t salen, bl_err *err);
void bl_depot_free(bl_depot *d);
void bl_depot_stats_get(const bl_depot *d, bl_depot_stats *st);
/* The address actually bound (port 0 picks one). */
int bl_depot_addr(const bl_depot *d, struct sockaddr_storage *ss, socklen_t *len);

#endif
