/* peer_table: the tracker's state, without sockets or clocks.
 *
 * Torrents (by info-hash) each hold a set of peers (by peer id) with the
 * address other peers should dial, whether the peer is a seeder (left = 0)
 * and when it last announced.  The caller passes the current time in
 * seconds, so tests and simulators drive expiry directly.
 *   - An announce inserts or refreshes the peer and returns a uniformly
 *     random sample of the other live peers (partial Fisher-Yates, O(wanted)).
 *   - event=stopped removes the peer at once; a peer silent for peer_ttl_s
 *     is skipped by announces and removed by bl_trk_table_expire().
 *   - Counts: complete = seeders, incomplete = leechers, downloaded =
 *     leechers seen reaching left=0, plus unknown peers announcing
 *     completed.  A torrent whose last peer left is kept (with its counts)
 *     for one more peer_ttl_s, then dropped by bl_trk_table_expire().
 *   - Bounds: torrents, peers per torrent and peers overall are capped; a
 *     full table refuses newcomers with a message fit for "failure reason".
 *   - Optional whitelist: once any hash is allowed, others are refused. */
#ifndef BL_TRACKER_PEER_TABLE_H
#define BL_TRACKER_PEER_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "tracker/proto.h"

typedef struct bl_trk_limits {
    size_t max_torrents;          /* default 100000 */
    size_t max_peers_per_torrent; /* default 100000 */
    size_t max_peers_total;       /* default 1000000 */
    uint32_t peer_ttl_s;          /* default 3600 (2 x the 1800 s interval) */
    uint32_t default_numwant;     /* default 50 */
    uint32_t max_numwant;         /* default 200 */
} bl_trk_limits;

/* Fill unset (zero) fields with the defaults above. */
void bl_trk_limits_defaults(bl_trk_limits *lim);

typedef struct bl_trk_counts {
    uint32_t complete, incomplete, downloaded;
} bl_trk_counts;

typedef struct bl_trk_peer_out {
    uint8_t peer_id[20];
    bl_trk_addr addr;
} bl_trk_peer_out;

typedef struct bl_trk_table bl_trk_table;

/* lim may be NULL for the defaults; seed makes peer sampling reproducible. */
bl_trk_table *bl_trk_table_new(const bl_trk_limits *lim, uint64_t seed, bl_err *err);
void bl_trk_table_free(bl_trk_table *t);

/* Allow one info-hash; the first call turns whitelist mode on. */
int bl_trk_table_allow(bl_trk_table *t, const uint8_t info_hash[BL_TRK_HASH_LEN], bl_err *err);
/* Drop the whitelist (back to open mode), e.g. before reloading it. */
void bl_trk_table_allow_clear(bl_trk_table *t);
bool bl_trk_table_allowed(const bl_trk_table *t, const uint8_t info_hash[BL_TRK_HASH_LEN]);

/* How many peers an announce asking for numwant (< 0: default) gets at most. */
size_t bl_trk_table_numwant(const bl_trk_table *t, int32_t numwant);

/* Record announce a (a->addr must be complete: the caller fills in the
 * source address when the request named none) at now_s.  Writes up to
 * min(numwant, max_out) other live peers to out (family 4 or 6 only, or 0
 * for both), *nout their number, *counts the torrent's counts after the
 * announce.  Returns 0, or -1 with a one-line reason for the client. */
int bl_trk_table_announce(bl_trk_table *t, const bl_trk_announce *a, uint64_t now_s, int family,
                          bl_trk_peer_out *out, size_t max_out, size_t *nout,
                          bl_trk_counts *counts, bl_err *err);

/* Counts for one torrent (zeros if unknown). */
void bl_trk_table_scrape(const bl_trk_table *t, const uint8_t info_hash[BL_TRK_HASH_LEN],
                         bl_trk_counts *counts);

/* Remove peers silent for peer_ttl_s, and torrents empty for peer_ttl_s;
 * returns the number of peers removed. */
size_t bl_trk_table_expire(bl_trk_table *t, uint64_t now_s);

size_t bl_trk_table_torrents(const bl_trk_table *t);
size_t bl_trk_table_peers(const bl_trk_table *t);

#endif
