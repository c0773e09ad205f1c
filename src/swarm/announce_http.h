/* announce_http: the client side of the BEP 3 HTTP tracker protocol,
 * without sockets: build the announce URL, parse the bencoded reply.
 *
 * The reply parser accepts compact (BEP 23) and dictionary peer lists,
 * "peers6", "interval", "min interval", "complete"/"incomplete", "tracker
 * id", "failure reason" and "warning message".  Bounds: the reply is at
 * most BL_ANNOUNCE_REPLY_MAX bytes, at most BL_ANNOUNCE_PEERS_MAX peers are
 * kept (the rest ignored), dictionary peers must name a literal address
 * (the client never resolves names a tracker hands out) and a port in
 * 1..65535, or they are skipped.  Text from the tracker is kept only as
 * printable ASCII. */
#ifndef BL_SWARM_ANNOUNCE_HTTP_H
#define BL_SWARM_ANNOUNCE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/err.h"
#include "tracker/proto.h"

#define BL_ANNOUNCE_REPLY_MAX (1u << 20)
#define BL_ANNOUNCE_PEERS_MAX 10000

typedef struct bl_announce_reply {
    bool failed;                   /* the tracker sent "failure reason" */
    char failure[256];
    char warning[256];             /* "" if none */
    uint32_t interval, min_interval;  /* 0 if absent */
    int64_t complete, incomplete;  /* -1 if absent */
    char tracker_id[64];           /* "" if none */
    size_t tracker_id_len;
    bl_trk_addr *peers;            /* malloc'd; IPv4 and IPv6 */
    size_t npeers;
} bl_announce_reply;

/* Append to out the full announce URL: base (which may already carry a
 * query, e.g. a passkey) plus info_hash, peer_id, port, uploaded,
 * downloaded, left, compact=1, numwant, key, event, ip (when a->has_ip)
 * and trackerid (when non-empty). */
void bl_announce_http_url(bl_buf *out, const char *base, const bl_trk_announce *a,
                          const char *tracker_id, size_t tracker_id_len);

/* Parse a reply body.  Returns 0 with r filled (r->failed when the
 * tracker refused: that is an answer, not a parse error), or -1 if the
 * body is not a tracker reply.  Free with bl_announce_reply_free. */
int bl_announce_http_parse(const uint8_t *body, size_t len, bl_announce_reply *r, bl_err *err);
void bl_announce_reply_free(bl_announce_reply *r);

#endif
