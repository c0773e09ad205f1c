/* libFuzzer target: the tracker's announce and scrape query parsers.
 *
 * Any bytes: no crash.  An accepted announce has a port in 1..65535, a
 * known event, and an address family that matches has_ip; re-encoding it
 * with the client's URL builder and parsing again gives the same request
 * (the two sides agree on escaping). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "swarm/announce_http.h"
#include "tracker/http_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *q = (const char *)data;
    bl_err err = {0};
    uint8_t hashes[BL_TRK_SCRAPE_MAX][BL_TRK_HASH_LEN];
    size_t n;
    if (bl_trk_http_parse_scrape(q, size, hashes, BL_TRK_SCRAPE_MAX, &n, &err) == 0 &&
        (n == 0 || n > BL_TRK_SCRAPE_MAX))
        abort();

    bl_trk_announce a, b;
    if (bl_trk_http_parse_announce(q, size, &a, &err) != 0)
        return 0;
    if (a.addr.port == 0 || a.event > BL_TRK_EV_STOPPED)
        abort();
    if (a.has_ip != (a.addr.family == 4 || a.addr.family == 6))
        abort();
    bl_buf u;
    bl_buf_init(&u);
    bl_announce_http_url(&u, "http://t/announce", &a, NULL, 0);
    const char *qq = strchr((const char *)u.data, '?') + 1;
    if (bl_trk_http_parse_announce(qq, strlen(qq), &b, &err) != 0)
        abort();
    if (memcmp(a.info_hash, b.info_hash, 20) || memcmp(a.peer_id, b.peer_id, 20) ||
        a.addr.port != b.addr.port || a.left != b.left || a.uploaded != b.uploaded ||
        a.downloaded != b.downloaded || a.event != b.event || a.has_ip != b.has_ip ||
        (a.has_ip && !bl_trk_addr_eq(&a.addr, &b.addr)))
        abort();
    bl_buf_free(&u);
    return 0;
}
