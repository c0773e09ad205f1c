/* choker: whom we upload to.  Pure policy: no sockets, no clocks.
 *
 * Cooperative peers (bitlib peers in cooperative mode) are always unchoked:
 * inside a job every peer is trusted and wants the job to finish.  Stock
 * peers get BitTorrent's tit-for-tat: `slots - 1` regular slots for the
 * interested peers with the best rate (bytes/s we receive from them while we
 * download, bytes/s we send them once we seed), re-evaluated at every call
 * (the caller calls every 10 s), plus one optimistic slot that moves to a
 * random choked interested peer every 30 s.  Uninterested peers stay
 * choked.
 *
 * Stock peers are sticky, as in stock clients: between rounds (a peer became
 * interested, connected or left) bl_choker_fill only hands out free slots and
 * never takes one from a peer it serves; in a round, equal rates go to the
 * peers already unchoked first.  A seed ranks by what it uploaded to each peer
 * in the last round (libtorrent's "fastest upload" seed choking), so it keeps
 * serving whoever asked first and newcomers wait for a slot to free up or the
 * optimistic unchoke: the "first requester" preference that makes per-file
 * transfers collapse in stock BitTorrent. */
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
    uint64_t rate;     /* bytes/s, or bytes in the last round; see above */
    bool unchoked;     /* input: currently unchoked by us */
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
/* A round (every BL_CHOKE_RECHOKE_MS): decide unchoke for every peer
 * (peers[] is reordered).  now_ms drives the optimistic rotation. */
void bl_choker_run(bl_choker *c, bl_choke_peer *peers, size_t n, uint64_t now_ms);
/* Between rounds: interested stock peers already unchoked stay unchoked,
 * uninterested ones are choked, and free slots (of `slots`) go to choked
 * interested peers, best rate first (peers[] is reordered). */
void bl_choker_fill(bl_choker *c, bl_choke_peer *peers, size_t n);

#endif
