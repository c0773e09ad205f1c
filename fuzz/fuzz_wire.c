/* libFuzzer target for the peer wire decoders.  The input is what a peer
 * sends on a fresh connection: a handshake, then a message stream.  The
 * handshake decoder gets every prefix; once it accepts, the rest is
 * decoded message by message against a fixed geometry, extended payloads
 * go through the BEP 10 and BEP 11 decoders, and every decoded message is
 * re-encoded and must decode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "swarm/wire.h"

/* 37 pieces of 32 KiB, the last one 1000 bytes: a 5-byte bitfield with
 * three spare bits. */
static const bl_wire_geometry G = {.num_pieces = 37, .piece_length = 32768, .last_piece_length = 1000};

static void check_reencode(const uint8_t *p, size_t used, const bl_msg *m)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_wire_encode(&b, m);
    if (b.len != used || memcmp(b.data, p, used) != 0)
        abort();
    bl_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bl_handshake hs;
    bl_err err;
    int rc = 0;
    /* Every prefix must agree with the whole: never "done" early. */
    for (size_t k = 0; k <= size && k <= BL_WIRE_HANDSHAKE_LEN; k++) {
        rc = bl_wire_handshake_decode(data, k, &hs, &err);
        if (rc != 0)
            break;
    }
    if (rc != BL_WIRE_HANDSHAKE_LEN)
        return 0;

    size_t off = BL_WIRE_HANDSHAKE_LEN;
    while (off < size) {
        bl_msg m;
        size_t used = 0;
        rc = bl_wire_decode(data + off, size - off, &G, NULL, &m, &used, &err);
        if (rc != BL_WIRE_MESSAGE)
            break;
        if (used < 4 || used > size - off)
            abort();
        check_reencode(data + off, used, &m);
        if (m.type == BL_MSG_EXTENDED) {
            if (m.ext_id == BL_EXT_HANDSHAKE_ID) {
                bl_ext_handshake eh;
                if (bl_ext_handshake_decode(m.data, m.data_len, &eh, &err) == 0) {
                    bl_buf b;
                    bl_buf_init(&b);
                    bl_ext_handshake_encode(&b, &eh);
                    bl_buf_free(&b);
                }
            } else {
                static bl_pex pex;
                if (bl_pex_decode(m.data, m.data_len, &pex, &err) == 0) {
                    if (pex.n_added > BL_PEX_MAX_RECV || pex.n_dropped > BL_PEX_MAX_RECV)
                        abort();
                    bl_buf b;
                    bl_buf_init(&b);
                    if (pex.n_added <= BL_PEX_MAX_SEND && pex.n_dropped <= BL_PEX_MAX_SEND)
                        bl_pex_encode(&b, &pex, &err);
                    bl_buf_free(&b);
                }
            }
        }
        off += used;
    }
    return 0;
}
