#include "tracker/udp_wire.h"

#include <string.h>

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* BEP 41 options after an announce: 0x0 ends them, 0x1 is one byte of
 * padding, every other type has a length byte.  The URL data (type 0x2)
 * of all options joined is the announce URL's path and query; we read a
 * "passkey=" parameter from it.  Anything malformed is ignored (the
 * passkey then counts as absent). */
static void bep41_passkey(const uint8_t *p, size_t n, bl_trk_announce *a)
{
    char url[512];
    size_t ul = 0;
    for (size_t i = 0; i < n;) {
        uint8_t type = p[i++];
        if (type == 0x0)
            break;
        if (type == 0x1)
            continue;
        if (i >= n || p[i] > n - i - 1)
            return;
        size_t len = p[i++];
        if (type == 0x2) {
            if (ul + len >= sizeof url)
                return;
            memcpy(url + ul, p + i, len);
            ul += len;
        }
        i += len;
    }
    url[ul] = 0;
    for (char *q = url; (q = strstr(q, "passkey=")); q++) {
        if (q != url && q[-1] != '?' && q[-1] != '&')
            continue;
        q += 8;
        size_t k = strcspn(q, "&");
        if (k <= BL_TRK_PASSKEY_MAX && memchr(q, 0, k) == NULL) {
            memcpy(a->passkey, q, k);
            a->passkey[k] = 0;
        }
        return;
    }
}

int bl_udp_decode_request(const uint8_t *p, size_t n, bl_udp_request *r, bl_err *err)
{
    memset(r, 0, sizeof *r);
    if (n < 16)
        return bl_fail(err, "udp request too short (%zu bytes)", n);
    r->conn_id = get64(p);
    r->action = get32(p + 8);
    r->txid = get32(p + 12);
    switch (r->action) {
    case BL_UDP_CONNECT:
        if (r->conn_id != BL_UDP_PROTOCOL_ID)
            return bl_fail(err, "udp connect without the protocol magic");
        return 0;
    case BL_UDP_ANNOUNCE: {
        if (n < 98)
            return bl_fail(err, "udp announce too short (%zu bytes, need 98)", n);
        bl_trk_announce *a = &r->ann;
        memcpy(a->info_hash, p + 16, 20);
        memcpy(a->peer_id, p + 36, 20);
        a->downloaded = get64(p + 56);
        a->left = get64(p + 64);
        a->uploaded = get64(p + 72);
        uint32_t ev = get32(p + 80);
        if (ev > BL_TRK_EV_STOPPED)
            return bl_fail(err, "udp announce: unknown event %u", ev);
        a->event = (enum bl_trk_event)ev;
        if (get32(p + 84) != 0) {
            a->addr.family = 4;
            memcpy(a->addr.ip, p + 84, 4);
            a->has_ip = true;
        }
        a->key = get32(p + 88);
        a->numwant = (int32_t)get32(p + 92);
        a->addr.port = (uint16_t)(p[96] << 8 | p[97]);
        a->compact = true;
        bep41_passkey(p + 98, n - 98, a);
        return 0;
    }
    case BL_UDP_SCRAPE:
        if (n == 16 || (n - 16) % 20 != 0)
            return bl_fail(err, "udp scrape: length %zu is not 16 + 20 x N", n);
        r->nhashes = (n - 16) / 20;
        if (r->nhashes > BL_UDP_SCRAPE_MAX)
            return bl_fail(err, "udp scrape: %zu hashes (limit %d)", r->nhashes,
                           BL_UDP_SCRAPE_MAX);
        r->hashes = p + 16;
        return 0;
    default:
        return bl_fail(err, "udp request: unknown action %u", r->action);
    }
}

size_t bl_udp_encode_connect_req(uint8_t out[16], uint32_t txid)
{
    put64(out, BL_UDP_PROTOCOL_ID);
    put32(out + 8, BL_UDP_CONNECT);
    put32(out + 12, txid);
    return 16;
}

size_t bl_udp_encode_announce_req(uint8_t out[BL_UDP_ANNOUNCE_REQ_MAX], uint64_t conn_id,
                                  uint32_t txid, const bl_trk_announce *a)
{
    put64(out, conn_id);
    put32(out + 8, BL_UDP_ANNOUNCE);
    put32(out + 12, txid);
    memcpy(out + 16, a->info_hash, 20);
    memcpy(out + 36, a->peer_id, 20);
    put64(out + 56, a->downloaded);
    put64(out + 64, a->left);
    put64(out + 72, a->uploaded);
    put32(out + 80, (uint32_t)a->event);
    if (a->has_ip && a->addr.family == 4)
        memcpy(out + 84, a->addr.ip, 4);
    else
        put32(out + 84, 0);
    put32(out + 88, a->key);
    put32(out + 92, (uint32_t)a->numwant);
    out[96] = (uint8_t)(a->addr.port >> 8);
    out[97] = (uint8_t)a->addr.port;
    size_t pk = strnlen(a->passkey, BL_TRK_PASSKEY_MAX);
    if (!pk)
        return 98;
    out[98] = 0x2;
    out[99] = (uint8_t)(9 + pk);
    memcpy(out + 100, "?passkey=", 9);
    memcpy(out + 109, a->passkey, pk);
    out[109 + pk] = 0x0;
    return 110 + pk;
}

