/* libFuzzer target: the client's parser of HTTP tracker replies.
 *
 * Any bytes: no crash, no leak.  Accepted replies obey the parser's
 * promises: at most BL_ANNOUNCE_PEERS_MAX peers, every peer IPv4 or IPv6
 * with a non-zero port, texts NUL-terminated and printable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "swarm/announce_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        abort();
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bl_announce_reply r;
    bl_err err = {0};
    if (bl_announce_http_parse(data, size, &r, &err) != 0) {
        if (r.peers || !err.msg[0])
            abort();
        return 0;
    }
    check_text(r.failure, sizeof r.failure);
    check_text(r.warning, sizeof r.warning);
    if (r.npeers > BL_ANNOUNCE_PEERS_MAX || r.tracker_id_len > sizeof r.tracker_id)
        abort();
    for (size_t i = 0; i < r.npeers; i++)
        if ((r.peers[i].family != 4 && r.peers[i].family != 6) || r.peers[i].port == 0)
            abort();
    bl_announce_reply_free(&r);
    return 0;
}
