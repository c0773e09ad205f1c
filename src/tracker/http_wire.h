/* http_wire: the tracker side of the BEP 3 HTTP tracker protocol, without
 * sockets: announce and scrape query strings in, bencoded replies out.
 *
 * Query strings are application/x-www-form-urlencoded (key=value joined by
 * '&', %XX escapes, '+' for space); values may be binary (info_hash,
 * peer_id).  Parsing is strict about what the tracker needs (a 20-byte
 * info_hash and peer_id, a port in 1..65535, decimal counters, a known
 * event) and ignores parameters it does not know.  Bounds: the query is at
 * most BL_TRK_QUERY_MAX bytes with at most BL_TRK_QUERY_PARAMS parameters.
 * Error messages are meant for the client's "failure reason". */
#ifndef BL_TRACKER_HTTP_WIRE_H
#define BL_TRACKER_HTTP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "tracker/peer_table.h"
#include "tracker/proto.h"

#define BL_TRK_QUERY_MAX 8192
#define BL_TRK_QUERY_PARAMS 64
#define BL_TRK_SCRAPE_MAX 100   /* info-hashes in one HTTP scrape */

/* Parse the query of GET /announce (the part after '?').  Sets a->addr's
 * port, and its ip with has_ip only when `ip` is a literal address (a host
 * name is ignored: the tracker never resolves names for clients).  compact
 * defaults to 1; numwant to -1 (tracker default); left to 1 when absent. */
int bl_trk_http_parse_announce(const char *q, size_t len, bl_trk_announce *a, bl_err *err);

/* Parse the query of GET /scrape: every info_hash parameter, in order,
 * into hashes[0..*n) (at most max; more is an error).  No info_hash is an
 * error too: this tracker does not serve full scrapes. */
int bl_trk_http_parse_scrape(const char *q, size_t len, uint8_t (*hashes)[BL_TRK_HASH_LEN],
                             size_t max, size_t *n, bl_err *err);

/* Decode one %XX/+ escaped component into out (capacity cap); returns the
 * decoded length, -1 on a bad escape, -2 if it does not fit. */
long bl_trk_url_decode(const char *s, size_t n, uint8_t *out, size_t cap);

/* Announce reply.  compact: IPv4 peers in "peers" (6 bytes each) and IPv6
 * peers in "peers6" (18 bytes each, only when there are any); otherwise a
 * "peers" list of {ip, peer id, port} dictionaries ("peer id" left out when
 * no_peer_id). */
void bl_trk_http_reply_announce(bl_buf *b, const bl_trk_counts *c, uint32_t interval,
                                uint32_t min_interval, const bl_trk_peer_out *peers, size_t n,
                                bool compact, bool no_peer_id);
void bl_trk_http_reply_failure(bl_buf *b, const char *reason);
/* Scrape reply for hashes[i] with counts[i]; duplicates are reported once
 * (the hashes array is sorted in place, counts alongside). */
void bl_trk_http_reply_scrape(bl_buf *b, uint8_t (*hashes)[BL_TRK_HASH_LEN], bl_trk_counts *counts,
                              size_t n);

#endif