size_t bl_udp_encode_scrape_req(uint8_t *out, uint64_t conn_id, uint32_t txid,
                                const uint8_t (*hashes)[BL_TRK_HASH_LEN], size_t n)
{
    if (n == 0 || n > BL_UDP_SCRAPE_MAX)
        return 0;
    put64(out, conn_id);
    put32(out + 8, BL_UDP_SCRAPE);
    put32(out + 12, txid);
    for (size_t i = 0; i < n; i++)
        memcpy(out + 16 + 20 * i, hashes[i], 20);
    return 16 + 20 * n;
}

int bl_udp_decode_response(const uint8_t *p, size_t n, int family, bl_udp_response *r,
                           bl_err *err)
{
    memset(r, 0, sizeof *r);
    if (n < 8)
        return bl_fail(err, "udp response too short (%zu bytes)", n);
    r->action = get32(p);
    r->txid = get32(p + 4);
    switch (r->action) {
    case BL_UDP_CONNECT:
        if (n < 16)
            return bl_fail(err, "udp connect response too short (%zu bytes)", n);
        r->conn_id = get64(p + 8);
        return 0;
    case BL_UDP_ANNOUNCE: {
        size_t esz = family == 6 ? BL_TRK_COMPACT6 : BL_TRK_COMPACT4;
        if (n < 20)
            return bl_fail(err, "udp announce response too short (%zu bytes)", n);
        if ((n - 20) % esz != 0)
            return bl_fail(err, "udp announce response: peer list of %zu bytes is not a "
                                "multiple of %zu", n - 20, esz);
        r->interval = get32(p + 8);
        r->leechers = get32(p + 12);
        r->seeders = get32(p + 16);
        r->peers = p + 20;
        r->npeers = (n - 20) / esz;
        r->peer_family = family == 6 ? 6 : 4;
        return 0;
    }
    case BL_UDP_SCRAPE:
        if ((n - 8) % 12 != 0)
            return bl_fail(err, "udp scrape response: length %zu is not 8 + 12 x N", n);
        r->scrape = p + 8;
        r->nscrape = (n - 8) / 12;
        return 0;
    case BL_UDP_ERROR:
        r->msg = (const char *)(p + 8);
        r->msglen = n - 8;
        return 0;
    default:
        return bl_fail(err, "udp response: unknown action %u", r->action);
    }
}

void bl_udp_scrape_entry(const bl_udp_response *r, size_t i, bl_trk_counts *c)
{
    const uint8_t *e = r->scrape + 12 * i;
    c->complete = get32(e);
    c->downloaded = get32(e + 4);
    c->incomplete = get32(e + 8);
}

size_t bl_udp_encode_connect_resp(uint8_t out[16], uint32_t txid, uint64_t conn_id)
{
    put32(out, BL_UDP_CONNECT);
    put32(out + 4, txid);
    put64(out + 8, conn_id);
    return 16;
}

size_t bl_udp_encode_announce_resp(uint8_t *out, size_t cap, uint32_t txid, uint32_t interval,
                                   const bl_trk_counts *c, const bl_trk_peer_out *peers, size_t n,
                                   int family)
{
    if (cap < 20)
        return 0;
    put32(out, BL_UDP_ANNOUNCE);
    put32(out + 4, txid);
    put32(out + 8, interval);
    put32(out + 12, c->incomplete);
    put32(out + 16, c->complete);
    size_t len = 20, esz = family == 6 ? BL_TRK_COMPACT6 : BL_TRK_COMPACT4;
    for (size_t i = 0; i < n && len + esz <= cap; i++) {
        if (peers[i].addr.family != family)
            continue;
        len += bl_trk_addr_compact(&peers[i].addr, out + len);
    }
    return len;
}

size_t bl_udp_encode_scrape_resp(uint8_t *out, size_t cap, uint32_t txid,
                                 const bl_trk_counts *c, size_t n)
{
    if (cap < 8)
        return 0;
    put32(out, BL_UDP_SCRAPE);
    put32(out + 4, txid);
    size_t len = 8;
    for (size_t i = 0; i < n && len + 12 <= cap; i++, len += 12) {
        put32(out + len, c[i].complete);
        put32(out + len + 4, c[i].downloaded);
        put32(out + len + 8, c[i].incomplete);
    }
    return len;
}

size_t bl_udp_encode_error(uint8_t *out, size_t cap, uint32_t txid, const char *msg)
{
    if (cap < 8)
        return 0;
    put32(out, BL_UDP_ERROR);
    put32(out + 4, txid);
    size_t m = strlen(msg);
    if (m > cap - 8)
        m = cap - 8;
    memcpy(out + 8, msg, m);
    return 8 + m;
}
