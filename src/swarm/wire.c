#include "swarm/wire.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/bencode.h"
#include "swarm/bitfield.h"

static const char PSTR[] = "BitTorrent protocol";
enum { PSTRLEN = 19 };

const bl_wire_limits bl_wire_limits_default = {
    .max_block = BL_WIRE_BLOCK,
    .max_request = 128u * 1024,
    .max_extended = 1024u * 1024,
};

static void put32(bl_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    bl_buf_put(b, x, 4);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- handshake ---- */

unsigned bl_wire_caps_from_reserved(const uint8_t reserved[8])
{
    unsigned caps = 0;
    if (reserved[5] & 0x10)
        caps |= BL_WIRE_CAP_EXTENSION;
    if (reserved[7] & 0x04)
        caps |= BL_WIRE_CAP_FAST;
    if (reserved[7] & 0x01)
        caps |= BL_WIRE_CAP_DHT;
    return caps;
}

void bl_wire_handshake_encode(bl_buf *out, const uint8_t info_hash[20], const uint8_t peer_id[20],
                              unsigned caps)
{
    uint8_t reserved[8] = {0};
    if (caps & BL_WIRE_CAP_EXTENSION)
        reserved[5] |= 0x10;
    if (caps & BL_WIRE_CAP_FAST)
        reserved[7] |= 0x04;
    if (caps & BL_WIRE_CAP_DHT)
        reserved[7] |= 0x01;
    bl_buf_putc(out, PSTRLEN);
    bl_buf_put(out, PSTR, PSTRLEN);
    bl_buf_put(out, reserved, 8);
    bl_buf_put(out, info_hash, 20);
    bl_buf_put(out, peer_id, 20);
}

int bl_wire_handshake_decode(const uint8_t *p, size_t len, bl_handshake *hs, bl_err *err)
{
    if (len == 0)
        return 0;
    if (p[0] != PSTRLEN)
        return bl_fail(err, "peer handshake: protocol name length %u, expected 19 (not a BitTorrent peer?)",
                       p[0]);
    size_t have = len < 1 + PSTRLEN ? len - 1 : PSTRLEN;
    if (memcmp(p + 1, PSTR, have) != 0)
        return bl_fail(err, "peer handshake: protocol name is not \"BitTorrent protocol\"");
    if (len < BL_WIRE_HANDSHAKE_LEN)
        return 0;
    memcpy(hs->reserved, p + 20, 8);
    memcpy(hs->info_hash, p + 28, 20);
    memcpy(hs->peer_id, p + 48, 20);
    hs->caps = bl_wire_caps_from_reserved(hs->reserved);
    return BL_WIRE_HANDSHAKE_LEN;
}

int bl_wire_peer_id(uint8_t out[20], bl_err *err)
{
    size_t pre = sizeof BL_WIRE_PEER_ID_PREFIX - 1;
    memcpy(out, BL_WIRE_PEER_ID_PREFIX, pre);
    size_t got = 0;
    while (got < 20 - pre) {
        ssize_t n = getrandom(out + pre + got, 20 - pre - got, 0);
        if (n < 0)
            return bl_fail(err, "peer id: getrandom failed");
        got += (size_t)n;
    }
    return 0;
}

/* ---- geometry ---- */

int bl_wire_geometry_check(const bl_wire_geometry *g, bl_err *err)
{
    if (g->num_pieces == 0 || g->piece_length == 0)
        return bl_fail(err, "wire geometry: %u pieces of %u bytes", g->num_pieces, g->piece_length);
    if (g->last_piece_length == 0 || g->last_piece_length > g->piece_length)
        return bl_fail(err, "wire geometry: last piece length %u not in 1..%u", g->last_piece_length,
                       g->piece_length);
    return 0;
}

uint32_t bl_wire_piece_size(const bl_wire_geometry *g, uint32_t index)
{
    if (index >= g->num_pieces)
        return 0;
    return index == g->num_pieces - 1 ? g->last_piece_length : g->piece_length;
}

/* ---- message decoder ---- */

const char *bl_msg_type_name(enum bl_msg_type t)
{
    switch (t) {
    case BL_MSG_CHOKE: return "choke";
    case BL_MSG_UNCHOKE: return "unchoke";
    case BL_MSG_INTERESTED: return "interested";
    case BL_MSG_NOT_INTERESTED: return "not interested";
    case BL_MSG_HAVE: return "have";
    case BL_MSG_BITFIELD: return "bitfield";
    case BL_MSG_REQUEST: return "request";
    case BL_MSG_PIECE: return "piece";
    case BL_MSG_CANCEL: return "cancel";
    case BL_MSG_PORT: return "port";
    case BL_MSG_SUGGEST: return "suggest";
    case BL_MSG_HAVE_ALL: return "have all";
    case BL_MSG_HAVE_NONE: return "have none";
    case BL_MSG_REJECT: return "reject";
    case BL_MSG_ALLOWED_FAST: return "allowed fast";
    case BL_MSG_EXTENDED: return "extended";
    case BL_MSG_KEEPALIVE: return "keep-alive";
    case BL_MSG_UNKNOWN: return "unknown";
    }
    return "unknown";
}

/* Payload size (after the id byte) of fixed-size messages; -1 otherwise. */
static long fixed_payload(uint8_t id)
{
    switch (id) {
    case BL_MSG_CHOKE:
    case BL_MSG_UNCHOKE:
    case BL_MSG_INTERESTED:
    case BL_MSG_NOT_INTERESTED:
    case BL_MSG_HAVE_ALL:
    case BL_MSG_HAVE_NONE:
        return 0;
    case BL_MSG_HAVE:
    case BL_MSG_SUGGEST:
    case BL_MSG_ALLOWED_FAST:
        return 4;
    case BL_MSG_REQUEST:
    case BL_MSG_CANCEL:
    case BL_MSG_REJECT:
        return 12;
    case BL_MSG_PORT:
        return 2;
    default:
        return -1;
    }
}

/* Largest payload (after the id byte) a message of this id may have. */
static uint64_t max_payload(uint8_t id, const bl_wire_geometry *g, const bl_wire_limits *lim)
{
    long fixed = fixed_payload(id);
    if (fixed >= 0)
        return (uint64_t)fixed;
    switch (id) {
    case BL_MSG_BITFIELD:
        return bl_bitfield_bytes(g->num_pieces);
    case BL_MSG_PIECE:
        return 8u + (uint64_t)lim->max_block;
    default:  /* extended (ext id byte included) and unknown ids */
        return 1u + (uint64_t)lim->max_extended;
    }
}

static uint64_t max_any_payload(const bl_wire_geometry *g, const bl_wire_limits *lim)
{
    uint64_t m = 12;
    uint64_t c[] = {bl_bitfield_bytes(g->num_pieces), 8u + (uint64_t)lim->max_block,
                    1u + (uint64_t)lim->max_extended};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (c[i] > m)
            m = c[i];
    return m;
}

static int check_index(const bl_wire_geometry *g, const char *what, uint32_t index, bl_err *err)
{
    if (index >= g->num_pieces)
        return bl_fail(err, "peer %s: piece %u out of range (torrent has %u pieces)", what, index,
                       g->num_pieces);
    return 0;
}

static int check_span(const bl_wire_geometry *g, const char *what, uint32_t index, uint32_t begin,
                      uint32_t length, bl_err *err)
{
    if (check_index(g, what, index, err) < 0)
        return -1;
    uint32_t size = bl_wire_piece_size(g, index);
    if ((uint64_t)begin + length > size)
        return bl_fail(err, "peer %s: piece %u bytes %u+%u run past the piece end (%u)", what, index,
                       begin, length, size);
    return 0;
}

int bl_wire_decode(const uint8_t *p, size_t len, const bl_wire_geometry *g,
                   const bl_wire_limits *lim, bl_msg *msg, size_t *used, bl_err *err)
{
    if (!lim)
        lim = &bl_wire_limits_default;
    *used = 4;
    if (bl_wire_geometry_check(g, err) < 0)
        return BL_WIRE_ERROR;
    if (len < 4)
        return BL_WIRE_NEED_MORE;
    uint32_t mlen = get32(p);
    if (mlen == 0) {
        memset(msg, 0, sizeof *msg);
        msg->type = BL_MSG_KEEPALIVE;
        return BL_WIRE_MESSAGE;
    }
    /* Refuse an absurd prefix before waiting for its bytes. */
    if ((uint64_t)mlen - 1 > max_any_payload(g, lim))
        return bl_fail(err, "peer message: length %u exceeds the largest allowed (%llu)", mlen,
                       (unsigned long long)(max_any_payload(g, lim) + 1));
    *used = 4 + (size_t)mlen;
    if (len < 5)
        return BL_WIRE_NEED_MORE;
    uint8_t id = p[4];
    uint64_t plen = mlen - 1;   /* payload after the id byte */
    long fixed = fixed_payload(id);
    const char *name = bl_msg_type_name((enum bl_msg_type)id);
    if (fixed >= 0 && plen != (uint64_t)fixed)
        return bl_fail(err, "peer %s: length %u, must be %ld", name, mlen, fixed + 1);
    if (plen > max_payload(id, g, lim))
        return bl_fail(err, "peer %s message (id %u): length %u exceeds the limit %llu", name, id,
                       mlen, (unsigned long long)(max_payload(id, g, lim) + 1));
    if (len < *used)
        return BL_WIRE_NEED_MORE;

    const uint8_t *q = p + 5;
    memset(msg, 0, sizeof *msg);
    msg->raw_id = id;
    msg->type = (enum bl_msg_type)id;
    switch (id) {
    case BL_MSG_CHOKE:
    case BL_MSG_UNCHOKE:
    case BL_MSG_INTERESTED:
    case BL_MSG_NOT_INTERESTED:
    case BL_MSG_HAVE_ALL:
    case BL_MSG_HAVE_NONE:
        break;
    case BL_MSG_HAVE:
    case BL_MSG_SUGGEST:
    case BL_MSG_ALLOWED_FAST:
        msg->index = get32(q);
        if (check_index(g, name, msg->index, err) < 0)
            return BL_WIRE_ERROR;
        break;
    case BL_MSG_REQUEST:
    case BL_MSG_CANCEL:
    case BL_MSG_REJECT:
        msg->index = get32(q);
        msg->begin = get32(q + 4);
        msg->length = get32(q + 8);
        if (msg->length == 0)
            return bl_fail(err, "peer %s: zero length", name);
        if (msg->length > lim->max_request)
            return bl_fail(err, "peer %s: length %u above the limit %u", name, msg->length,
                           lim->max_request);
        if (check_span(g, name, msg->index, msg->begin, msg->length, err) < 0)
            return BL_WIRE_ERROR;
        break;
    case BL_MSG_PORT:
        msg->port = (uint16_t)(q[0] << 8 | q[1]);
        break;
    case BL_MSG_BITFIELD:
        if (bl_bitfield_check_wire(q, (size_t)plen, g->num_pieces, err) < 0)
            return bl_fail_ctx(err, "peer bitfield");
        msg->data = q;
        msg->data_len = (size_t)plen;
        break;
    case BL_MSG_PIECE:
        if (plen <= 8)
            return bl_fail(err, "peer piece: length %u carries no block", mlen);
        msg->index = get32(q);
        msg->begin = get32(q + 4);
        msg->data = q + 8;
        msg->data_len = (size_t)plen - 8;
        msg->length = (uint32_t)msg->data_len;
        if (check_span(g, name, msg->index, msg->begin, msg->length, err) < 0)
            return BL_WIRE_ERROR;
        break;
    case BL_MSG_EXTENDED:
        if (plen < 1)
            return bl_fail(err, "peer extended: no extension id");
        msg->ext_id = q[0];
        msg->data = q + 1;
        msg->data_len = (size_t)plen - 1;
        break;
    default:
        msg->type = BL_MSG_UNKNOWN;
        msg->data = q;
        msg->data_len = (size_t)plen;
        break;
    }
    return BL_WIRE_MESSAGE;
}

/* ---- message encoders ---- */

static void put_header(bl_buf *b, uint32_t payload, uint8_t id)
{
    put32(b, payload + 1);
    bl_buf_putc(b, id);
}

void bl_wire_put_keepalive(bl_buf *b) { put32(b, 0); }

void bl_wire_put_simple(bl_buf *b, enum bl_msg_type type) { put_header(b, 0, (uint8_t)type); }

void bl_wire_put_index(bl_buf *b, enum bl_msg_type type, uint32_t index)
{
    put_header(b, 4, (uint8_t)type);
    put32(b, index);
}

void bl_wire_put_request(bl_buf *b, enum bl_msg_type type, uint32_t index, uint32_t begin,
                         uint32_t length)
{
    put_header(b, 12, (uint8_t)type);
    put32(b, index);
    put32(b, begin);
    put32(b, length);
}

void bl_wire_put_bitfield(bl_buf *b, const uint8_t *bits, size_t nbytes)
{
    put_header(b, (uint32_t)nbytes, BL_MSG_BITFIELD);
    bl_buf_put(b, bits, nbytes);
}

void bl_wire_put_piece_header(bl_buf *b, uint32_t index, uint32_t begin, uint32_t len)
{
    put_header(b, 8 + len, BL_MSG_PIECE);
    put32(b, index);
    put32(b, begin);
}

void bl_wire_put_piece(bl_buf *b, uint32_t index, uint32_t begin, const void *block, uint32_t len)
{
    bl_wire_put_piece_header(b, index, begin, len);
    bl_buf_put(b, block, len);
}

void bl_wire_put_port(bl_buf *b, uint16_t port)
{
    put_header(b, 2, BL_MSG_PORT);
    uint8_t x[2] = {(uint8_t)(port >> 8), (uint8_t)port};
    bl_buf_put(b, x, 2);
}

void bl_wire_put_extended(bl_buf *b, uint8_t ext_id, const void *payload, size_t len)
{
    put_header(b, (uint32_t)(1 + len), BL_MSG_EXTENDED);
    bl_buf_putc(b, ext_id);
    bl_buf_put(b, payload, len);
}

void bl_wire_encode(bl_buf *b, const bl_msg *m)
{
    switch (m->type) {
    case BL_MSG_KEEPALIVE:
        bl_wire_put_keepalive(b);
        break;
    case BL_MSG_CHOKE:
    case BL_MSG_UNCHOKE:
    case BL_MSG_INTERESTED:
    case BL_MSG_NOT_INTERESTED:
    case BL_MSG_HAVE_ALL:
    case BL_MSG_HAVE_NONE:
        bl_wire_put_simple(b, m->type);
        break;
    case BL_MSG_HAVE:
    case BL_MSG_SUGGEST:
    case BL_MSG_ALLOWED_FAST:
        bl_wire_put_index(b, m->type, m->index);
        break;
    case BL_MSG_REQUEST:
    case BL_MSG_CANCEL:
    case BL_MSG_REJECT:
        bl_wire_put_request(b, m->type, m->index, m->begin, m->length);
        break;
    case BL_MSG_PORT:
        bl_wire_put_port(b, m->port);
        break;
    case BL_MSG_BITFIELD:
        bl_wire_put_bitfield(b, m->data, m->data_len);
        break;
    case BL_MSG_PIECE:
        bl_wire_put_piece(b, m->index, m->begin, m->data, (uint32_t)m->data_len);
        break;
    case BL_MSG_EXTENDED:
        bl_wire_put_extended(b, m->ext_id, m->data, m->data_len);
        break;
    case BL_MSG_UNKNOWN:
        put_header(b, (uint32_t)m->data_len, m->raw_id);
        bl_buf_put(b, m->data, m->data_len);
        break;
    }
}

/* ---- BEP 10 extension handshake ---- */

/* Small documents: a handshake or PEX dict has a few dozen values. */
static const bl_blimits ext_limits = {.max_depth = 4, .max_nodes = 4096};

static int ext_name_cmp(const void *a, const void *b)
{
    return strcmp(((const bl_ext_name *)a)->name, ((const bl_ext_name *)b)->name);
}

void bl_ext_handshake_encode(bl_buf *b, const bl_ext_handshake *hs)
{
    bl_benc_dict(b);
    if (hs->bitlib_coop) {
        bl_benc_cstr(b, "bitlib_coop");
        bl_benc_int(b, 1);
    }
    if (hs->has_nonce) {
        bl_benc_cstr(b, "bitlib_nonce");
        bl_benc_str(b, hs->nonce, BL_EXT_NONCE_LEN);
    }
    if (hs->has_ipv4) {
        bl_benc_cstr(b, "ipv4");
        bl_benc_str(b, hs->ipv4, 4);
    }
    if (hs->has_ipv6) {
        bl_benc_cstr(b, "ipv6");
        bl_benc_str(b, hs->ipv6, 16);
    }
    bl_ext_name sorted[BL_EXT_MAX_NAMES];
    size_t n = hs->n_m < BL_EXT_MAX_NAMES ? hs->n_m : BL_EXT_MAX_NAMES;
    memcpy(sorted, hs->m, n * sizeof sorted[0]);
    qsort(sorted, n, sizeof sorted[0], ext_name_cmp);
    bl_benc_cstr(b, "m");
    bl_benc_dict(b);
    for (size_t i = 0; i < n; i++) {
        if (!sorted[i].name[0] || (i > 0 && strcmp(sorted[i].name, sorted[i - 1].name) == 0))
            continue;
        bl_benc_cstr(b, sorted[i].name);
        bl_benc_int(b, sorted[i].id);
    }
    bl_benc_end(b);
    if (hs->metadata_size > 0) {
        bl_benc_cstr(b, "metadata_size");
        bl_benc_int(b, hs->metadata_size);
    }
    if (hs->has_port) {
        bl_benc_cstr(b, "p");
        bl_benc_int(b, hs->port);
    }
    if (hs->reqq) {
        bl_benc_cstr(b, "reqq");
        bl_benc_int(b, hs->reqq);
    }
    if (hs->upload_only) {
        bl_benc_cstr(b, "upload_only");
        bl_benc_int(b, 1);
    }
    if (hs->client[0]) {
        bl_benc_cstr(b, "v");
        bl_benc_cstr(b, hs->client);
    }
    if (hs->yourip_len == 4 || hs->yourip_len == 16) {
        bl_benc_cstr(b, "yourip");
        bl_benc_str(b, hs->yourip, hs->yourip_len);
    }
    bl_benc_end(b);
}

int bl_ext_handshake_set(bl_ext_handshake *hs, const char *name, uint8_t id)
{
    size_t l = strlen(name);
    if (l == 0 || l > BL_EXT_NAME_MAX)
        return -1;
    for (size_t i = 0; i < hs->n_m; i++)
        if (strcmp(hs->m[i].name, name) == 0) {
            hs->m[i].id = id;
            return 0;
        }
    if (hs->n_m >= BL_EXT_MAX_NAMES)
        return -1;
    memcpy(hs->m[hs->n_m].name, name, l + 1);
    hs->m[hs->n_m].id = id;
    hs->n_m++;
    return 0;
}

uint8_t bl_ext_handshake_id(const bl_ext_handshake *hs, const char *name)
{
    for (size_t i = 0; i < hs->n_m; i++)
        if (strcmp(hs->m[i].name, name) == 0)
            return hs->m[i].id;
    return 0;
}

static const bl_bnode *get_int(const bl_bdoc *d, const bl_bnode *dict, const char *key)
{
    return bl_bdict_get_type(d, dict, key, BL_BINT);
}

int bl_ext_handshake_decode(const uint8_t *p, size_t len, bl_ext_handshake *hs, bl_err *err)
{
    memset(hs, 0, sizeof *hs);
    bl_bdoc doc;
    size_t used;
    /* Trailing bytes after the dict are tolerated (BEP 10 does not forbid them). */
    if (bl_bdecode_prefix(&doc, p, len, &ext_limits, &used, err) < 0)
        return bl_fail_ctx(err, "peer extension handshake");
    const bl_bnode *root = bl_broot(&doc);
    if (!root || root->type != BL_BDICT) {
        bl_bdoc_free(&doc);
        return bl_fail(err, "peer extension handshake: not a dictionary");
    }
    const bl_bnode *m = bl_bdict_get_type(&doc, root, "m", BL_BDICT);
    if (m) {
        hs->keys |= BL_EXT_KEY_M;
        for (const bl_bnode *k = bl_bfirst(&doc, m); k; k = bl_bnext(&doc, m, k)) {
            const bl_bnode *v = bl_bnext(&doc, m, k);
            if (!v)
                break;
            /* Names we cannot hold, ids outside a byte, too many: ignored. */
            if (v->type == BL_BINT && v->ival >= 0 && v->ival <= 255 && k->slen > 0 &&
                k->slen <= BL_EXT_NAME_MAX && !memchr(k->str, 0, k->slen) &&
                hs->n_m < BL_EXT_MAX_NAMES) {
                memcpy(hs->m[hs->n_m].name, k->str, k->slen);
                hs->m[hs->n_m].name[k->slen] = '\0';
                hs->m[hs->n_m].id = (uint8_t)v->ival;
                hs->n_m++;
            }
            k = v;
        }
    }
    const bl_bnode *n;
    if ((n = get_int(&doc, root, "p")) && n->ival > 0 && n->ival <= 65535) {
        hs->keys |= BL_EXT_KEY_P;
        hs->has_port = true;
        hs->port = (uint16_t)n->ival;
    }
    if ((n = bl_bdict_get_type(&doc, root, "v", BL_BSTR))) {
        hs->keys |= BL_EXT_KEY_V;
        size_t l = n->slen < BL_EXT_CLIENT_MAX ? n->slen : BL_EXT_CLIENT_MAX;
        memcpy(hs->client, n->str, l);
        hs->client[l] = '\0';
    }
    if ((n = get_int(&doc, root, "reqq")) && n->ival > 0) {
        hs->keys |= BL_EXT_KEY_REQQ;
        hs->reqq = n->ival > UINT32_MAX ? UINT32_MAX : (uint32_t)n->ival;
    }
    if ((n = bl_bdict_get_type(&doc, root, "yourip", BL_BSTR)) && (n->slen == 4 || n->slen == 16)) {
        hs->keys |= BL_EXT_KEY_YOURIP;
        memcpy(hs->yourip, n->str, n->slen);
        hs->yourip_len = (uint8_t)n->slen;
    }
    if ((n = bl_bdict_get_type(&doc, root, "ipv4", BL_BSTR)) && n->slen == 4) {
        hs->keys |= BL_EXT_KEY_IPV4;
        memcpy(hs->ipv4, n->str, 4);
        hs->has_ipv4 = true;
    }
    if ((n = bl_bdict_get_type(&doc, root, "ipv6", BL_BSTR)) && n->slen == 16) {
        hs->keys |= BL_EXT_KEY_IPV6;
        memcpy(hs->ipv6, n->str, 16);
        hs->has_ipv6 = true;
    }
    if ((n = get_int(&doc, root, "metadata_size")) && n->ival > 0) {
        hs->keys |= BL_EXT_KEY_METADATA_SIZE;
        hs->metadata_size = n->ival;
    }
    if ((n = get_int(&doc, root, "upload_only"))) {
        hs->keys |= BL_EXT_KEY_UPLOAD_ONLY;
        hs->upload_only = n->ival != 0;
    }
    if ((n = get_int(&doc, root, "bitlib_coop"))) {
        hs->keys |= BL_EXT_KEY_BITLIB_COOP;
        hs->bitlib_coop = n->ival == 1;
    }
    if ((n = bl_bdict_get_type(&doc, root, "bitlib_nonce", BL_BSTR)) &&
        n->slen == BL_EXT_NONCE_LEN) {
        hs->keys |= BL_EXT_KEY_BITLIB_NONCE;
        memcpy(hs->nonce, n->str, BL_EXT_NONCE_LEN);
        hs->has_nonce = true;
    }
    bl_bdoc_free(&doc);
    return 0;
}

/* One "m" entry of a later handshake: replace the name's id, or add it --
 * into a free slot, else into the slot of an extension the peer disabled. */
static void merge_name(bl_ext_handshake *st, const bl_ext_name *e)
{
    for (size_t i = 0; i < st->n_m; i++)
        if (strcmp(st->m[i].name, e->name) == 0) {
            st->m[i].id = e->id;
            return;
        }
    if (st->n_m < BL_EXT_MAX_NAMES) {
        st->m[st->n_m++] = *e;
        return;
    }
    if (e->id == 0)
        return; /* disabling what we never held: nothing to do */
    for (size_t i = 0; i < st->n_m; i++)
        if (st->m[i].id == 0) {
            st->m[i] = *e;
            return;
        }
}

void bl_ext_handshake_merge(bl_ext_handshake *st, const bl_ext_handshake *upd)
{
    unsigned k = upd->keys;
    if (k & BL_EXT_KEY_M)
        for (size_t i = 0; i < upd->n_m && i < BL_EXT_MAX_NAMES; i++)
            merge_name(st, &upd->m[i]);
    if (k & BL_EXT_KEY_P) {
        st->has_port = upd->has_port;
        st->port = upd->port;
    }
    if (k & BL_EXT_KEY_V)
        memcpy(st->client, upd->client, sizeof st->client);
    if (k & BL_EXT_KEY_REQQ)
        st->reqq = upd->reqq;
    if (k & BL_EXT_KEY_YOURIP) {
        memcpy(st->yourip, upd->yourip, sizeof st->yourip);
        st->yourip_len = upd->yourip_len;
    }
    if (k & BL_EXT_KEY_IPV4) {
        memcpy(st->ipv4, upd->ipv4, sizeof st->ipv4);
        st->has_ipv4 = upd->has_ipv4;
    }
    if (k & BL_EXT_KEY_IPV6) {
        memcpy(st->ipv6, upd->ipv6, sizeof st->ipv6);
        st->has_ipv6 = upd->has_ipv6;
    }
    if (k & BL_EXT_KEY_METADATA_SIZE)
        st->metadata_size = upd->metadata_size;
    if (k & BL_EXT_KEY_UPLOAD_ONLY)
        st->upload_only = upd->upload_only;
    if (k & BL_EXT_KEY_BITLIB_COOP)
        st->bitlib_coop = upd->bitlib_coop;
    if (k & BL_EXT_KEY_BITLIB_NONCE) {
        memcpy(st->nonce, upd->nonce, BL_EXT_NONCE_LEN);
        st->has_nonce = true;
    }
    st->keys |= k;
}

int bl_ext_handshake_update(bl_ext_handshake *st, const uint8_t *p, size_t len, unsigned *carried,
                            bl_err *err)
{
    bl_ext_handshake upd;
    if (bl_ext_handshake_decode(p, len, &upd, err) < 0)
        return -1;
    bl_ext_handshake_merge(st, &upd);
    if (carried)
        *carried = upd.keys;
    return 0;
}

/* ---- BEP 11 peer exchange ---- */

static void put_compact(bl_buf *b, const bl_pex_peer *pp)
{
    bl_buf_put(b, pp->ip, pp->family == AF_INET ? 4 : 16);
    uint8_t port[2] = {(uint8_t)(pp->port >> 8), (uint8_t)pp->port};
    bl_buf_put(b, port, 2);
}

/* One compact list (and optionally its flags) of the given family. */
static void put_list(bl_buf *b, const char *key, const char *fkey, const bl_pex_peer *list, size_t n,
                     int family)
{
    size_t count = 0, unit = family == AF_INET ? 6 : 18;
    for (size_t i = 0; i < n; i++)
        count += list[i].family == family;
    bl_benc_cstr(b, key);
    bl_buf_printf(b, "%zu:", count * unit);
    for (size_t i = 0; i < n; i++)
        if (list[i].family == family)
            put_compact(b, &list[i]);
    if (!fkey)
        return;
    bl_benc_cstr(b, fkey);
    bl_buf_printf(b, "%zu:", count);
    for (size_t i = 0; i < n; i++)
        if (list[i].family == family)
            bl_buf_putc(b, list[i].flags);
}

int bl_pex_encode(bl_buf *b, const bl_pex *pex, bl_err *err)
{
    if (pex->n_added > BL_PEX_MAX_SEND || pex->n_dropped > BL_PEX_MAX_SEND)
        return bl_fail(err, "pex: %zu added / %zu dropped peers, at most %d each per message",
                       pex->n_added, pex->n_dropped, BL_PEX_MAX_SEND);
    for (size_t i = 0; i < pex->n_added + pex->n_dropped; i++) {
        const bl_pex_peer *pp = i < pex->n_added ? &pex->added[i] : &pex->dropped[i - pex->n_added];
        if (pp->family != AF_INET && pp->family != AF_INET6)
            return bl_fail(err, "pex: contact %zu has address family %u", i, pp->family);
    }
    /* Keys in byte order: added, added.f, added6, added6.f, dropped, dropped6. */
    bl_benc_dict(b);
    put_list(b, "added", "added.f", pex->added, pex->n_added, AF_INET);
    put_list(b, "added6", "added6.f", pex->added, pex->n_added, AF_INET6);
    put_list(b, "dropped", NULL, pex->dropped, pex->n_dropped, AF_INET);
    put_list(b, "dropped6", NULL, pex->dropped, pex->n_dropped, AF_INET6);
    bl_benc_end(b);
    return 0;
}

/* Append the contacts of one compact string to list; flags (may be NULL)
 * are used when there is exactly one per contact. */
static int take_list(const bl_bdoc *d, const bl_bnode *root, const char *key, const char *fkey,
                     int family, bl_pex_peer *list, size_t *n, bl_err *err)
{
    const bl_bnode *s = bl_bdict_get_type(d, root, key, BL_BSTR);
    if (!s)
        return 0;
    size_t unit = family == AF_INET ? 6 : 18, iplen = unit - 2;
    if (s->slen % unit != 0)
        return bl_fail(err, "pex: '%s' is %zu bytes, not a multiple of %zu", key, s->slen, unit);
    size_t count = s->slen / unit;
    if (count > BL_PEX_MAX_RECV - *n)
        return bl_fail(err, "pex: more than %d peers in one message", BL_PEX_MAX_RECV);
    const bl_bnode *f = fkey ? bl_bdict_get_type(d, root, fkey, BL_BSTR) : NULL;
    bool use_flags = f && f->slen == count;
    for (size_t i = 0; i < count; i++) {
        bl_pex_peer *pp = &list[(*n)++];
        memset(pp, 0, sizeof *pp);
        const uint8_t *c = s->str + i * unit;
        pp->family = (uint8_t)family;
        memcpy(pp->ip, c, iplen);
        pp->port = (uint16_t)(c[iplen] << 8 | c[iplen + 1]);
        pp->flags = use_flags ? f->str[i] : 0;
    }
    return 0;
}

int bl_pex_decode(const uint8_t *p, size_t len, bl_pex *pex, bl_err *err)
{
    pex->n_added = pex->n_dropped = 0;
    bl_bdoc doc;
    size_t used;
    if (bl_bdecode_prefix(&doc, p, len, &ext_limits, &used, err) < 0)
        return bl_fail_ctx(err, "pex");
    const bl_bnode *root = bl_broot(&doc);
    int rc = 0;
    if (!root || root->type != BL_BDICT)
        rc = bl_fail(err, "pex: not a dictionary");
    if (rc == 0)
        rc = take_list(&doc, root, "added", "added.f", AF_INET, pex->added, &pex->n_added, err);
    if (rc == 0)
        rc = take_list(&doc, root, "added6", "added6.f", AF_INET6, pex->added, &pex->n_added, err);
    if (rc == 0)
        rc = take_list(&doc, root, "dropped", NULL, AF_INET, pex->dropped, &pex->n_dropped, err);
    if (rc == 0)
        rc = take_list(&doc, root, "dropped6", NULL, AF_INET6, pex->dropped, &pex->n_dropped, err);
    bl_bdoc_free(&doc);
    if (rc < 0)
        pex->n_added = pex->n_dropped = 0;
    return rc;
}

socklen_t bl_pex_peer_sockaddr(const bl_pex_peer *pp, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (pp->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(pp->port);
        memcpy(&in->sin_addr, pp->ip, 4);
        return sizeof *in;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(pp->port);
    memcpy(&in6->sin6_addr, pp->ip, 16);
    return sizeof *in6;
}

int bl_pex_peer_from_sockaddr(bl_pex_peer *pp, const struct sockaddr *sa, uint8_t flags)
{
    memset(pp, 0, sizeof *pp);
    pp->flags = flags;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        pp->family = AF_INET;
        pp->port = ntohs(in->sin_port);
        memcpy(pp->ip, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        pp->family = AF_INET6;
        pp->port = ntohs(in6->sin6_port);
        memcpy(pp->ip, &in6->sin6_addr, 16);
        return 0;
    }
    return -1;
}
