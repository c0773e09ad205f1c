#include "swarm/announce_http.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/bencode.h"
#include "core/log.h"

static void put_escaped(bl_buf *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~';
        if (plain) {
            bl_buf_putc(b, c);
        } else {
            bl_buf_putc(b, '%');
            bl_buf_putc(b, (uint8_t)hex[c >> 4]);
            bl_buf_putc(b, (uint8_t)hex[c & 15]);
        }
    }
}

void bl_announce_http_url(bl_buf *out, const char *base, const bl_trk_announce *a,
                          const char *tracker_id, size_t tracker_id_len)
{
    bl_buf_puts(out, base);
    bl_buf_putc(out, strchr(base, '?') ? '&' : '?');
    bl_buf_puts(out, "info_hash=");
    put_escaped(out, a->info_hash, 20);
    bl_buf_puts(out, "&peer_id=");
    put_escaped(out, a->peer_id, 20);
    bl_buf_printf(out, "&port=%u&uploaded=%" PRIu64 "&downloaded=%" PRIu64 "&left=%" PRIu64
                       "&compact=1",
                  (unsigned)a->addr.port, a->uploaded, a->downloaded, a->left);
    if (a->numwant >= 0)
        bl_buf_printf(out, "&numwant=%" PRId32, a->numwant);
    bl_buf_printf(out, "&key=%08" PRIx32, a->key);
    if (a->passkey[0]) {
        bl_buf_puts(out, "&passkey=");
        put_escaped(out, (const uint8_t *)a->passkey, strlen(a->passkey));
    }
    if (a->event != BL_TRK_EV_NONE)
        bl_buf_printf(out, "&event=%s", bl_trk_event_name(a->event));
    if (a->has_ip) {
        char ip[64];
        bl_buf_puts(out, "&ip=");
        bl_trk_addr_ipstr(&a->addr, ip, sizeof ip);
        put_escaped(out, (const uint8_t *)ip, strlen(ip));
    }
    if (tracker_id_len) {
        bl_buf_puts(out, "&trackerid=");
        put_escaped(out, (const uint8_t *)tracker_id, tracker_id_len);
    }
}

static bool add_peer(bl_announce_reply *r, size_t *cap, const bl_trk_addr *a)
{
    if (r->npeers == BL_ANNOUNCE_PEERS_MAX)
        return true;   /* enough: ignore the rest */
    if (r->npeers == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        if (ncap > BL_ANNOUNCE_PEERS_MAX)
            ncap = BL_ANNOUNCE_PEERS_MAX;
        bl_trk_addr *np = realloc(r->peers, ncap * sizeof *np);
        if (!np)
            return false;
        r->peers = np;
        *cap = ncap;
    }
    r->peers[r->npeers++] = *a;
    return true;
}

static int compact_list(bl_announce_reply *r, size_t *cap, const bl_bnode *s, int family,
                        bl_err *err)
{
    size_t esz = family == 4 ? BL_TRK_COMPACT4 : BL_TRK_COMPACT6;
    if (s->slen % esz)
        return bl_fail(err, "tracker reply: %s of %zu bytes is not a multiple of %zu",
                       family == 4 ? "peers" : "peers6", s->slen, esz);
    for (size_t i = 0; i < s->slen; i += esz) {
        bl_trk_addr a;
        bl_trk_addr_from_compact(&a, s->str + i, family);
        if (a.port == 0)
            continue;
        if (!add_peer(r, cap, &a))
            return bl_fail(err, "tracker reply: out of memory");
    }
    return 0;
}

static void copy_text(char *out, size_t outsz, const bl_bnode *n)
{
    bl_log_safe(out, outsz, n->str, n->slen);
}

