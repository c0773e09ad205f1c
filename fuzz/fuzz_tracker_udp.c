/* libFuzzer target: the BEP 15 packet codec, both directions.
 *
 * The bytes are decoded as a request (tracker side) and as a response read
 * over IPv4 and over IPv6 (client side).  No crash; decoded spans stay
 * inside the packet; an accepted request re-encodes to the same leading
 * bytes (connect: 16, announce: 98, scrape: all). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tracker/udp_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const uint8_t *data, size_t size, const void *p, size_t n)
{
    const uint8_t *q = p;
    if (n && (q < data || q + n > data + size))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bl_err err = {0};
    bl_udp_request r;
    if (bl_udp_decode_request(data, size, &r, &err) == 0) {
        uint8_t out[16 + 20 * BL_UDP_SCRAPE_MAX];
        size_t n = 0;
        if (r.action == BL_UDP_CONNECT)
            n = bl_udp_encode_connect_req(out, r.txid);
        else if (r.action == BL_UDP_ANNOUNCE) {
            n = bl_udp_encode_announce_req(out, r.conn_id, r.txid, &r.ann);
            /* BEP 41 options come out in our one layout: the fixed part must
             * match, and the passkey must survive a second decoding */
            bl_udp_request again;
            if (bl_udp_decode_request(out, n, &again, &err) != 0 ||
                strcmp(again.ann.passkey, r.ann.passkey))
                abort();
            n = 98;
        } else if (r.action == BL_UDP_SCRAPE) {
            inside(data, size, r.hashes, 20 * r.nhashes);
            n = bl_udp_encode_scrape_req(out, r.conn_id, r.txid,
                                         (const uint8_t(*)[BL_TRK_HASH_LEN])r.hashes, r.nhashes);
        } else
            abort();
        if (n == 0 || n > size || memcmp(out, data, n))
            abort();
    }
    for (int family = 4; family <= 6; family += 2) {
        bl_udp_response s;
        if (bl_udp_decode_response(data, size, family, &s, &err) != 0)
            continue;
        inside(data, size, s.peers, s.npeers * (family == 6 ? 18 : 6));
        inside(data, size, s.scrape, s.nscrape * 12);
        inside(data, size, s.msg, s.msglen);
        for (size_t i = 0; i < s.nscrape; i++) {
            bl_trk_counts c;
            bl_udp_scrape_entry(&s, i, &c);
        }
    }
    return 0;
}
