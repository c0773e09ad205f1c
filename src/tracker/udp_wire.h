/* udp_wire: the BEP 15 UDP tracker packet codec, for both sides.
 *
 * Client -> tracker: connect (16 bytes), announce (98 bytes, then BEP 41
 * options: of their URL data only a "passkey=" parameter is read, the rest
 * is ignored), scrape (16 + 20 x N bytes, 1 <= N <= 74).
 * Tracker -> client: connect (16), announce (20 + compact peers: 6 bytes
 * each over IPv4, 18 over IPv6), scrape (8 + 12 x N), error (8 + text).
 * All integers are big-endian.  Decoders check every length and return -1
 * with a reason on anything short, long or unknown; decoded pointers point
 * into the packet (no copies).  Encoders write into a caller buffer of at
 * least the stated size. */
#ifndef BL_TRACKER_UDP_WIRE_H
#define BL_TRACKER_UDP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "tracker/peer_table.h"
#include "tracker/proto.h"

#define BL_UDP_PROTOCOL_ID 0x41727101980ull
#define BL_UDP_SCRAPE_MAX 74
#define BL_UDP_PACKET_MAX 1500   /* what either side sends or needs to receive */

enum bl_udp_action { BL_UDP_CONNECT = 0, BL_UDP_ANNOUNCE = 1, BL_UDP_SCRAPE = 2,
                     BL_UDP_ERROR = 3 };

/* ---- requests (client -> tracker) ---- */

typedef struct bl_udp_request {
    uint32_t action, txid;
    uint64_t conn_id;              /* announce and scrape */
    bl_trk_announce ann;           /* announce: ann.has_ip when ip != 0 */
    const uint8_t *hashes;         /* scrape: nhashes x 20 bytes */
    size_t nhashes;
} bl_udp_request;

int bl_udp_decode_request(const uint8_t *p, size_t n, bl_udp_request *r, bl_err *err);

size_t bl_udp_encode_connect_req(uint8_t out[16], uint32_t txid);
/* 98 bytes, and a BEP 41 URL data option "?passkey=..." when a->passkey is
 * set (at most BL_UDP_ANNOUNCE_REQ_MAX in all); a->addr.ip is sent only when
 * has_ip and IPv4. */
#define BL_UDP_ANNOUNCE_REQ_MAX (98 + 2 + 9 + BL_TRK_PASSKEY_MAX + 1)
size_t bl_udp_encode_announce_req(uint8_t out[BL_UDP_ANNOUNCE_REQ_MAX], uint64_t conn_id,
                                  uint32_t txid, const bl_trk_announce *a);
/* 16 + 20 n bytes; n must be 1..BL_UDP_SCRAPE_MAX (0 is returned otherwise). */
size_t bl_udp_encode_scrape_req(uint8_t *out, uint64_t conn_id, uint32_t txid,
                                const uint8_t (*hashes)[BL_TRK_HASH_LEN], size_t n);

/* ---- responses (tracker -> client) ---- */

typedef struct bl_udp_response {
    uint32_t action, txid;
    uint64_t conn_id;              /* connect */
    uint32_t interval, leechers, seeders;  /* announce */
    const uint8_t *peers;          /* announce: npeers compact entries */
    size_t npeers;
    int peer_family;               /* 4 or 6: entry size 6 or 18 */
    const uint8_t *scrape;         /* scrape: nscrape x (seeders, completed, leechers) */
    size_t nscrape;
    const char *msg;               /* error: message bytes (not NUL-terminated) */
    size_t msglen;
} bl_udp_response;

/* family says how to read announce peer lists (4: 6-byte entries, 6:
 * 18-byte), i.e. the family of the socket the reply came in on. */
int bl_udp_decode_response(const uint8_t *p, size_t n, int family, bl_udp_response *r,
                           bl_err *err);
/* The i-th scrape triple of a decoded scrape response. */
void bl_udp_scrape_entry(const bl_udp_response *r, size_t i, bl_trk_counts *c);

size_t bl_udp_encode_connect_resp(uint8_t out[16], uint32_t txid, uint64_t conn_id);
/* 20 + n x (6 or 18) bytes; peers of other families than `family` are
 * skipped.  Returns the length, at most cap (peers that do not fit are
 * dropped). */
size_t bl_udp_encode_announce_resp(uint8_t *out, size_t cap, uint32_t txid, uint32_t interval,
                                   const bl_trk_counts *c, const bl_trk_peer_out *peers, size_t n,
                                   int family);
/* 8 + 12 n bytes (cap permitting). */
size_t bl_udp_encode_scrape_resp(uint8_t *out, size_t cap, uint32_t txid,
                                 const bl_trk_counts *c, size_t n);
/* 8 + strlen(msg) bytes, truncated to cap. */
size_t bl_udp_encode_error(uint8_t *out, size_t cap, uint32_t txid, const char *msg);

#endif
