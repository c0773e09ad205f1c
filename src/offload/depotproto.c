/* depotproto: encoding and bounded parsing of depot frames (see depotproto.h). */
#include "offload/depotproto.h"

#include <string.h>

static void put32(bl_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    bl_buf_put(b, x, 4);
}

static void put64(bl_buf *b, uint64_t v)
{
    put32(b, (uint32_t)(v >> 32));
    put32(b, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

static void frame_start(bl_buf *b, enum bl_dp_type t, size_t body)
{
    put32(b, (uint32_t)(1 + body));
    bl_buf_putc(b, (uint8_t)t);
}

static size_t textlen(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > BL_DP_MAX_TEXT ? BL_DP_MAX_TEXT : n;
}

void bl_dp_hello(bl_buf *out, const uint8_t nonce[BL_DP_NONCE_LEN])
{
    frame_start(out, BL_DP_HELLO, 1 + BL_DP_NONCE_LEN);
    bl_buf_putc(out, BL_DP_VERSION);
    bl_buf_put(out, nonce, BL_DP_NONCE_LEN);
}

void bl_dp_auth(bl_buf *out, uint8_t role, const uint8_t id[BL_OFFLOAD_ID_LEN],
                const uint8_t nonce[BL_DP_NONCE_LEN], const uint8_t mac[BL_SHA256_LEN])
{
    frame_start(out, BL_DP_AUTH, 1 + BL_OFFLOAD_ID_LEN + BL_DP_NONCE_LEN + BL_SHA256_LEN);
    bl_buf_putc(out, role);
    bl_buf_put(out, id, BL_OFFLOAD_ID_LEN);
    bl_buf_put(out, nonce, BL_DP_NONCE_LEN);
    bl_buf_put(out, mac, BL_SHA256_LEN);
}

void bl_dp_auth_ok(bl_buf *out, const uint8_t mac[BL_SHA256_LEN])
{
    frame_start(out, BL_DP_AUTH_OK, BL_SHA256_LEN);
    bl_buf_put(out, mac, BL_SHA256_LEN);
}

void bl_dp_put(bl_buf *out, enum bl_dp_type type, uint32_t index, const uint8_t sha[BL_SHA256_LEN],
               const void *data, size_t len)
{
    frame_start(out, type, 4 + BL_SHA256_LEN + len);
    put32(out, index);
    bl_buf_put(out, sha, BL_SHA256_LEN);
    bl_buf_put(out, data, len);
}

void bl_dp_index(bl_buf *out, enum bl_dp_type type, uint32_t index)
{
    frame_start(out, type, 4);
    put32(out, index);
}

void bl_dp_refuse(bl_buf *out, uint32_t index, uint8_t code, const char *reason)
{
    size_t n = textlen(reason);
    frame_start(out, BL_DP_REFUSE, 5 + n);
    put32(out, index);
    bl_buf_putc(out, code);
    bl_buf_put(out, reason, n);
}

void bl_dp_missing(bl_buf *out, uint32_t index, const char *reason)
{
    size_t n = textlen(reason);
    frame_start(out, BL_DP_MISSING, 4 + n);
    put32(out, index);
    bl_buf_put(out, reason, n);
}

void bl_dp_empty(bl_buf *out, enum bl_dp_type type) { frame_start(out, type, 0); }

void bl_dp_status(bl_buf *out, uint64_t held, uint64_t used, uint64_t free_bytes,
                  const uint32_t *list, uint32_t n)
{
    if (n > BL_DP_MAX_LIST)
        n = BL_DP_MAX_LIST;
    frame_start(out, BL_DP_STATUS, 28 + (size_t)n * 4);
    put64(out, held);
    put64(out, used);
    put64(out, free_bytes);
    put32(out, n);
    for (uint32_t i = 0; i < n; i++)
        put32(out, list[i]);
}

void bl_dp_probe(bl_buf *out, size_t len)
{
    if (len > BL_DP_MAX_PROBE)
        len = BL_DP_MAX_PROBE;
    frame_start(out, BL_DP_PROBE, len);
    if (bl_buf_reserve(out, len)) {
        memset(out->data + out->len, 0, len);
        out->len += len;
        out->data[out->len] = 0;
    }
}

void bl_dp_text(bl_buf *out, enum bl_dp_type type, const char *text)
{
    size_t n = textlen(text);
    frame_start(out, type, n);
    bl_buf_put(out, text, n);
}

static void mac(const bl_okey *key, const char *label, uint8_t role,
                const uint8_t id[BL_OFFLOAD_ID_LEN], const uint8_t *n1, const uint8_t *n2,
                uint8_t out[BL_SHA256_LEN])
{
    const void *p[] = {label, &role, id, n1, n2};
    size_t l[] = {strlen(label), 1, BL_OFFLOAD_ID_LEN, BL_DP_NONCE_LEN, BL_DP_NONCE_LEN};
    bl_hmac(key, out, 5, p, l);
}

void bl_dp_client_mac(const bl_okey *key, uint8_t role, const uint8_t id[BL_OFFLOAD_ID_LEN],
                      const uint8_t depot_nonce[BL_DP_NONCE_LEN],
                      const uint8_t client_nonce[BL_DP_NONCE_LEN], uint8_t out[BL_SHA256_LEN])
{
    mac(key, "bitlib-depot-v1 client", role, id, depot_nonce, client_nonce, out);
}

void bl_dp_depot_mac(const bl_okey *key, uint8_t role, const uint8_t id[BL_OFFLOAD_ID_LEN],
                     const uint8_t depot_nonce[BL_DP_NONCE_LEN],
                     const uint8_t client_nonce[BL_DP_NONCE_LEN], uint8_t out[BL_SHA256_LEN])
{
    mac(key, "bitlib-depot-v1 depot", role, id, client_nonce, depot_nonce, out);
}

long bl_dp_frame(const bl_buf *in, const uint8_t **payload, size_t *plen, bl_err *err)
{
    if (in->len < 4)
        return 0;
    uint32_t n = get32(in->data);
    if (n == 0 || n > BL_DP_MAX_FRAME)
        return bl_fail(err, "depot protocol: frame of %u bytes (limit %u)", n, BL_DP_MAX_FRAME);
    if (in->len - 4 < n)
        return 0;
    *payload = in->data + 4;
    *plen = n;
    return (long)n + 4;
}

uint32_t bl_dp_list_at(const bl_dp_msg *m, uint32_t i) { return get32(m->list + (size_t)i * 4); }

static int need(size_t have, size_t want, enum bl_dp_type t, bl_err *err)
{
    if (have != want)
        return bl_fail(err, "depot protocol: message %d has %zu bytes, expected %zu", (int)t, have, want);
    return 0;
}

int bl_dp_parse(const uint8_t *p, size_t len, bl_dp_msg *m, bl_err *err)
{
    memset(m, 0, sizeof *m);
    if (len < 1 || len > BL_DP_MAX_FRAME)
        return bl_fail(err, "depot protocol: empty or oversized frame");
    uint8_t t = p[0];
    const uint8_t *b = p + 1;
    size_t n = len - 1;
    if (t < BL_DP_HELLO || t >= BL_DP_TYPE_MAX)
        return bl_fail(err, "depot protocol: unknown message type %u", t);
    m->type = (enum bl_dp_type)t;
    switch (m->type) {
    case BL_DP_HELLO:
        if (need(n, 1 + BL_DP_NONCE_LEN, m->type, err))
            return -1;
        m->version = b[0];
        if (m->version != BL_DP_VERSION)
            return bl_fail(err, "depot protocol: version %u (this bitlib speaks %d)", m->version,
                           BL_DP_VERSION);
        memcpy(m->nonce, b + 1, BL_DP_NONCE_LEN);
        return 0;
    case BL_DP_AUTH:
        if (need(n, 1 + BL_OFFLOAD_ID_LEN + BL_DP_NONCE_LEN + BL_SHA256_LEN, m->type, err))
            return -1;
        m->role = b[0];
        if (m->role != BL_DP_ROLE_STORE && m->role != BL_DP_ROLE_PULL)
            return bl_fail(err, "depot protocol: unknown role %u", m->role);
        memcpy(m->id, b + 1, BL_OFFLOAD_ID_LEN);
        memcpy(m->nonce, b + 1 + BL_OFFLOAD_ID_LEN, BL_DP_NONCE_LEN);
        memcpy(m->mac, b + 1 + BL_OFFLOAD_ID_LEN + BL_DP_NONCE_LEN, BL_SHA256_LEN);
        return 0;
    case BL_DP_AUTH_OK:
        if (need(n, BL_SHA256_LEN, m->type, err))
            return -1;
        memcpy(m->mac, b, BL_SHA256_LEN);
        return 0;
    case BL_DP_PUT:
    case BL_DP_DATA:
        if (n < 4 + BL_SHA256_LEN || n - 4 - BL_SHA256_LEN > BL_DP_MAX_CHUNK)
            return bl_fail(err, "depot protocol: chunk message of %zu bytes", n);
        m->index = get32(b);
        memcpy(m->sha, b + 4, BL_SHA256_LEN);
        m->data = b + 4 + BL_SHA256_LEN;
        m->len = n - 4 - BL_SHA256_LEN;
        return 0;
    case BL_DP_ACK:
    case BL_DP_GET:
        if (need(n, 4, m->type, err))
            return -1;
        m->index = get32(b);
        return 0;
    case BL_DP_REFUSE:
        if (n < 5 || n - 5 > BL_DP_MAX_TEXT)
            return bl_fail(err, "depot protocol: refusal of %zu bytes", n);
        m->index = get32(b);
        m->code = b[4];
        m->data = b + 5;
        m->len = n - 5;
        return 0;
    case BL_DP_MISSING:
        if (n < 4 || n - 4 > BL_DP_MAX_TEXT)
            return bl_fail(err, "depot protocol: missing-chunk reply of %zu bytes", n);
        m->index = get32(b);
        m->data = b + 4;
        m->len = n - 4;
        return 0;
    case BL_DP_STAT:
        return need(n, 0, m->type, err);
    case BL_DP_STATUS:
        if (n < 28)
            return bl_fail(err, "depot protocol: status of %zu bytes", n);
        m->held = get64(b);
        m->used = get64(b + 8);
        m->free_bytes = get64(b + 16);
        m->n = get32(b + 24);
        if (m->n > BL_DP_MAX_LIST || n != 28 + (size_t)m->n * 4)
            return bl_fail(err, "depot protocol: status lists %u chunks in %zu bytes", m->n, n);
        m->list = b + 28;
        return 0;
    case BL_DP_PROBE:
        if (n > BL_DP_MAX_PROBE)
            return bl_fail(err, "depot protocol: probe of %zu bytes", n);
        m->data = b;
        m->len = n;
        return 0;
    case BL_DP_PROBE_OK:
    case BL_DP_FORWARD_OK:
        if (need(n, 4, m->type, err))
            return -1;
        m->index = get32(b);
        return 0;
    case BL_DP_FORWARD:
    case BL_DP_ERROR:
        if (n > BL_DP_MAX_TEXT)
            return bl_fail(err, "depot protocol: text of %zu bytes", n);
        m->data = b;
        m->len = n;
        return 0;
    case BL_DP_TYPE_MAX:
        break;
    }
    return bl_fail(err, "depot protocol: unknown message type %u", t);
}