static uint32_t clamp_u32(int64_t v)
{
    return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

int bl_announce_http_parse(const uint8_t *body, size_t len, bl_announce_reply *r, bl_err *err)
{
    memset(r, 0, sizeof *r);
    r->complete = r->incomplete = -1;
    if (len > BL_ANNOUNCE_REPLY_MAX)
        return bl_fail(err, "tracker reply too large (%zu bytes)", len);
    /* Dictionary peers take 7 nodes each. */
    const bl_blimits lim = {.max_depth = 4, .max_nodes = 8 * BL_ANNOUNCE_PEERS_MAX + 64};
    bl_bdoc d;
    bl_err derr = {0};
    if (bl_bdecode(&d, body, len, &lim, &derr))
        return bl_fail(err, "tracker reply is not bencode: %s", derr.msg);
    const bl_bnode *root = bl_broot(&d);
    int rc = 0;
    if (root->type != BL_BDICT) {
        rc = bl_fail(err, "tracker reply is a %s, not a dictionary", bl_btype_name(root->type));
        goto out;
    }
    const bl_bnode *n;
    if ((n = bl_bdict_get_type(&d, root, "failure reason", BL_BSTR))) {
        r->failed = true;
        copy_text(r->failure, sizeof r->failure, n);
        goto out;
    }
    if ((n = bl_bdict_get_type(&d, root, "warning message", BL_BSTR)))
        copy_text(r->warning, sizeof r->warning, n);
    if ((n = bl_bdict_get_type(&d, root, "interval", BL_BINT)))
        r->interval = clamp_u32(n->ival);
    if ((n = bl_bdict_get_type(&d, root, "min interval", BL_BINT)))
        r->min_interval = clamp_u32(n->ival);
    if ((n = bl_bdict_get_type(&d, root, "complete", BL_BINT)))
        r->complete = n->ival;
    if ((n = bl_bdict_get_type(&d, root, "incomplete", BL_BINT)))
        r->incomplete = n->ival;
    if ((n = bl_bdict_get_type(&d, root, "tracker id", BL_BSTR)) &&
        n->slen <= sizeof r->tracker_id) {
        memcpy(r->tracker_id, n->str, n->slen);
        r->tracker_id_len = n->slen;
    }
    size_t cap = 0;
    const bl_bnode *peers = bl_bdict_get(&d, root, "peers");
    const bl_bnode *peers6 = bl_bdict_get_type(&d, root, "peers6", BL_BSTR);
    if (!peers && !peers6) {
        rc = bl_fail(err, "tracker reply has neither peers nor failure reason");
        goto out;
    }
    if (peers && peers->type == BL_BSTR) {
        if ((rc = compact_list(r, &cap, peers, 4, err)))
            goto out;
    } else if (peers && peers->type == BL_BLIST) {
        for (const bl_bnode *e = bl_bfirst(&d, peers); e; e = bl_bnext(&d, peers, e)) {
            if (e->type != BL_BDICT)
                continue;
            const bl_bnode *ip = bl_bdict_get_type(&d, e, "ip", BL_BSTR);
            const bl_bnode *port = bl_bdict_get_type(&d, e, "port", BL_BINT);
            bl_trk_addr a = {0};
            if (!ip || !port || port->ival < 1 || port->ival > 65535 ||
                bl_trk_addr_parse_ip(&a, (const char *)ip->str, ip->slen))
                continue;
            a.port = (uint16_t)port->ival;
            if (!add_peer(r, &cap, &a)) {
                rc = bl_fail(err, "tracker reply: out of memory");
                goto out;
            }
        }
    } else if (peers) {
        rc = bl_fail(err, "tracker reply: peers is a %s", bl_btype_name(peers->type));
        goto out;
    }
    if (peers6)
        rc = compact_list(r, &cap, peers6, 6, err);
out:
    if (rc)
        bl_announce_reply_free(r);
    bl_bdoc_free(&d);
    return rc;
}

void bl_announce_reply_free(bl_announce_reply *r)
{
    free(r->peers);
    r->peers = NULL;
    r->npeers = 0;
}
