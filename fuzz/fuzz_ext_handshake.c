/* libFuzzer target for BEP 10 extension handshakes sent twice
 * (bl_ext_handshake_update / _merge / _encode).  Input: a 2-byte big-endian
 * length N, then N bytes of a first handshake payload, then the rest as a
 * later one.  Checks: an update that fails leaves the state untouched; one
 * that succeeds changes exactly the keys it carried (each to the value a
 * plain decode of that message gives), merges "m" name by name within its
 * bound, and the state re-encodes to canonical bencode that decodes back
 * to the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bencode.h"
#include "core/buf.h"
#include "swarm/wire.h"

static const bl_ext_name *find(const bl_ext_handshake *hs, const char *name)
{
    for (size_t i = 0; i < hs->n_m; i++)
        if (strcmp(hs->m[i].name, name) == 0)
            return &hs->m[i];
    return NULL;
}

static void check_names(const bl_ext_handshake *st)
{
    if (st->n_m > BL_EXT_MAX_NAMES)
        abort();
    for (size_t i = 0; i < st->n_m; i++) {
        size_t l = strnlen(st->m[i].name, sizeof st->m[i].name);
        if (l == 0 || l > BL_EXT_NAME_MAX)
            abort();
        for (size_t k = 0; k < i; k++)
            if (strcmp(st->m[k].name, st->m[i].name) == 0)
                abort();
    }
    if (strnlen(st->client, sizeof st->client) > BL_EXT_CLIENT_MAX)
        abort();
}

/* a and b hold the same value for every key whose bit is in keys. */
static void check_fields(const bl_ext_handshake *a, const bl_ext_handshake *b, unsigned keys)
{
    if ((keys & BL_EXT_KEY_P) && (a->has_port != b->has_port || a->port != b->port))
        abort();
    if ((keys & BL_EXT_KEY_V) && strcmp(a->client, b->client) != 0)
        abort();
    if ((keys & BL_EXT_KEY_REQQ) && a->reqq != b->reqq)
        abort();
    if ((keys & BL_EXT_KEY_YOURIP) &&
        (a->yourip_len != b->yourip_len || memcmp(a->yourip, b->yourip, a->yourip_len) != 0))
        abort();
    if ((keys & BL_EXT_KEY_IPV4) &&
        (a->has_ipv4 != b->has_ipv4 || memcmp(a->ipv4, b->ipv4, 4) != 0))
        abort();
    if ((keys & BL_EXT_KEY_IPV6) &&
        (a->has_ipv6 != b->has_ipv6 || memcmp(a->ipv6, b->ipv6, 16) != 0))
        abort();
    if ((keys & BL_EXT_KEY_METADATA_SIZE) && a->metadata_size != b->metadata_size)
        abort();
    if ((keys & BL_EXT_KEY_UPLOAD_ONLY) && a->upload_only != b->upload_only)
        abort();
    if ((keys & BL_EXT_KEY_BITLIB_COOP) && a->bitlib_coop != b->bitlib_coop)
        abort();
}

static void check_reencode(const bl_ext_handshake *st)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_ext_handshake_encode(&b, st);
    bl_bdoc doc;
    bl_err err;
    if (bl_bdecode(&doc, b.data, b.len, NULL, &err) != 0) /* canonical, whole */
        abort();
    bl_bdoc_free(&doc);
    static bl_ext_handshake back;
    if (bl_ext_handshake_decode(b.data, b.len, &back, &err) != 0)
        abort();
    for (size_t i = 0; i < st->n_m; i++)
        if (bl_ext_handshake_id(&back, st->m[i].name) != st->m[i].id)
            abort();
    /* what the encoder writes: keys with a value worth sending */
    unsigned sent = BL_EXT_KEY_V | BL_EXT_KEY_IPV4 | BL_EXT_KEY_IPV6 | BL_EXT_KEY_YOURIP;
    if (st->has_port)
        sent |= BL_EXT_KEY_P;
    if (st->reqq)
        sent |= BL_EXT_KEY_REQQ;
    if (st->metadata_size > 0)
        sent |= BL_EXT_KEY_METADATA_SIZE;
    check_fields(st, &back, sent);
    if (back.upload_only != st->upload_only || back.bitlib_coop != st->bitlib_coop)
        abort();
    bl_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n1 = (size_t)data[0] << 8 | data[1];
    const uint8_t *first = data + 2;
    size_t rest = size - 2;
    if (n1 > rest)
        n1 = rest;
    const uint8_t *second = first + n1;
    size_t n2 = rest - n1;

    static bl_ext_handshake st, before, upd, zero;
    bl_err err;
    memset(&st, 0, sizeof st);
    if (bl_ext_handshake_update(&st, first, n1, NULL, &err) != 0) {
        if (memcmp(&st, &zero, sizeof st) != 0)
            abort();
        return 0;
    }
    check_names(&st);
    memcpy(&before, &st, sizeof st);

    int rc_decode = bl_ext_handshake_decode(second, n2, &upd, &err);
    unsigned carried = 0;
    int rc = bl_ext_handshake_update(&st, second, n2, &carried, &err);
    if (rc != rc_decode)
        abort();
    if (rc != 0) {
        if (memcmp(&st, &before, sizeof st) != 0)
            abort();
        check_reencode(&st);
        return 0;
    }
    if (carried != upd.keys || st.keys != (before.keys | upd.keys))
        abort();
    check_names(&st);
    check_fields(&st, &upd, carried);
    check_fields(&st, &before, ~carried);
    /* every name the update gave has its id now, unless "m" was full */
    for (size_t i = 0; i < upd.n_m; i++) {
        const bl_ext_name *e = find(&st, upd.m[i].name);
        if (e ? e->id != upd.m[i].id : st.n_m < BL_EXT_MAX_NAMES)
            abort();
    }
    /* names it did not give keep their ids (a disabled one may lose its slot) */
    for (size_t i = 0; i < before.n_m; i++) {
        if (find(&upd, before.m[i].name) || before.m[i].id == 0)
            continue;
        const bl_ext_name *e = find(&st, before.m[i].name);
        if (!e || e->id != before.m[i].id)
            abort();
    }
    check_reencode(&st);
    return 0;
}
