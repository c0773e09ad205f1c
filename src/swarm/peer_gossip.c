/* peer_gossip: what cooperative bitlib peers tell each other besides
 * pieces: peer exchange (BEP 11 ut_pex, sent to cooperative peers soon after
 * the swarm changes) and bitlib_intent ("I am fetching these pieces from a
 * seed": counted by the picker as soon-available from the sender until a
 * HAVE comes or PEER_PROMISE_MS pass). */
#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "swarm/swarm_int.h"

void peer_send_pex(peer *p)
{
    bl_swarm *s = p->sw;
    bl_pex pex;
    memset(&pex, 0, sizeof pex);
    for (peer *q = s->peers; q && pex.n_added < BL_PEX_MAX_SEND; q = q->next) {
        if (q == p || q->state != PEER_ACTIVE || !q->listen_port)
            continue;
        struct sockaddr_storage ss = q->addr;
        bl_net_set_port((struct sockaddr *)&ss, q->listen_port);
        uint8_t flags = BL_PEX_F_REACHABLE | (peer_is_seeder(q) ? BL_PEX_F_SEED : 0);
        if (bl_pex_peer_from_sockaddr(&pex.added[pex.n_added], (struct sockaddr *)&ss, flags) == 0)
            pex.n_added++;
    }
    p->last_pex_ms = bl_loop_now_ms(p->sw->loop);
    p->pex_generation = s->peer_generation;
    if (pex.n_added == 0)
        return;
    bl_buf payload;
    bl_buf_init(&payload);
    bl_err err;
    if (bl_pex_encode(&payload, &pex, &err) == 0)
        bl_wire_put_extended(&p->out, p->ext_pex_id, payload.data, payload.len);
    bl_buf_free(&payload);
}

/* The peer says it is fetching these pieces from a seed. */
void peer_got_intents(peer *p, const uint8_t *data, size_t len)
{
    bl_swarm *s = p->sw;
    if (len == 0 || len % 4 || len / 4 > BL_INTENT_MAX) {
        peer_close(p, "malformed bitlib_intent message");
        return;
    }
    if (p->withdrawn)
        return; /* what it says it fetches does not count until it serves */
    if (!p->promises) {
        p->promises = malloc(PEER_PROMISES_MAX * sizeof *p->promises);
        if (!p->promises)
            return;
    }
    uint64_t now = bl_loop_now_ms(p->sw->loop);
    for (size_t k = 0; k < len; k += 4) {
        uint32_t piece = (uint32_t)data[k] << 24 | (uint32_t)data[k + 1] << 16 |
                         (uint32_t)data[k + 2] << 8 | data[k + 3];
        if (piece >= s->mi->num_pieces) {
            peer_close(p, "bitlib_intent names a piece out of range");
            return;
        }
        if (bl_bitfield_test(&p->have, piece) || bl_bitfield_test(&p->promised, piece) ||
            p->prom_len == PEER_PROMISES_MAX)
            continue;
        bl_bitfield_set(&p->promised, piece);
        p->promises[(p->prom_head + p->prom_len) % PEER_PROMISES_MAX] =
            (struct promise){.piece = piece, .ms = now};
        p->prom_len++;
        bl_picker_peer_have(s->picker, piece);
    }
}

/* Forget promises older than PEER_PROMISE_MS that no HAVE fulfilled. */
void peer_expire_promises(peer *p, uint64_t now)
{
    while (p->prom_len) {
        struct promise *pr = &p->promises[p->prom_head];
        if (now - pr->ms < PEER_PROMISE_MS)
            break;
        if (bl_bitfield_clear(&p->promised, pr->piece))
            bl_picker_peer_unhave(p->sw->picker, pr->piece);
        p->prom_head = (p->prom_head + 1) % PEER_PROMISES_MAX;
        p->prom_len--;
    }
}

void peer_send_intents(peer *from_seed, const uint32_t *pieces, size_t n)
{
    bl_swarm *s = from_seed->sw;
    if (n == 0)
        return;
    uint8_t payload[4 * 32];
    if (n > 32)
        n = 32;
    for (size_t k = 0; k < n; k++) {
        payload[4 * k] = (uint8_t)(pieces[k] >> 24);
        payload[4 * k + 1] = (uint8_t)(pieces[k] >> 16);
        payload[4 * k + 2] = (uint8_t)(pieces[k] >> 8);
        payload[4 * k + 3] = (uint8_t)pieces[k];
    }
    for (peer *q = s->peers; q; q = q->next) {
        if (q == from_seed || q->state != PEER_ACTIVE || !q->ext_intent_id || peer_is_seeder(q))
            continue;
        bl_wire_put_extended(&q->out, q->ext_intent_id, payload, 4 * n);
    }
    swarm_defer_flush(s);
}

uint64_t peer_pex_due(peer *p, uint64_t now)
{
    bl_swarm *s = p->sw;
    if (p->state != PEER_ACTIVE || !p->coop || !p->ext_pex_id ||
        p->pex_generation == s->peer_generation)
        return 0;
    if (now - p->last_pex_ms < PEER_PEX_COOP_MS)
        return PEER_PEX_COOP_MS - (now - p->last_pex_ms);
    peer_send_pex(p);
    peer_flush(p);
    return 0;
}
