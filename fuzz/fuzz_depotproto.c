/* libFuzzer target: the depot protocol (offload/depotproto.h), what any
 * host may send a depot and what a depot may send a manager or a puller.
 *
 * The input is a connection's byte stream, cut into frames as dpconn cuts
 * it (bl_dp_frame) and each frame parsed (bl_dp_parse).  Checks: a frame
 * never exceeds BL_DP_MAX_FRAME, every pointer a parsed message carries
 * lies inside its frame with the bounds the header states, and a message
 * encoded again with the protocol's own encoder gives the same bytes (for
 * texts without a NUL, which the encoders' C strings cannot carry; a
 * probe's filler bytes are not compared, only its length). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offload/depotproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void reencode(const bl_dp_msg *m, const uint8_t *p, size_t n)
{
    bl_buf b;
    bl_buf_init(&b);
    char text[BL_DP_MAX_TEXT + 1];
    int textok = m->data && m->len <= BL_DP_MAX_TEXT && !memchr(m->data, 0, m->len);
    if (textok) {
        memcpy(text, m->data, m->len);
        text[m->len] = 0;
    }
    int cmp = 1;
    switch (m->type) {
    case BL_DP_HELLO: bl_dp_hello(&b, m->nonce); break;
    case BL_DP_AUTH: bl_dp_auth(&b, m->role, m->id, m->nonce, m->mac); break;
    case BL_DP_AUTH_OK: bl_dp_auth_ok(&b, m->mac); break;
    case BL_DP_PUT:
    case BL_DP_DATA: bl_dp_put(&b, m->type, m->index, m->sha, m->data, m->len); break;
    case BL_DP_ACK:
    case BL_DP_GET:
    case BL_DP_PROBE_OK:
    case BL_DP_FORWARD_OK: bl_dp_index(&b, m->type, m->index); break;
    case BL_DP_REFUSE:
        if (!(cmp = textok))
            break;
        bl_dp_refuse(&b, m->index, m->code, text);
        break;
    case BL_DP_MISSING:
        if (!(cmp = textok))
            break;
        bl_dp_missing(&b, m->index, text);
        break;
    case BL_DP_STAT: bl_dp_empty(&b, BL_DP_STAT); break;
    case BL_DP_STATUS: {
        uint32_t *l = malloc(((size_t)m->n + 1) * sizeof *l);
        check(l != NULL);
        for (uint32_t i = 0; i < m->n; i++)
            l[i] = bl_dp_list_at(m, i);
        bl_dp_status(&b, m->held, m->used, m->free_bytes, l, m->n);
        free(l);
        break;
    }
    case BL_DP_PROBE:
        bl_dp_probe(&b, m->len);
        check(b.len == n + 4);
        cmp = 0;
        break;
    case BL_DP_FORWARD:
    case BL_DP_ERROR:
        if (!(cmp = textok || m->len == 0))
            break;
        bl_dp_text(&b, m->type, m->len ? text : "");
        break;
    default: check(0);
    }
    if (cmp)
        check(!b.oom && b.len == n + 4 && !memcmp(b.data + 4, p, n));
    bl_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bl_buf in;
    bl_buf_init(&in);
    bl_buf_put(&in, data, size);
    for (;;) {
        const uint8_t *p;
        size_t n;
        bl_err err;
        long used = bl_dp_frame(&in, &p, &n, &err);
        if (used <= 0)
            break;
        check(n >= 1 && n <= BL_DP_MAX_FRAME && (size_t)used == n + 4 && p == in.data + 4);
        bl_dp_msg m;
        if (bl_dp_parse(p, n, &m, &err) == 0) {
            check(m.type >= BL_DP_HELLO && m.type < BL_DP_TYPE_MAX && (uint8_t)m.type == p[0]);
            if (m.data)
                check(m.data > p && m.data + m.len == p + n);
            if (m.list)
                check(m.list >= p && m.list + (size_t)m.n * 4 == p + n && m.n <= BL_DP_MAX_LIST);
            if (m.type == BL_DP_PUT || m.type == BL_DP_DATA)
                check(m.len <= BL_DP_MAX_CHUNK);
            reencode(&m, p, n);
        } else {
            check(err.msg[0] != 0);
        }
        bl_buf_consume(&in, (size_t)used);
    }
    bl_buf_free(&in);
    return 0;
}
