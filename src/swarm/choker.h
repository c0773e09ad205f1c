/* choker: whom we upload to.  Pure policy: no sockets, no clocks.
 *
 * Cooperative peers (bitlib peers in cooperative mode) are always unchoked:
 * inside a job every peer is trusted and wants the job to finish.  Stock
 * peers get BitTorrent's tit-for-tat: `slots - 1` regular slots for the
 * interested peers with the best rate (bytes/s we receive from them while we
 * download, bytes/s we send them once we seed), re-evaluated at every call
 * (the caller calls every 10 s), plus one optimistic slot that moves to a
 * random choked interested peer every 30 s.  Uninterested peers stay
 * choked. */
#ifndef BL_SWARM_CHOKER_H
#define BL_SWARM_CHOKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BL_CHOKE_RECHOKE_MS 10000u
#define BL_CHOKE_OPTIMISTIC_MS 30000u

typedef struct bl_choke_peer {
    uint32_t id;
    bool interested;   /* the peer is interested in us */
    bool coop;         /* cooperative: never choked */
    uint64_t rate;     /* bytes/s, see above */
    bool unchoke;      /* output: the decision */
} bl_choke_peer;

typedef struct bl_choker {
    unsigned slots;            /* total upload slots for stock peers, >= 1 */
    uint32_t optimistic;       /* id holding the optimistic slot */
    bool has_optimistic;
    uint64_t optimistic_since;
    uint64_t rng;
} bl_choker;

void bl_choker_init(bl_choker *c, unsigned slots, uint64_t seed);
/* Decide unchoke for every peer (peers[] is reordered).  now_ms drives the
 * optimistic rotation. */
void bl_choker_run(bl_choker *c, bl_choke_peer *peers, size_t n, uint64_t now_ms);

#endif
